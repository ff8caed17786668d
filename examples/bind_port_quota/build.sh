#!/bin/sh
# Rebuild bind_port_quota.windows.o from bind_port_quota.c (needs clang with
# the BPF target). eBPF-for-Windows only: the BIND hook has no Linux build.
set -e
cd "$(dirname "$0")"
inc="$(cd ../.. && pwd)/libbpf_compat/include"
clang -O2 -g -target bpf -I "$inc" -DLBC_ABI_WINDOWS -c bind_port_quota.c -o bind_port_quota.windows.o
