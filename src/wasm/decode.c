/* SPDX-License-Identifier: Apache-2.0 */
/* The binary decoder (spec chapter 5) plus validation of everything outside function bodies
 * (spec 3.4). Function bodies are only located here; the compiler validates them. */
#include "util/alloc.h"
#include "util/leb128.h"
#include "util/utf8.h"
#include "wasm/module.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Section order ranks (spec 5.5.2): the data count section sits between element and code. */
enum {
    RANK_NONE = 0,
    RANK_TYPE = 1,
    RANK_IMPORT,
    RANK_FUNC,
    RANK_TABLE,
    RANK_MEM,
    RANK_GLOBAL,
    RANK_EXPORT,
    RANK_START,
    RANK_ELEM,
    RANK_DATACOUNT,
    RANK_CODE,
    RANK_DATA,
    RANK_END,
};

static const uint8_t section_rank[13] = {
    [1] = RANK_TYPE, [2] = RANK_IMPORT, [3] = RANK_FUNC,   [4] = RANK_TABLE,
    [5] = RANK_MEM,  [6] = RANK_GLOBAL, [7] = RANK_EXPORT, [8] = RANK_START,
    [9] = RANK_ELEM, [10] = RANK_CODE,  [11] = RANK_DATA,  [12] = RANK_DATACOUNT,
};

/* The smallest encodings of vector elements. A vector count larger than bytes_left / min can
 * never be satisfied, so arrays are sized min(count, left / min): a lying count cannot make us
 * allocate more than a small multiple of the module's size. */
#define MIN_TYPE_BYTES   3 // 0x60, 0 params, 0 results
#define MIN_IMPORT_BYTES 4 // two empty names, kind, one-byte descriptor
#define MIN_EXPORT_BYTES 3
#define MIN_TABLE_BYTES  3 // reftype, flag, min
#define MIN_MEM_BYTES    2 // flag, min
#define MIN_GLOBAL_BYTES 3 // valtype, mutability, `end`
#define MIN_ELEM_BYTES   3
#define MIN_DATA_BYTES   2
#define MIN_EXPR_BYTES   1

typedef struct dec {
    cap_module_t *m;
    cap_reader r; // over the whole module: like the reference interpreter, a section's contents
                  // are read against the module's end and the size is checked afterwards
    cap_error_t *err;
    cap_error_t inv; // the first INVALID finding; reported only when nothing is malformed
    bool has_inv;
    int last_rank;
    bool funcs_done, tables_done, mems_done, globals_done;
    uint32_t nfunc_defs; // from the function section
    uint32_t ncode;      // from the code section
    size_t sec_end;      // end of the current section's contents (at most the module's end)
    bool has_name_sec;
    size_t name_start, name_end; // contents of the first "name" custom section
} dec;

/* ------------------------------------------------------------------------------ errors */

