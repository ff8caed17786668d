/* Compiler and OS specifics, kept in one place: branch hints, byte swaps,
 * atomics on plain memory, and whether computed goto is available. */
#ifndef LBC_PLATFORM_H
#define LBC_PLATFORM_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define LBC_GNUC 1
#define LBC_LIKELY(x) __builtin_expect(!!(x), 1)
#define LBC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#ifndef LBC_NO_COMPUTED_GOTO
#define LBC_THREADED 1
#else
#define LBC_THREADED 0 /* the portable switch loop, for testing it */
#endif
#define lbc_bswap16(x) __builtin_bswap16(x)
#define lbc_bswap32(x) __builtin_bswap32(x)
#define lbc_bswap64(x) __builtin_bswap64(x)
#else
#define LBC_GNUC 0
#define LBC_LIKELY(x) (x)
#define LBC_UNLIKELY(x) (x)
#define LBC_THREADED 0
static inline uint16_t lbc_bswap16(uint16_t x) { return (uint16_t)((x >> 8) | (x << 8)); }
static inline uint32_t lbc_bswap32(uint32_t x) {
    return (x >> 24) | ((x >> 8) & 0xff00u) | ((x << 8) & 0xff0000u) | (x << 24);
}
static inline uint64_t lbc_bswap64(uint64_t x) {
    return ((uint64_t)lbc_bswap32((uint32_t)x) << 32) | lbc_bswap32((uint32_t)(x >> 32));
}
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LBC_BIG_ENDIAN 1
#else
#define LBC_BIG_ENDIAN 0
#endif

/* Unaligned loads and stores without undefined behaviour. */
#define LBC_DEFINE_MEM(T, N) \
    static inline T lbc_load_##N(uint64_t a) { T v; memcpy(&v, (const void *)(uintptr_t)a, sizeof v); return v; } \
    static inline void lbc_store_##N(uint64_t a, T v) { memcpy((void *)(uintptr_t)a, &v, sizeof v); }
LBC_DEFINE_MEM(uint8_t, u8)
LBC_DEFINE_MEM(uint16_t, u16)
LBC_DEFINE_MEM(uint32_t, u32)
LBC_DEFINE_MEM(uint64_t, u64)
#undef LBC_DEFINE_MEM

/* Sequentially consistent atomics on program memory (map values, stack). */
#if LBC_GNUC
#define LBC_ATOMIC_OPS(T, N) \
    static inline T lbc_afetch_add_##N(uint64_t a, T v) { return __atomic_fetch_add((T *)(uintptr_t)a, v, __ATOMIC_SEQ_CST); } \
    static inline T lbc_afetch_or_##N(uint64_t a, T v) { return __atomic_fetch_or((T *)(uintptr_t)a, v, __ATOMIC_SEQ_CST); } \
    static inline T lbc_afetch_and_##N(uint64_t a, T v) { return __atomic_fetch_and((T *)(uintptr_t)a, v, __ATOMIC_SEQ_CST); } \
    static inline T lbc_afetch_xor_##N(uint64_t a, T v) { return __atomic_fetch_xor((T *)(uintptr_t)a, v, __ATOMIC_SEQ_CST); } \
    static inline T lbc_axchg_##N(uint64_t a, T v) { return __atomic_exchange_n((T *)(uintptr_t)a, v, __ATOMIC_SEQ_CST); } \
    static inline T lbc_acmpxchg_##N(uint64_t a, T expected, T desired) { \
        __atomic_compare_exchange_n((T *)(uintptr_t)a, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
        return expected; }
#else
#include <intrin.h>
#define LBC_ATOMIC_OPS(T, N) \
    static inline T lbc_afetch_add_##N(uint64_t a, T v) { return (T)lbc_msvc_add_##N((void *)(uintptr_t)a, v); } \
    static inline T lbc_afetch_or_##N(uint64_t a, T v) { return (T)lbc_msvc_or_##N((void *)(uintptr_t)a, v); } \
    static inline T lbc_afetch_and_##N(uint64_t a, T v) { return (T)lbc_msvc_and_##N((void *)(uintptr_t)a, v); } \
    static inline T lbc_afetch_xor_##N(uint64_t a, T v) { return (T)lbc_msvc_xor_##N((void *)(uintptr_t)a, v); } \
    static inline T lbc_axchg_##N(uint64_t a, T v) { return (T)lbc_msvc_xchg_##N((void *)(uintptr_t)a, v); } \
    static inline T lbc_acmpxchg_##N(uint64_t a, T expected, T desired) { \
        return (T)lbc_msvc_cas_##N((void *)(uintptr_t)a, desired, expected); }
