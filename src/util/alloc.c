/* SPDX-License-Identifier: Apache-2.0 */
/* The allocator wrapper with fault injection; see alloc.h. */
#include "util/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Relaxed atomics: a worker allocates on several threads at once; the counts only matter to
 * single-threaded fault-injection tests, but the increments must not race. */
static _Atomic uint64_t fail_after; // 0 = injection off
static _Atomic uint64_t alloc_count;

/* Returns nonzero when this allocation must fail by the test hook. */
static int
injected_failure(void)
{
    uint64_t n = atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed) + 1;
    uint64_t f = atomic_load_explicit(&fail_after, memory_order_relaxed);
    return f != 0 && n >= f;
}

void
cap_alloc_fail_after(uint64_t n)
{
    atomic_store(&fail_after, n);
    atomic_store(&alloc_count, 0);
}

uint64_t
cap_alloc_count(void)
{
    return atomic_load(&alloc_count);
}

void *
cap_alloc(size_t size)
{
    if (injected_failure()) {
        return NULL;
    }
    return malloc(size ? size : 1);
}

void *
cap_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        return NULL;
    }
    if (injected_failure()) {
        return NULL;
    }
    return calloc(count ? count : 1, size ? size : 1);
}

void *
cap_realloc(void *ptr, size_t size)
{
    if (injected_failure()) {
        return NULL;
    }
    return realloc(ptr, size ? size : 1);
}

void
cap_free(void *ptr)
{
    free(ptr);
}

char *
cap_strndup(const char *s, size_t n)
{
    char *p = cap_alloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *
cap_strdup(const char *s)
{
    return cap_strndup(s, strlen(s));
}
