/* SPDX-License-Identifier: Apache-2.0 */
/* Byte-array tests of the decoder (src/wasm/decode.c) and its readers (src/util/leb128.c,
 * utf8.c): every error path with the spec's message, the decoded form of a rich module, and an
 * allocation-failure walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/alloc.h"
#include "util/leb128.h"
#include "util/utf8.h"
#include "wasm/module.h"

#include <string.h>

#define HDR 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00
/* A type section with one type [] -> []. */
#define TYPE_V 0x01, 0x04, 0x01, 0x60, 0x00, 0x00
/* A function section with one function of type 0, and its code section. */
#define FUNC_1 0x03, 0x02, 0x01, 0x00
#define CODE_1 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b

/* A module with imports, every kind of definition, exports (one name holding a NUL), a start
 * function, three kinds of element segments, two data segments and a name section; built by
 * wat2wasm --debug-names from a small .wat file. */
static const uint8_t rich_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x03, 0x60, 0x00, 0x00, 0x60, 0x01,
    0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x1c, 0x03, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x66, 0x00,
    0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x67, 0x03, 0x7f, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x74,
    0x01, 0x70, 0x00, 0x01, 0x03, 0x03, 0x02, 0x00, 0x01, 0x04, 0x05, 0x01, 0x6f, 0x01, 0x02, 0x0a,
    0x05, 0x04, 0x01, 0x01, 0x01, 0x02, 0x06, 0x0b, 0x02, 0x7e, 0x01, 0x42, 0x7b, 0x0b, 0x70, 0x00,
    0xd2, 0x02, 0x0b, 0x07, 0x14, 0x03, 0x04, 0x6d, 0x61, 0x69, 0x6e, 0x00, 0x01, 0x03, 0x61, 0x00,
    0x62, 0x00, 0x01, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x08, 0x01, 0x01, 0x09, 0x14, 0x03, 0x00,
    0x41, 0x00, 0x0b, 0x01, 0x02, 0x05, 0x70, 0x02, 0xd0, 0x70, 0x0b, 0xd2, 0x00, 0x0b, 0x03, 0x00,
    0x01, 0x01, 0x0a, 0x0c, 0x02, 0x02, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x0b,
    0x0b, 0x11, 0x02, 0x00, 0x41, 0x08, 0x0b, 0x02, 0x68, 0x69, 0x01, 0x07, 0x70, 0x61, 0x73, 0x73,
    0x69, 0x76, 0x65, 0x00, 0x40, 0x04, 0x6e, 0x61, 0x6d, 0x65, 0x01, 0x0f, 0x03, 0x00, 0x01, 0x66,
    0x01, 0x04, 0x6d, 0x61, 0x69, 0x6e, 0x02, 0x03, 0x69, 0x6e, 0x63, 0x02, 0x07, 0x03, 0x00, 0x00,
    0x01, 0x00, 0x02, 0x00, 0x04, 0x0c, 0x03, 0x00, 0x01, 0x76, 0x01, 0x02, 0x69, 0x69, 0x02, 0x02,
    0x76, 0x32, 0x05, 0x05, 0x01, 0x01, 0x02, 0x74, 0x32, 0x07, 0x0a, 0x03, 0x00, 0x01, 0x67, 0x01,
    0x01, 0x68, 0x02, 0x01, 0x72};

/* ------------------------------------------------------------------------------ helpers */

/* A module under construction: the header, then sections whose sizes are computed. */
typedef struct mb {
    uint8_t b[1024];
    size_t n;
} mb;

static void
mb_init(mb *m)
{
    static const uint8_t hdr[] = {HDR};
    memcpy(m->b, hdr, sizeof hdr);
    m->n = sizeof hdr;
}

static void
mb_raw(mb *m, const uint8_t *c, size_t n)
{
    assert_true(m->n + n <= sizeof m->b);
    memcpy(m->b + m->n, c, n);
    m->n += n;
}

static void
mb_sec(mb *m, uint8_t id, const uint8_t *c, size_t n)
{
    assert_true(n < 128);
    uint8_t h[2] = {id, (uint8_t)n};
    mb_raw(m, h, 2);
    mb_raw(m, c, n);
}

#define SEC(m, id, ...)                                                                            \
    do {                                                                                           \
        static const uint8_t c_[] = {__VA_ARGS__};                                                 \
        mb_sec((m), (id), c_, sizeof c_);                                                          \
    } while (0)
#define RAW(m, ...)                                                                                \
    do {                                                                                           \
        static const uint8_t c_[] = {__VA_ARGS__};                                                 \
        mb_raw((m), c_, sizeof c_);                                                                \
    } while (0)

/* Decodes a copy of bytes into *mod (which the caller releases). */
static cap_status
decode(const uint8_t *bytes, size_t n, cap_module_t *mod, cap_error_t *err)
{
    memset(mod, 0, sizeof *mod);
    mod->bytes = cap_alloc(n);
    assert_non_null(mod->bytes);
    if (n) {
        memcpy(mod->bytes, bytes, n);
    }
    mod->len = n;
    return cap_decode(mod, err);
}

static void
expect_err_bytes(const uint8_t *bytes, size_t n, cap_status want, const char *msg)
{
    cap_module_t mod;
    cap_error_t err;
    cap_status st = decode(bytes, n, &mod, &err);
    if (st != want || strncmp(err.msg, msg, strlen(msg)) != 0) {
        print_error("want %d \"%s\", got %d \"%s\"\n", want, msg, st, err.msg);
        fail();
    }
    assert_int_equal(err.status, want);
    assert_true(err.offset <= n);
    cap_module_release(&mod);
}

