/* SPDX-License-Identifier: Apache-2.0 */
/* Bounds-checked little-endian and LEB128 readers over a byte cursor, shared by the decoder and
 * the compiler. Errors use the spec testsuite's words and the byte offset p - base. */
#ifndef CAP_UTIL_LEB128_H
#define CAP_UTIL_LEB128_H

#include "capsule.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Spec messages the readers produce (and the decoder reuses). Reading past `end` gives
 * CAP_MSG_EOF, whose first words are the spec's "unexpected end". */
#define CAP_MSG_EOF       "unexpected end of section or function"
#define CAP_MSG_TOO_LONG  "integer representation too long"
#define CAP_MSG_TOO_LARGE "integer too large"
#define CAP_MSG_LEN_OOB   "length out of bounds"

/* A read cursor: `p` moves from its start towards `end`; `base` is the start of the module so
 * error offsets are module offsets. Invariant: base <= p <= end. Copy it freely (it owns
 * nothing). */
typedef struct cap_reader {
    const uint8_t *base;
    const uint8_t *p;
    const uint8_t *end;
} cap_reader;

static inline void
cap_reader_init(cap_reader *r, const uint8_t *base, size_t start, size_t end)
{
    r->base = base;
    r->p = base + start;
    r->end = base + end;
}

static inline size_t
cap_reader_left(const cap_reader *r)
{
    return (size_t)(r->end - r->p);
}

static inline uint64_t
cap_reader_offset(const cap_reader *r)
{
    return (uint64_t)(r->p - r->base);
}

static inline bool
cap_reader_eof(const cap_reader *r)
{
    return r->p >= r->end;
}

/* Fill err (MALFORMED) with msg at `offset` and return CAP_ERR_MALFORMED. Never allocates. */
cap_status cap_reader_fail(cap_error_t *err, uint64_t offset, const char *msg);
/* "unexpected end of section or function" at r->end. */
cap_status cap_reader_fail_eof(const cap_reader *r, cap_error_t *err);

/* The slow paths of the LEB readers below (multi-byte encodings and every error). */
cap_status cap_leb_read_u32_slow(cap_reader *r, uint32_t *out, cap_error_t *err);
cap_status cap_leb_read_s32_slow(cap_reader *r, int32_t *out, cap_error_t *err);
cap_status cap_leb_read_s33_slow(cap_reader *r, int64_t *out, cap_error_t *err);
cap_status cap_leb_read_u64_slow(cap_reader *r, uint64_t *out, cap_error_t *err);
cap_status cap_leb_read_s64_slow(cap_reader *r, int64_t *out, cap_error_t *err);

/* One byte. */
static inline cap_status
cap_read_u8(cap_reader *r, uint8_t *out, cap_error_t *err)
{
    if (r->p >= r->end) {
        cap_reader_fail_eof(r, err);
        return CAP_ERR_MALFORMED; // a constant, so compilers see *out is set on CAP_OK
    }
    *out = *r->p++;
    return CAP_OK;
}

/* A little-endian u32 (the bits of an f32.const). */
static inline cap_status
cap_read_u32_le(cap_reader *r, uint32_t *out, cap_error_t *err)
{
    if (cap_reader_left(r) < 4) {
        r->p = r->end;
        cap_reader_fail_eof(r, err);
        return CAP_ERR_MALFORMED;
    }
    *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
           (uint32_t)r->p[3] << 24;
    r->p += 4;
    return CAP_OK;
}

/* A little-endian u64 (the bits of an f64.const). */
static inline cap_status
cap_read_u64_le(cap_reader *r, uint64_t *out, cap_error_t *err)
{
    if (cap_reader_left(r) < 8) {
        r->p = r->end;
        cap_reader_fail_eof(r, err);
        return CAP_ERR_MALFORMED;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | r->p[i];
    }
    *out = v;
    r->p += 8;
    return CAP_OK;
}

/* Unsigned LEB128 of at most 32 bits (5 bytes): "integer representation too long" when longer,
 * "integer too large" when the last byte has bits beyond 32. */
static inline cap_status
cap_leb_read_u32(cap_reader *r, uint32_t *out, cap_error_t *err)
{
    if (r->p < r->end && *r->p < 0x80) {
        *out = *r->p++;
        return CAP_OK;
    }
    return cap_leb_read_u32_slow(r, out, err);
}

/* Signed LEB128 of at most 32 bits (i32.const). */
static inline cap_status
cap_leb_read_s32(cap_reader *r, int32_t *out, cap_error_t *err)
{
    if (r->p < r->end && *r->p < 0x80) {
        uint8_t b = *r->p++;
        *out = (int32_t)b - ((b & 0x40) ? 0x80 : 0);
        return CAP_OK;
    }
    return cap_leb_read_s32_slow(r, out, err);
}

/* Signed LEB128 of at most 33 bits (block types: a type index or a negative valtype). */
static inline cap_status
cap_leb_read_s33(cap_reader *r, int64_t *out, cap_error_t *err)
{
    if (r->p < r->end && *r->p < 0x80) {
        uint8_t b = *r->p++;
        *out = (int64_t)b - ((b & 0x40) ? 0x80 : 0);
        return CAP_OK;
    }
    return cap_leb_read_s33_slow(r, out, err);
}

/* Unsigned LEB128 of at most 64 bits (10 bytes). */
static inline cap_status
cap_leb_read_u64(cap_reader *r, uint64_t *out, cap_error_t *err)
{
    if (r->p < r->end && *r->p < 0x80) {
        *out = *r->p++;
        return CAP_OK;
    }
    return cap_leb_read_u64_slow(r, out, err);
}

/* Signed LEB128 of at most 64 bits (i64.const). */
static inline cap_status
cap_leb_read_s64(cap_reader *r, int64_t *out, cap_error_t *err)
{
    if (r->p < r->end && *r->p < 0x80) {
        uint8_t b = *r->p++;
        *out = (int64_t)b - ((b & 0x40) ? 0x80 : 0);
        return CAP_OK;
    }
    return cap_leb_read_s64_slow(r, out, err);
}

/* A u32 length or vector count that must not exceed the bytes left from the start of its LEB:
 * "length out of bounds" otherwise (the reference interpreter's len32). Bounding a count by the
 * bytes left keeps a lying count from causing a huge allocation (every element takes >= 1
 * byte). */
static inline cap_status
cap_read_len(cap_reader *r, uint32_t *out, cap_error_t *err)
{
    const uint8_t *start = r->p;
    cap_status st = cap_leb_read_u32(r, out, err);
    if (st != CAP_OK) {
        return st;
    }
    if (*out > (size_t)(r->end - start)) {
        cap_reader_fail(err, (uint64_t)(start - r->base), CAP_MSG_LEN_OOB);
        return CAP_ERR_MALFORMED;
    }
    return CAP_OK;
}

/* n raw bytes: *out points at them (inside the reader's buffer) and the cursor moves past. */
static inline cap_status
cap_read_bytes(cap_reader *r, size_t n, const uint8_t **out, cap_error_t *err)
{
    if (cap_reader_left(r) < n) {
        r->p = r->end;
        cap_reader_fail_eof(r, err);
        return CAP_ERR_MALFORMED;
    }
    *out = r->p;
    r->p += n;
    return CAP_OK;
}

#endif
