/* Where map regions live: for now a zeroed, 64-byte aligned allocation of
 * process memory (pinning will map a file here instead). Sizes beyond the
 * machine's physical memory are refused with -ENOMEM up front, so an absurd
 * max_entries fails cleanly instead of being overcommitted and killed later. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdlib.h>

#include "map_internal.h"

#if defined(_WIN32)
#include <malloc.h>
#include <windows.h>
static uint64_t physical_memory(void)
{
    MEMORYSTATUSEX st;
    st.dwLength = sizeof st;
    return GlobalMemoryStatusEx(&st) ? (uint64_t)st.ullTotalPhys : UINT64_MAX;
}
#else
#include <unistd.h>
static uint64_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return UINT64_MAX;
    return (uint64_t)pages * (uint64_t)page;
}
#endif

#define REGION_ALIGN 64u

int lbc_region_alloc(uint64_t size, void **out)
{
    *out = NULL;
    if (size == 0 || size > SIZE_MAX - REGION_ALIGN || size > physical_memory())
        return -ENOMEM;
    size_t rounded = ((size_t)size + REGION_ALIGN - 1) & ~(size_t)(REGION_ALIGN - 1);
#if defined(_WIN32)
    void *p = _aligned_malloc(rounded, REGION_ALIGN);
#else
    void *p = aligned_alloc(REGION_ALIGN, rounded);
#endif
    if (!p)
        return -ENOMEM;
    memset(p, 0, rounded);
    *out = p;
    return 0;
}

void lbc_region_free(void *p, uint64_t size)
{
    (void)size;
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}