static void
expect_err(const mb *m, cap_status want, const char *msg)
{
    expect_err_bytes(m->b, m->n, want, msg);
}

static void
expect_ok(const mb *m)
{
    cap_module_t mod;
    cap_error_t err;
    cap_status st = decode(m->b, m->n, &mod, &err);
    if (st != CAP_OK) {
        print_error("unexpected error %d \"%s\" at %llu\n", st, err.msg,
                    (unsigned long long)err.offset);
        fail();
    }
    cap_module_release(&mod);
}

#define MALFORMED(m, msg) expect_err((m), CAP_ERR_MALFORMED, (msg))
#define INVALID(m, msg)   expect_err((m), CAP_ERR_INVALID, (msg))

/* ------------------------------------------------------------------------------ readers */

static void
test_leb_u32_forms(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x7f, 0xff, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x80, 0x00};
    cap_reader r;
    cap_reader_init(&r, b, 0, sizeof b);
    uint32_t v;
    assert_int_equal(cap_leb_read_u32(&r, &v, NULL), CAP_OK);
    assert_int_equal(v, 127);
    assert_int_equal(cap_leb_read_u32(&r, &v, NULL), CAP_OK);
    assert_int_equal(v, 255);
    assert_int_equal(cap_leb_read_u32(&r, &v, NULL), CAP_OK);
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(cap_leb_read_u32(&r, &v, NULL), CAP_OK); // padded zero
    assert_int_equal(v, 0);
    assert_true(cap_reader_eof(&r));
}

static void
test_leb_u32_errors(void **state)
{
    (void)state;
    cap_error_t err;
    uint32_t v;
    cap_reader r;
    static const uint8_t too_long[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    cap_reader_init(&r, too_long, 0, sizeof too_long);
    assert_int_equal(cap_leb_read_u32(&r, &v, &err), CAP_ERR_MALFORMED);
    assert_string_equal(err.msg, "integer representation too long");
    assert_int_equal(err.offset, 5);
    static const uint8_t too_large[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    cap_reader_init(&r, too_large, 0, sizeof too_large);
    assert_int_equal(cap_leb_read_u32(&r, &v, &err), CAP_ERR_MALFORMED);
    assert_string_equal(err.msg, "integer too large");
    assert_int_equal(err.offset, 4);
    static const uint8_t truncated[] = {0x80, 0x80};
    cap_reader_init(&r, truncated, 0, sizeof truncated);
    assert_int_equal(cap_leb_read_u32(&r, &v, &err), CAP_ERR_MALFORMED);
    assert_string_equal(err.msg, "unexpected end of section or function");
    assert_int_equal(err.offset, 2);
}

static void
test_leb_signed_forms(void **state)
{
    (void)state;
    cap_error_t err;
    cap_reader r;
    int32_t v32;
    int64_t v64;
    static const uint8_t s32[] = {0x7f, 0x80, 0x7f, 0xff, 0xff, 0xff, 0xff,
                                  0x07, 0x80, 0x80, 0x80, 0x80, 0x78};
    cap_reader_init(&r, s32, 0, sizeof s32);
    assert_int_equal(cap_leb_read_s32(&r, &v32, &err), CAP_OK);
    assert_int_equal(v32, -1);
    assert_int_equal(cap_leb_read_s32(&r, &v32, &err), CAP_OK);
    assert_int_equal(v32, -128);
    assert_int_equal(cap_leb_read_s32(&r, &v32, &err), CAP_OK);
    assert_int_equal(v32, INT32_MAX);
    assert_int_equal(cap_leb_read_s32(&r, &v32, &err), CAP_OK);
    assert_int_equal(v32, INT32_MIN);
    static const uint8_t s32_bad[] = {0xff, 0xff, 0xff, 0xff, 0x4f};
    cap_reader_init(&r, s32_bad, 0, sizeof s32_bad);
    assert_int_equal(cap_leb_read_s32(&r, &v32, &err), CAP_ERR_MALFORMED);
    assert_string_equal(err.msg, "integer too large");
    static const uint8_t s64[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f};
    cap_reader_init(&r, s64, 0, sizeof s64);
    assert_int_equal(cap_leb_read_s64(&r, &v64, &err), CAP_OK);
    assert_true(v64 == INT64_MIN);
    static const uint8_t s64_bad[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    cap_reader_init(&r, s64_bad, 0, sizeof s64_bad);
    assert_int_equal(cap_leb_read_s64(&r, &v64, &err), CAP_ERR_MALFORMED);
    assert_string_equal(err.msg, "integer too large");
    static const uint8_t s33[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x40};
    cap_reader_init(&r, s33, 0, sizeof s33);
    assert_int_equal(cap_leb_read_s33(&r, &v64, &err), CAP_OK);
    assert_true(v64 == 0xffffffffll);
    assert_int_equal(cap_leb_read_s33(&r, &v64, &err), CAP_OK);
    assert_true(v64 == -64);
    uint64_t u64;
    static const uint8_t u64_max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    cap_reader_init(&r, u64_max, 0, sizeof u64_max);
    assert_int_equal(cap_leb_read_u64(&r, &u64, &err), CAP_OK);
    assert_true(u64 == UINT64_MAX);
}

static void
test_reader_fixed_width_and_len(void **state)
{
    (void)state;
    cap_error_t err;
    cap_reader r;
    static const uint8_t b[] = {0x78, 0x56, 0x34, 0x12, 0x01, 0x02, 0x03,
                                0x04, 0x05, 0x06, 0x07, 0x08, 0x05, 0x00};
    cap_reader_init(&r, b, 0, sizeof b);
    uint32_t u32;
    uint64_t u64;
    assert_int_equal(cap_read_u32_le(&r, &u32, &err), CAP_OK);
    assert_int_equal(u32, 0x12345678u);
    assert_int_equal(cap_read_u64_le(&r, &u64, &err), CAP_OK);
    assert_true(u64 == 0x0807060504030201ull);
    assert_int_equal(cap_read_len(&r, &u32, &err), CAP_ERR_MALFORMED); // 5 > 2 bytes left
    assert_string_equal(err.msg, "length out of bounds");
    assert_int_equal(err.offset, 12);
    cap_reader_init(&r, b, 0, 3);
    assert_int_equal(cap_read_u32_le(&r, &u32, &err), CAP_ERR_MALFORMED);
    assert_int_equal(err.offset, 3);
}

static void
test_utf8_valid_and_invalid(void **state)
{
    (void)state;
    assert_true(cap_utf8_valid(NULL, 0));
    assert_true(cap_utf8_valid((const uint8_t *)"plain ascii, long enough", 24));
    assert_true(cap_utf8_valid((const uint8_t *)"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    assert_true(cap_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));  // U+10FFFF
    assert_false(cap_utf8_valid((const uint8_t *)"\xc0\x80", 2));         // overlong NUL
    assert_false(cap_utf8_valid((const uint8_t *)"\xe0\x80\x80", 3));     // overlong
    assert_false(cap_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     // surrogate
    assert_false(cap_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); // > U+10FFFF
    assert_false(cap_utf8_valid((const uint8_t *)"\xf5\x80\x80\x80", 4));
    assert_false(cap_utf8_valid((const uint8_t *)"\x80", 1));            // lone continuation
    assert_false(cap_utf8_valid((const uint8_t *)"abcdefg\xe2\x82", 9)); // truncated
    assert_false(cap_utf8_valid((const uint8_t *)"\xe2\x28\xa1", 3));
}

/* ------------------------------------------------------------------------------ header, sections
 */

static void
test_decode_empty_module_ok(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    expect_ok(&m);
}

static void
test_decode_header_errors(void **state)
{
    (void)state;
    expect_err_bytes(NULL, 0, CAP_ERR_MALFORMED, "unexpected end");
    static const uint8_t short_magic[] = {0x00, 0x61, 0x73};
    expect_err_bytes(short_magic, sizeof short_magic, CAP_ERR_MALFORMED, "unexpected end");
    static const uint8_t bad_magic[] = {0x00, 0x61, 0x73, 0x6e, 0x01, 0x00, 0x00, 0x00};
    expect_err_bytes(bad_magic, sizeof bad_magic, CAP_ERR_MALFORMED, "magic header not detected");
    static const uint8_t short_version[] = {0x00, 0x61, 0x73, 0x6d, 0x01};
    expect_err_bytes(short_version, sizeof short_version, CAP_ERR_MALFORMED, "unexpected end");
    static const uint8_t bad_version[] = {0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00};
    expect_err_bytes(bad_version, sizeof bad_version, CAP_ERR_MALFORMED, "unknown binary version");
}

static void
test_decode_section_id_malformed(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 13, 0x00);
    MALFORMED(&m, "malformed section id");
}

static void
test_decode_section_size_out_of_bounds(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, 0x01, 0x07, 0x01, 0x60, 0x00, 0x00);
    MALFORMED(&m, "length out of bounds");
}

static void
test_decode_section_size_mismatch(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 1, 0x01, 0x60, 0x00, 0x00, 0x00); // one byte too many
    MALFORMED(&m, "section size mismatch");
    mb_init(&m);
    RAW(&m, 0x01, 0x03, 0x01, 0x60, 0x00, 0x00); // one byte too few: reads past the section
    MALFORMED(&m, "section size mismatch");
}

static void
test_decode_section_order(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, FUNC_1, TYPE_V);
    MALFORMED(&m, "unexpected content after last section");
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1, 0x08, 0x01, 0x00, 0x08, 0x01, 0x00, CODE_1); // two start sections
    MALFORMED(&m, "unexpected content after last section");
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1, CODE_1, 0x0c, 0x01, 0x00); // data count after code
    MALFORMED(&m, "unexpected content after last section");
}

