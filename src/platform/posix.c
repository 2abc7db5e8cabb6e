/* SPDX-License-Identifier: Apache-2.0 */
/* The POSIX implementation of the OS layer (platform.h): mmap, mprotect, mremap, munmap. */
#include "platform/platform.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

void *
cap_plat_reserve(uint64_t bytes)
{
    if (bytes == 0 || bytes > SIZE_MAX) {
        return NULL;
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
