/* SPDX-License-Identifier: Apache-2.0 */
/* The OS layer: the only place that knows about mmap and friends. Linear memories are reserved
 * as inaccessible address space and committed page by page as they grow, so their base address
 * stays put while the reservation lasts. */
#ifndef CAP_PLATFORM_H
#define CAP_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

/* Reserves `bytes` (> 0, a multiple of 64 KiB) of inaccessible address space. Returns its base,
 * or NULL when the OS refuses (or bytes do not fit the address space). */
void *cap_plat_reserve(uint64_t bytes);

/* Makes [base + from, base + to) readable and writable. The range lies inside a reservation and
 * was never committed before, so it reads as zeros. Returns false when the OS refuses. */
bool cap_plat_commit(void *base, uint64_t from, uint64_t to);

/* Moves a reservation of old_reserved bytes whose first `committed` bytes are in use into a new
 * reservation of new_reserved (> committed) bytes, keeping the committed contents (on Linux by
 * remapping the pages, elsewhere by copying). Returns the new base with [0, committed)
 * committed, or NULL with the old reservation untouched. */
void *cap_plat_move(void *base, uint64_t committed, uint64_t old_reserved, uint64_t new_reserved);

/* Releases a reservation (NULL is a no-op). */
void cap_plat_release(void *base, uint64_t reserved);

/* Maps [offset, offset + len) of file `fd` copy-on-write over [base, base + len), which lies in a
 * reservation (len and offset multiples of the OS page size): reads see the file, writes stay
 * private to this mapping. Returns false when the OS refuses (the range is then unchanged or
 * inaccessible; the caller fails the memory). */
bool cap_plat_map_private(void *base, uint64_t len, int fd, uint64_t offset);

/* Maps a whole file of `len` (> 0) bytes read-only, its pages loaded up front (one call instead
 * of a page fault each). NULL when the OS refuses. Unmap with cap_plat_unmap. */
void *cap_plat_map_file_readonly(int fd, uint64_t len);
void cap_plat_unmap(void *base, uint64_t len);

/* Copies [from, to) of file `src` into an anonymous in-memory file (same offsets; holes stay
 * holes) so that nothing done to `src` later can change or truncate what is mapped from the
 * copy. Returns the copy's descriptor (close-on-exec), or -1 with errno set. */
int cap_plat_private_copy(int src, uint64_t from, uint64_t to);

#endif