static void
test_decode_custom_sections_anywhere(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 0, 0x01, 'x', 0xaa, 0xbb);
    RAW(&m, TYPE_V);
    SEC(&m, 0, 0x00);
    RAW(&m, FUNC_1, CODE_1);
    SEC(&m, 0, 0x03, 'a', 'b', 'c');
    expect_ok(&m);
}

static void
test_decode_custom_section_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 0, 0x02, 0xc0, 0x80);
    MALFORMED(&m, "malformed UTF-8 encoding");
    mb_init(&m);
    RAW(&m, 0x00, 0x02, 0x05, 'a', 'b', 'c', 'd', 'e'); // name longer than the section
    MALFORMED(&m, "unexpected end");
    mb_init(&m);
    RAW(&m, 0x00, 0x00); // no room for the name
    MALFORMED(&m, "unexpected end");
}

static void
test_decode_truncated_vector(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, 0x04, 0x01, 0x01); // one table declared, none given
    MALFORMED(&m, "unexpected end");
    mb_init(&m);
    RAW(&m, 0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f); // 2^32-1 types in 5 bytes
    MALFORMED(&m, "length out of bounds");
}

/* ------------------------------------------------------------------------------ types */

static void
test_decode_type_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 1, 0x01, 0x61, 0x00, 0x00);
    MALFORMED(&m, "malformed function type");
    mb_init(&m);
    SEC(&m, 1, 0x01, 0x60, 0x01, 0x7b, 0x00); // v128: no SIMD
    MALFORMED(&m, "malformed value type");
    mb_init(&m);
    SEC(&m, 1, 0x01, 0x60, 0x00, 0x01, 0x40);
    MALFORMED(&m, "malformed value type");
    mb_init(&m);
    SEC(&m, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00);
    MALFORMED(&m, "integer representation too long");
    mb_init(&m);
    SEC(&m, 1, 0x80, 0x80, 0x80, 0x80, 0x10);
    MALFORMED(&m, "integer too large");
}

