/* SPDX-License-Identifier: Apache-2.0 */
/* The libc bits the benchmark programs need when built as import-free wasm32 modules (with
 * -nostdlib): plain byte loops, written so the compiler does not turn them back into calls to
 * themselves. */
#include "bench.h"

void *
memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) {
        *d++ = *s++;
        __asm__ volatile("" ::: "memory"); // keeps clang from recognising the loop as memcpy
    }
    return dst;
}

void *
memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--) {
            *d++ = *s++;
            __asm__ volatile("" ::: "memory");
        }
    } else {
        d += n;
        s += n;
        while (n--) {
            *--d = *--s;
            __asm__ volatile("" ::: "memory");
        }
    }
    return dst;
}

void *
memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--) {
        *d++ = (unsigned char)c;
        __asm__ volatile("" ::: "memory");
    }
    return dst;
}

int
memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++) {
        if (*x != *y) {
            return *x - *y;
        }
    }
    return 0;
}

size_t
strlen(const char *s)
{
    const char *p = s;
    while (*p) {
        p++;
    }
    return (size_t)(p - s);
}
