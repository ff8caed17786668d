#!/bin/sh
# Rebuild the committed program-side map benchmark object (map_programs.o)
# from its C source: needs clang with the BPF target and, for <linux/bpf.h>,
# the kernel UAPI headers (linux-libc-dev).
set -e
cd "$(dirname "$0")"
inc="$(cd .. && pwd)/libbpf_compat/include"
arch_inc="/usr/include/$(uname -m)-linux-gnu"
clang -O2 -g -target bpf -I "$inc" -I "$arch_inc" -c map_programs.c -o map_programs.o