static void
test_decode_types_canonical(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 1, 0x04, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00,
        0x01, 0x7f);
    cap_module_t mod;
    cap_error_t err;
    assert_int_equal(decode(m.b, m.n, &mod, &err), CAP_OK);
    assert_int_equal(mod.ntypes, 4);
    assert_int_equal(mod.types[0].canon, 0);
    assert_int_equal(mod.types[1].canon, 1);
    assert_int_equal(mod.types[2].canon, 0);
    assert_int_equal(mod.types[3].canon, 3);
    assert_int_equal(mod.types[3].nresults, 1);
    assert_int_equal(mod.types[3].vtypes[0], CAP_I32);
    assert_int_equal(mod.types[0].types[0], CAP_I32);
    cap_module_release(&mod);
}

/* ------------------------------------------------------------------------------ imports */

static void
test_decode_import_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, TYPE_V);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x04, 0x00);
    MALFORMED(&m, "malformed import kind");
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 0xff, 0x01, 'b', 0x00, 0x00);
    MALFORMED(&m, "malformed UTF-8 encoding");
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x00, 0x00); // no types
    INVALID(&m, "unknown type");
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x03, 0x7f, 0x02);
    MALFORMED(&m, "malformed mutability");
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x01, 0x7f, 0x00, 0x00);
    MALFORMED(&m, "malformed reference type");
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x02, 0x01, 0x02, 0x01);
    INVALID(&m, "size minimum must not be greater than maximum");
}

/* ------------------------------------------------------------------------------ functions */

static void
test_decode_func_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, TYPE_V);
    SEC(&m, 3, 0x01, 0x01);
    RAW(&m, CODE_1);
    INVALID(&m, "unknown type");
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1);
    MALFORMED(&m, "function and code section have inconsistent lengths");
    mb_init(&m);
    RAW(&m, TYPE_V, CODE_1);
    MALFORMED(&m, "function and code section have inconsistent lengths");
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1);
    SEC(&m, 10, 0x01, 0x05, 0x00, 0x0b); // body longer than the rest of the module
    MALFORMED(&m, "length out of bounds");
}

/* ------------------------------------------------------------------------------ tables, memories
 */

static void
test_decode_table_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 4, 0x01, 0x7f, 0x00, 0x00);
    MALFORMED(&m, "malformed reference type");
    mb_init(&m);
    SEC(&m, 4, 0x01, 0x70, 0x02, 0x00);
    MALFORMED(&m, "integer too large");
    mb_init(&m);
    SEC(&m, 4, 0x01, 0x70, 0x81, 0x00, 0x00);
    MALFORMED(&m, "integer representation too long");
    mb_init(&m);
    SEC(&m, 4, 0x01, 0x70, 0x01, 0x02, 0x01);
    INVALID(&m, "size minimum must not be greater than maximum");
    mb_init(&m);
    SEC(&m, 4, 0x02, 0x70, 0x00, 0x00, 0x6f, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f);
    expect_ok(&m); // several tables are fine in 2.0
}

static void
test_decode_memory_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 5, 0x01, 0x00, 0x81, 0x80, 0x04); // 65537 pages
    INVALID(&m, "memory size must be at most 65536 pages (4GiB)");
    mb_init(&m);
    SEC(&m, 5, 0x01, 0x01, 0x00, 0x81, 0x80, 0x04);
    INVALID(&m, "memory size must be at most 65536 pages (4GiB)");
    mb_init(&m);
    SEC(&m, 5, 0x01, 0x01, 0x02, 0x01);
    INVALID(&m, "size minimum must not be greater than maximum");
    mb_init(&m);
    SEC(&m, 5, 0x02, 0x00, 0x00, 0x00, 0x00);
    INVALID(&m, "multiple memories");
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x02, 0x00, 0x00);
    SEC(&m, 5, 0x01, 0x00, 0x00);
    INVALID(&m, "multiple memories");
    mb_init(&m);
    SEC(&m, 2, 0x02, 0x01, 'a', 0x01, 'b', 0x02, 0x00, 0x00, 0x01, 'a', 0x01, 'c', 0x02, 0x00,
        0x00);
    INVALID(&m, "multiple memories"); // two imported, no memory section
    mb_init(&m);
    SEC(&m, 5, 0x01, 0x01, 0x80, 0x80, 0x04, 0x80, 0x80, 0x04);
    expect_ok(&m); // exactly 65536 pages
}

/* ------------------------------------------------------------------------------ globals */