static cap_status
nomem(dec *d)
{
    return cap_fail(d->err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
}

static cap_status __attribute__((format(printf, 3, 4)))
malformed(dec *d, uint64_t offset, const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cap_fail(d->err, CAP_ERR_MALFORMED, offset, "%s", buf);
}

/* Records an INVALID finding and lets decoding go on: the spec decodes the whole module before
 * validating it, so a malformed byte later in the module takes precedence. */
static void __attribute__((format(printf, 3, 4)))
invalid(dec *d, uint64_t offset, const char *fmt, ...)
{
    if (d->has_inv) {
        return;
    }
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cap_fail(&d->inv, CAP_ERR_INVALID, offset, "%s", buf);
    d->has_inv = true;
}

static uint64_t
off(const dec *d)
{
    return cap_reader_offset(&d->r);
}

static size_t
left(const dec *d)
{
    return cap_reader_left(&d->r);
}

/* ------------------------------------------------------------------------------ primitives */

static cap_status
rd_u8(dec *d, uint8_t *out)
{
    return cap_read_u8(&d->r, out, d->err);
}

static cap_status
rd_u32(dec *d, uint32_t *out)
{
    return cap_leb_read_u32(&d->r, out, d->err);
}

static cap_status
rd_len(dec *d, uint32_t *out)
{
    return cap_read_len(&d->r, out, d->err);
}

/* Capacity for a vector of `count` elements of at least `min` bytes each (see MIN_*). */
static size_t
vec_cap(const dec *d, uint32_t count, size_t min)
{
    size_t most = left(d) / min;
    return count < most ? count : most;
}

/* Makes room for element i (< count) of a vector `arr` with *cap slots: arrays start at vec_cap()
 * slots and double, up to count, when a vector is longer than the bytes left allowed for at the
 * start. New slots are zeroed. Returns the (maybe moved) array, or NULL when out of memory (the
 * old array is then still valid). */
static void *
vec_room(void *arr, size_t *cap, size_t i, uint32_t count, size_t elsize)
{
    if (i < *cap) {
        return arr;
    }
    size_t ncap = *cap ? *cap * 2 : 8;
    if (ncap > count) {
        ncap = count;
    }
    if (ncap <= i || ncap > SIZE_MAX / elsize) {
        return NULL;
    }
    uint8_t *p = cap_realloc(arr, ncap * elsize);
    if (!p) {
        return NULL;
    }
    memset(p + *cap * elsize, 0, (ncap - *cap) * elsize);
    *cap = ncap;
    return p;
}

/* A name (spec 5.2.4): a length, then that many bytes of valid UTF-8. */
static cap_status
rd_name(dec *d, const uint8_t **out, uint32_t *out_len)
{
    cap_status st;
    uint64_t start = off(d);
    uint32_t n;
    if ((st = rd_len(d, &n)) != CAP_OK) {
        return st;
    }
    if ((st = cap_read_bytes(&d->r, n, out, d->err)) != CAP_OK) {
        return st;
    }
    if (!cap_utf8_valid(*out, n)) {
        return malformed(d, start, "malformed UTF-8 encoding");
    }
    *out_len = n;
    return CAP_OK;
}

/* A block of NUL-terminated strings copied from names (see import_strings/export_strings). */
typedef struct strpool {
    char *base;
    size_t used, cap;
} strpool;

/* Allocates a pool for the names of a section's `count` items (at most `per_item` names each):
 * the names lie inside the section, so its size plus one NUL per name bounds the pool. */
static cap_status
pool_init(dec *d, strpool *p, size_t count, size_t per_item, char **out_base)
{
    size_t pos = (size_t)off(d);
    size_t in_sec = d->sec_end > pos ? d->sec_end - pos : 0;
    p->cap = in_sec + count * per_item;
    p->used = 0;
    p->base = cap_alloc(p->cap);
    *out_base = p->base;
    return p->base ? CAP_OK : nomem(d);
}

/* Copies a name into the pool. A name that does not fit lies past the section's end, so the
 * section cannot match its size. */
static cap_status
pool_add(dec *d, strpool *p, const uint8_t *s, uint32_t n, uint64_t at, char **out)
{
    if (p->cap - p->used < (size_t)n + 1) {
        return malformed(d, at, "section size mismatch");
    }
    *out = p->base + p->used;
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    p->used += (size_t)n + 1;
    return CAP_OK;
}

static bool
is_valtype(uint8_t b)
{
    return (b >= CAP_F64 && b <= CAP_I32) || b == CAP_FUNCREF || b == CAP_EXTERNREF;
}

static bool
is_reftype(uint8_t b)
{
    return b == CAP_FUNCREF || b == CAP_EXTERNREF;
}

static cap_status
rd_valtype(dec *d, uint8_t *out)
{
    uint64_t at = off(d);
    cap_status st = rd_u8(d, out);
    if (st == CAP_OK && !is_valtype(*out)) {
        if (*out & 0x80) {
            return malformed(d, at, "integer representation too long");
        }
        return malformed(d, at, "malformed value type");
    }
    return st;
}

static cap_status
rd_reftype(dec *d, uint8_t *out)
{
    uint64_t at = off(d);
    cap_status st = rd_u8(d, out);
    if (st == CAP_OK && !is_reftype(*out)) {
        return malformed(d, at, "malformed reference type");
    }
    return st;
}

/* limits (spec 5.3.7). The flag is a one-bit LEB: "integer too large" above 1, "integer
 * representation too long" when it has a continuation bit. */
static cap_status
rd_limits(dec *d, cap_limits *out)
{
    cap_status st;
    uint64_t at = off(d);
    uint8_t flag;
    if ((st = rd_u8(d, &flag)) != CAP_OK) {
        return st;
    }
    if ((flag & 0x7f) > 1) {
        return malformed(d, at, "integer too large");
    }
    if (flag & 0x80) {
        return malformed(d, at + 1, "integer representation too long");
    }
    out->has_max = flag == 1;
    if ((st = rd_u32(d, &out->min)) != CAP_OK) {
        return st;
    }
    out->max = UINT32_MAX;
    if (out->has_max && (st = rd_u32(d, &out->max)) != CAP_OK) {
        return st;
    }
    return CAP_OK;
}

static void
check_mem_limits(dec *d, const cap_limits *l, uint64_t at)
{
    if (l->min > CAP_MAX_PAGES || (l->has_max && l->max > CAP_MAX_PAGES)) {
        invalid(d, at, "memory size must be at most 65536 pages (4GiB)");
    } else if (l->has_max && l->min > l->max) {
        invalid(d, at, "size minimum must not be greater than maximum");
    }
}

static void
check_table_limits(dec *d, const cap_limits *l, uint64_t at)
{
    if (l->has_max && l->min > l->max) {
        invalid(d, at, "size minimum must not be greater than maximum");
    }
}

static cap_status
rd_tabletype(dec *d, cap_tabletype *out)
{
    cap_status st;
    if ((st = rd_reftype(d, &out->elemtype)) != CAP_OK) {
        return st;
    }
    uint64_t at = off(d);
    if ((st = rd_limits(d, &out->limits)) != CAP_OK) {
        return st;
    }
    check_table_limits(d, &out->limits, at);
    return CAP_OK;
}

static cap_status
rd_memtype(dec *d, cap_limits *out)
{
    uint64_t at = off(d);
    cap_status st = rd_limits(d, out);
    if (st == CAP_OK) {
        check_mem_limits(d, out, at);
    }
    return st;
}

static cap_status
rd_globaltype(dec *d, cap_globaltype *out)
{
    cap_status st;
    if ((st = rd_valtype(d, &out->valtype)) != CAP_OK) {
        return st;
    }
    uint64_t at = off(d);
    uint8_t mut;
    if ((st = rd_u8(d, &mut)) != CAP_OK) {
        return st;
    }
    if (mut > 1) {
        return malformed(d, at, "malformed mutability");
    }
    out->mutable_ = mut == 1;
    return CAP_OK;
}

/* ------------------------------------------------------------------------------ instructions */

static cap_status
rd_zero(dec *d)
{
    uint64_t at = off(d);
    uint8_t b;
    cap_status st = rd_u8(d, &b);
    if (st == CAP_OK && b != 0) {
        return malformed(d, at, "zero byte expected");
    }
    return st;
}

/* Skips the immediates of a non-constant instruction inside a constant expression, so that
 * decoding can go on (the expression is invalid, but a malformed byte later would take
 * precedence). Covers every Wasm 2.0 opcode except SIMD. *depth tracks nested blocks. */
static cap_status
skip_instr(dec *d, uint8_t op, uint64_t at, unsigned *depth)
{
    cap_status st = CAP_OK;
    uint32_t x;
    int64_t s64;
    uint8_t b;
    switch (op) {
    case 0x02: // block
    case 0x03: // loop
    case 0x04: // if
        if (d->r.p < d->r.end && (*d->r.p == 0x40 || is_valtype(*d->r.p))) {
            d->r.p++;
        } else if ((st = cap_leb_read_s33(&d->r, &s64, d->err)) != CAP_OK) {
            return st;
        }
        (*depth)++;
        return CAP_OK;
    case 0x05: // else
        if (*depth == 0) {
            return malformed(d, at, "END opcode expected");
        }
        return CAP_OK;
    case 0x0C: // br
    case 0x0D: // br_if
    case 0x10: // call
    case 0x20: // local.get
    case 0x21: // local.set
    case 0x22: // local.tee
    case 0x24: // global.set
    case 0x25: // table.get
    case 0x26: // table.set
        return rd_u32(d, &x);
    case 0x0E: { // br_table
        uint32_t n;
        if ((st = rd_len(d, &n)) != CAP_OK) {
            return st;
        }
        for (uint64_t i = 0; i <= n && st == CAP_OK; i++) {
            st = rd_u32(d, &x);
        }
        return st;
    }
    case 0x11: // call_indirect
        if ((st = rd_u32(d, &x)) != CAP_OK) {
            return st;
        }
        return rd_u32(d, &x);
    case 0x1C: { // select t*
        uint32_t n;
        if ((st = rd_len(d, &n)) != CAP_OK) {
            return st;
        }
        for (uint32_t i = 0; i < n && st == CAP_OK; i++) {
            st = rd_valtype(d, &b);
        }
        return st;
    }
    case 0x3F: // memory.size
    case 0x40: // memory.grow
        return rd_zero(d);
    case 0xD1: // ref.is_null
        return CAP_OK;
    case 0xFC:
        if ((st = rd_u32(d, &x)) != CAP_OK) {
            return st;
        }
        switch (x) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
        case 5:
        case 6:
        case 7: // trunc_sat
            return CAP_OK;
        case 8: // memory.init
            if ((st = rd_u32(d, &x)) != CAP_OK) {
                return st;
            }
            return rd_zero(d);
        case 10: // memory.copy
            if ((st = rd_zero(d)) != CAP_OK) {
                return st;
            }
            return rd_zero(d);
        case 11: // memory.fill
            return rd_zero(d);
        case 9:  // data.drop
        case 13: // elem.drop
        case 15: // table.grow
        case 16: // table.size
        case 17: // table.fill
            return rd_u32(d, &x);
        case 12: // table.init
        case 14: // table.copy
            if ((st = rd_u32(d, &x)) != CAP_OK) {
                return st;
            }
            return rd_u32(d, &x);
        default:
            return malformed(d, at, "illegal opcode fc %02x", x);
        }
    default:
        break;
    }
    if (op <= 0x01 || op == 0x0F || op == 0x1A || op == 0x1B || (op >= 0x45 && op <= 0xC4)) {
        return CAP_OK; // no immediates
    }
    if (op >= 0x28 && op <= 0x3E) { // loads and stores: memarg
        if ((st = rd_u32(d, &x)) != CAP_OK) {
            return st;
        }
        return rd_u32(d, &x);
    }
    return malformed(d, at, "illegal opcode %02x", op);
}

