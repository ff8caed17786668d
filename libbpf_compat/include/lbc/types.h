/* libbpf-compat: fixed-width types BPF C programs use, for builds without
 * the Linux UAPI headers (on Windows, or freestanding). */
#ifndef LBC_TYPES_H
#define LBC_TYPES_H

#if defined(__has_include)
#if __has_include(<linux/types.h>) && !defined(LBC_ABI_WINDOWS)
#include <linux/types.h>
#define LBC_HAVE_LINUX_TYPES 1
#endif
#endif

#ifndef LBC_HAVE_LINUX_TYPES
typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u16 __le16;
typedef __u32 __le32;
typedef __u64 __le64;
typedef __u32 __wsum;
#endif

#endif