static void
test_decode_global_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x02, 0x41, 0x00, 0x0b);
    MALFORMED(&m, "malformed mutability");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x42, 0x00, 0x0b);
    INVALID(&m, "type mismatch");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x0b);
    INVALID(&m, "type mismatch");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x41, 0x00, 0x41, 0x00, 0x0b);
    INVALID(&m, "type mismatch");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x41, 0x00, 0x41, 0x00, 0x6a, 0x0b);
    INVALID(&m, "constant expression required");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x01, 0x0b); // nop
    INVALID(&m, "constant expression required");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x02, 0x40, 0x0b, 0x41, 0x00, 0x0b); // block ... end
    INVALID(&m, "constant expression required");
    mb_init(&m);
    SEC(&m, 6, 0x02, 0x7f, 0x00, 0x41, 0x00, 0x0b, 0x7f, 0x00, 0x23, 0x00, 0x0b);
    INVALID(&m, "unknown global 0"); // only imported globals are visible
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x03, 0x7f, 0x01);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x23, 0x00, 0x0b);
    INVALID(&m, "constant expression required"); // mutable import
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x03, 0x7e, 0x00);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x23, 0x00, 0x0b);
    INVALID(&m, "type mismatch");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x70, 0x00, 0xd2, 0x05, 0x0b);
    INVALID(&m, "unknown function 5");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x70, 0x00, 0xd0, 0x6f, 0x0b);
    INVALID(&m, "type mismatch");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x70, 0x00, 0xd0, 0x7f, 0x0b);
    MALFORMED(&m, "malformed reference type");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x06, 0x0b);
    MALFORMED(&m, "illegal opcode");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x3f, 0x01, 0x0b);
    MALFORMED(&m, "zero byte expected");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b);
    MALFORMED(&m, "integer representation too long");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7d, 0x00, 0x43, 0x00, 0x00);
    MALFORMED(&m, "unexpected end");
}

/* Non-constant instructions in a constant expression still decode (with their immediates and
 * nested blocks), so the module is INVALID, not malformed. */
static void
test_decode_constexpr_nonconstant_instructions(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, TYPE_V);
    SEC(&m, 6, 0x01, 0x7f, 0x00,                  // global i32
        0x02, 0x40, 0x0c, 0x00, 0x0b,             // block br 0 end
        0x03, 0x7f, 0x0e, 0x01, 0x00, 0x00, 0x0b, // loop (result i32) br_table 0 0 end
        0x04, 0x00, 0x01, 0x05, 0x01, 0x0b,       // if (type 0) nop else nop end
        0x11, 0x00, 0x00, 0x10, 0x00,             // call_indirect, call
        0x1c, 0x01, 0x7f, 0x1b, 0xd1, 0x1a,       // select t, select, ref.is_null, drop
        0x20, 0x00, 0x24, 0x00, 0x25, 0x00,       // local.get, global.set, table.get
        0x28, 0x02, 0x00, 0x3f, 0x00, 0x40, 0x00, // i32.load, memory.size, memory.grow
        0xfc, 0x00, 0xfc, 0x08, 0x00, 0x00,       // trunc_sat, memory.init
        0xfc, 0x09, 0x00, 0xfc, 0x0a, 0x00, 0x00, // data.drop, memory.copy
        0xfc, 0x0b, 0x00, 0xfc, 0x0c, 0x00, 0x00, // memory.fill, table.init
        0xfc, 0x0e, 0x00, 0x00, 0xfc, 0x11, 0x00, // table.copy, table.fill
        0x00, 0x0f, 0x41, 0x00, 0x0b);            // unreachable return i32.const 0 end
    INVALID(&m, "constant expression required");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0xfc, 0x12, 0x0b);
    MALFORMED(&m, "illegal opcode");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x41, 0x00, 0x05, 0x0b);
    MALFORMED(&m, "END opcode expected");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0xfd, 0x0c, 0x0b); // SIMD is not supported
    MALFORMED(&m, "illegal opcode");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x1c, 0x01, 0x7b, 0x0b);
    MALFORMED(&m, "malformed value type");
    mb_init(&m);
    SEC(&m, 6, 0x01, 0x7f, 0x00, 0x02, 0x40, 0x41, 0x00); // block never closed
    MALFORMED(&m, "unexpected end");
}

static void
test_decode_global_values(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 6, 0x04, 0x7f, 0x00, 0x41, 0x7f, 0x0b, 0x7e, 0x01, 0x42, 0x80, 0x7f, 0x0b, 0x7d, 0x00,
        0x43, 0x00, 0x00, 0x80, 0x3f, 0x0b, 0x7c, 0x00, 0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x0b);
    cap_module_t mod;
    cap_error_t err;
    assert_int_equal(decode(m.b, m.n, &mod, &err), CAP_OK);
    assert_int_equal(mod.nglobals, 4);
    assert_int_equal(mod.globals[0].init.kind, CAP_CONST_VALUE);
    assert_true(mod.globals[0].init.value == 0xffffffffu);
    assert_true(mod.globals[1].type.mutable_);
    assert_true(mod.globals[1].init.value == (uint64_t)-128);
    assert_true(mod.globals[2].init.value == 0x3f800000u);
    assert_true(mod.globals[3].init.value == 0x3ff0000000000000ull);
    assert_int_equal(mod.global_types[3].valtype, CAP_F64);
    cap_module_release(&mod);
}

/* ------------------------------------------------------------------------------ exports, start */

static void
test_decode_export_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 7, 0x01, 0x01, 'a', 0x04, 0x00);
    MALFORMED(&m, "malformed export kind");
    mb_init(&m);
    SEC(&m, 7, 0x01, 0x01, 'a', 0x00, 0x07);
    INVALID(&m, "unknown function 7");
    mb_init(&m);
    SEC(&m, 7, 0x01, 0x01, 'a', 0x01, 0x00);
    INVALID(&m, "unknown table 0");
    mb_init(&m);
    SEC(&m, 7, 0x01, 0x01, 'a', 0x02, 0x01);
    INVALID(&m, "unknown memory 1");
    mb_init(&m);
    SEC(&m, 7, 0x01, 0x01, 'a', 0x03, 0x03);
    INVALID(&m, "unknown global 3");
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1);
    SEC(&m, 7, 0x03, 0x01, 'a', 0x00, 0x00, 0x01, 'b', 0x00, 0x00, 0x01, 'a', 0x00, 0x00);
    RAW(&m, CODE_1);
    INVALID(&m, "duplicate export name");
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1);
    SEC(&m, 7, 0x02, 0x02, 'a', 0x00, 0x00, 0x00, 0x03, 'a', 0x00, 0x00, 0x00, 0x00);
    RAW(&m, CODE_1);
    expect_ok(&m); // "a\0" and "a\0\0" differ
    mb_init(&m);
    SEC(&m, 7, 0x01, 0x02, 0xed, 0xa0, 0x00, 0x00);
    MALFORMED(&m, "malformed UTF-8 encoding");
}