/* A constant expression (spec 3.3.10) producing `expected`. Wasm 2.0 allows exactly one of
 * t.const, ref.null, ref.func and global.get of an immutable imported global, then `end`.
 * Anything else still decodes (it is INVALID, not malformed). As in the reference interpreter,
 * "is every instruction constant" is checked before the types. */
static cap_status
rd_constexpr(dec *d, uint8_t expected, cap_constexpr *out)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint64_t start = off(d);
    unsigned n = 0, depth = 0;
    uint8_t type = 0;
    bool const_bad = false, type_bad = false;
    char type_msg[64] = "";
    uint64_t const_at = 0, type_at = 0;
    char const_msg[64] = "";
    memset(out, 0, sizeof *out);
    for (;;) {
        uint64_t at = off(d);
        uint8_t op;
        if ((st = rd_u8(d, &op)) != CAP_OK) {
            return st;
        }
        if (op == 0x0B) {
            if (depth == 0) {
                break;
            }
            depth--;
            n++;
            continue;
        }
        bool first = n == 0;
        n++;
        switch (op) {
        case 0x41: { // i32.const
            int32_t v = 0;
            if ((st = cap_leb_read_s32(&d->r, &v, d->err)) != CAP_OK) {
                return st;
            }
            type = CAP_I32;
            if (first) {
                out->kind = CAP_CONST_VALUE;
                out->value = (uint32_t)v;
            }
            break;
        }
        case 0x42: { // i64.const
            int64_t v = 0;
            if ((st = cap_leb_read_s64(&d->r, &v, d->err)) != CAP_OK) {
                return st;
            }
            type = CAP_I64;
            if (first) {
                out->kind = CAP_CONST_VALUE;
                out->value = (uint64_t)v;
            }
            break;
        }
        case 0x43: { // f32.const
            uint32_t v = 0;
            if ((st = cap_read_u32_le(&d->r, &v, d->err)) != CAP_OK) {
                return st;
            }
            type = CAP_F32;
            if (first) {
                out->kind = CAP_CONST_VALUE;
                out->value = v;
            }
            break;
        }
        case 0x44: { // f64.const
            uint64_t v = 0;
            if ((st = cap_read_u64_le(&d->r, &v, d->err)) != CAP_OK) {
                return st;
            }
            type = CAP_F64;
            if (first) {
                out->kind = CAP_CONST_VALUE;
                out->value = v;
            }
            break;
        }
        case 0xD0: { // ref.null t
            uint8_t t;
            if ((st = rd_reftype(d, &t)) != CAP_OK) {
                return st;
            }
            type = t;
            if (first) {
                out->kind = CAP_CONST_REF_NULL;
            }
            break;
        }
        case 0xD2: { // ref.func x
            uint32_t x;
            if ((st = rd_u32(d, &x)) != CAP_OK) {
                return st;
            }
            if (x >= m->nfuncs) {
                if (!type_bad) {
                    type_bad = true;
                    type_at = at;
                    snprintf(type_msg, sizeof type_msg, "unknown function %u", x);
                }
            } else {
                m->declared_funcs[x >> 3] = (uint8_t)(m->declared_funcs[x >> 3] | 1u << (x & 7));
            }
            type = CAP_FUNCREF;
            if (first) {
                out->kind = CAP_CONST_REF_FUNC;
                out->index = x;
            }
            break;
        }
        case 0x23: { // global.get x
            uint32_t x;
            if ((st = rd_u32(d, &x)) != CAP_OK) {
                return st;
            }
            if (x >= m->nglobal_imports || x >= m->nglobals) {
                if (!const_bad) {
                    const_bad = true;
                    const_at = at;
                    snprintf(const_msg, sizeof const_msg, "unknown global %u", x);
                }
                type = 0;
            } else {
                if (m->global_types[x].mutable_ && !const_bad) {
                    const_bad = true;
                    const_at = at;
                    snprintf(const_msg, sizeof const_msg, "constant expression required");
                }
                type = m->global_types[x].valtype;
            }
            if (first) {
                out->kind = CAP_CONST_GLOBAL_GET;
                out->index = x;
            }
            break;
        }
        default:
            if ((st = skip_instr(d, op, at, &depth)) != CAP_OK) {
                return st;
            }
            if (!const_bad) {
                const_bad = true;
                const_at = at;
                snprintf(const_msg, sizeof const_msg, "constant expression required");
            }
            break;
        }
    }
    out->type = expected;
    if (const_bad) {
        invalid(d, const_at, "%s", const_msg);
    } else if (type_bad) {
        invalid(d, type_at, "%s", type_msg);
    } else if (n != 1 || type != expected) {
        invalid(d, start, "type mismatch");
    }
    return CAP_OK;
}

