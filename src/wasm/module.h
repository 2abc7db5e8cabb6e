/* SPDX-License-Identifier: Apache-2.0 */
/* The decoded, validated and compiled form of a module (internal). Written by the decoder
 * (decode.c) and the compiler (compile.c), then immutable and shared read-only. */
#ifndef CAP_WASM_MODULE_H
#define CAP_WASM_MODULE_H

#include "capsule.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wasm limits we impose (an implementation may; the spec tests allow these). */
#define CAP_MAX_PAGES        65536u     // 4 GiB of 64 KiB pages
#define CAP_PAGE_SIZE        65536u
#define CAP_MAX_TABLE_SIZE   10000000u  // elements; larger tables fail to instantiate
#define CAP_MAX_LOCALS       50000u     // locals per function (params included)
#define CAP_MAX_FUNC_RESULTS 1000u

/* A function type. `types` holds the params then the results (valtype bytes). `canon` is the
 * index of the first structurally equal type in the same module, so two types of one module are
 * equal iff their canon indices are equal; across modules compare with cap_functype_equal. */
typedef struct cap_ftype {
    uint32_t nparams;
    uint32_t nresults;
    uint8_t *types;       // nparams + nresults valtypes (cap_valtype values)
    cap_valtype *vtypes;  // the same as cap_valtype[] (for the public cap_functype_t view)
    uint32_t canon;
} cap_ftype;

bool cap_ftype_equal(const cap_ftype *a, const cap_ftype *b);

typedef struct cap_limits {
    uint32_t min;
    uint32_t max;
    bool has_max;
} cap_limits;

typedef struct cap_tabletype {
    uint8_t elemtype; // CAP_FUNCREF or CAP_EXTERNREF
    cap_limits limits;
} cap_tabletype;

typedef struct cap_globaltype {
    uint8_t valtype;
    bool mutable_;
} cap_globaltype;

/* A constant expression. Wasm 2.0 allows exactly one instruction before `end`. */
typedef enum cap_const_kind {
    CAP_CONST_VALUE,      // t.const: `value` holds the slot bits
    CAP_CONST_REF_NULL,   // ref.null t: value 0
    CAP_CONST_REF_FUNC,   // ref.func index
    CAP_CONST_GLOBAL_GET, // global.get index (an imported global in 2.0)
} cap_const_kind;

typedef struct cap_constexpr {
    cap_const_kind kind;
    uint8_t type;   // the valtype the expression produces
    uint64_t value; // for CAP_CONST_VALUE
    uint32_t index; // function or global index
} cap_constexpr;

typedef struct cap_import {
    char *module; // NUL-terminated copy, valid UTF-8 (checked); may contain NUL bytes
    char *name;
    uint32_t module_len; // byte lengths: names may contain NUL bytes (valid UTF-8), so compare
    uint32_t name_len;   // names with memcmp over these lengths, not strcmp
    cap_extern_kind kind;
    union {
        uint32_t type_index; // CAP_EXTERN_FUNC
        cap_tabletype table;
        cap_limits memory;
        cap_globaltype global;
    } desc;
} cap_import;

typedef struct cap_export {
    char *name;        // NUL-terminated copy; may contain NUL bytes: see name_len
    uint32_t name_len; // byte length of name
    cap_extern_kind kind;
    uint32_t index;
} cap_export;

typedef struct cap_global_def {
    cap_globaltype type;
    cap_constexpr init;
} cap_global_def;

typedef enum cap_seg_mode {
    CAP_SEG_ACTIVE,
    CAP_SEG_PASSIVE,
    CAP_SEG_DECLARATIVE,
} cap_seg_mode;

typedef struct cap_elem_seg {
    cap_seg_mode mode;
    uint8_t elemtype;     // CAP_FUNCREF or CAP_EXTERNREF
    uint32_t table_index; // active only
    cap_constexpr offset; // active only (i32)
    uint32_t count;
    cap_constexpr *inits; // count entries (ref.func / ref.null / global.get)
} cap_elem_seg;

typedef struct cap_data_seg {
    cap_seg_mode mode;     // ACTIVE or PASSIVE
    uint32_t memory_index; // active only
    cap_constexpr offset;  // active only (i32)
    uint32_t len;
    const uint8_t *bytes; // points into cap_module_t.bytes
} cap_data_seg;

/* One defined function (imports are not in this array). */
struct cap_code; // compiled code, owned by compile.c
typedef struct cap_func_def {
    uint32_t type_index;
    uint32_t body_offset; // offset in module bytes of the body (after its size LEB)
    uint32_t body_len;    // bytes of the body: local declarations, then the expression
    struct cap_code *code; // set by the compiler; freed by cap_compile_free
} cap_func_def;

struct cap_module_t {
    uint8_t *bytes; // owned copy of the binary (read-only when bytes_mapped)
    size_t len;
    bool bytes_mapped; // bytes is a file mapping of the module's own (cap_plat_unmap)

    uint32_t ntypes;
    cap_ftype *types;

    uint32_t nimports;
    cap_import *imports;

