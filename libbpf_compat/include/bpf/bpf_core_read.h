/* libbpf-compat: CO-RE reads for BPF C programs. Field accesses are
 * recorded as relocations (clang's __builtin_preserve_access_index) and
 * fixed up by the loader against the target's BTF. */
#ifndef LBC_BPF_CORE_READ_H
#define LBC_BPF_CORE_READ_H

/* Relocation kinds, as in the BTF.ext CO-RE records. */
enum bpf_field_info_kind {
    BPF_FIELD_BYTE_OFFSET = 0,
    BPF_FIELD_BYTE_SIZE = 1,
    BPF_FIELD_EXISTS = 2,
    BPF_FIELD_SIGNED = 3,
    BPF_FIELD_LSHIFT_U64 = 4,
    BPF_FIELD_RSHIFT_U64 = 5,
};

#define bpf_core_field_exists(field) __builtin_preserve_field_info(field, BPF_FIELD_EXISTS)
#define bpf_core_field_size(field) __builtin_preserve_field_info(field, BPF_FIELD_BYTE_SIZE)
#define bpf_core_field_offset(field) __builtin_preserve_field_info(field, BPF_FIELD_BYTE_OFFSET)

/* Read `src` (an expression through a pointer) into `dst` with probe_read. */
#define bpf_core_read(dst, sz, src) \
    bpf_probe_read_kernel(dst, sz, (const void *)__builtin_preserve_access_index(src))

/* The value of one field reached through a pointer: BPF_CORE_READ(p, field). */
#define BPF_CORE_READ(src, field) ({                                   \
        __typeof__((src)->field) __lbc_val;                            \
        __builtin_memset(&__lbc_val, 0, sizeof(__lbc_val));            \
        bpf_core_read(&__lbc_val, sizeof(__lbc_val), &(src)->field);   \
        __lbc_val;                                                     \
    })

#endif
