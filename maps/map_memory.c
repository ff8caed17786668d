/* Where map regions live, the map store's one platform file.
 *
 * A region starts as private, zeroed, page-aligned memory of its own mapping
 * (mmap / VirtualAlloc). Pinning moves it into a file: the file is created,
 * filled with the region's bytes and mapped shared over the very same
 * addresses, so the handle, programs' map pointers and memoryviews stay
 * valid; from then on the region is the file's pages, which any process
 * mapping the file shares. Sizes beyond the machine's physical memory are
 * refused with -ENOMEM up front, so an absurd max_entries fails cleanly
 * instead of being overcommitted and killed later. */
#if !defined(_WIN32)
#if !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS with glibc */
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE /* MAP_ANONYMOUS next to _POSIX_C_SOURCE */
#endif
#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#endif
#include <stdio.h>
#include <stdlib.h>

#include "map_internal.h"

#if defined(_WIN32)
#include <windows.h>

static uint64_t physical_memory(void)
{
    MEMORYSTATUSEX st;
    st.dwLength = sizeof st;
    return GlobalMemoryStatusEx(&st) ? (uint64_t)st.ullTotalPhys : UINT64_MAX;
}

static size_t granule(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return (size_t)si.dwAllocationGranularity;
}
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return UINT64_MAX;
    return (uint64_t)pages * (uint64_t)page;
}

static size_t granule(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096u;
}
#endif

/* The length of the mapping holding a region of size bytes. */
static size_t mapping_len(uint64_t size)
{
    size_t g = granule();
    return ((size_t)size + g - 1) / g * g;
}

static int size_ok(uint64_t size)
{
    return size != 0 && size <= SIZE_MAX / 2 && size <= physical_memory();
}

#if !defined(_WIN32)
/* Anonymous zeroed memory. Regions of 2 MiB and more are placed on a 2 MiB
 * boundary and offered to transparent huge pages, as the kernel's own maps
 * sit in its huge-page direct map: programs' random accesses into a big
 * hash or array then miss the TLB far less. */
