/* OS-specific pieces of the runtime: the clocks. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "lbc_vm.h"

#if defined(_WIN32)
#include <windows.h>
uint64_t lbc_monotonic_ns(void)
{
    LARGE_INTEGER freq, now;
    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return (uint64_t)((double)now.QuadPart * 1e9 / (double)freq.QuadPart);
}

uint64_t lbc_boottime_ns(void) { return lbc_monotonic_ns(); }

uint64_t lbc_run_clock_ns(void) { return lbc_monotonic_ns(); }
#else
#include <time.h>
static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t lbc_monotonic_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

uint64_t lbc_boottime_ns(void)
{
#ifdef CLOCK_BOOTTIME
    return clock_ns(CLOCK_BOOTTIME);
#else
    return clock_ns(CLOCK_MONOTONIC);
#endif
}

uint64_t lbc_run_clock_ns(void)
{
#ifdef CLOCK_THREAD_CPUTIME_ID
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
#else
    return clock_ns(CLOCK_MONOTONIC);
#endif
}
#endif
