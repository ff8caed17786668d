#!/bin/sh
# Rebuild connect4_redirector.{linux,windows}.o from connect4_redirector.c (needs clang
# with the BPF target; the Linux build also needs the kernel UAPI headers).
set -e
cd "$(dirname "$0")"
inc="$(cd ../.. && pwd)/libbpf_compat/include"
arch_inc="/usr/include/$(uname -m)-linux-gnu"
clang -O2 -g -target bpf -I "$inc" -I "$arch_inc" -c connect4_redirector.c -o connect4_redirector.linux.o
clang -O2 -g -target bpf -I "$inc" -DLBC_ABI_WINDOWS -c connect4_redirector.c -o connect4_redirector.windows.o
