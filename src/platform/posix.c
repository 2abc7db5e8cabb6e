/* SPDX-License-Identifier: Apache-2.0 */
/* The POSIX implementation of the OS layer (platform.h): mmap, mprotect, mremap, munmap. */
#include "platform/platform.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

#define HUGE_SIZE ((uint64_t)2 << 20) // the x86-64 / arm64 transparent huge page size

/* Large reservations start on a 2 MiB boundary and ask for transparent huge pages, so a guest
 * that touches megabytes of memory takes one page fault per 2 MiB instead of one per 4 KiB
 * (measured: filling 64 MiB took 860 ms with 4 KiB faults, 15 ms with huge pages, on a VM
 * where a fault costs ~50 us). Small memories never cover an aligned 2 MiB range of committed
 * pages, so they stay on small pages and do not bloat. */
static void *
reserve_aligned(uint64_t bytes)
{
    if (bytes > SIZE_MAX - HUGE_SIZE) {
        return NULL;
    }
    size_t len = (size_t)(bytes + HUGE_SIZE);
    uint8_t *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    uintptr_t a = ((uintptr_t)p + (HUGE_SIZE - 1)) & ~(uintptr_t)(HUGE_SIZE - 1);
    uint8_t *base = (uint8_t *)a;
    size_t head = (size_t)(base - p);
    size_t tail = len - head - (size_t)bytes;
    if (head) {
        munmap(p, head);
    }
    if (tail) {
        munmap(base + bytes, tail);
    }
#ifdef MADV_HUGEPAGE
    madvise(base, (size_t)bytes, MADV_HUGEPAGE); // advice only: failure changes nothing
#endif
    return base;
}

void *
cap_plat_reserve(uint64_t bytes)
{
    if (bytes == 0 || bytes > SIZE_MAX) {
        return NULL;
    }
    if (bytes >= 2 * HUGE_SIZE) {
        void *b = reserve_aligned(bytes);
        if (b) {
            return b;
        }
    }
    /* PROT_NONE + MAP_NORESERVE: address space only, no commit charge until mprotect. */
    void *p =
        mmap(NULL, (size_t)bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

bool
cap_plat_commit(void *base, uint64_t from, uint64_t to)
{
    if (to <= from) {
        return true;
    }
    return mprotect((uint8_t *)base + from, (size_t)(to - from), PROT_READ | PROT_WRITE) == 0;
}

void *
cap_plat_move(void *base, uint64_t committed, uint64_t old_reserved, uint64_t new_reserved)
{
    uint8_t *nb = cap_plat_reserve(new_reserved);
    if (!nb) {
        return NULL;
    }
    if (committed == 0) {
        cap_plat_release(base, old_reserved);
        return nb;
    }
#if defined(__linux__) && defined(MREMAP_FIXED)
    /* Move the committed pages over the start of the new reservation without copying. The
     * committed range is one mapping (adjacent mprotects with equal rights merge). */
    void *m = mremap(base, (size_t)committed, (size_t)committed, MREMAP_MAYMOVE | MREMAP_FIXED, nb);
    if (m != MAP_FAILED) {
        if (old_reserved > committed) {
            munmap((uint8_t *)base + committed, (size_t)(old_reserved - committed));
        }
        return nb;
    }
#endif
    if (!cap_plat_commit(nb, 0, committed)) {
        cap_plat_release(nb, new_reserved);
        return NULL;
    }
    memcpy(nb, base, (size_t)committed);
    cap_plat_release(base, old_reserved);
    return nb;
}

void
cap_plat_release(void *base, uint64_t reserved)
{
    if (base && reserved) {
        munmap(base, (size_t)reserved);
    }
}

bool
cap_plat_map_private(void *base, uint64_t len, int fd, uint64_t offset)
{
    if (len == 0) {
        return true;
    }
    if (len > SIZE_MAX || offset > (uint64_t)INT64_MAX) {
        return false;
    }
    void *p = mmap(base, (size_t)len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
                   (off_t)offset);
    return p == base;
}

/* Copies [off, end) of src to the same offsets of dst, in the kernel. */
static bool
copy_range(int dst, int src, off_t off, off_t end)
{
    while (off < end) {
        if (lseek(dst, off, SEEK_SET) != off) {
            return false;
        }
        ssize_t n = sendfile(dst, src, &off, (size_t)(end - off));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
    }
    return true;
}

int
cap_plat_private_copy(int src, uint64_t from, uint64_t to)
{
    if (to < from || to > (uint64_t)INT64_MAX) {
        errno = EINVAL;
        return -1;
    }
    int dst = memfd_create("capsule-snapshot", MFD_CLOEXEC);
    if (dst < 0) {
        return -1;
    }
    if (ftruncate(dst, (off_t)to) != 0) {
        goto fail;
    }
    /* Only the data extents: a snapshot's memory is mostly zero pages stored as holes. */
    off_t pos = (off_t)from, end = (off_t)to;
    while (pos < end) {
        off_t data = lseek(src, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) {
                break; // only a hole is left
            }
            if (!copy_range(dst, src, pos, end)) { // no SEEK_DATA here: copy it all
                goto fail;
            }
            break;
        }
        if (data >= end) {
            break;
        }
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > end) {
            hole = end;
        }
        if (!copy_range(dst, src, data, hole)) {
            goto fail;
        }
        pos = hole;
    }
    return dst;
fail: {
    int e = errno ? errno : EIO;
    close(dst);
    errno = e;
    return -1;
}
}

void *
cap_plat_map_file_readonly(int fd, uint64_t len)
{
    if (len == 0 || len > SIZE_MAX) {
        return NULL;
    }
    void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void
cap_plat_unmap(void *base, uint64_t len)
{
    if (base && len) {
        munmap(base, (size_t)len);
    }
}
