/* libbpf-compat: for programs of eBPF for Windows' SAMPLE program type
 * (section "sample"), which include "sample_ext_helpers.h": the sample
 * extension's context and its program-type-specific helpers. */
#ifndef LBC_SAMPLE_EXT_HELPERS_H
#define LBC_SAMPLE_EXT_HELPERS_H
#ifndef LBC_ABI_WINDOWS
#define LBC_ABI_WINDOWS 1
#endif
#include "lbc/windows_abi.h"

typedef struct _sample_program_context {
    __u8 *data_start;
    __u8 *data_end;
    __u32 uint32_data;
    __u16 uint16_data;
    __u64 pid_tgid;
} sample_program_context_t;

/* Helpers the sample extension numbers from 0x10000. */
static __s64 (* const sample_ebpf_extension_helper_function1)(
    sample_program_context_t *context) = (void *)0x10000;
static __s64 (* const sample_ebpf_extension_find)(
    const void *buffer, __u32 size, const void *find, __u32 find_size) = (void *)0x10001;
static __s64 (* const sample_ebpf_extension_replace)(
    void *buffer, __u32 size, __s64 position, const void *replace,
    __u32 replace_size) = (void *)0x10002;

#endif
