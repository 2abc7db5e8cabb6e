/* SPDX-License-Identifier: Apache-2.0 */
/* Shared declarations of the benchmark programs. Each programs/NAME.c defines run(), which does
 * a fixed amount of work from scratch and returns a checksum, so that every engine's answer can
 * be compared with native code's. The same source builds natively (with main.c), as a wasm32
 * module that imports nothing and exports run (with minilibc.c), and as a WASI command. */
#ifndef CAP_BENCH_H
#define CAP_BENCH_H

#include <stddef.h>
#include <stdint.h>

uint32_t run(void);

/* The few libc functions the programs use; in the import-free wasm build minilibc.c defines
 * them, elsewhere the C library does. The compiler may also emit calls to them by itself. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* A small deterministic generator (xorshift32) for input data. */
static inline uint32_t
bench_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

#endif