/* ------------------------------------------------------------------------------ index spaces */

/* The function index space: imports, then the function section's `ndefs` definitions. Built at
 * the function section, or with no definitions when a later section (or the end) comes first. */
static cap_status
make_funcs(dec *d, uint32_t ndefs)
{
    cap_module_t *m = d->m;
    d->funcs_done = true;
    uint64_t total = (uint64_t)m->nfunc_imports + ndefs;
    if (total > UINT32_MAX) {
        return malformed(d, off(d), "too many functions");
    }
    m->func_type = cap_calloc((size_t)total, sizeof *m->func_type);
    m->funcs = cap_calloc(ndefs, sizeof *m->funcs);
    m->declared_funcs = cap_calloc((size_t)(total + 7) / 8, 1);
    if (!m->func_type || !m->funcs || !m->declared_funcs) {
        cap_free(m->func_type);
        cap_free(m->funcs);
        cap_free(m->declared_funcs);
        m->func_type = NULL;
        m->funcs = NULL;
        m->declared_funcs = NULL;
        return nomem(d);
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->nimports; i++) {
        if (m->imports[i].kind == CAP_EXTERN_FUNC) {
            m->func_type[k++] = m->imports[i].desc.type_index;
        }
    }
    m->nfuncs = (uint32_t)total;
    d->nfunc_defs = ndefs;
    return CAP_OK;
}

static cap_status
make_tables(dec *d, uint32_t ndefs)
{
    cap_module_t *m = d->m;
    d->tables_done = true;
    uint64_t total = (uint64_t)m->ntable_imports + ndefs;
    if (total > UINT32_MAX) {
        return malformed(d, off(d), "too many tables");
    }
    m->tables = cap_calloc((size_t)total, sizeof *m->tables);
    if (!m->tables) {
        return nomem(d);
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->nimports; i++) {
        if (m->imports[i].kind == CAP_EXTERN_TABLE) {
            m->tables[k++] = m->imports[i].desc.table;
        }
    }
    m->ntables = k;
    return CAP_OK;
}

static cap_status
make_mems(dec *d, uint32_t ndefs)
{
    cap_module_t *m = d->m;
    d->mems_done = true;
    uint64_t total = (uint64_t)m->nmem_imports + ndefs;
    if (total > UINT32_MAX) {
        return malformed(d, off(d), "too many memories");
    }
    m->mems = cap_calloc((size_t)total, sizeof *m->mems);
    if (!m->mems) {
        return nomem(d);
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->nimports; i++) {
        if (m->imports[i].kind == CAP_EXTERN_MEMORY) {
            m->mems[k++] = m->imports[i].desc.memory;
        }
    }
    m->nmems = k;
    return CAP_OK;
}

static cap_status
make_globals(dec *d, uint32_t ndefs)
{
    cap_module_t *m = d->m;
    d->globals_done = true;
    uint64_t total = (uint64_t)m->nglobal_imports + ndefs;
    if (total > UINT32_MAX) {
        return malformed(d, off(d), "too many globals");
    }
    m->global_types = cap_calloc((size_t)total, sizeof *m->global_types);
    m->globals = cap_calloc(ndefs, sizeof *m->globals);
    if (!m->global_types || !m->globals) {
        return nomem(d);
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->nimports; i++) {
        if (m->imports[i].kind == CAP_EXTERN_GLOBAL) {
            m->global_types[k++] = m->imports[i].desc.global;
        }
    }
    m->nglobals = k;
    return CAP_OK;
}

/* Builds every index space that a section of rank `rank` may refer to but whose own section
 * did not occur. */
static cap_status
ensure_spaces(dec *d, int rank)
{
    cap_status st;
    if (rank > RANK_FUNC && !d->funcs_done && (st = make_funcs(d, 0)) != CAP_OK) {
        return st;
    }
    if (rank > RANK_TABLE && !d->tables_done && (st = make_tables(d, 0)) != CAP_OK) {
        return st;
    }
    if (rank > RANK_MEM && !d->mems_done) {
        if ((st = make_mems(d, 0)) != CAP_OK) {
            return st;
        }
        if (d->m->nmems > 1) {
            invalid(d, off(d), "multiple memories");
        }
    }
    if (rank > RANK_GLOBAL && !d->globals_done && (st = make_globals(d, 0)) != CAP_OK) {
        return st;
    }
    return CAP_OK;
}

/* ------------------------------------------------------------------------------ sections */

/* Orders type indices by structure, then by index, so equal types are adjacent with the first
 * one leading (qsort keeps this O(n log n) even for hostile inputs, unlike a plain hash). */
static _Thread_local const cap_ftype *sort_types_base; // qsort has no context argument

static int
cmp_types(const void *a, const void *b)
{
    uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
    const cap_ftype *ta = &sort_types_base[ia], *tb = &sort_types_base[ib];
    if (ta->nparams != tb->nparams) {
        return ta->nparams < tb->nparams ? -1 : 1;
    }
    if (ta->nresults != tb->nresults) {
        return ta->nresults < tb->nresults ? -1 : 1;
    }
    int c = memcmp(ta->types, tb->types, (size_t)ta->nparams + ta->nresults);
    if (c != 0) {
        return c;
    }
    return ia < ib ? -1 : ia > ib;
}

static cap_status
canonicalize_types(dec *d)
{
    cap_module_t *m = d->m;
    if (m->ntypes == 0) {
        return CAP_OK;
    }
    uint32_t *order = cap_calloc(m->ntypes, sizeof *order);
    if (!order) {
        return nomem(d);
    }
    for (uint32_t i = 0; i < m->ntypes; i++) {
        order[i] = i;
    }
    sort_types_base = m->types;
    qsort(order, m->ntypes, sizeof *order, cmp_types);
    sort_types_base = NULL;
    uint32_t lead = order[0];
    for (uint32_t i = 0; i < m->ntypes; i++) {
        uint32_t t = order[i];
        if (i > 0 && !cap_ftype_equal(&m->types[t], &m->types[lead])) {
            lead = t;
        }
        m->types[t].canon = lead;
    }
    cap_free(order);
    return CAP_OK;
}

