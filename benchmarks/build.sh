#!/bin/sh
# Rebuild the committed benchmark object from its C source (needs clang).
set -e
cd "$(dirname "$0")"
clang -O2 -target bpf -c raw_bench.c -o raw_bench.o
