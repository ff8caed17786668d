/* Pinning: moving a map's region into a file (lbc_map_pin) and building a
 * process-local handle on a region another process pinned
 * (lbc_map_open_pinned), after checking that the file is one of ours, of
 * this format version, and that its header describes a layout this build
 * would make itself. The file operations are map_memory.c's. */
#include <stdlib.h>

#include "map_internal.h"

/* Families whose handle caches nothing beyond the common fields; the others
 * join pinning by setting ops->attach. */
static int shareable(const lbc_map_ops *ops, uint32_t map_type)
{
    if (ops->attach)
        return 1;
    switch (map_type) {
    case LBC_MAP_ARRAY:
    case LBC_MAP_PERCPU_ARRAY:
    case LBC_MAP_QUEUE:
    case LBC_MAP_STACK:
    case LBC_MAP_BLOOM_FILTER:
    case LBC_MAP_RINGBUF:
        return 1;
    default:
        return 0;
    }
}

int lbc_map_pin(lbc_map *m, const char *path, const char *tmp_path)
{
    if (!m || !path)
        return -EINVAL;
    if (!shareable(m->ops, m->map_type))
        return -EOPNOTSUPP;
    if (m->region_file) {
        int err = lbc_region_file_link(m->region_file, NULL, path);
        if (err != -ENOENT && err != -EOPNOTSUPP)
            return err;
        /* the file has no name left (unpinned everywhere): move the region
         * into a new file, as for a first pin */
    }
    if (!tmp_path)
        return -EINVAL;
    intptr_t old = m->region_file, f = 0;
    uint64_t size = old ? m->region_file_size : m->r->region_size;
    int err = lbc_region_to_file(m->base, size, tmp_path, &f);
    if (err)
        return err;
    if (old)
        lbc_region_file_unmap(NULL, 0, old); /* the new mapping replaced it */
    m->region_file = f;
    m->region_file_size = size;
    err = lbc_region_file_link(f, tmp_path, path);
    lbc_region_file_unlink(tmp_path);
    return err;
}

static int check_header(const lbc_region_hdr *h, uint64_t file_size, const lbc_map_ops **ops)
{
    if (h->magic != LBC_MAP_MAGIC || h->version != LBC_MAP_VERSION)
        return -EINVAL;
    *ops = lbc_map_ops_for(h->map_type);
    if (!*ops)
        return -EINVAL;
    if (!shareable(*ops, h->map_type))
        return -EOPNOTSUPP;
    if (h->region_size != file_size)
        return -EINVAL;
    int percpu = lbc_map_type_is_percpu(h->map_type);
    if (h->ncpus != (percpu ? (uint32_t)lbc_num_possible_cpus() : 1u))
        return -EINVAL;
    if (h->spin_lock_off != -1 &&
        (h->spin_lock_off < 0 || percpu || (h->spin_lock_off & 3) ||
         (uint64_t)h->spin_lock_off + 4u > h->value_size))
        return -EINVAL;
    lbc_map_attr a = {h->map_type, h->key_size, h->value_size, h->max_entries,
                      h->map_flags, h->spin_lock_off, h->map_extra};
    uint64_t size = 0;
    if ((*ops)->check(&a) || (*ops)->size(&a, h->ncpus, &size) || size != h->region_size)
        return -EINVAL;
    return 0;
}

int lbc_map_open_pinned(const char *path, lbc_map **out)
{
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    void *p = NULL;
    uint64_t size = 0;
    intptr_t f = 0;
    int err = lbc_region_file_open(path, &p, &size, &f);
    if (err)
        return err;
    lbc_region_hdr *r = p;
    const lbc_map_ops *ops = NULL;
    lbc_map *m = NULL;
    err = check_header(r, size, &ops);
    if (!err) {
        m = calloc(1, sizeof *m);
        if (!m)
            err = -ENOMEM;
    }
    if (!err) {
        lbc_map_init_handle(m, p, ops);
        m->region_file = f;
        m->region_file_size = size;
        if (ops->attach)
            err = ops->attach(m);
    }
    if (err) {
        free(m);
        lbc_region_file_unmap(p, size, f);
        return err;
    }
    *out = m;
    return 0;
}

int lbc_map_get_attr(const lbc_map *m, lbc_map_attr *attr)
{
    if (!m || !attr)
        return -EINVAL;
    attr->map_type = m->map_type;
    attr->key_size = m->key_size;
    attr->value_size = m->value_size;
    attr->max_entries = m->max_entries;
    attr->map_flags = m->map_flags;
    attr->spin_lock_off = m->spin_lock_off;
    attr->map_extra = m->r->map_extra;
    return 0;
}
