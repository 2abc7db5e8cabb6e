/* SPDX-License-Identifier: Apache-2.0 */
/* The one allocator every part of Capsule goes through, with a test hook that fails the Nth
 * allocation (SQLite-style fault injection) so every error path can be walked. */
#ifndef CAP_UTIL_ALLOC_H
#define CAP_UTIL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Like malloc/calloc/realloc/free. They return NULL on failure (or on an injected failure).
 * cap_realloc leaves the old block untouched when it fails. Sizes are checked for overflow. */
void *cap_alloc(size_t size);
void *cap_calloc(size_t count, size_t size);
void *cap_realloc(void *ptr, size_t size);
void cap_free(void *ptr);
/* A copy of s (NUL-terminated), or NULL. cap_strndup copies n bytes and adds a NUL. */
char *cap_strdup(const char *s);
char *cap_strndup(const char *s, size_t n);

/* Test hook: after `n` more successful allocations, every allocation fails until reset with
 * n = 0 (0 disables injection). cap_alloc_count() counts allocations made since the last call of
 * cap_alloc_fail_after. Not thread-safe: for single-threaded tests only. */
void cap_alloc_fail_after(uint64_t n);
uint64_t cap_alloc_count(void);

#endif
