/* CPU slots for per-CPU maps.
 *
 * The slot count is the host's possible CPU count (Linux: the last CPU in
 * /sys/devices/system/cpu/possible, plus one, as libbpf reads it), computed
 * once per process. A thread that runs programs claims one slot for the run
 * from a process-wide bitmap; claims nest (a thread keeps its slot until its
 * outermost release), and a claim waits while all slots are taken, so two
 * threads running at the same moment never share a slot and per-CPU values
 * need no atomics. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>

#include "map_internal.h"

#if defined(_WIN32)
#include <windows.h>
#define LBC_TLS __declspec(thread)
static int host_cpus(void) { return (int)GetActiveProcessorCount(ALL_PROCESSOR_GROUPS); }
static void yield_cpu(void) { SwitchToThread(); }
#else
#include <sched.h>
#include <unistd.h>
#define LBC_TLS _Thread_local
static int possible_from_sysfs(void)
{
    FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
    if (!f)
        return 0;
    char buf[256];
    int n = 0;
    if (fgets(buf, sizeof buf, f)) {
        /* "0-7" or "0,2-5": the highest number plus one */
        int cur = 0, have = 0;
        for (const char *p = buf;; p++) {
            if (*p >= '0' && *p <= '9') {
                cur = cur * 10 + (*p - '0');
                have = 1;
                if (cur > 1 << 20)
                    break;
            } else {
                if (have && cur + 1 > n)
                    n = cur + 1;
                cur = 0;
                have = 0;
                if (*p == '\0' || *p == '\n')
                    break;
            }
        }
    }
    fclose(f);
    return n;
}
static int host_cpus(void)
{
    int n = possible_from_sysfs();
    if (n <= 0)
        n = (int)sysconf(_SC_NPROCESSORS_CONF);
    return n;
}
static void yield_cpu(void) { sched_yield(); }
#endif

#define MAX_SLOTS 4096
static uint32_t slot_count;                  /* 0 until first asked */
static uint64_t slot_bits[MAX_SLOTS / 64];
static LBC_TLS int tls_slot = -1;
static LBC_TLS unsigned tls_depth;

int lbc_num_possible_cpus(void)
{
    uint32_t n = lbc_aload_u32(&slot_count);
    if (n == 0) {
        int h = host_cpus();
        n = h < 1 ? 1u : h > MAX_SLOTS ? MAX_SLOTS : (uint32_t)h;
        lbc_cas_u32(&slot_count, 0, n); /* every thread computes the same value */
        n = lbc_aload_u32(&slot_count);
    }
    return (int)n;
}

int lbc_cpu_slot(void) { return tls_slot < 0 ? 0 : tls_slot; }

static int try_claim(uint32_t n, uint32_t start)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = (start + i) % n;
        uint64_t *w = &slot_bits[s / 64];
        uint64_t bit = (uint64_t)1 << (s % 64);
        uint64_t old = lbc_aload_u64(w);
        if (!(old & bit) && lbc_cas_u64(w, old, old | bit))
            return (int)s;
    }
    return -1;
}

int lbc_cpu_slot_claim(void)
{
    if (tls_depth++ > 0)
        return tls_slot;
    uint32_t n = (uint32_t)lbc_num_possible_cpus();
    /* start from a per-thread place so threads rarely contend on one bit */
    uint32_t start = (uint32_t)(((uintptr_t)&tls_depth >> 6) % n);
    for (unsigned spins = 0;; spins++) {
        int s = try_claim(n, start);
        if (s >= 0) {
            tls_slot = s;
            return s;
        }
        if (spins < 64)
            lbc_cpu_relax();
        else
            yield_cpu();
    }
}

void lbc_cpu_slot_release(void)
{
    if (tls_depth == 0 || --tls_depth > 0)
        return;
    uint32_t s = (uint32_t)tls_slot;
    tls_slot = -1;
    uint64_t bit = (uint64_t)1 << (s % 64);
    lbc_afetch_and_u64((uint64_t)(uintptr_t)&slot_bits[s / 64], ~bit);
}
