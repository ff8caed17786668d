/* libbpf-compat: the macros and helper declarations BPF C programs use, in
 * the form libbpf's bpf_helpers.h gives them, for either ABI:
 *   clang -O2 -g -target bpf -I "$(python -m libbpf_compat --include)" ...
 * builds against Linux numbering (with the system's <linux/bpf.h> for
 * contexts); adding -DLBC_ABI_WINDOWS builds the same source against
 * eBPF-for-Windows numbering and hook contexts (lbc/windows_abi.h). */
#ifndef LBC_BPF_HELPERS_H
#define LBC_BPF_HELPERS_H

#include "lbc/types.h"
#if defined(LBC_ABI_WINDOWS)
#include "lbc/windows_abi.h"
#endif
#include "bpf/bpf_helper_defs.h"

/* Sections, maps and attributes */
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) __typeof__(val) *name
#define __array(name, val) __typeof__(val) *name[]
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name
#define ___bpf_concat(a, b) a##b

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
#define __hidden __attribute__((visibility("hidden")))
#define __kconfig __attribute__((section(".kconfig")))
#define __ksym __attribute__((section(".ksyms")))
#define __uninit __attribute__((section(".data.uninit")))

#ifndef NULL
#define NULL ((void *)0)
#endif

#define LIBBPF_PIN_NONE 0
#define LIBBPF_PIN_BY_NAME 1

/* bpf_printk: Linux passes the format and up to three values to one helper;
 * eBPF for Windows has one helper per argument count. */
#if defined(LBC_ABI_WINDOWS)
#define ___lbc_nth(_1, _2, _3, _4, N, ...) N
#define bpf_printk(fmt, ...) ({                                                        \
        static const char ___fmt[] = fmt;                                              \
        ___lbc_nth(_0, ##__VA_ARGS__, bpf_trace_printk5, bpf_trace_printk4,            \
                   bpf_trace_printk3, bpf_trace_printk2)(___fmt, sizeof(___fmt), ##__VA_ARGS__); \
    })
#else
#define bpf_printk(fmt, ...) ({                                                        \
        static const char ___fmt[] = fmt;                                              \
        bpf_trace_printk(___fmt, sizeof(___fmt), ##__VA_ARGS__);                       \
    })
#endif

#endif