static cap_status
sec_type(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    size_t cap = vec_cap(d, count, MIN_TYPE_BYTES);
    m->types = cap_calloc(cap, sizeof *m->types);
    if (!m->types) {
        return nomem(d);
    }
    for (uint32_t i = 0; i < count; i++) {
        uint64_t at = off(d);
        uint8_t form;
        if ((st = rd_u8(d, &form)) != CAP_OK) {
            return st;
        }
        if (form != 0x60) {
            if (form & 0x80) {
                return malformed(d, at, "integer representation too long");
            }
            return malformed(d, at, "malformed function type");
        }
        /* Params and results are read twice: once to count and check, then into one block per
         * type (valtypes as bytes and as cap_valtype) so the block has its final size. */
        uint32_t np, nr;
        if ((st = rd_len(d, &np)) != CAP_OK) {
            return st;
        }
        const uint8_t *params = d->r.p;
        for (uint32_t k = 0; k < np; k++) {
            uint8_t t;
            if ((st = rd_valtype(d, &t)) != CAP_OK) {
                return st;
            }
        }
        if ((st = rd_len(d, &nr)) != CAP_OK) {
            return st;
        }
        const uint8_t *results = d->r.p;
        for (uint32_t k = 0; k < nr; k++) {
            uint8_t t;
            if ((st = rd_valtype(d, &t)) != CAP_OK) {
                return st;
            }
        }
        if (i >= cap) {
            return cap_reader_fail_eof(&d->r, d->err); // unreachable: see vec_cap
        }
        size_t n = (size_t)np + nr;
        cap_valtype *block = cap_alloc(n * (sizeof(cap_valtype) + 1));
        if (!block) {
            return nomem(d);
        }
        cap_ftype *ft = &m->types[i];
        ft->nparams = np;
        ft->nresults = nr;
        ft->vtypes = block;
        ft->types = (uint8_t *)(block + n);
        memcpy(ft->types, params, np);
        memcpy(ft->types + np, results, nr);
        for (size_t k = 0; k < n; k++) {
            ft->vtypes[k] = (cap_valtype)ft->types[k];
        }
        m->ntypes = i + 1;
    }
    return canonicalize_types(d);
}

static cap_status
sec_import(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    size_t cap = vec_cap(d, count, MIN_IMPORT_BYTES);
    m->imports = cap_calloc(cap, sizeof *m->imports);
    if (!m->imports) {
        return nomem(d);
    }
    strpool pool;
    if ((st = pool_init(d, &pool, cap, 2, &m->import_strings)) != CAP_OK) {
        return st;
    }
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *mod, *name;
        uint32_t mod_len, name_len;
        if ((st = rd_name(d, &mod, &mod_len)) != CAP_OK) {
            return st;
        }
        if ((st = rd_name(d, &name, &name_len)) != CAP_OK) {
            return st;
        }
        uint64_t at = off(d);
        uint8_t kind;
        if ((st = rd_u8(d, &kind)) != CAP_OK) {
            return st;
        }
        if (kind > CAP_EXTERN_GLOBAL) {
            return malformed(d, at, "malformed import kind");
        }
        if (i >= cap) {
            return cap_reader_fail_eof(&d->r, d->err); // unreachable: see vec_cap
        }
        cap_import *imp = &m->imports[i];
        imp->kind = (cap_extern_kind)kind;
        at = off(d);
        switch (imp->kind) {
        case CAP_EXTERN_FUNC:
            if ((st = rd_u32(d, &imp->desc.type_index)) != CAP_OK) {
                return st;
            }
            if (imp->desc.type_index >= m->ntypes) {
                invalid(d, at, "unknown type %u", imp->desc.type_index);
            }
            break;
        case CAP_EXTERN_TABLE:
            st = rd_tabletype(d, &imp->desc.table);
            break;
        case CAP_EXTERN_MEMORY:
            st = rd_memtype(d, &imp->desc.memory);
            break;
        case CAP_EXTERN_GLOBAL:
            st = rd_globaltype(d, &imp->desc.global);
            break;
        }
        if (st != CAP_OK) {
            return st;
        }
        if ((st = pool_add(d, &pool, mod, mod_len, at, &imp->module)) != CAP_OK ||
            (st = pool_add(d, &pool, name, name_len, at, &imp->name)) != CAP_OK) {
            return st;
        }
        imp->module_len = mod_len;
        imp->name_len = name_len;
        m->nimports = i + 1;
        /* Counts of at most nimports cannot overflow. */
        switch (imp->kind) {
        case CAP_EXTERN_FUNC:
            m->nfunc_imports++;
            break;
        case CAP_EXTERN_TABLE:
            m->ntable_imports++;
            break;
        case CAP_EXTERN_MEMORY:
            m->nmem_imports++;
            break;
        case CAP_EXTERN_GLOBAL:
            m->nglobal_imports++;
            break;
        }
    }
    return CAP_OK;
}

static cap_status
sec_func(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    if ((st = make_funcs(d, count)) != CAP_OK) {
        return st;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint64_t at = off(d);
        uint32_t t;
        if ((st = rd_u32(d, &t)) != CAP_OK) {
            return st;
        }
        if (t >= m->ntypes) {
            invalid(d, at, "unknown type %u", t);
        }
        m->funcs[i].type_index = t;
        m->func_type[m->nfunc_imports + i] = t;
    }
    return CAP_OK;
}

static cap_status
sec_table(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    size_t cap = vec_cap(d, count, MIN_TABLE_BYTES);
    if ((st = make_tables(d, (uint32_t)cap)) != CAP_OK) {
        return st;
    }
    for (uint32_t i = 0; i < count; i++) {
        cap_tabletype t;
        if ((st = rd_tabletype(d, &t)) != CAP_OK) {
            return st;
        }
        if (i >= cap) {
            d->r.p = d->r.end;
            return cap_reader_fail_eof(&d->r, d->err); // unreachable: see vec_cap
        }
        m->tables[m->ntables++] = t;
    }
    return CAP_OK;
}

static cap_status
sec_memory(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    size_t cap = vec_cap(d, count, MIN_MEM_BYTES);
    if ((st = make_mems(d, (uint32_t)cap)) != CAP_OK) {
        return st;
    }
    for (uint32_t i = 0; i < count; i++) {
        cap_limits l;
        if ((st = rd_memtype(d, &l)) != CAP_OK) {
            return st;
        }
        if (i >= cap) {
            d->r.p = d->r.end;
            return cap_reader_fail_eof(&d->r, d->err); // unreachable: see vec_cap
        }
        m->mems[m->nmems++] = l;
    }
    if (m->nmems > 1) {
        invalid(d, off(d), "multiple memories");
    }
    return CAP_OK;
}