static void
test_decode_start_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1);
    SEC(&m, 8, 0x01);
    RAW(&m, CODE_1);
    INVALID(&m, "unknown function 1");
    mb_init(&m);
    SEC(&m, 1, 0x01, 0x60, 0x01, 0x7f, 0x00);
    RAW(&m, FUNC_1);
    SEC(&m, 8, 0x00);
    SEC(&m, 10, 0x01, 0x02, 0x00, 0x0b);
    INVALID(&m, "start function");
}

/* ------------------------------------------------------------------------------ elements */

static void
test_decode_elem_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 9, 0x01, 0x08);
    MALFORMED(&m, "malformed elements segment kind");
    mb_init(&m);
    SEC(&m, 9, 0x01, 0x01, 0x01, 0x00);
    MALFORMED(&m, "malformed element kind");
    mb_init(&m);
    SEC(&m, 9, 0x01, 0x05, 0x7f, 0x00);
    MALFORMED(&m, "malformed reference type");
    mb_init(&m);
    SEC(&m, 9, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x00);
    INVALID(&m, "unknown table 0");
    mb_init(&m);
    SEC(&m, 4, 0x01, 0x70, 0x00, 0x01);
    SEC(&m, 9, 0x01, 0x00, 0x42, 0x00, 0x0b, 0x00);
    INVALID(&m, "type mismatch"); // i64 offset
    mb_init(&m);
    SEC(&m, 4, 0x01, 0x70, 0x00, 0x01);
    SEC(&m, 9, 0x01, 0x06, 0x00, 0x41, 0x00, 0x0b, 0x6f, 0x00);
    INVALID(&m, "type mismatch"); // externref segment, funcref table
    mb_init(&m);
    SEC(&m, 9, 0x01, 0x01, 0x00, 0x01, 0x03);
    INVALID(&m, "unknown function 3");
    mb_init(&m);
    SEC(&m, 9, 0x01, 0x05, 0x6f, 0x01, 0xd0, 0x70, 0x0b);
    INVALID(&m, "type mismatch"); // ref.null func in an externref segment
    mb_init(&m);
    SEC(&m, 4, 0x01, 0x70, 0x00, 0x01);
    SEC(&m, 9, 0x01, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x00, 0x00);
    INVALID(&m, "unknown table 1");
}

static void
test_decode_elem_all_encodings(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, TYPE_V);
    SEC(&m, 3, 0x03, 0x00, 0x00, 0x00);
    SEC(&m, 4, 0x01, 0x70, 0x00, 0x04);
    SEC(&m, 9, 0x08,                                                //
        0x00, 0x41, 0x00, 0x0b, 0x01, 0x00,                         // 0: active table 0, indices
        0x01, 0x00, 0x01, 0x01,                                     // 1: passive, indices
        0x02, 0x00, 0x41, 0x01, 0x0b, 0x00, 0x01, 0x00,             // 2: active table x, indices
        0x03, 0x00, 0x01, 0x02,                                     // 3: declarative, indices
        0x04, 0x41, 0x02, 0x0b, 0x01, 0xd0, 0x70, 0x0b,             // 4: active table 0, exprs
        0x05, 0x70, 0x01, 0xd2, 0x00, 0x0b,                         // 5: passive, exprs
        0x06, 0x00, 0x41, 0x03, 0x0b, 0x70, 0x01, 0xd2, 0x01, 0x0b, // 6: active table x, exprs
        0x07, 0x6f, 0x01, 0xd0, 0x6f, 0x0b);                        // 7: declarative, exprs
    SEC(&m, 10, 0x03, 0x02, 0x00, 0x0b, 0x02, 0x00, 0x0b, 0x02, 0x00, 0x0b);
    cap_module_t mod;
    cap_error_t err;
    cap_status st = decode(m.b, m.n, &mod, &err);
    if (st != CAP_OK) {
        print_error("%s at %llu\n", err.msg, (unsigned long long)err.offset);
    }
    assert_int_equal(st, CAP_OK);
    assert_int_equal(mod.nelems, 8);
    assert_int_equal(mod.elems[0].mode, CAP_SEG_ACTIVE);
    assert_int_equal(mod.elems[1].mode, CAP_SEG_PASSIVE);
    assert_int_equal(mod.elems[3].mode, CAP_SEG_DECLARATIVE);
    assert_int_equal(mod.elems[7].mode, CAP_SEG_DECLARATIVE);
    assert_int_equal(mod.elems[7].elemtype, CAP_EXTERNREF);
    assert_int_equal(mod.elems[4].inits[0].kind, CAP_CONST_REF_NULL);
    assert_int_equal(mod.elems[6].offset.value, 3);
    assert_int_equal(mod.elems[6].inits[0].kind, CAP_CONST_REF_FUNC);
    assert_int_equal(mod.elems[6].inits[0].index, 1);
    assert_int_equal(mod.elems[3].inits[0].index, 2);
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(cap_module_func_declared(&mod, i));
    }
    cap_module_release(&mod);
}

/* ------------------------------------------------------------------------------ data */

