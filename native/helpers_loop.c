/* Helpers that call a program's own function back (bpf_loop) and the map
 * value lock (bpf_spin_lock / bpf_spin_unlock). */
#include <errno.h>

#include "lbc_platform.h"
#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define ERR(e) ((uint64_t)(int64_t)-(e))

/* Linux's BPF_MAX_LOOPS */
#define LBC_MAX_LOOPS (8u * 1024u * 1024u)

/* state: [0] the number of loops, [1] the callback's context */
static int loop_step(uint64_t *state, uint64_t index, uint64_t *args)
{
    if (index >= state[0]) return 0;
    args[0] = index;
    args[1] = state[1];
    return 1;
}

/* bpf_loop(nr_loops, callback_fn, callback_ctx, flags): call
 * callback_fn(index, callback_ctx) for index 0..nr_loops-1 until it returns
 * non-zero; returns the number of calls, -E2BIG past 1 << 23 loops, -EINVAL
 * for non-zero flags. */
HELPER(loop)
{
    (void)data, (void)r5;
    const uint32_t nr_loops = (uint32_t)r1;
    if (r4) return ERR(EINVAL);
    if (nr_loops > LBC_MAX_LOOPS) return ERR(E2BIG);
    const uint64_t state[4] = {nr_loops, r3, 0, 0};
    return (uint64_t)(int64_t)lbc_exec_callback(ex, r2, loop_step, state);
}

/* bpf_spin_lock(lock): take the 4-byte lock word of a map value (the same
 * word BPF_F_LOCK map operations take), waiting while another run or user
 * space holds it. A run holds one lock at a time, as the verifier demands
 * in Linux; taking a second one is an error of the run. */
HELPER(spin_lock)
{
    (void)data, (void)r2, (void)r3, (void)r4, (void)r5;
    if (ex->held_lock) {
        lbc_exec_fail(ex, -EDEADLK, "bpf_spin_lock while the run already holds a lock");
        return 0;
    }
    if (!r1 || (r1 & 3u)) {
        lbc_exec_fail(ex, -EINVAL, "bpf_spin_lock of a lock that is not a 4-byte aligned word");
        return 0;
    }
    lbc_spin_lock((uint32_t *)(uintptr_t)r1);
    ex->held_lock = r1;
    return 0;
}

/* bpf_spin_unlock(lock): release the lock the run holds. */
HELPER(spin_unlock)
{
    (void)data, (void)r2, (void)r3, (void)r4, (void)r5;
    if (ex->held_lock != r1) {
        lbc_exec_fail(ex, -EINVAL, "bpf_spin_unlock of a lock the run does not hold");
        return 0;
    }
    lbc_spin_unlock((uint32_t *)(uintptr_t)r1);
    ex->held_lock = 0;
    return 0;
}
