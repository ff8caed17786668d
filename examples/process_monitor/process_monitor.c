/* Process-creation monitor in eBPF-for-Windows style: a PROCESS program
 * that reports every creation and exit (process, parent, creator, command
 * line) on a ring buffer and denies the creation of a process whose image
 * (the command line's first word, without its directory, in lower case) is
 * in the blocked map.
 *
 * Windows only (process_md_t, the PROCESS hook); build.sh builds it with
 * -DLBC_ABI_WINDOWS against libbpf_compat/include. */
#include "bpf/bpf_helpers.h"

#define CMD_MAX 192
#define IMAGE_MAX 32
#define SCAN_MAX 260

struct process_event {
    __u64 process_id;
    __u64 parent_process_id;
    __u64 creating_process_id;
    __u32 operation;      /* PROCESS_OPERATION_CREATE or _DELETE */
    __u32 denied;         /* 1 when this program refused the creation */
    __u32 command_length; /* the whole command line's length */
    char command[CMD_MAX]; /* its first CMD_MAX bytes */
    char image[IMAGE_MAX]; /* the image name the blocklist was checked for */
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, char[IMAGE_MAX]); /* image name, lower case, NUL padded */
    __type(value, __u32);
    __uint(max_entries, 256);
} blocked SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* The image name of the command line [start, end): its first word (up to
 * the closing quote when it starts with one), after the last '\' or '/',
 * lower-cased; empty when longer than IMAGE_MAX - 1. */
static __always_inline void image_name(const __u8 *start, const __u8 *end, char *image)
{
    int quoted = start < end && start[0] == '"';
    int base = quoted, stop = quoted;
    for (int i = quoted; i < SCAN_MAX; i++) {
        const __u8 *p = start + i;
        if (p >= end)
            break;
        __u8 c = *p;
        if (quoted ? c == '"' : (c == ' ' || c == '\t'))
            break;
        if (c == '\\' || c == '/')
            base = i + 1;
        stop = i + 1;
    }
    if (stop - base >= IMAGE_MAX)
        return;
    for (int i = 0; i < IMAGE_MAX - 1; i++) {
        const __u8 *p = start + base + i;
        if (base + i >= stop || p >= end)
            break;
        __u8 c = *p;
        image[i] = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
    }
}

SEC("process")
int monitor_processes(process_md_t *ctx)
{
    struct process_event ev = {};
    __u64 length = ctx->command_end - ctx->command_start;

    ev.process_id = ctx->process_id;
    ev.parent_process_id = ctx->parent_process_id;
    ev.creating_process_id = ctx->creating_process_id;
    ev.operation = ctx->operation;
    ev.command_length = length;
    bpf_memcpy_s(ev.command, sizeof(ev.command), ctx->command_start,
                 length < CMD_MAX ? length : CMD_MAX);
    if (ctx->operation == PROCESS_OPERATION_CREATE) {
        image_name(ctx->command_start, ctx->command_end, ev.image);
        if (ev.image[0] && bpf_map_lookup_elem(&blocked, ev.image))
            ev.denied = 1;
    }
    bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
    return ev.denied;
}

char LICENSE[] SEC("license") = "GPL";