static void
test_decode_data_errors(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 11, 0x01, 0x03);
    MALFORMED(&m, "malformed data segment kind");
    mb_init(&m);
    SEC(&m, 11, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x00);
    INVALID(&m, "unknown memory 0");
    mb_init(&m);
    SEC(&m, 5, 0x01, 0x00, 0x01);
    SEC(&m, 11, 0x01, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x00);
    INVALID(&m, "unknown memory 1");
    mb_init(&m);
    SEC(&m, 5, 0x01, 0x00, 0x01);
    SEC(&m, 11, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x07, 'a', 'b');
    MALFORMED(&m, "length out of bounds");
    mb_init(&m);
    SEC(&m, 5, 0x01, 0x00, 0x01);
    RAW(&m, 0x0b, 0x06, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x03, 'a', 'b', 'c'); // size too small
    MALFORMED(&m, "section size mismatch");
    mb_init(&m);
    SEC(&m, 12, 0x02);
    SEC(&m, 11, 0x01, 0x01, 0x00);
    MALFORMED(&m, "data count and data section have inconsistent lengths");
    mb_init(&m);
    SEC(&m, 12, 0x01);
    MALFORMED(&m, "data count and data section have inconsistent lengths");
    mb_init(&m);
    SEC(&m, 12, 0x01);
    SEC(&m, 11, 0x01, 0x01, 0x02, 'h', 'i');
    expect_ok(&m);
}

/* ------------------------------------------------------------------------------ precedence */

static void
test_decode_malformed_wins_over_invalid(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    SEC(&m, 2, 0x01, 0x01, 'a', 0x01, 'b', 0x00, 0x09); // unknown type: invalid
    SEC(&m, 14, 0x00);                                  // malformed later on
    MALFORMED(&m, "malformed section id");
}

/* ------------------------------------------------------------------------------ rich module */

static void
test_decode_rich_module(void **state)
{
    (void)state;
    cap_module_t mod;
    cap_error_t err;
    cap_status st = decode(rich_wasm, sizeof rich_wasm, &mod, &err);
    if (st != CAP_OK) {
        print_error("%s at %llu\n", err.msg, (unsigned long long)err.offset);
    }
    assert_int_equal(st, CAP_OK);
    assert_int_equal(mod.ntypes, 3);
    assert_int_equal(mod.types[2].canon, 0);
    assert_int_equal(mod.nimports, 3);
    assert_string_equal(mod.imports[0].module, "env");
    assert_int_equal(mod.imports[0].module_len, 3);
    assert_string_equal(mod.imports[0].name, "f");
    assert_int_equal(mod.imports[0].kind, CAP_EXTERN_FUNC);
    assert_int_equal(mod.nfuncs, 3);
    assert_int_equal(mod.nfunc_imports, 1);
    assert_int_equal(mod.func_type[0], 1);
    assert_int_equal(mod.func_type[1], 0);
    assert_int_equal(mod.func_type[2], 1);
    assert_int_equal(mod.funcs[0].body_len, 2);
    assert_int_equal(mod.funcs[1].body_len, 7);
    assert_int_equal(rich_wasm[mod.funcs[1].body_offset + 6], 0x0b);
    assert_int_equal(mod.ntables, 2);
    assert_int_equal(mod.ntable_imports, 1);
    assert_int_equal(mod.tables[1].elemtype, CAP_EXTERNREF);
    assert_int_equal(mod.tables[1].limits.max, 10);
    assert_int_equal(mod.nmems, 1);
    assert_true(mod.mems[0].has_max);
    assert_int_equal(mod.mems[0].max, 2);
    assert_int_equal(mod.nglobals, 3);
    assert_int_equal(mod.nglobal_imports, 1);
    assert_int_equal(mod.globals[1].init.kind, CAP_CONST_REF_FUNC);
    assert_int_equal(mod.globals[1].init.index, 2);
    assert_int_equal(mod.nexports, 3);
    assert_int_equal(mod.exports[1].name_len, 3);
    assert_memory_equal(mod.exports[1].name, "a\0b", 3);
    assert_true(mod.has_start);
    assert_int_equal(mod.start, 1);
    assert_int_equal(mod.nelems, 3);
    assert_int_equal(mod.elems[1].mode, CAP_SEG_PASSIVE);
    assert_int_equal(mod.elems[1].count, 2);
    assert_int_equal(mod.elems[2].mode, CAP_SEG_DECLARATIVE);
    assert_int_equal(mod.ndatas, 2);
    assert_int_equal(mod.datas[0].len, 2);
    assert_memory_equal(mod.datas[0].bytes, "hi", 2);
    assert_int_equal(mod.datas[0].offset.value, 8);
    assert_int_equal(mod.datas[1].mode, CAP_SEG_PASSIVE);
    assert_true(cap_module_func_declared(&mod, 0)); // elem ref.func
    assert_true(cap_module_func_declared(&mod, 1)); // export and declarative elem
    assert_true(cap_module_func_declared(&mod, 2)); // global and active elem
    assert_non_null(mod.func_names);
    assert_string_equal(mod.func_names[0], "f");
    assert_string_equal(mod.func_names[2], "inc");
    cap_module_release(&mod);
}

static void
test_decode_declared_funcs_only_referenced(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, TYPE_V);
    SEC(&m, 3, 0x02, 0x00, 0x00);
    SEC(&m, 7, 0x01, 0x01, 'b', 0x00, 0x01);
    SEC(&m, 10, 0x02, 0x02, 0x00, 0x0b, 0x02, 0x00, 0x0b);
    cap_module_t mod;
    cap_error_t err;
    assert_int_equal(decode(m.b, m.n, &mod, &err), CAP_OK);
    assert_false(cap_module_func_declared(&mod, 0));
    assert_true(cap_module_func_declared(&mod, 1));
    assert_null(mod.func_names);
    cap_module_release(&mod);
}

