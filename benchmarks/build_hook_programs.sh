#!/bin/sh
# Rebuild the committed hook benchmark object (hook_programs.o) from its C
# source: needs clang with the BPF target and, for <linux/bpf.h>, the kernel
# UAPI headers (linux-libc-dev).
set -e
cd "$(dirname "$0")"
inc="$(cd .. && pwd)/libbpf_compat/include"
arch_inc="/usr/include/$(uname -m)-linux-gnu"
clang -O2 -g -target bpf -I "$inc" -I "$arch_inc" -c hook_programs.c -o hook_programs.o
