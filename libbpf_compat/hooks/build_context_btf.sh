#!/bin/sh
# Rebuild context_types.btf (raw BTF of the hook context types) from
# context_types.c; needs clang with the BPF target, llvm-objcopy and the
# Linux UAPI headers.
set -e
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
clang -O2 -g -target bpf -I "/usr/include/$(uname -m)-linux-gnu" -c context_types.c -o "$tmp/ctx.o"
llvm-objcopy --dump-section .BTF=context_types.btf "$tmp/ctx.o"