#define lbc_msvc_add_u32(p, v) _InterlockedExchangeAdd((volatile long *)(p), (long)(v))
#define lbc_msvc_or_u32(p, v) _InterlockedOr((volatile long *)(p), (long)(v))
#define lbc_msvc_and_u32(p, v) _InterlockedAnd((volatile long *)(p), (long)(v))
#define lbc_msvc_xor_u32(p, v) _InterlockedXor((volatile long *)(p), (long)(v))
#define lbc_msvc_xchg_u32(p, v) _InterlockedExchange((volatile long *)(p), (long)(v))
#define lbc_msvc_cas_u32(p, d, e) _InterlockedCompareExchange((volatile long *)(p), (long)(d), (long)(e))
#define lbc_msvc_add_u64(p, v) _InterlockedExchangeAdd64((volatile long long *)(p), (long long)(v))
#define lbc_msvc_or_u64(p, v) _InterlockedOr64((volatile long long *)(p), (long long)(v))
#define lbc_msvc_and_u64(p, v) _InterlockedAnd64((volatile long long *)(p), (long long)(v))
#define lbc_msvc_xor_u64(p, v) _InterlockedXor64((volatile long long *)(p), (long long)(v))
#define lbc_msvc_xchg_u64(p, v) _InterlockedExchange64((volatile long long *)(p), (long long)(v))
#define lbc_msvc_cas_u64(p, d, e) _InterlockedCompareExchange64((volatile long long *)(p), (long long)(d), (long long)(e))
#endif
LBC_ATOMIC_OPS(uint32_t, u32)
LBC_ATOMIC_OPS(uint64_t, u64)
#undef LBC_ATOMIC_OPS

/* Atomic loads and stores (acquire / release) and spinlocks on 32-bit words,
 * for the map store's lock words; they work across processes on shared memory. */
#if LBC_GNUC
static inline uint32_t lbc_aload_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint64_t lbc_aload_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void lbc_astore_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void lbc_astore_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void lbc_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void lbc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
#else
static inline uint32_t lbc_aload_u32(const uint32_t *p) { uint32_t v = *(const volatile uint32_t *)p; _ReadWriteBarrier(); return v; }
static inline uint64_t lbc_aload_u64(const uint64_t *p) { uint64_t v = *(const volatile uint64_t *)p; _ReadWriteBarrier(); return v; }
static inline void lbc_astore_u32(uint32_t *p, uint32_t v) { _ReadWriteBarrier(); *(volatile uint32_t *)p = v; }
static inline void lbc_astore_u64(uint64_t *p, uint64_t v) { _ReadWriteBarrier(); *(volatile uint64_t *)p = v; }
static inline void lbc_fence_acquire(void) { _ReadWriteBarrier(); }
static inline void lbc_cpu_relax(void) { _mm_pause(); }
#endif

static inline int lbc_cas_u32(uint32_t *p, uint32_t expected, uint32_t desired)
{
    return lbc_acmpxchg_u32((uint64_t)(uintptr_t)p, expected, desired) == expected;
}
static inline int lbc_cas_u64(uint64_t *p, uint64_t expected, uint64_t desired)
{
    return lbc_acmpxchg_u64((uint64_t)(uintptr_t)p, expected, desired) == expected;
}
static inline void lbc_spin_lock(uint32_t *w)
{
    for (;;) {
        if (lbc_aload_u32(w) == 0 && lbc_cas_u32(w, 0, 1))
            return;
        lbc_cpu_relax();
    }
}
static inline void lbc_spin_unlock(uint32_t *w) { lbc_astore_u32(w, 0); }

#endif