static cap_status
sec_global(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    size_t cap = vec_cap(d, count, MIN_GLOBAL_BYTES);
    if ((st = make_globals(d, (uint32_t)cap)) != CAP_OK) {
        return st;
    }
    for (uint32_t i = 0; i < count; i++) {
        cap_global_def g;
        if ((st = rd_globaltype(d, &g.type)) != CAP_OK) {
            return st;
        }
        if ((st = rd_constexpr(d, g.type.valtype, &g.init)) != CAP_OK) {
            return st;
        }
        if (i >= cap) {
            d->r.p = d->r.end;
            return cap_reader_fail_eof(&d->r, d->err); // unreachable: see vec_cap
        }
        m->globals[i] = g;
        m->global_types[m->nglobal_imports + i] = g.type;
        m->nglobals++;
    }
    return CAP_OK;
}

static int
cmp_exports(const void *a, const void *b)
{
    const cap_export *ea = *(const cap_export *const *)a, *eb = *(const cap_export *const *)b;
    uint32_t n = ea->name_len < eb->name_len ? ea->name_len : eb->name_len;
    int c = memcmp(ea->name, eb->name, n);
    if (c != 0) {
        return c;
    }
    return ea->name_len < eb->name_len ? -1 : ea->name_len > eb->name_len;
}

static cap_status
check_duplicate_exports(dec *d, uint64_t at)
{
    cap_module_t *m = d->m;
    if (m->nexports < 2) {
        return CAP_OK;
    }
    const cap_export **sorted = cap_calloc(m->nexports, sizeof *sorted);
    if (!sorted) {
        return nomem(d);
    }
    for (uint32_t i = 0; i < m->nexports; i++) {
        sorted[i] = &m->exports[i];
    }
    qsort(sorted, m->nexports, sizeof *sorted, cmp_exports);
    for (uint32_t i = 1; i < m->nexports; i++) {
        if (cmp_exports(&sorted[i - 1], &sorted[i]) == 0) {
            invalid(d, at, "duplicate export name");
            break;
        }
    }
    cap_free(sorted);
    return CAP_OK;
}

static cap_status
sec_export(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint64_t sec_at = off(d);
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    size_t cap = vec_cap(d, count, MIN_EXPORT_BYTES);
    m->exports = cap_calloc(cap, sizeof *m->exports);
    if (!m->exports) {
        return nomem(d);
    }
    strpool pool;
    if ((st = pool_init(d, &pool, cap, 1, &m->export_strings)) != CAP_OK) {
        return st;
    }
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *name;
        uint32_t name_len;
        if ((st = rd_name(d, &name, &name_len)) != CAP_OK) {
            return st;
        }
        uint64_t at = off(d);
        uint8_t kind;
        if ((st = rd_u8(d, &kind)) != CAP_OK) {
            return st;
        }
        if (kind > CAP_EXTERN_GLOBAL) {
            return malformed(d, at, "malformed export kind");
        }
        at = off(d);
        uint32_t x;
        if ((st = rd_u32(d, &x)) != CAP_OK) {
            return st;
        }
        if (i >= cap) {
            return cap_reader_fail_eof(&d->r, d->err); // unreachable: see vec_cap
        }
        cap_export *e = &m->exports[i];
        if ((st = pool_add(d, &pool, name, name_len, at, &e->name)) != CAP_OK) {
            return st;
        }
        e->name_len = name_len;
        e->kind = (cap_extern_kind)kind;
        e->index = x;
        m->nexports = i + 1;
        switch (e->kind) {
        case CAP_EXTERN_FUNC:
            if (x >= m->nfuncs) {
                invalid(d, at, "unknown function %u", x);
            } else {
                m->declared_funcs[x >> 3] = (uint8_t)(m->declared_funcs[x >> 3] | 1u << (x & 7));
            }
            break;
        case CAP_EXTERN_TABLE:
            if (x >= m->ntables) {
                invalid(d, at, "unknown table %u", x);
            }
            break;
        case CAP_EXTERN_MEMORY:
            if (x >= m->nmems) {
                invalid(d, at, "unknown memory %u", x);
            }
            break;
        case CAP_EXTERN_GLOBAL:
            if (x >= m->nglobals) {
                invalid(d, at, "unknown global %u", x);
            }
            break;
        }
    }
    return check_duplicate_exports(d, sec_at);
}

static cap_status
sec_start(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint64_t at = off(d);
    uint32_t x;
    if ((st = rd_u32(d, &x)) != CAP_OK) {
        return st;
    }
    m->has_start = true;
    m->start = x;
    if (x >= m->nfuncs) {
        invalid(d, at, "unknown function %u", x);
    } else if (m->func_type[x] < m->ntypes) {
        const cap_ftype *t = &m->types[m->func_type[x]];
        if (t->nparams != 0 || t->nresults != 0) {
            invalid(d, at, "start function");
        }
    }
    return CAP_OK;
}