/* A broken name section is ignored, never an error. */
static void
test_decode_broken_name_section_ignored(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1, CODE_1);
    SEC(&m, 0, 0x04, 'n', 'a', 'm', 'e', 0x01, 0x05, 0x01, 0x00, 0x09, 'x'); // name overruns
    cap_module_t mod;
    cap_error_t err;
    assert_int_equal(decode(m.b, m.n, &mod, &err), CAP_OK);
    assert_null(mod.func_names);
    cap_module_release(&mod);
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1, CODE_1);
    SEC(&m, 0, 0x04, 'n', 'a', 'm', 'e', 0x01, 0x04, 0x01, 0x05, 0x01, 'x'); // index 5 unknown
    assert_int_equal(decode(m.b, m.n, &mod, &err), CAP_OK);
    assert_null(mod.func_names);
    cap_module_release(&mod);
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1, CODE_1);
    SEC(&m, 0, 0x04, 'n', 'a', 'm', 'e', 0x00, 0x02, 0x01, 'm', 0x01, 0x04, 0x01, 0x00, 0x01, 'x');
    assert_int_equal(decode(m.b, m.n, &mod, &err), CAP_OK);
    assert_non_null(mod.func_names);
    assert_string_equal(mod.func_names[0], "x");
    cap_module_release(&mod);
}

/* Sizes may count their own LEB bytes (the spec's len32): a section or name subsection whose size
 * runs past the module's end must not be read past it. */
static void
test_decode_size_overshooting_module(void **state)
{
    (void)state;
    mb m;
    mb_init(&m);
    RAW(&m, 0x00, 0x03, 0x01, 'x'); // custom section of 3 bytes, 2 present
    MALFORMED(&m, "unexpected end");
    mb_init(&m);
    RAW(&m, TYPE_V, FUNC_1, CODE_1);
    RAW(&m, 0x00, 0x08, 0x04, 'n', 'a', 'm', 'e', 0x01, 0x02, 0x01); // subsection of 2, 1 present
    cap_module_t mod;
    cap_error_t err;
    assert_int_equal(decode(m.b, m.n, &mod, &err), CAP_OK);
    assert_null(mod.func_names);
    cap_module_release(&mod);
}

/* Fail every allocation in turn: each must give CAP_ERR_NOMEM and leak nothing (ASan checks). */
static void
test_decode_oom_walk(void **state)
{
    (void)state;
    for (uint64_t n = 1;; n++) {
        uint8_t *copy = cap_alloc(sizeof rich_wasm);
        assert_non_null(copy);
        memcpy(copy, rich_wasm, sizeof rich_wasm);
        cap_module_t mod;
        memset(&mod, 0, sizeof mod);
        mod.bytes = copy;
        mod.len = sizeof rich_wasm;
        cap_error_t err;
        cap_alloc_fail_after(n);
        cap_status st = cap_decode(&mod, &err);
        cap_alloc_fail_after(0);
        cap_module_release(&mod);
        if (st == CAP_OK) {
            assert_true(n > 10);
            break;
        }
        assert_int_equal(st, CAP_ERR_NOMEM);
        assert_int_equal(err.status, CAP_ERR_NOMEM);
        assert_true(n < 1000);
    }
}

/* Release is safe on a zeroed module and twice in a row. */
static void
test_decode_release_zeroed(void **state)
{
    (void)state;
    cap_module_t mod;
    memset(&mod, 0, sizeof mod);
    cap_module_release(&mod);
    cap_module_release(&mod);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leb_u32_forms),
        cmocka_unit_test(test_leb_u32_errors),
        cmocka_unit_test(test_leb_signed_forms),
        cmocka_unit_test(test_reader_fixed_width_and_len),
        cmocka_unit_test(test_utf8_valid_and_invalid),
        cmocka_unit_test(test_decode_empty_module_ok),
        cmocka_unit_test(test_decode_header_errors),
        cmocka_unit_test(test_decode_section_id_malformed),
        cmocka_unit_test(test_decode_section_size_out_of_bounds),
        cmocka_unit_test(test_decode_section_size_mismatch),
        cmocka_unit_test(test_decode_section_order),
        cmocka_unit_test(test_decode_custom_sections_anywhere),
        cmocka_unit_test(test_decode_custom_section_errors),
        cmocka_unit_test(test_decode_truncated_vector),
        cmocka_unit_test(test_decode_type_errors),
        cmocka_unit_test(test_decode_types_canonical),
        cmocka_unit_test(test_decode_import_errors),
        cmocka_unit_test(test_decode_func_errors),
        cmocka_unit_test(test_decode_table_errors),
        cmocka_unit_test(test_decode_memory_errors),
        cmocka_unit_test(test_decode_global_errors),
        cmocka_unit_test(test_decode_constexpr_nonconstant_instructions),
        cmocka_unit_test(test_decode_global_values),
        cmocka_unit_test(test_decode_export_errors),
        cmocka_unit_test(test_decode_start_errors),
        cmocka_unit_test(test_decode_elem_errors),
        cmocka_unit_test(test_decode_elem_all_encodings),
        cmocka_unit_test(test_decode_data_errors),
        cmocka_unit_test(test_decode_malformed_wins_over_invalid),
        cmocka_unit_test(test_decode_rich_module),
        cmocka_unit_test(test_decode_declared_funcs_only_referenced),
        cmocka_unit_test(test_decode_broken_name_section_ignored),
        cmocka_unit_test(test_decode_size_overshooting_module),
        cmocka_unit_test(test_decode_oom_walk),
        cmocka_unit_test(test_decode_release_zeroed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