    /* Index spaces: imports first, then definitions. */
    uint32_t nfuncs;          // imported + defined
    uint32_t nfunc_imports;
    uint32_t *func_type;      // nfuncs entries: type index of every function (imports included)
    cap_func_def *funcs;      // nfuncs - nfunc_imports defined functions

    uint32_t ntables;
    uint32_t ntable_imports;
    cap_tabletype *tables;    // ntables entries (imports included)

    uint32_t nmems;
    uint32_t nmem_imports;
    cap_limits *mems;         // nmems entries (imports included)

    uint32_t nglobals;
    uint32_t nglobal_imports;
    cap_globaltype *global_types; // nglobals entries (imports included)
    cap_global_def *globals;      // nglobals - nglobal_imports definitions

    uint32_t nexports;
    cap_export *exports;

    bool has_start;
    uint32_t start;

    uint32_t nelems;
    cap_elem_seg *elems;

    bool has_data_count;
    uint32_t data_count;
    uint32_t ndatas;
    cap_data_seg *datas;

    /* C.refs (spec 3.4.10): functions that `ref.func` may name in code: those that occur in
     * element segments, exports or global initialisers. Bitset of nfuncs bits. */
    uint8_t *declared_funcs;

    /* From the "name" custom section when present and well-formed: nfuncs entries, each NULL or
     * a NUL-terminated string. NULL when there was no usable name section. One allocation holds
     * the array and the strings (the decoder frees it as a whole). */
    char **func_names;

    /* One block each holding every import's module and name strings and every export's name
     * (fewer allocations for big modules); the strings above point into them. */
    char *import_strings;
    char *export_strings;

    /* Lazy compilation state (compile.c): NULL for a module compiled at load (cap_module_new);
     * for cap_module_new_lazy it holds the stubs that funcs[i].code points at until function i
     * is first called, and the lock under which bodies are compiled and published. */
    struct cap_lazy *lazy;
};

static inline bool
cap_module_func_declared(const cap_module_t *m, uint32_t func_index)
{
    return (m->declared_funcs[func_index >> 3] >> (func_index & 7)) & 1;
}

/* The decoder (decode.c): parses every section of a binary into *m (which it zero-initialises
 * apart from bytes/len, which the caller has set to an owned copy), checks everything that is
 * not inside a function body (section order and sizes, index ranges, limits, export names,
 * start function type, constant expressions, data count, ...). Function bodies are only
 * located; cap_compile_module validates them. On failure fills err (MALFORMED or INVALID,
 * with spec wording and offset) and leaves *m for cap_module_release to free. */
cap_status cap_decode(cap_module_t *m, cap_error_t *err);

/* The compiler (compile.c): validates every function body of a decoded module and compiles it
 * into internal code (funcs[i].code). On failure fills err (MALFORMED for undecodable bodies,
 * INVALID for type errors) with spec wording and offset. */
cap_status cap_compile_module(cap_module_t *m, cap_error_t *err);
/* Frees one function's compiled code (NULL is a no-op). */
void cap_compile_free(struct cap_code *code);

/* Lazy compilation (compile.c). cap_compile_lazy_init makes a decoded module lazy: every
 * funcs[i].code points at a stub (see struct cap_code's `lazy`) until cap_compile_function
 * compiles it. Fails only with CAP_ERR_NOMEM. */
cap_status cap_compile_lazy_init(cap_module_t *m, cap_error_t *err);
/* Returns in *out the compiled code of defined function func_index, validating and compiling
 * its body first when the module is lazy and no thread has done so yet. Thread-safe: bodies are
 * compiled under the module's lock and published with a release store, so each is compiled
 * once per module. On failure *out is untouched and err holds CAP_ERR_INVALID or
 * CAP_ERR_MALFORMED (the spec's words, then " in <function name>" or " in function <index>",
 * err->func_index and err->offset set) or CAP_ERR_NOMEM; failures are not cached, so a later
 * call tries again. CAP_ERR_USAGE for an index that is not a defined function. */
cap_status cap_compile_function(cap_module_t *m, uint32_t func_index,
                                const struct cap_code **out, cap_error_t *err);
/* Frees the lazy state (stubs, compiler scratch, lock) and clears the funcs[i].code that still
 * point at stubs, so that cap_module_release frees only real code. No-op for eager modules. */
void cap_compile_lazy_free(cap_module_t *m);
/* How many bodies a lazy module has compiled so far (0 for an eager module). */
uint32_t cap_compile_lazy_count(const cap_module_t *m);

/* cap_module_new(_lazy) over a read-only mapping of the binary (cap_plat_map_file_readonly),
 * which the module takes over whatever the outcome: no copy of a multi-megabyte runtime. */
cap_status cap_module_new_mapped(void *map, size_t len, bool lazy, cap_module_t **out,
                                 cap_error_t *err);

/* Frees everything a module owns, including its bytes, but not the struct itself. Safe on a
 * partially decoded module. */
void cap_module_release(cap_module_t *m);

/* Error helpers shared by the decoder and compiler: fill err with status, offset and a message
 * (printf-style). They return `status` so callers can write `return cap_fail(...)`. */
cap_status cap_fail(cap_error_t *err, cap_status status, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