static cap_status
sec_elem(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    size_t cap = vec_cap(d, count, MIN_ELEM_BYTES);
    m->elems = cap_calloc(cap, sizeof *m->elems);
    if (!m->elems) {
        return nomem(d);
    }
    for (uint32_t i = 0; i < count; i++) {
        void *grown = vec_room(m->elems, &cap, i, count, sizeof *m->elems);
        if (!grown) {
            return nomem(d);
        }
        m->elems = grown;
        cap_elem_seg *seg = &m->elems[i];
        m->nelems = i + 1;
        uint64_t at = off(d);
        uint32_t flags;
        if ((st = rd_u32(d, &flags)) != CAP_OK) {
            return st;
        }
        if (flags > 7) {
            return malformed(d, at, "malformed elements segment kind");
        }
        seg->mode = !(flags & 1)  ? CAP_SEG_ACTIVE
                    : (flags & 2) ? CAP_SEG_DECLARATIVE
                                  : CAP_SEG_PASSIVE;
        uint64_t table_at = off(d);
        if (seg->mode == CAP_SEG_ACTIVE) {
            if ((flags & 2) && (st = rd_u32(d, &seg->table_index)) != CAP_OK) {
                return st;
            }
            if ((st = rd_constexpr(d, CAP_I32, &seg->offset)) != CAP_OK) {
                return st;
            }
        }
        bool exprs = (flags & 4) != 0;
        seg->elemtype = CAP_FUNCREF;
        if (flags & 3) {
            if (exprs) {
                if ((st = rd_reftype(d, &seg->elemtype)) != CAP_OK) {
                    return st;
                }
            } else {
                uint64_t kat = off(d);
                uint8_t kind;
                if ((st = rd_u8(d, &kind)) != CAP_OK) {
                    return st;
                }
                if (kind != 0x00) {
                    return malformed(d, kat, "malformed element kind");
                }
            }
        }
        uint32_t n;
        if ((st = rd_len(d, &n)) != CAP_OK) {
            return st;
        }
        size_t ncap = vec_cap(d, n, MIN_EXPR_BYTES);
        seg->inits = cap_calloc(ncap, sizeof *seg->inits);
        if (!seg->inits) {
            return nomem(d);
        }
        for (uint32_t k = 0; k < n; k++) {
            void *more = vec_room(seg->inits, &ncap, k, n, sizeof *seg->inits);
            if (!more) {
                return nomem(d);
            }
            seg->inits = more;
            cap_constexpr *e = &seg->inits[k];
            if (exprs) {
                if ((st = rd_constexpr(d, seg->elemtype, e)) != CAP_OK) {
                    return st;
                }
            } else {
                uint64_t xat = off(d);
                uint32_t x;
                if ((st = rd_u32(d, &x)) != CAP_OK) {
                    return st;
                }
                e->kind = CAP_CONST_REF_FUNC;
                e->type = CAP_FUNCREF;
                e->index = x;
                if (x >= m->nfuncs) {
                    invalid(d, xat, "unknown function %u", x);
                } else {
                    m->declared_funcs[x >> 3] =
                        (uint8_t)(m->declared_funcs[x >> 3] | 1u << (x & 7));
                }
            }
            seg->count = k + 1;
        }
        if (seg->mode == CAP_SEG_ACTIVE) {
            if (seg->table_index >= m->ntables) {
                invalid(d, table_at, "unknown table %u", seg->table_index);
            } else if (m->tables[seg->table_index].elemtype != seg->elemtype) {
                invalid(d, table_at, "type mismatch");
            }
        }
    }
    return CAP_OK;
}

static cap_status
sec_datacount(dec *d)
{
    cap_status st = rd_u32(d, &d->m->data_count);
    if (st == CAP_OK) {
        d->m->has_data_count = true;
    }
    return st;
}

static cap_status
sec_code(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t size;
        if ((st = rd_len(d, &size)) != CAP_OK) {
            return st;
        }
        uint64_t body = off(d);
        const uint8_t *bytes;
        if ((st = cap_read_bytes(&d->r, size, &bytes, d->err)) != CAP_OK) {
            return st;
        }
        if (i < d->nfunc_defs) {
            m->funcs[i].body_offset = (uint32_t)body;
            m->funcs[i].body_len = size;
        }
    }
    d->ncode = count;
    return CAP_OK;
}

static cap_status
sec_data(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    uint32_t count;
    if ((st = rd_len(d, &count)) != CAP_OK) {
        return st;
    }
    size_t cap = vec_cap(d, count, MIN_DATA_BYTES);
    m->datas = cap_calloc(cap, sizeof *m->datas);
    if (!m->datas) {
        return nomem(d);
    }
    for (uint32_t i = 0; i < count; i++) {
        uint64_t at = off(d);
        uint32_t flags;
        if ((st = rd_u32(d, &flags)) != CAP_OK) {
            return st;
        }
        if (flags > 2) {
            return malformed(d, at, "malformed data segment kind");
        }
        void *grown = vec_room(m->datas, &cap, i, count, sizeof *m->datas);
        if (!grown) {
            return nomem(d);
        }
        m->datas = grown;
        cap_data_seg *seg = &m->datas[i];
        m->ndatas = i + 1;
        seg->mode = flags == 1 ? CAP_SEG_PASSIVE : CAP_SEG_ACTIVE;
        uint64_t mem_at = off(d);
        if (flags == 2 && (st = rd_u32(d, &seg->memory_index)) != CAP_OK) {
            return st;
        }
        if (seg->mode == CAP_SEG_ACTIVE) {
            if (seg->memory_index >= m->nmems) {
                invalid(d, mem_at, "unknown memory %u", seg->memory_index);
            }
            if ((st = rd_constexpr(d, CAP_I32, &seg->offset)) != CAP_OK) {
                return st;
            }
        }
        if ((st = rd_len(d, &seg->len)) != CAP_OK) {
            return st;
        }
        if ((st = cap_read_bytes(&d->r, seg->len, &seg->bytes, d->err)) != CAP_OK) {
            return st;
        }
    }
    return CAP_OK;
}

/* A custom section: a valid name, then anything. The first "name" section is remembered and
 * parsed at the end, when the function index space is complete. */
static cap_status
sec_custom(dec *d, size_t end)
{
    cap_status st;
    const uint8_t *name;
    uint32_t len;
    if ((st = rd_name(d, &name, &len)) != CAP_OK) {
        return st;
    }
    size_t pos = (size_t)off(d);
    if (pos > end || end > d->m->len) { // the size may overshoot the module: see cap_read_len
        d->r.p = d->r.end;
        return cap_reader_fail_eof(&d->r, d->err);
    }
    if (len == 4 && memcmp(name, "name", 4) == 0 && !d->has_name_sec) {
        d->has_name_sec = true;
        d->name_start = pos;
        d->name_end = end;
    }
    d->r.p = d->r.base + end;
    return CAP_OK;
}

/* ------------------------------------------------------------------------------ name section */

/* Reads a function name map (spec 7.4.2.3) from sub. With names == NULL it only checks it and
 * adds up the bytes the strings need; otherwise it copies them into pool. Returns false when the
 * map is broken: indices must be increasing and in range, names valid UTF-8. */
static bool
read_name_map(cap_reader sub, uint32_t nfuncs, char **names, char *pool, size_t *bytes)
{
    uint32_t count;
    if (cap_read_len(&sub, &count, NULL) != CAP_OK) {
        return false;
    }
    uint64_t next = 0;
    size_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t idx, len;
        const uint8_t *s = NULL;
        if (cap_leb_read_u32(&sub, &idx, NULL) != CAP_OK ||
            cap_read_len(&sub, &len, NULL) != CAP_OK ||
            cap_read_bytes(&sub, len, &s, NULL) != CAP_OK || idx < next || idx >= nfuncs ||
            !cap_utf8_valid(s, len)) {
            return false;
        }
        next = (uint64_t)idx + 1;
        if (names) {
            names[idx] = pool + total;
            memcpy(names[idx], s, len);
            names[idx][len] = '\0';
        }
        total += (size_t)len + 1;
    }
    *bytes = total;
    return cap_reader_eof(&sub);
}

