/* SPDX-License-Identifier: Apache-2.0 */
/* LEB128 slow paths and reader errors; the fast paths are inline in leb128.h. The checks follow
 * the spec's binary format (5.2.2): an N-bit integer takes at most ceil(N/7) bytes, and the
 * unused bits of the last byte must be zero (unsigned) or copies of the sign bit (signed). */
#include "util/leb128.h"

#include <string.h>

cap_status
cap_reader_fail(cap_error_t *err, uint64_t offset, const char *msg)
{
    if (err) {
        cap_error_clear(err);
        err->status = CAP_ERR_MALFORMED;
        err->offset = offset;
        size_t n = strlen(msg);
        if (n >= sizeof err->msg) {
            n = sizeof err->msg - 1;
        }
        memcpy(err->msg, msg, n);
        err->msg[n] = '\0';
    }
    return CAP_ERR_MALFORMED;
}

cap_status
cap_reader_fail_eof(const cap_reader *r, cap_error_t *err)
{
    return cap_reader_fail(err, (uint64_t)(r->end - r->base), CAP_MSG_EOF);
}

/* Reads an unsigned LEB of at most `bits` bits. */
static cap_status
read_uleb(cap_reader *r, unsigned bits, uint64_t *out, cap_error_t *err)
{
    uint64_t v = 0;
    unsigned shift = 0;
    int n = (int)bits; // bits still available, as the reference interpreter counts them
    for (;;) {
        if (n <= 0) {
            return cap_reader_fail(err, cap_reader_offset(r), CAP_MSG_TOO_LONG);
        }
        if (r->p >= r->end) {
            return cap_reader_fail_eof(r, err);
        }
        uint8_t b = *r->p++;
        if (n < 7 && (b & 0x7f) >= (1u << n)) {
            return cap_reader_fail(err, cap_reader_offset(r) - 1, CAP_MSG_TOO_LARGE);
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return CAP_OK;
        }
        shift += 7;
        n -= 7;
    }
}

/* Reads a signed LEB of at most `bits` bits, sign-extended to 64 bits. */
static cap_status
read_sleb(cap_reader *r, unsigned bits, int64_t *out, cap_error_t *err)
{
    uint64_t v = 0;
    unsigned shift = 0;
    int n = (int)bits;
    for (;;) {
        if (n <= 0) {
            return cap_reader_fail(err, cap_reader_offset(r), CAP_MSG_TOO_LONG);
        }
        if (r->p >= r->end) {
            return cap_reader_fail_eof(r, err);
        }
        uint8_t b = *r->p++;
        if (n < 7) {
            unsigned mask = (~0u << (n - 1)) & 0x7fu;
            if ((b & mask) != 0 && (b & mask) != mask) {
                return cap_reader_fail(err, cap_reader_offset(r) - 1, CAP_MSG_TOO_LARGE);
            }
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40)) {
                v |= ~(uint64_t)0 << shift;
            }
            memcpy(out, &v, sizeof v);
            return CAP_OK;
        }
        n -= 7;
    }
}

cap_status
cap_leb_read_u32_slow(cap_reader *r, uint32_t *out, cap_error_t *err)
{
    uint64_t v;
    cap_status st = read_uleb(r, 32, &v, err);
    if (st == CAP_OK) {
        *out = (uint32_t)v;
    }
    return st;
}

cap_status
cap_leb_read_s32_slow(cap_reader *r, int32_t *out, cap_error_t *err)
{
    int64_t v;
    cap_status st = read_sleb(r, 32, &v, err);
    if (st == CAP_OK) {
        *out = (int32_t)v;
    }
    return st;
}

cap_status
cap_leb_read_s33_slow(cap_reader *r, int64_t *out, cap_error_t *err)
{
    return read_sleb(r, 33, out, err);
}

cap_status
cap_leb_read_u64_slow(cap_reader *r, uint64_t *out, cap_error_t *err)
{
    return read_uleb(r, 64, out, err);
}

cap_status
cap_leb_read_s64_slow(cap_reader *r, int64_t *out, cap_error_t *err)
{
    return read_sleb(r, 64, out, err);
}
