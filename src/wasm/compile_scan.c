/* SPDX-License-Identifier: Apache-2.0 */
/* The decode-only scan of function bodies (see compile.h): finds malformed encodings without
 * validating, so that they can be reported in preference to a validation error. */
#include "util/leb128.h"
#include "wasm/compile.h"

/* The opcodes of opcodes.def (0xFC sub-opcodes at 256 + sub). */
static const bool defined[256 + 32] = {
#define X(name, prefix, code, kind, ta, tb, tr, fuel, expr)                                        \
    [(prefix) ? 256 + (code) : (code)] = true,
#include "wasm/opcodes.def"
#undef X
};

cap_status
cap_compile_scan_body(const cap_module_t *m, const cap_func_def *def, cap_error_t *err)
{
    cap_status st;
    cap_reader r;
    cap_reader_init(&r, m->bytes, def->body_offset, (size_t)def->body_offset + def->body_len);
    uint32_t n, x;
    uint8_t b;
    int64_t v;
    uint64_t total = 0;
    bool overrun = false;
#define SCAN(e)                                                                                    \
    do {                                                                                           \
        if ((st = (e)) != CAP_OK) {                                                                \
            return st;                                                                             \
        }                                                                                          \
    } while (0)
#define BAD(msg) return cap_fail(err, CAP_ERR_MALFORMED, cap_reader_offset(&r), "%s", msg)
    SCAN(cap_read_len(&r, &n, err));
    for (uint32_t i = 0; i < n; i++) {
        SCAN(cap_leb_read_u32(&r, &x, err));
        SCAN(cap_read_u8(&r, &b, err));
        total += x;
        if (total > CAP_MAX_LOCALS) {
            BAD("too many locals");
        }
        if (!is_valtype(b)) {
            BAD("malformed value type");
        }
    }
    uint64_t depth = 0;
    for (;;) {
        if (cap_reader_eof(&r)) {
            if (r.end == m->bytes + m->len) {
                BAD(CAP_MSG_EOF);
            }
            r.end = m->bytes + m->len;
            overrun = true;
        }
        uint8_t op = *r.p++;
        switch (op) {
        case 0x02:
        case 0x03:
        case 0x04:
            SCAN(cap_leb_read_s33(&r, &v, err));
            if (v < 0 && v != -64 && (v < -64 || !is_valtype((uint8_t)(v & 0x7F)))) {
                BAD("malformed value type");
            }
            depth++;
            break;
        case 0x0B:
            if (depth == 0) {
                if (overrun || !cap_reader_eof(&r)) {
                    BAD("section size mismatch");
                }
                return CAP_OK;
            }
            depth--;
            break;
        case 0x0E:
            SCAN(cap_read_len(&r, &n, err));
            for (uint32_t i = 0; i <= n; i++) {
                SCAN(cap_leb_read_u32(&r, &x, err));
            }
            break;
        case 0x11:
        case 0x28 ... 0x3E: // call_indirect; loads and stores (memarg)
            SCAN(cap_leb_read_u32(&r, &x, err));
            SCAN(cap_leb_read_u32(&r, &x, err));
            break;
        case 0x0C:
        case 0x0D:
        case 0x10:
        case 0x20 ... 0x26:
        case 0xD2:
            SCAN(cap_leb_read_u32(&r, &x, err));
            break;
        case 0x1C:
            SCAN(cap_read_len(&r, &n, err));
            for (uint32_t i = 0; i < n; i++) {
                SCAN(cap_read_u8(&r, &b, err));
                if (!is_valtype(b)) {
                    BAD("malformed value type");
                }
            }
            break;
        case 0x3F:
        case 0x40:
            SCAN(cap_read_u8(&r, &b, err));
            if (b != 0) {
                BAD("zero byte expected");
            }
            break;
        case 0x41: {
            int32_t i32;
            SCAN(cap_leb_read_s32(&r, &i32, err));
            break;
        }
        case 0x42:
            SCAN(cap_leb_read_s64(&r, &v, err));
            break;
        case 0x43: {
            uint32_t f32;
            SCAN(cap_read_u32_le(&r, &f32, err));
            break;
        }
        case 0x44: {
            uint64_t f64;
            SCAN(cap_read_u64_le(&r, &f64, err));
            break;
        }
        case 0xD0:
            SCAN(cap_read_u8(&r, &b, err));
            if (!is_ref(b)) {
                BAD("malformed reference type");
            }
            break;
        case 0xFC:
            SCAN(cap_leb_read_u32(&r, &n, err));
            if (n > 17) {
                BAD("illegal opcode");
            }
            if ((n == 8 || n == 9) && !m->has_data_count && m->ndatas > 0) {
                BAD("data count section required");
            }
            if (n == 8 || n == 9 || n == 12 || n == 13 || n == 14 || n >= 15) {
                SCAN(cap_leb_read_u32(&r, &x, err));
            }
            if (n == 12 || n == 14) {
                SCAN(cap_leb_read_u32(&r, &x, err));
            }
            for (int k = n == 8 || n == 11 ? 1 : n == 10 ? 2 : 0; k > 0; k--) {
                SCAN(cap_read_u8(&r, &b, err));
                if (b != 0) {
                    BAD("zero byte expected");
                }
            }
            break;
        default:
            if (!defined[op]) {
                BAD("illegal opcode");
            }
            break;
        }
    }
#undef SCAN
#undef BAD
}