static void *map_anonymous(size_t len)
{
    const size_t huge = (size_t)2 << 20;
    if (len < huge || len > SIZE_MAX - huge) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    unsigned char *raw = mmap(NULL, len + huge, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    const size_t head = (size_t)(-(uintptr_t)raw & (huge - 1));
    if (head)
        munmap(raw, head);
    if (huge - head)
        munmap(raw + head + len, huge - head);
#if defined(MADV_HUGEPAGE)
    (void)madvise(raw + head, len, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
    return raw + head;
}
#endif

int lbc_region_alloc(uint64_t size, void **out)
{
    *out = NULL;
    if (!size_ok(size))
        return -ENOMEM;
#if defined(_WIN32)
    void *p = VirtualAlloc(NULL, mapping_len(size), MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (!p)
        return -ENOMEM;
#else
    void *p = map_anonymous(mapping_len(size));
    if (!p)
        return -ENOMEM;
#endif
    *out = p; /* fresh anonymous pages are zero */
    return 0;
}

void lbc_region_free(void *p, uint64_t size)
{
    if (!p)
        return;
#if defined(_WIN32)
    (void)size;
    VirtualFree(p, 0, MEM_RELEASE);
#else
    munmap(p, mapping_len(size));
#endif
}

/* ---- file-backed regions (pinning) ---- */

#if defined(_WIN32)

static int win_errno(void)
{
    switch (GetLastError()) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
        return -ENOENT;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
        return -EEXIST;
    case ERROR_ACCESS_DENIED:
        return -EACCES;
    case ERROR_DISK_FULL:
        return -ENOSPC;
    default:
        return -EIO;
    }
}

int lbc_region_to_file(void *p, uint64_t size, const char *tmp_path, intptr_t *file)
{
    HANDLE h = CreateFileA(tmp_path, GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return win_errno();
    const unsigned char *src = p;
    int err = 0;
    for (uint64_t done = 0; done < size && !err;) {
        DWORD chunk = (DWORD)(size - done < (1u << 30) ? size - done : (1u << 30));
        DWORD wrote = 0;
        if (!WriteFile(h, src + done, chunk, &wrote, NULL) || wrote == 0)
            err = win_errno();
        done += wrote;
    }
    HANDLE mh = NULL;
    if (!err) {
        mh = CreateFileMappingA(h, NULL, PAGE_READWRITE, (DWORD)(size >> 32), (DWORD)size, NULL);
        if (!mh)
            err = win_errno();
    }
    if (!err) {
        VirtualFree(p, 0, MEM_RELEASE);
        if (MapViewOfFileEx(mh, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)size, p) != p)
            err = -ENOMEM; /* another thread took the addresses: cannot recover */
    }
    if (mh)
        CloseHandle(mh); /* the view keeps the mapping */
    if (err) {
        CloseHandle(h);
        DeleteFileA(tmp_path);
        return err;
    }
    *file = (intptr_t)h + 1;
    return 0;
}

int lbc_region_file_link(intptr_t file, const char *from, const char *to)
{
    char name[MAX_PATH];
    if (!from) {
        DWORD n = GetFinalPathNameByHandleA((HANDLE)(file - 1), name, MAX_PATH, 0);
        if (n == 0 || n >= MAX_PATH)
            return -ENOENT;
        from = name;
    }
    return CreateHardLinkA(to, from, NULL) ? 0 : win_errno();
}

int lbc_region_file_open(const char *path, void **out, uint64_t *size, intptr_t *file)
{
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return win_errno();
    LARGE_INTEGER len;
    int err = 0;
    if (!GetFileSizeEx(h, &len))
        err = win_errno();
    else if ((uint64_t)len.QuadPart < sizeof(lbc_region_hdr))
        err = -EINVAL;
    else if (!size_ok((uint64_t)len.QuadPart))
        err = -ENOMEM;
    void *p = NULL;
    if (!err) {
        HANDLE mh = CreateFileMappingA(h, NULL, PAGE_READWRITE, 0, 0, NULL);
        if (!mh) {
            err = win_errno();
        } else {
            p = MapViewOfFile(mh, FILE_MAP_ALL_ACCESS, 0, 0, 0);
            if (!p)
                err = -ENOMEM;
            CloseHandle(mh);
        }
    }
    if (err) {
        CloseHandle(h);
        return err;
    }
    *out = p;
    *size = (uint64_t)len.QuadPart;
    *file = (intptr_t)h + 1;
    return 0;
}

void lbc_region_file_unmap(void *p, uint64_t size, intptr_t file)
{
    (void)size;
    if (p)
        UnmapViewOfFile(p);
    if (file)
        CloseHandle((HANDLE)(file - 1));
}

int lbc_region_file_unlink(const char *path) { return DeleteFileA(path) ? 0 : win_errno(); }

#else /* POSIX */

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Write the region's non-zero pages (the file starts as zeros, so it stays
 * sparse where the map is untouched). */
static int copy_into(int fd, const unsigned char *src, uint64_t size)
{
    size_t g = granule();
    for (uint64_t off = 0; off < size; off += g) {
        size_t n = size - off < g ? (size_t)(size - off) : g;
        if (all_zero(src + off, n))
            continue;
        size_t done = 0;
        while (done < n) {
            ssize_t w = pwrite(fd, src + off + done, n - done, (off_t)(off + done));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            done += (size_t)w;
        }
    }
    return 0;
}

int lbc_region_to_file(void *p, uint64_t size, const char *tmp_path, intptr_t *file)
{
    if ((uint64_t)(off_t)size != size)
        return -EFBIG;
    int fd = open(tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    int err = ftruncate(fd, (off_t)size) ? -errno : 0;
#if defined(__linux__) || defined(__FreeBSD__)
    if (!err) {
        /* reserve the space now: a full file system is ENOSPC here rather
         * than SIGBUS on some later store into the map */
        int rc = posix_fallocate(fd, 0, (off_t)size);
        if (rc && rc != EOPNOTSUPP && rc != EINVAL)
            err = -rc;
    }
#endif
    if (!err)
        err = copy_into(fd, p, size);
    if (!err && mmap(p, mapping_len(size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                     0) == MAP_FAILED)
        err = -errno;
    if (err) {
        close(fd);
        unlink(tmp_path);
        return err;
    }
    *file = (intptr_t)fd + 1;
    return 0;
}

int lbc_region_file_link(intptr_t file, const char *from, const char *to)
{
    if (from)
        return link(from, to) ? -errno : 0;
#if defined(__linux__)
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", (int)(file - 1));
    return linkat(AT_FDCWD, self, AT_FDCWD, to, AT_SYMLINK_FOLLOW) ? -errno : 0;
#else
    (void)file;
    return -EOPNOTSUPP;
#endif
}

int lbc_region_file_open(const char *path, void **out, uint64_t *size, intptr_t *file)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int err = 0;
    if (fstat(fd, &st))
        err = -errno;
    else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(lbc_region_hdr))
        err = -EINVAL;
    else if (!size_ok((uint64_t)st.st_size))
        err = -ENOMEM;
    void *p = MAP_FAILED;
    if (!err) {
        p = mmap(NULL, mapping_len((uint64_t)st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED,
                 fd, 0);
        if (p == MAP_FAILED)
            err = -errno;
    }
    if (err) {
        close(fd);
        return err;
    }
    *out = p;
    *size = (uint64_t)st.st_size;
    *file = (intptr_t)fd + 1;
    return 0;
}

void lbc_region_file_unmap(void *p, uint64_t size, intptr_t file)
{
    if (p)
        munmap(p, mapping_len(size));
    if (file)
        close((int)(file - 1));
}

int lbc_region_file_unlink(const char *path) { return unlink(path) ? -errno : 0; }

#endif
