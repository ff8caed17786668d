#!/bin/sh
# Rebuild process_monitor.windows.o from process_monitor.c (needs clang with
# the BPF target). eBPF-for-Windows only: the PROCESS hook has no Linux build.
set -e
cd "$(dirname "$0")"
inc="$(cd ../.. && pwd)/libbpf_compat/include"
clang -O2 -g -target bpf -I "$inc" -DLBC_ABI_WINDOWS -c process_monitor.c -o process_monitor.windows.o
