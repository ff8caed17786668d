/* libbpf-compat: for programs written for eBPF for Windows, which include
 * "bpf_helpers.h" and "ebpf_nethooks.h": the Windows hook contexts. */
#ifndef LBC_EBPF_NETHOOKS_H
#define LBC_EBPF_NETHOOKS_H
#ifndef LBC_ABI_WINDOWS
#define LBC_ABI_WINDOWS 1
#endif
#include "lbc/windows_abi.h"
#endif
