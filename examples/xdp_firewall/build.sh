#!/bin/sh
# Rebuild xdp_firewall.{linux,windows}.o from xdp_firewall.c (needs clang
# with the BPF target; the Linux build also needs the kernel UAPI headers).
set -e
cd "$(dirname "$0")"
inc="$(cd ../.. && pwd)/libbpf_compat/include"
arch_inc="/usr/include/$(uname -m)-linux-gnu"
clang -O2 -g -target bpf -I "$inc" -I "$arch_inc" -c xdp_firewall.c -o xdp_firewall.linux.o
clang -O2 -g -target bpf -I "$inc" -DLBC_ABI_WINDOWS -c xdp_firewall.c -o xdp_firewall.windows.o
