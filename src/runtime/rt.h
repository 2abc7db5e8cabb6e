/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the task layer (src/runtime): error filling, a growable string and
 * "did you mean" suggestions. Kept here so the runtime does not depend on engine internals. */
#ifndef CAP_RUNTIME_RT_H
#define CAP_RUNTIME_RT_H

#include "capsule.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Fills err (if not NULL) with `status` and a printf-style one-line message; returns status so
 * callers can write `return cap_rt_fail(err, CAP_ERR_CONFIG, "...")`. Never allocates. */
cap_status cap_rt_fail(cap_error_t *err, cap_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A growable NUL-terminated byte string. A failed append sets `oom` and keeps the old
 * contents, so a sequence of appends needs one check at the end. */
typedef struct cap_sb {
    char *data; // NUL-terminated, owned; NULL until the first append
    size_t len;
    size_t cap;
    bool oom;
} cap_sb;

void cap_sb_append(cap_sb *sb, const char *s, size_t n);
void cap_sb_puts(cap_sb *sb, const char *s);
void cap_sb_printf(cap_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Gives the string to the caller (never NULL unless oom: an empty string is allocated when
 * nothing was appended) and resets sb. Returns NULL when an append failed. */
char *cap_sb_take(cap_sb *sb);
void cap_sb_free(cap_sb *sb);

/* The candidate nearest to `word` by edit distance, or NULL when none is close enough to be a
 * plausible typo (distance at most 1/3 of the longer word, minimum 2). candidates ends with NULL.
 */
const char *cap_rt_suggest(const char *word, const char *const *candidates);

/* Case-insensitive ASCII comparison of two NUL-terminated strings. */
bool cap_rt_ieq(const char *a, const char *b);

/* True when the n bytes at s are valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool cap_rt_utf8_valid(const char *s, size_t n);

/* Milliseconds since the Unix epoch (wall clock) and a monotonic clock. */
/* mkdir -p: creates dir and its missing parents (0755). False with errno set on failure. */
bool cap_rt_mkdirs(const char *dir);

int64_t cap_rt_now_ms(void);
uint64_t cap_rt_monotonic_ms(void);

#endif