/* Parses the function names subsection (id 1) of the name section into m->func_names: one block
 * holding the nfuncs pointers and then the strings. A name section that does not parse is
 * ignored, as the spec asks (7.4.1); only NOMEM is an error. */
static cap_status
parse_names(dec *d)
{
    cap_module_t *m = d->m;
    cap_reader r;
    cap_reader_init(&r, d->r.base, d->name_start, d->name_end);
    while (!cap_reader_eof(&r)) {
        uint8_t id;
        uint32_t size;
        if (cap_read_u8(&r, &id, NULL) != CAP_OK || cap_read_len(&r, &size, NULL) != CAP_OK ||
            size > cap_reader_left(&r)) { // cap_read_len counts the size's own bytes too
            return CAP_OK;
        }
        cap_reader sub = r;
        sub.end = r.p + size;
        r.p = sub.end;
        if (id != 1) {
            continue;
        }
        size_t bytes;
        if (!read_name_map(sub, m->nfuncs, NULL, NULL, &bytes)) {
            return CAP_OK;
        }
        size_t ptrs = (size_t)m->nfuncs * sizeof(char *);
        char **names = cap_calloc(1, ptrs + bytes);
        if (!names) {
            return nomem(d);
        }
        read_name_map(sub, m->nfuncs, names, (char *)names + ptrs, &bytes);
        m->func_names = names;
        return CAP_OK;
    }
    return CAP_OK;
}

/* ------------------------------------------------------------------------------ module */

static cap_status
decode_sections(dec *d)
{
    cap_status st;
    cap_module_t *m = d->m;
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6D};
    static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
    const uint8_t *b = d->r.base;
    if (m->len < 4) {
        return malformed(d, m->len, "unexpected end");
    }
    if (memcmp(b, magic, 4) != 0) {
        return malformed(d, 0, "magic header not detected");
    }
    if (m->len < 8 || memcmp(b + 4, version, 4) != 0) {
        if (m->len < 8) {
            return malformed(d, m->len, "unexpected end");
        }
        return malformed(d, 4, "unknown binary version");
    }
    d->r.p += 8;
    while (!cap_reader_eof(&d->r)) {
        uint64_t at = off(d);
        uint8_t id = *d->r.p++;
        if (id > 12) {
            return malformed(d, at, "malformed section id");
        }
        uint32_t size;
        if ((st = rd_len(d, &size)) != CAP_OK) {
            return st;
        }
        size_t start = (size_t)off(d);
        size_t end = start + size;
        d->sec_end = end < m->len ? end : m->len;
        if (id == 0) {
            if ((st = sec_custom(d, end)) != CAP_OK) {
                return st;
            }
            continue;
        }
        int rank = section_rank[id];
        if (rank <= d->last_rank) {
            return malformed(d, at, "unexpected content after last section");
        }
        d->last_rank = rank;
        if ((st = ensure_spaces(d, rank)) != CAP_OK) {
            return st;
        }
        switch (id) {
        case 1:
            st = sec_type(d);
            break;
        case 2:
            st = sec_import(d);
            break;
        case 3:
            st = sec_func(d);
            break;
        case 4:
            st = sec_table(d);
            break;
        case 5:
            st = sec_memory(d);
            break;
        case 6:
            st = sec_global(d);
            break;
        case 7:
            st = sec_export(d);
            break;
        case 8:
            st = sec_start(d);
            break;
        case 9:
            st = sec_elem(d);
            break;
        case 10:
            st = sec_code(d);
            break;
        case 11:
            st = sec_data(d);
            break;
        default:
            st = sec_datacount(d);
            break;
        }
        if (st != CAP_OK) {
            return st;
        }
        if ((size_t)off(d) != end) {
            return malformed(d, start, "section size mismatch");
        }
    }
    if ((st = ensure_spaces(d, RANK_END)) != CAP_OK) {
        return st;
    }
    if (d->nfunc_defs != d->ncode) {
        return malformed(d, m->len, "function and code section have inconsistent lengths");
    }
    if (m->has_data_count && m->data_count != m->ndatas) {
        return malformed(d, m->len, "data count and data section have inconsistent lengths");
    }
    if (d->has_name_sec && (st = parse_names(d)) != CAP_OK) {
        return st;
    }
    return CAP_OK;
}

cap_status
cap_decode(cap_module_t *m, cap_error_t *err)
{
    uint8_t *bytes = m->bytes;
    size_t len = m->len;
    memset(m, 0, sizeof *m);
    m->bytes = bytes;
    m->len = len;
    cap_error_clear(err);
    if (!bytes && len) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_decode: NULL bytes");
    }
    if (len > UINT32_MAX) {
        /* Offsets are 32-bit (body_offset); no valid Wasm 2.0 module needs more. */
        return cap_fail(err, CAP_ERR_MALFORMED, 0, "module too large");
    }
    static const uint8_t empty[1] = {0};
    dec d;
    memset(&d, 0, sizeof d);
    d.m = m;
    d.err = err;
    cap_reader_init(&d.r, bytes ? bytes : empty, 0, len);
    cap_status st = decode_sections(&d);
    if (st != CAP_OK) {
        return st;
    }
    if (d.has_inv) {
        if (err) {
            *err = d.inv;
        }
        return CAP_ERR_INVALID;
    }
    return CAP_OK;
}

void
cap_module_release(cap_module_t *m)
{
    if (!m) {
        return;
    }
    cap_free(m->bytes);
    if (m->types) {
        for (uint32_t i = 0; i < m->ntypes; i++) {
            cap_free(m->types[i].vtypes);
        }
        cap_free(m->types);
    }
    cap_free(m->imports);
    cap_free(m->import_strings);
    if (m->funcs) {
        uint32_t ndefs = m->nfuncs > m->nfunc_imports ? m->nfuncs - m->nfunc_imports : 0;
        for (uint32_t i = 0; i < ndefs; i++) {
            cap_compile_free(m->funcs[i].code);
        }
        cap_free(m->funcs);
    }
    cap_free(m->func_type);
    cap_free(m->tables);
    cap_free(m->mems);
    cap_free(m->global_types);
    cap_free(m->globals);
    cap_free(m->exports);
    cap_free(m->export_strings);
    if (m->elems) {
        for (uint32_t i = 0; i < m->nelems; i++) {
            cap_free(m->elems[i].inits);
        }
        cap_free(m->elems);
    }
    cap_free(m->datas);
    cap_free(m->declared_funcs);
    cap_free(m->func_names); // the array and its strings are one block
    memset(m, 0, sizeof *m);
}
