/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the runtime API: stores and limits, memories, tables, globals, host functions,
 * the caller context, the linker and instantiation (import checks, segment and start order). */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capsule.h"
#include "util/alloc.h"
#include "wasm/runtime.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

/* Module binaries made with wat2wasm (wabt 1.0.32) from the text shown above each array. */
/* (module (memory 100)) */
static const uint8_t wasm_bigmem[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x64,
};

/* (module
 *   (import "env" "mem" (memory 1))
 *   (data (i32.const 0) "ab")
 *   (data (i32.const 65535) "cd")
 *   (data (i32.const 8) "ef")) */
static const uint8_t wasm_datatrap[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x03,
    0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x0b, 0x18, 0x03, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x61, 0x62,
    0x00, 0x41, 0xff, 0xff, 0x03, 0x0b, 0x02, 0x63, 0x64, 0x00, 0x41, 0x08, 0x0b, 0x02, 0x65, 0x66,
};

/* (module
 *   (import "env" "tab" (table 1 funcref))
 *   (elem (i32.const 2))) */
static const uint8_t wasm_elemtrap_nocopy[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02, 0x0d, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x03,
    0x74, 0x61, 0x62, 0x01, 0x70, 0x00, 0x01, 0x09, 0x06, 0x01, 0x00, 0x41, 0x02, 0x0b, 0x00,
};

/* (module
 *   (func $id (export "id") (param i64) (result i64) (local.get 0))
 *   (func (export "f32") (param f32) (result f32) (local.get 0))
 *   (table (export "tab") 2 10 funcref)
 *   (global (export "g") (mut i32) (i32.const 5))
 *   (global (export "fr") funcref (ref.func $id))
 *   (elem (i32.const 1) $id)
 *   (func (export "get_g") (result i32) (global.get 0))) */
static const uint8_t wasm_exports[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0f, 0x03, 0x60, 0x01, 0x7e, 0x01,
    0x7e, 0x60, 0x01, 0x7d, 0x01, 0x7d, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x04, 0x03, 0x00, 0x01,
    0x02, 0x04, 0x05, 0x01, 0x70, 0x01, 0x02, 0x0a, 0x06, 0x0b, 0x02, 0x7f, 0x01, 0x41, 0x05,
    0x0b, 0x70, 0x00, 0xd2, 0x00, 0x0b, 0x07, 0x23, 0x06, 0x02, 0x69, 0x64, 0x00, 0x00, 0x03,
    0x66, 0x33, 0x32, 0x00, 0x01, 0x03, 0x74, 0x61, 0x62, 0x01, 0x00, 0x01, 0x67, 0x03, 0x00,
    0x02, 0x66, 0x72, 0x03, 0x01, 0x05, 0x67, 0x65, 0x74, 0x5f, 0x67, 0x00, 0x02, 0x09, 0x07,
    0x01, 0x00, 0x41, 0x01, 0x0b, 0x01, 0x00, 0x0a, 0x10, 0x03, 0x04, 0x00, 0x20, 0x00, 0x0b,
    0x04, 0x00, 0x20, 0x00, 0x0b, 0x04, 0x00, 0x23, 0x00, 0x0b,
};

/* (module
 *   (import "env" "add" (func $add (param i32 i32) (result i32)))
 *   (import "env" "peek" (func $peek (param i32 i32) (result i32)))
 *   (import "env" "fail" (func $fail))
 *   (import "env" "quit" (func $quit (param i32)))
 *   (memory (export "memory") 1)
 *   (data (i32.const 100) "hello")
 *   (func (export "run") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
 *   (func (export "peek") (param i32 i32) (result i32) (call $peek (local.get 0) (local.get 1)))
 *   (func (export "fail") (call $fail))
 *   (func (export "quit") (param i32) (call $quit (local.get 0)) unreachable)) */
static const uint8_t wasm_host[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0e, 0x03, 0x60, 0x02, 0x7f, 0x7f, 0x01,
    0x7f, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x00, 0x02, 0x2c, 0x04, 0x03, 0x65, 0x6e, 0x76, 0x03,
    0x61, 0x64, 0x64, 0x00, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x70, 0x65, 0x65, 0x6b, 0x00, 0x00,
    0x03, 0x65, 0x6e, 0x76, 0x04, 0x66, 0x61, 0x69, 0x6c, 0x00, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04,
    0x71, 0x75, 0x69, 0x74, 0x00, 0x02, 0x03, 0x05, 0x04, 0x00, 0x00, 0x01, 0x02, 0x05, 0x03, 0x01,
    0x00, 0x01, 0x07, 0x25, 0x05, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x03, 0x72,
    0x75, 0x6e, 0x00, 0x04, 0x04, 0x70, 0x65, 0x65, 0x6b, 0x00, 0x05, 0x04, 0x66, 0x61, 0x69, 0x6c,
    0x00, 0x06, 0x04, 0x71, 0x75, 0x69, 0x74, 0x00, 0x07, 0x0a, 0x20, 0x04, 0x08, 0x00, 0x20, 0x00,
    0x20, 0x01, 0x10, 0x00, 0x0b, 0x08, 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x01, 0x0b, 0x04, 0x00,
    0x10, 0x02, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x10, 0x03, 0x00, 0x0b, 0x0b, 0x0c, 0x01, 0x00, 0x41,
    0xe4, 0x00, 0x0b, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

/* (module
 *   (import "env" "f" (func $f (param i32) (result i32)))
 *   (import "env" "mem" (memory 1 2))
 *   (import "env" "tab" (table 2 funcref))
 *   (import "env" "g" (global $g i32))
 *   (func (export "call_f") (param i32) (result i32)
 *     (i32.add (call $f (local.get 0)) (global.get $g)))) */
static const uint8_t wasm_imports[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01,
    0x7f, 0x02, 0x2a, 0x04, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x66, 0x00, 0x00, 0x03, 0x65, 0x6e,
    0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x01, 0x01, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x74,
    0x61, 0x62, 0x01, 0x70, 0x00, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x67, 0x03, 0x7f, 0x00,
    0x03, 0x02, 0x01, 0x00, 0x07, 0x0a, 0x01, 0x06, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x66, 0x00,
    0x01, 0x0a, 0x0b, 0x01, 0x09, 0x00, 0x20, 0x00, 0x10, 0x00, 0x23, 0x00, 0x6a, 0x0b,
};

/* (module
 *   (memory (export "mem") 1 4)
 *   (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
 *   (func (export "size") (result i32) (memory.size))
 *   (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
 *   (data (i32.const 16) "hi")) */
static const uint8_t wasm_mem[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x60, 0x00, 0x01, 0x7f, 0x03, 0x04, 0x03, 0x00, 0x01, 0x00, 0x05, 0x04, 0x01, 0x01, 0x01, 0x04,
    0x07, 0x1c, 0x04, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00, 0x00,
    0x04, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x01, 0x04, 0x6c, 0x6f, 0x61, 0x64, 0x00, 0x02, 0x0a, 0x15,
    0x03, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, 0x04, 0x00, 0x3f, 0x00, 0x0b, 0x07, 0x00, 0x20,
    0x00, 0x2d, 0x00, 0x00, 0x0b, 0x0b, 0x08, 0x01, 0x00, 0x41, 0x10, 0x0b, 0x02, 0x68, 0x69,
};

/* (module
 *   (import "M" "id" (func (param i64) (result i64)))
 *   (import "M" "tab" (table 2 funcref))
 *   (import "M" "g" (global (mut i32)))
 *   (export "id2" (func 0))) */
static const uint8_t wasm_reexport[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01,
    0x7e, 0x01, 0x7e, 0x02, 0x19, 0x03, 0x01, 0x4d, 0x02, 0x69, 0x64, 0x00, 0x00,
    0x01, 0x4d, 0x03, 0x74, 0x61, 0x62, 0x01, 0x70, 0x00, 0x02, 0x01, 0x4d, 0x01,
    0x67, 0x03, 0x7f, 0x01, 0x07, 0x07, 0x01, 0x03, 0x69, 0x64, 0x32, 0x00, 0x00,
};

/* (module
 *   (import "env" "tab" (table 3 funcref))
 *   (import "env" "mem" (memory 1))
 *   (func $a (result i32) (i32.const 7))
 *   (elem (i32.const 0) $a)
 *   (elem (i32.const 2) $a $a)
 *   (data (i32.const 0) "x")) */
static const uint8_t wasm_segtrap[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x02,
    0x18, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x74, 0x61, 0x62, 0x01, 0x70, 0x00, 0x03, 0x03, 0x65,
    0x6e, 0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x03, 0x02, 0x01, 0x00, 0x09, 0x0e, 0x02,
    0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x00, 0x41, 0x02, 0x0b, 0x02, 0x00, 0x00, 0x0a, 0x06, 0x01,
    0x04, 0x00, 0x41, 0x07, 0x0b, 0x0b, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x78,
};

/* (module
 *   (import "env" "mem" (memory 1))
 *   (import "env" "note" (func $note (param i32)))
 *   (data (i32.const 0) "z")
 *   (func $start (call $note (i32.const 42)) unreachable)
 *   (start $start)) */
static const uint8_t wasm_starttrap[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60, 0x01, 0x7f,
    0x00, 0x60, 0x00, 0x00, 0x02, 0x17, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65,
    0x6d, 0x02, 0x00, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x6e, 0x6f, 0x74, 0x65, 0x00,
    0x00, 0x03, 0x02, 0x01, 0x01, 0x08, 0x01, 0x01, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x41,
    0x2a, 0x10, 0x00, 0x00, 0x0b, 0x0b, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x7a,
};
/* (module
 *   (import "env" "tick" (func $tick))
 *   (func (export "spin") (call $tick) (loop $l (br $l)))
 *   (func (export "one") (result i32) (i32.const 1))) */
static const uint8_t wasm_spin[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60, 0x00, 0x00, 0x60,
    0x00, 0x01, 0x7f, 0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x74, 0x69, 0x63, 0x6b,
    0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x01, 0x07, 0x0e, 0x02, 0x04, 0x73, 0x70, 0x69, 0x6e,
    0x00, 0x01, 0x03, 0x6f, 0x6e, 0x65, 0x00, 0x02, 0x0a, 0x10, 0x02, 0x09, 0x00, 0x10, 0x00,
    0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, 0x04, 0x00, 0x41, 0x01, 0x0b,
};

#define LOAD(bytes) load(bytes, sizeof bytes)

/* Decodes, validates and compiles a test module; every test module is valid. */
static cap_module_t *
load(const uint8_t *bytes, size_t len)
{
    cap_module_t *m = NULL;
    cap_error_t err;
    cap_status st = cap_module_new(bytes, len, &m, &err);
    if (st != CAP_OK) {
        fail_msg("cap_module_new: %s: %s", cap_status_name(st), err.msg);
    }
    return m;
}

/* Fails with the error's message when st is not CAP_OK. */
static void
expect_ok(cap_status st, const cap_error_t *err)
{
    if (st != CAP_OK) {
        fail_msg("%s: %s", cap_status_name(st), err->msg);
    }
}

static cap_val_t
vi32(uint32_t v)
{
    cap_val_t x;
    memset(&x, 0, sizeof x);
    x.type = CAP_I32;
    x.of.i32 = v;
    return x;
}

static cap_val_t
vi64(uint64_t v)
{
    cap_val_t x;
    memset(&x, 0, sizeof x);
    x.type = CAP_I64;
    x.of.i64 = v;
    return x;
}

static cap_val_t
vnull(cap_valtype t)
{
    cap_val_t x;
    memset(&x, 0, sizeof x);
    x.type = t;
    return x;
}

static cap_extern_t
ext_func(cap_func_t *f)
{
    cap_extern_t e;
    e.kind = CAP_EXTERN_FUNC;
    e.of.func = f;
    return e;
}

static cap_extern_t
ext_mem(cap_memory_t *m)
{
    cap_extern_t e;
    e.kind = CAP_EXTERN_MEMORY;
    e.of.memory = m;
    return e;
}

static cap_extern_t
ext_table(cap_table_t *t)
{
    cap_extern_t e;
    e.kind = CAP_EXTERN_TABLE;
    e.of.table = t;
    return e;
}

static cap_extern_t
ext_global(cap_global_t *g)
{
    cap_extern_t e;
    e.kind = CAP_EXTERN_GLOBAL;
    e.of.global = g;
    return e;
}

static cap_func_t *
export_func(cap_instance_t *inst, const char *name)
{
    cap_extern_t e;
    assert_int_equal(cap_instance_export(inst, name, &e, NULL), CAP_OK);
    assert_int_equal(e.kind, CAP_EXTERN_FUNC);
    return e.of.func;
}

/* ------------------------------------------------------------------------------------ stores */

static void
test_store_defaults(void **state)
{
    (void)state;
    cap_store_t *s;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_store_fuel_consumed(s), 0);
    assert_int_equal(cap_store_memory_used(s), 0);
    assert_int_equal(cap_store_memory_peak(s), 0);
    assert_int_equal(s->fuel_limit, UINT64_MAX);
    assert_int_equal(s->max_call_depth, CAP_DEFAULT_CALL_DEPTH);
    assert_false(cap_store_interrupted(s));
    cap_store_interrupt(s);
    assert_true(cap_store_interrupted(s));
    cap_store_clear_interrupt(s);
    assert_false(cap_store_interrupted(s));
    int x;
    assert_null(cap_store_data(s));
    cap_store_set_data(s, &x);
    assert_ptr_equal(cap_store_data(s), &x);
    cap_store_free(s);
    cap_store_free(NULL);
}

static void
test_store_limits_clamped(void **state)
{
    (void)state;
    cap_store_t *s;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    cap_store_set_max_call_depth(s, 5000000);
    assert_int_equal(s->max_call_depth, CAP_MAX_CALL_DEPTH);
    cap_store_set_max_call_depth(s, 0);
    assert_int_equal(s->max_call_depth, 1);
    cap_store_set_fuel(s, 1000);
    assert_int_equal(s->fuel_limit, 1000);
    s->fuel_consumed = 400; // as if the guest had run
    cap_store_set_fuel(s, 1000);
    assert_int_equal(s->fuel_limit, 1400);
    cap_store_set_fuel(s, UINT64_MAX - 10);
    assert_int_equal(s->fuel_limit, UINT64_MAX);
    cap_store_free(s);
}

/* ---------------------------------------------------------------------------------- memories */

static void
test_memory_grow_keeps_base(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_memory_t *m;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_memory_new(s, 1, 3, true, &m, NULL), CAP_OK);
    assert_int_equal(cap_memory_size(m), 65536);
    uint8_t *base = cap_memory_data(m);
    assert_non_null(base);
    assert_int_equal(base[0] | base[65535], 0);
    base[65535] = 9;
    uint32_t old = 99;
    assert_int_equal(cap_memory_grow(m, 1, &old), CAP_OK);
    assert_int_equal(old, 1);
    assert_ptr_equal(cap_memory_data(m), base);
    assert_int_equal(base[65535], 9);
    assert_int_equal(base[65536] | base[131071], 0);              // new pages are zero
    assert_int_equal(cap_memory_grow(m, 2, &old), CAP_ERR_NOMEM); // past the maximum
    assert_int_equal(cap_memory_grow_pages(m, 2), -1);
    assert_int_equal(cap_memory_grow_pages(m, 0), 2);
    assert_int_equal(cap_memory_grow_pages(m, 1), 2);
    assert_int_equal(cap_memory_size(m), 3 * 65536);
    assert_int_equal(cap_store_memory_used(s), 3 * 65536);
    assert_int_equal(cap_store_memory_peak(s), 3 * 65536);
    cap_store_free(s);
}

static void
test_memory_zero_pages(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_memory_t *m;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_memory_new(s, 0, 0, false, &m, NULL), CAP_OK);
    assert_non_null(cap_memory_data(m));
    assert_int_equal(cap_memory_size(m), 0);
    assert_int_equal(m->max_pages, CAP_MAX_PAGES);
    assert_int_equal(cap_memory_grow_pages(m, 1), 0);
    cap_memory_data(m)[100] = 1;
    assert_int_equal(cap_memory_grow_pages(m, 65536), -1);
    assert_int_equal(cap_memory_new(s, 2, 1, true, &m, NULL), CAP_ERR_USAGE);
    assert_null(m);
    assert_int_equal(cap_memory_new(s, 65537, 0, false, &m, NULL), CAP_ERR_USAGE);
    cap_store_free(s);
}

static void
test_memory_limit_on_create_and_grow(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_memory_t *a, *b;
    cap_error_t err;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    cap_store_set_memory_limit(s, 3 * 65536);
    assert_int_equal(cap_memory_new(s, 2, 0, false, &a, &err), CAP_OK);
    assert_int_equal(cap_memory_new(s, 2, 0, false, &b, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_MEMORY_LIMIT);
    assert_non_null(strstr(err.msg, "memory limit exceeded"));
    assert_null(b);
    assert_int_equal(cap_memory_grow_pages(a, 1), 2);
    assert_int_equal(cap_memory_grow_pages(a, 1), -1);
    uint32_t old;
    assert_int_equal(cap_memory_grow(a, 1, &old), CAP_ERR_TRAP);
    assert_int_equal(cap_store_memory_used(s), 3 * 65536);
    cap_store_free(s);
}

/* A reservation sized by the store's cap is too small once the cap is raised: the memory must
 * move and keep its contents. */
static void
test_memory_moves_past_reservation(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_memory_t *m;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    cap_store_set_memory_limit(s, 2 * 65536);
    assert_int_equal(cap_memory_new(s, 2, 0, false, &m, NULL), CAP_OK);
    assert_int_equal(m->reserved, 2 * 65536);
    memset(cap_memory_data(m), 0xab, 2 * 65536);
    cap_store_set_memory_limit(s, 0);
    assert_int_equal(cap_memory_grow_pages(m, 3), 2);
    assert_int_equal(cap_memory_size(m), 5 * 65536);
    uint8_t *d = cap_memory_data(m);
    assert_int_equal(d[0], 0xab);
    assert_int_equal(d[2 * 65536 - 1], 0xab);
    for (uint32_t i = 2 * 65536; i < 5 * 65536; i += 4096) {
        assert_int_equal(d[i], 0);
    }
    d[5 * 65536 - 1] = 1;
    cap_store_free(s);
}

/* ------------------------------------------------------------------------------------ tables */

static void
test_table_get_and_grow(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_table_t *t;
    cap_val_t init = vnull(CAP_EXTERNREF);
    init.of.externref = 7;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_table_new(s, CAP_EXTERNREF, 2, 4, true, init, &t, NULL), CAP_OK);
    assert_int_equal(cap_table_size(t), 2);
    cap_val_t v;
    assert_int_equal(cap_table_get(t, 1, &v), CAP_OK);
    assert_int_equal(v.type, CAP_EXTERNREF);
    assert_int_equal(v.of.externref, 7);
    assert_int_equal(cap_table_get(t, 2, &v), CAP_ERR_TRAP);
    assert_int_equal(cap_table_grow(t, 2, 9), 2);
    assert_int_equal(cap_table_get(t, 3, &v), CAP_OK);
    assert_int_equal(v.of.externref, 9);
    assert_int_equal(cap_table_grow(t, 1, 0), -1);
    assert_int_equal(cap_table_grow(t, 0, 0), 4);
    cap_store_free(s);
}

static void
test_table_rejects_bad_arguments(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_table_t *t;
    cap_error_t err;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_table_new(s, CAP_FUNCREF, 1, 0, false, vi32(0), &t, &err), CAP_ERR_USAGE);
    assert_null(t);
    assert_int_equal(cap_table_new(s, CAP_I32, 1, 0, false, vi32(0), &t, &err), CAP_ERR_USAGE);
    assert_int_equal(cap_table_new(s, CAP_FUNCREF, 3, 2, true, vnull(CAP_FUNCREF), &t, &err),
                     CAP_ERR_USAGE);
    assert_int_equal(cap_table_new(s, CAP_FUNCREF, CAP_MAX_TABLE_SIZE + 1, 0, false,
                                   vnull(CAP_FUNCREF), &t, &err),
                     CAP_ERR_NOMEM);
    assert_int_equal(
        cap_table_new(s, CAP_FUNCREF, 0, UINT32_MAX, true, vnull(CAP_FUNCREF), &t, &err), CAP_OK);
    assert_int_equal(t->max, CAP_MAX_TABLE_SIZE);
    assert_int_equal(t->decl_max, UINT32_MAX);
    cap_store_free(s);
}

/* ----------------------------------------------------------------------------------- globals */

static void
test_global_get_set(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_global_t *g, *c;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_global_new(s, vi32(5), true, &g, NULL), CAP_OK);
    assert_int_equal(cap_global_get(g).of.i32, 5);
    assert_int_equal(cap_global_set(g, vi32(6)), CAP_OK);
    assert_int_equal(cap_global_get(g).of.i32, 6);
    assert_int_equal(cap_global_set(g, vi64(6)), CAP_ERR_USAGE);
    cap_val_t nan;
    memset(&nan, 0, sizeof nan);
    nan.type = CAP_F64;
    nan.of.f64_bits = 0x7ff0000000000123ull; // a signalling NaN keeps its payload
    assert_int_equal(cap_global_new(s, nan, false, &c, NULL), CAP_OK);
    assert_int_equal(cap_global_get(c).type, CAP_F64);
    assert_int_equal(cap_global_get(c).of.f64_bits, 0x7ff0000000000123ull);
    assert_int_equal(cap_global_set(c, nan), CAP_ERR_USAGE); // immutable
    cap_val_t v128 = vnull(CAP_V128);
    assert_int_equal(cap_global_new(s, v128, false, &c, NULL), CAP_ERR_USAGE);
    cap_store_free(s);
}

/* ------------------------------------------------------------------------- host functions */

static int env_freed;

static void
free_env(void *env)
{
    (void)env;
    env_freed++;
}

static cap_status
host_add(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)caller;
    (void)env;
    results[0] = (uint32_t)(args[0] + args[1]);
    return CAP_OK;
}

static void
test_host_func_type_is_copied(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_func_t *f;
    cap_valtype p[2] = {CAP_I32, CAP_I64};
    cap_valtype r[1] = {CAP_F32};
    cap_functype_t ft = {2, 1, p, r};
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    env_freed = 0;
    assert_int_equal(cap_func_new_host(s, &ft, host_add, &ft, free_env, &f, NULL), CAP_OK);
    p[0] = CAP_F64;
    cap_functype_t got = cap_func_type(f);
    assert_int_equal(got.nparams, 2);
    assert_int_equal(got.nresults, 1);
    assert_int_equal(got.params[0], CAP_I32);
    assert_int_equal(got.params[1], CAP_I64);
    assert_int_equal(got.results[0], CAP_F32);
    cap_valtype bad[1] = {CAP_V128};
    cap_functype_t vt = {1, 0, bad, NULL};
    assert_int_equal(cap_func_new_host(s, &vt, host_add, NULL, NULL, &f, NULL), CAP_ERR_USAGE);
    cap_store_free(s);
    assert_int_equal(env_freed, 1);
}

static void
test_func_call_checks_arguments(void **state)
{
    (void)state;
    cap_store_t *s, *other;
    cap_func_t *f;
    cap_error_t err;
    cap_valtype p[2] = {CAP_I32, CAP_I32};
    cap_valtype r[1] = {CAP_I32};
    cap_functype_t ft = {2, 1, p, r};
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_store_new(&other, NULL), CAP_OK);
    assert_int_equal(cap_func_new_host(s, &ft, host_add, NULL, NULL, &f, NULL), CAP_OK);
    cap_val_t args[2] = {vi32(2), vi32(3)};
    cap_val_t res[1];
    assert_int_equal(cap_func_call(s, f, args, 1, res, 1, &err), CAP_ERR_USAGE);
    assert_non_null(strstr(err.msg, "takes 2 arguments"));
    assert_int_equal(cap_func_call(s, f, args, 2, res, 0, &err), CAP_ERR_USAGE);
    args[1] = vi64(3);
    assert_int_equal(cap_func_call(s, f, args, 2, res, 1, &err), CAP_ERR_USAGE);
    assert_non_null(strstr(err.msg, "argument 1 is i64, expected i32"));
    args[1] = vi32(3);
    assert_int_equal(cap_func_call(other, f, args, 2, res, 1, &err), CAP_ERR_USAGE);
    cap_status st = cap_func_call(s, f, args, 2, res, 1, &err);
    if (st == CAP_OK) {
        assert_int_equal(res[0].type, CAP_I32);
        assert_int_equal(res[0].of.i32, 5);
    }
    cap_store_free(other);
    cap_store_free(s);
    expect_ok(st, &err);
}

/* ------------------------------------------------------------------------------------ caller */

static void
test_caller_mem_bounds(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_memory_t *mem;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_memory_new(s, 1, 0, false, &mem, NULL), CAP_OK);
    cap_module_t mod;
    memset(&mod, 0, sizeof mod);
    mod.nmems = 1;
    cap_instance_t inst;
    memset(&inst, 0, sizeof inst);
    inst.module = &mod;
    inst.mems = &mem;
    cap_error_t err;
    cap_caller_t caller = {s, &inst, &err};
    uint8_t *d = cap_memory_data(mem);
    assert_ptr_equal(cap_caller_store(&caller), s);
    assert_ptr_equal(cap_caller_instance(&caller), &inst);
    assert_int_equal(cap_caller_mem_size(&caller), 65536);
    assert_ptr_equal(cap_caller_mem(&caller, 0, 65536), d);
    assert_ptr_equal(cap_caller_mem(&caller, 65536, 0), d + 65536);
    assert_ptr_equal(cap_caller_mem(&caller, 65535, 1), d + 65535);
    assert_null(cap_caller_mem(&caller, 65535, 2));
    assert_null(cap_caller_mem(&caller, 65537, 0));
    assert_null(cap_caller_mem(&caller, UINT64_MAX, 2)); // ptr + len wraps
    assert_null(cap_caller_mem(&caller, 2, UINT64_MAX));
    mod.nmems = 0;
    assert_null(cap_caller_mem(&caller, 0, 0));
    assert_int_equal(cap_caller_mem_size(&caller), 0);
    cap_caller_t bare = {s, NULL, &err};
    assert_null(cap_caller_mem(&bare, 0, 0));

    assert_int_equal(cap_caller_trap(&caller, CAP_TRAP_HOST, "bad fd %d", 7), CAP_ERR_TRAP);
    assert_int_equal(err.status, CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_HOST);
    assert_string_equal(err.msg, "bad fd 7");
    assert_int_equal(cap_caller_exit(&caller, 3), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_EXIT);
    assert_int_equal(err.exit_code, 3);
    assert_string_equal(err.msg, "exit with code 3");
    cap_store_free(s);
}

/* ------------------------------------------------------------------------------------ linker */

static void
test_linker_define_replace_and_grow(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_linker_t *l;
    cap_global_t *g[3];
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_linker_new(&l, NULL), CAP_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cap_global_new(s, vi32((uint32_t)i), false, &g[i], NULL), CAP_OK);
    }
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(cap_linker_define(l, "m", name, ext_global(g[i % 2]), NULL), CAP_OK);
    }
    cap_extern_t e;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "n%d", i);
        assert_true(cap_linker_lookup(l, "m", 1, name, strlen(name), &e));
        assert_ptr_equal(e.of.global, g[i % 2]);
    }
    assert_false(cap_linker_lookup(l, "mn", 2, "0", 1, &e)); // ("m","n0") is not ("mn","0")
    assert_int_equal(cap_linker_define(l, "m", "n5", ext_global(g[2]), NULL), CAP_OK);
    assert_true(cap_linker_lookup(l, "m", 1, "n5", 2, &e));
    assert_ptr_equal(e.of.global, g[2]);
    /* Names with NUL bytes are distinct from their prefixes. */
    assert_int_equal(cap_linker_define_n(l, "a\0b", 3, "x", 1, ext_global(g[0]), NULL), CAP_OK);
    assert_false(cap_linker_lookup(l, "a", 1, "x", 1, &e));
    assert_true(cap_linker_lookup(l, "a\0b", 3, "x", 1, &e));
    cap_extern_t bad = ext_global(NULL);
    assert_int_equal(cap_linker_define(l, "m", "z", bad, NULL), CAP_ERR_USAGE);
    cap_linker_free(l);
    cap_linker_free(NULL);
    cap_store_free(s);
}

/* ----------------------------------------------------------------------- instantiation: links */

/* A store and linker providing everything imports.wat asks for (each piece replaceable). */
typedef struct env {
    cap_store_t *s;
    cap_linker_t *l;
    cap_func_t *f;
    cap_memory_t *mem;
    cap_table_t *tab;
    cap_global_t *g;
} env;

static cap_status
host_inc(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *e)
{
    (void)caller;
    (void)e;
    results[0] = (uint32_t)(args[0] + 1);
    return CAP_OK;
}

static void
env_init(env *e)
{
    static const cap_valtype i32[1] = {CAP_I32};
    cap_functype_t ft = {1, 1, i32, i32};
    assert_int_equal(cap_store_new(&e->s, NULL), CAP_OK);
    assert_int_equal(cap_linker_new(&e->l, NULL), CAP_OK);
    assert_int_equal(cap_func_new_host(e->s, &ft, host_inc, NULL, NULL, &e->f, NULL), CAP_OK);
    assert_int_equal(cap_memory_new(e->s, 1, 2, true, &e->mem, NULL), CAP_OK);
    assert_int_equal(
        cap_table_new(e->s, CAP_FUNCREF, 2, 0, false, vnull(CAP_FUNCREF), &e->tab, NULL), CAP_OK);
    assert_int_equal(cap_global_new(e->s, vi32(100), false, &e->g, NULL), CAP_OK);
    assert_int_equal(cap_linker_define(e->l, "env", "f", ext_func(e->f), NULL), CAP_OK);
    assert_int_equal(cap_linker_define(e->l, "env", "mem", ext_mem(e->mem), NULL), CAP_OK);
    assert_int_equal(cap_linker_define(e->l, "env", "tab", ext_table(e->tab), NULL), CAP_OK);
    assert_int_equal(cap_linker_define(e->l, "env", "g", ext_global(e->g), NULL), CAP_OK);
}

static void
env_free(env *e)
{
    cap_linker_free(e->l);
    cap_store_free(e->s);
}

/* Instantiates imports.wat after redefining one name, expecting `want`. */
static void
expect_link(env *e, const cap_module_t *m, const char *name, cap_extern_t ext, cap_status want,
            const char *msg)
{
    cap_instance_t *inst = (cap_instance_t *)1;
    cap_error_t err;
    if (name) {
        assert_int_equal(cap_linker_define(e->l, "env", name, ext, NULL), CAP_OK);
    }
    cap_status st = cap_instance_new(e->s, m, e->l, &inst, &err);
    if (st != want) {
        fail_msg("expected %s, got %s: %s", cap_status_name(want), cap_status_name(st), err.msg);
    }
    if (want == CAP_OK) {
        assert_non_null(inst);
    } else {
        assert_null(inst);
        assert_int_equal(err.status, want);
    }
    if (msg) {
        assert_string_equal(err.msg, msg);
    }
}

static void
test_instance_imports_resolve(void **state)
{
    (void)state;
    env e;
    cap_module_t *m = LOAD(wasm_imports);
    env_init(&e);
    expect_link(&e, m, NULL, ext_func(e.f), CAP_OK, NULL);
    cap_instance_t *inst;
    assert_int_equal(cap_instance_new(e.s, m, e.l, &inst, NULL), CAP_OK);
    cap_func_t *call_f = export_func(inst, "call_f");
    cap_val_t a = vi32(1), r;
    cap_error_t err;
    cap_status st = cap_func_call(e.s, call_f, &a, 1, &r, 1, &err);
    if (st == CAP_OK) {
        assert_int_equal(r.of.i32, 102); // f(1) + g = 2 + 100
    }
    cap_extern_t x;
    cap_error_t xerr;
    assert_int_equal(cap_instance_export(inst, "nope", &x, &xerr), CAP_ERR_LINK);
    assert_string_equal(xerr.msg, "unknown export: nope");
    env_free(&e);
    cap_module_free(m);
    expect_ok(st, &err);
}

static void
test_instance_unknown_import(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_linker_t *l;
    cap_instance_t *inst;
    cap_error_t err;
    cap_module_t *m = LOAD(wasm_imports);
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_linker_new(&l, NULL), CAP_OK);
    assert_int_equal(cap_instance_new(s, m, l, &inst, &err), CAP_ERR_LINK);
    assert_string_equal(err.msg, "unknown import: env.f");
    assert_null(inst);
    assert_int_equal(cap_instance_new(s, m, NULL, &inst, &err), CAP_ERR_LINK);
    assert_null(s->owned); // a link error leaves nothing behind in the store
    cap_linker_free(l);
    cap_store_free(s);
    cap_module_free(m);
}

static void
test_instance_incompatible_imports(void **state)
{
    (void)state;
    env e;
    cap_module_t *m = LOAD(wasm_imports);
    env_init(&e);
    static const cap_valtype i64[1] = {CAP_I64};
    static const cap_valtype i32[1] = {CAP_I32};
    cap_func_t *f2;
    cap_functype_t ft = {1, 1, i32, i64};
    assert_int_equal(cap_func_new_host(e.s, &ft, host_inc, NULL, NULL, &f2, NULL), CAP_OK);
    expect_link(&e, m, "f", ext_func(f2), CAP_ERR_LINK, "incompatible import type: env.f");
    expect_link(&e, m, "f", ext_global(e.g), CAP_ERR_LINK,
                "incompatible import type: env.f (expected func, got global)");
    expect_link(&e, m, "f", ext_func(e.f), CAP_OK, NULL);

    /* Memory (1 2) wanted: min must be >= 1, a max must exist and be <= 2. */
    cap_memory_t *mm;
    assert_int_equal(cap_memory_new(e.s, 1, 0, false, &mm, NULL), CAP_OK);
    expect_link(&e, m, "mem", ext_mem(mm), CAP_ERR_LINK, "incompatible import type: env.mem");
    assert_int_equal(cap_memory_new(e.s, 1, 3, true, &mm, NULL), CAP_OK);
    expect_link(&e, m, "mem", ext_mem(mm), CAP_ERR_LINK, NULL);
    assert_int_equal(cap_memory_new(e.s, 0, 2, true, &mm, NULL), CAP_OK);
    expect_link(&e, m, "mem", ext_mem(mm), CAP_ERR_LINK, NULL);
    assert_int_equal(cap_memory_grow_pages(mm, 1), 0); // current size counts, not the initial
    expect_link(&e, m, "mem", ext_mem(mm), CAP_OK, NULL);
    assert_int_equal(cap_memory_new(e.s, 2, 2, true, &mm, NULL), CAP_OK);
    expect_link(&e, m, "mem", ext_mem(mm), CAP_OK, NULL);

    /* Table 2 funcref wanted. */
    cap_table_t *t;
    assert_int_equal(cap_table_new(e.s, CAP_FUNCREF, 1, 0, false, vnull(CAP_FUNCREF), &t, NULL),
                     CAP_OK);
    expect_link(&e, m, "tab", ext_table(t), CAP_ERR_LINK, "incompatible import type: env.tab");
    assert_int_equal(cap_table_grow(t, 1, 0), 1);
    expect_link(&e, m, "tab", ext_table(t), CAP_OK, NULL);
    assert_int_equal(cap_table_new(e.s, CAP_EXTERNREF, 2, 0, false, vnull(CAP_EXTERNREF), &t, NULL),
                     CAP_OK);
    expect_link(&e, m, "tab", ext_table(t), CAP_ERR_LINK, NULL);
    expect_link(&e, m, "tab", ext_table(e.tab), CAP_OK, NULL);

    /* Global i32 immutable wanted. */
    cap_global_t *g;
    assert_int_equal(cap_global_new(e.s, vi32(1), true, &g, NULL), CAP_OK);
    expect_link(&e, m, "g", ext_global(g), CAP_ERR_LINK, "incompatible import type: env.g");
    assert_int_equal(cap_global_new(e.s, vi64(1), false, &g, NULL), CAP_OK);
    expect_link(&e, m, "g", ext_global(g), CAP_ERR_LINK, NULL);
    assert_int_equal(cap_global_new(e.s, vi32(1), false, &g, NULL), CAP_OK);
    expect_link(&e, m, "g", ext_global(g), CAP_OK, NULL);

    /* An import from another store is API misuse, not a link error. */
    cap_store_t *other;
    assert_int_equal(cap_store_new(&other, NULL), CAP_OK);
    assert_int_equal(cap_global_new(other, vi32(1), false, &g, NULL), CAP_OK);
    expect_link(&e, m, "g", ext_global(g), CAP_ERR_USAGE, NULL);
    cap_store_free(other);
    env_free(&e);
    cap_module_free(m);
}

/* ----------------------------------------------------------------- instantiation: init order */

/* Spec linking.wast: segments run in order; a trap keeps earlier writes to imported tables and
 * memories, and later segments (here the data segment) never run. */
static void
test_instance_elem_trap_keeps_earlier_writes(void **state)
{
    (void)state;
    env e;
    cap_module_t *m = LOAD(wasm_segtrap);
    env_init(&e);
    cap_table_t *t;
    assert_int_equal(cap_table_new(e.s, CAP_FUNCREF, 3, 0, false, vnull(CAP_FUNCREF), &t, NULL),
                     CAP_OK);
    assert_int_equal(cap_linker_define(e.l, "env", "tab", ext_table(t), NULL), CAP_OK);
    cap_instance_t *inst;
    cap_error_t err;
    assert_int_equal(cap_instance_new(e.s, m, e.l, &inst, &err), CAP_ERR_TRAP);
    assert_null(inst);
    assert_int_equal(err.trap, CAP_TRAP_TABLE_OOB);
    assert_string_equal(err.msg, "out of bounds table access");
    cap_val_t v;
    assert_int_equal(cap_table_get(t, 0, &v), CAP_OK);
    assert_non_null(v.of.funcref); // the first segment's write stays
    assert_int_equal(cap_func_type(v.of.funcref).nresults, 1);
    assert_int_equal(cap_table_get(t, 2, &v), CAP_OK);
    assert_null(v.of.funcref);                      // the failing segment wrote nothing
    assert_int_equal(cap_memory_data(e.mem)[0], 0); // the data segment never ran
    cap_val_t r;
    assert_int_equal(cap_table_get(t, 0, &v), CAP_OK);
    cap_status st = cap_func_call(e.s, v.of.funcref, NULL, 0, &r, 1, &err);
    if (st == CAP_OK) {
        assert_int_equal(r.of.i32, 7); // callable after the instance failed
    }
    env_free(&e);
    cap_module_free(m);
    expect_ok(st, &err);
}

static void
test_instance_empty_elem_out_of_range_traps(void **state)
{
    (void)state;
    env e;
    cap_module_t *m = LOAD(wasm_elemtrap_nocopy);
    env_init(&e);
    cap_table_t *t;
    assert_int_equal(cap_table_new(e.s, CAP_FUNCREF, 1, 0, false, vnull(CAP_FUNCREF), &t, NULL),
                     CAP_OK);
    assert_int_equal(cap_linker_define(e.l, "env", "tab", ext_table(t), NULL), CAP_OK);
    cap_instance_t *inst;
    cap_error_t err;
    assert_int_equal(cap_instance_new(e.s, m, e.l, &inst, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_TABLE_OOB);
    assert_int_equal(cap_table_grow(t, 1, 0), 1); // offset 2 + 0 elements fits a table of 2
    assert_int_equal(cap_instance_new(e.s, m, e.l, &inst, &err), CAP_OK);
    env_free(&e);
    cap_module_free(m);
}

static void
test_instance_data_trap_keeps_earlier_writes(void **state)
{
    (void)state;
    env e;
    cap_module_t *m = LOAD(wasm_datatrap);
    env_init(&e);
    cap_instance_t *inst;
    cap_error_t err;
    assert_int_equal(cap_instance_new(e.s, m, e.l, &inst, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_MEMORY_OOB);
    assert_string_equal(err.msg, "out of bounds memory access");
    uint8_t *d = cap_memory_data(e.mem);
    assert_memory_equal(d, "ab", 2);
    assert_int_equal(d[65535], 0);
    assert_int_equal(d[8], 0);
    assert_int_equal(cap_memory_grow_pages(e.mem, 1), 1); // now the second segment fits
    assert_int_equal(cap_instance_new(e.s, m, e.l, &inst, &err), CAP_OK);
    assert_memory_equal(d + 65535, "cd", 2);
    assert_memory_equal(d + 8, "ef", 2);
    env_free(&e);
    cap_module_free(m);
}

static int noted;

static cap_status
host_note(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *e)
{
    (void)results;
    (void)e;
    noted = (int)args[0];
    uint8_t *p = cap_caller_mem(caller, 0, 1);
    if (p && *p == 'z') {
        noted += 1000; // data segments ran before the start function
    }
    return CAP_OK;
}

static void
test_instance_start_runs_after_segments(void **state)
{
    (void)state;
    env e;
    cap_module_t *m = LOAD(wasm_starttrap);
    env_init(&e);
    static const cap_valtype i32[1] = {CAP_I32};
    cap_functype_t ft = {1, 0, i32, NULL};
    assert_int_equal(cap_linker_define_host(e.l, e.s, "env", "note", &ft, host_note, NULL, NULL),
                     CAP_OK);
    cap_instance_t *inst;
    cap_error_t err;
    noted = 0;
    cap_status st = cap_instance_new(e.s, m, e.l, &inst, &err);
    assert_int_equal(cap_memory_data(e.mem)[0], 'z');
    env_free(&e);
    cap_module_free(m);
    assert_int_equal(st, CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_UNREACHABLE);
    assert_int_equal(noted, 1042);
    assert_null(inst);
}

static void
test_instance_memory_limit_message(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_instance_t *inst;
    cap_error_t err;
    cap_module_t *m = LOAD(wasm_bigmem);
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    cap_store_set_memory_limit(s, 1 << 20);
    assert_int_equal(cap_instance_new(s, m, NULL, &inst, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_MEMORY_LIMIT);
    assert_string_equal(err.msg, "memory limit exceeded: module needs 6553600 bytes, limit is "
                                 "1048576");
    assert_int_equal(cap_store_memory_used(s), 0);
    cap_store_set_memory_limit(s, 100 * 65536);
    assert_int_equal(cap_instance_new(s, m, NULL, &inst, &err), CAP_OK);
    assert_int_equal(cap_store_memory_used(s), 100 * 65536);
    assert_int_equal(cap_instance_new(s, m, NULL, &inst, &err), CAP_ERR_TRAP);
    assert_non_null(strstr(err.msg, "already in use"));
    cap_store_free(s);
    cap_module_free(m);
}

static void
test_instance_memory_grow_respects_limit(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_instance_t *inst;
    cap_error_t err;
    cap_module_t *m = LOAD(wasm_mem);
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    cap_store_set_memory_limit(s, 2 * 65536);
    assert_int_equal(cap_instance_new(s, m, NULL, &inst, &err), CAP_OK);
    cap_extern_t e;
    assert_int_equal(cap_instance_export(inst, "mem", &e, NULL), CAP_OK);
    assert_int_equal(e.kind, CAP_EXTERN_MEMORY);
    assert_memory_equal(cap_memory_data(e.of.memory) + 16, "hi", 2);
    cap_func_t *grow = export_func(inst, "grow");
    cap_val_t a = vi32(1), r;
    cap_status st = cap_func_call(s, grow, &a, 1, &r, 1, &err);
    if (st == CAP_OK) {
        assert_int_equal(r.of.i32, 1);
        assert_int_equal(cap_func_call(s, grow, &a, 1, &r, 1, &err), CAP_OK);
        assert_int_equal(r.of.i32, (uint32_t)-1); // the store's cap
        cap_store_set_memory_limit(s, 0);
        a = vi32(3);
        assert_int_equal(cap_func_call(s, grow, &a, 1, &r, 1, &err), CAP_OK);
        assert_int_equal(r.of.i32, (uint32_t)-1); // the declared maximum (4)
        a = vi32(2);
        assert_int_equal(cap_func_call(s, grow, &a, 1, &r, 1, &err), CAP_OK);
        assert_int_equal(r.of.i32, 2);
        assert_int_equal(cap_memory_size(e.of.memory), 4 * 65536);
    }
    cap_store_free(s);
    cap_module_free(m);
    expect_ok(st, &err);
}

static void
test_instance_exports_and_register(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_linker_t *l;
    cap_instance_t *a, *b;
    cap_error_t err;
    cap_module_t *ma = LOAD(wasm_exports);
    cap_module_t *mb = LOAD(wasm_reexport);
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_linker_new(&l, NULL), CAP_OK);
    assert_int_equal(cap_instance_new(s, ma, NULL, &a, &err), CAP_OK);
    assert_ptr_equal(cap_instance_module(a), ma);
    cap_func_t *id = export_func(a, "id");
    cap_extern_t e;
    assert_int_equal(cap_instance_export(a, "tab", &e, NULL), CAP_OK);
    assert_int_equal(e.kind, CAP_EXTERN_TABLE);
    cap_val_t v;
    assert_int_equal(cap_table_get(e.of.table, 1, &v), CAP_OK);
    assert_ptr_equal(v.of.funcref, id);
    assert_int_equal(cap_table_get(e.of.table, 0, &v), CAP_OK);
    assert_null(v.of.funcref);
    assert_int_equal(cap_instance_export(a, "fr", &e, NULL), CAP_OK);
    assert_int_equal(e.kind, CAP_EXTERN_GLOBAL);
    assert_ptr_equal(cap_global_get(e.of.global).of.funcref, id);
    assert_int_equal(cap_instance_export(a, "g", &e, NULL), CAP_OK);
    assert_int_equal(cap_global_get(e.of.global).of.i32, 5);
    cap_global_t *g = e.of.global;

    assert_int_equal(cap_linker_define_instance(l, "M", a, &err), CAP_OK);
    assert_int_equal(cap_instance_new(s, mb, l, &b, &err), CAP_OK);
    assert_ptr_equal(export_func(b, "id2"), id);

    cap_val_t arg = vi64(0x123456789abcdefull), r;
    cap_status st = cap_func_call(s, id, &arg, 1, &r, 1, &err);
    if (st == CAP_OK) {
        assert_int_equal(r.type, CAP_I64);
        assert_int_equal(r.of.i64, 0x123456789abcdefull);
        assert_int_equal(cap_global_set(g, vi32(77)), CAP_OK);
        assert_int_equal(cap_func_call(s, export_func(a, "get_g"), NULL, 0, &r, 1, &err), CAP_OK);
        assert_int_equal(r.of.i32, 77);
        cap_val_t nan;
        memset(&nan, 0, sizeof nan);
        nan.type = CAP_F32;
        nan.of.f32_bits = 0x7fa00001u;
        assert_int_equal(cap_func_call(s, export_func(a, "f32"), &nan, 1, &r, 1, &err), CAP_OK);
        assert_int_equal(r.of.f32_bits, 0x7fa00001u);
    }
    cap_linker_free(l);
    cap_store_free(s);
    cap_module_free(mb);
    cap_module_free(ma);
    expect_ok(st, &err);
}

/* --------------------------------------------------------------- host calls from Wasm code */

static cap_status
host_peek(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *e)
{
    (void)e;
    uint8_t *p = cap_caller_mem(caller, (uint32_t)args[0], (uint32_t)args[1]);
    if (!p) {
        return cap_caller_trap(caller, CAP_TRAP_MEMORY_OOB, "peek: [%u, +%u) out of bounds",
                               (unsigned)args[0], (unsigned)args[1]);
    }
    results[0] = p[0];
    return CAP_OK;
}

static cap_status
host_fail(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *e)
{
    (void)args;
    (void)results;
    (void)e;
    return cap_caller_trap(caller, CAP_TRAP_HOST, "host says no");
}

static cap_status
host_quit(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *e)
{
    (void)results;
    (void)e;
    return cap_caller_exit(caller, (int32_t)args[0]);
}

static void
test_host_calls_from_wasm(void **state)
{
    (void)state;
    cap_store_t *s;
    cap_linker_t *l;
    cap_instance_t *inst;
    cap_error_t err;
    static const cap_valtype ii[2] = {CAP_I32, CAP_I32};
    cap_functype_t t_ii_i = {2, 1, ii, ii};
    cap_functype_t t_v = {0, 0, NULL, NULL};
    cap_functype_t t_i = {1, 0, ii, NULL};
    cap_module_t *m = LOAD(wasm_host);
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_linker_new(&l, NULL), CAP_OK);
    assert_int_equal(cap_linker_define_host(l, s, "env", "add", &t_ii_i, host_add, NULL, NULL),
                     CAP_OK);
    assert_int_equal(cap_linker_define_host(l, s, "env", "peek", &t_ii_i, host_peek, NULL, NULL),
                     CAP_OK);
    assert_int_equal(cap_linker_define_host(l, s, "env", "fail", &t_v, host_fail, NULL, NULL),
                     CAP_OK);
    assert_int_equal(cap_linker_define_host(l, s, "env", "quit", &t_i, host_quit, NULL, NULL),
                     CAP_OK);
    assert_int_equal(cap_instance_new(s, m, l, &inst, &err), CAP_OK);
    cap_val_t args[2] = {vi32(40), vi32(2)}, r;
    cap_status st = cap_func_call(s, export_func(inst, "run"), args, 2, &r, 1, &err);
    if (st == CAP_OK) {
        assert_int_equal(r.of.i32, 42);
        args[0] = vi32(101);
        args[1] = vi32(4);
        assert_int_equal(cap_func_call(s, export_func(inst, "peek"), args, 2, &r, 1, &err), CAP_OK);
        assert_int_equal(r.of.i32, 'e');
        args[0] = vi32(65535);
        args[1] = vi32(2);
        assert_int_equal(cap_func_call(s, export_func(inst, "peek"), args, 2, &r, 1, &err),
                         CAP_ERR_TRAP);
        assert_int_equal(err.trap, CAP_TRAP_MEMORY_OOB);
        assert_non_null(strstr(err.msg, "peek: [65535, +2) out of bounds"));
        assert_int_equal(cap_func_call(s, export_func(inst, "fail"), NULL, 0, NULL, 0, &err),
                         CAP_ERR_TRAP);
        assert_int_equal(err.trap, CAP_TRAP_HOST);
        assert_non_null(strstr(err.msg, "host says no"));
        args[0] = vi32(3);
        assert_int_equal(cap_func_call(s, export_func(inst, "quit"), args, 1, NULL, 0, &err),
                         CAP_ERR_TRAP);
        assert_int_equal(err.trap, CAP_TRAP_EXIT);
        assert_int_equal(err.exit_code, 3);
        /* The store stays usable after a trap. */
        args[0] = vi32(1);
        args[1] = vi32(2);
        assert_int_equal(cap_func_call(s, export_func(inst, "run"), args, 2, &r, 1, &err), CAP_OK);
        assert_int_equal(r.of.i32, 3);
    }
    cap_linker_free(l);
    cap_store_free(s);
    cap_module_free(m);
    expect_ok(st, &err);
}

static cap_status
host_tick(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *e)
{
    (void)args;
    (void)results;
    if (e) {
        cap_store_interrupt(cap_caller_store(caller)); // as a watchdog thread would
    }
    return CAP_OK;
}

/* The interrupt flag stops a guest spinning in a loop; cleared, the store runs again. Fuel
 * stops the same loop when nothing interrupts it. */
static void
test_store_interrupt_and_fuel_stop_loops(void **state)
{
    (void)state;
    cap_module_t *m = LOAD(wasm_spin);
    cap_store_t *s;
    cap_linker_t *l;
    cap_instance_t *inst;
    cap_error_t err;
    cap_functype_t t_v = {0, 0, NULL, NULL};
    int on = 1;
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_linker_new(&l, NULL), CAP_OK);
    assert_int_equal(cap_linker_define_host(l, s, "env", "tick", &t_v, host_tick, &on, NULL),
                     CAP_OK);
    assert_int_equal(cap_instance_new(s, m, l, &inst, &err), CAP_OK);
    cap_func_t *spin = export_func(inst, "spin");
    cap_status st = cap_func_call(s, spin, NULL, 0, NULL, 0, &err);
    cap_trap trap = err.trap;
    assert_true(cap_store_interrupted(s));
    cap_store_clear_interrupt(s);
    cap_val_t r;
    cap_status st1 = cap_func_call(s, export_func(inst, "one"), NULL, 0, &r, 1, &err);

    /* The same loop without the interrupt, on a fuel budget. */
    cap_store_t *s2;
    cap_linker_t *l2;
    assert_int_equal(cap_store_new(&s2, NULL), CAP_OK);
    assert_int_equal(cap_linker_new(&l2, NULL), CAP_OK);
    assert_int_equal(cap_linker_define_host(l2, s2, "env", "tick", &t_v, host_tick, NULL, NULL),
                     CAP_OK);
    assert_int_equal(cap_instance_new(s2, m, l2, &inst, &err), CAP_OK);
    cap_store_set_fuel(s2, 10000);
    cap_error_t err2;
    cap_status st2 = cap_func_call(s2, export_func(inst, "spin"), NULL, 0, NULL, 0, &err2);
    uint64_t used = cap_store_fuel_consumed(s2);

    cap_linker_free(l2);
    cap_store_free(s2);
    cap_linker_free(l);
    cap_store_free(s);
    cap_module_free(m);
    assert_int_equal(st, CAP_ERR_TRAP);
    assert_int_equal(trap, CAP_TRAP_TIMEOUT);
    expect_ok(st1, &err);
    assert_int_equal(r.of.i32, 1);
    assert_int_equal(st2, CAP_ERR_TRAP);
    assert_int_equal(err2.trap, CAP_TRAP_OUT_OF_FUEL);
    assert_true(used <= 10000 && used > 9000);
}

static cap_store_t *volatile signal_store;

static void
on_alarm(int sig)
{
    (void)sig;
    cap_store_interrupt(signal_store); // async-signal-safe: one lock-free atomic store
}

/* A timer signal interrupts a guest spinning in pure computation. */
static void
test_store_interrupt_from_signal_handler(void **state)
{
    (void)state;
    cap_module_t *m = LOAD(wasm_spin);
    cap_store_t *s;
    cap_linker_t *l;
    cap_instance_t *inst;
    cap_error_t err;
    cap_functype_t t_v = {0, 0, NULL, NULL};
    assert_int_equal(cap_store_new(&s, NULL), CAP_OK);
    assert_int_equal(cap_linker_new(&l, NULL), CAP_OK);
    assert_int_equal(cap_linker_define_host(l, s, "env", "tick", &t_v, host_tick, NULL, NULL),
                     CAP_OK);
    assert_int_equal(cap_instance_new(s, m, l, &inst, &err), CAP_OK);
    signal_store = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = 50000;
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    cap_status st = cap_func_call(s, export_func(inst, "spin"), NULL, 0, NULL, 0, &err);
    signal(SIGALRM, SIG_DFL);
    cap_linker_free(l);
    cap_store_free(s);
    cap_module_free(m);
    assert_int_equal(st, CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_TIMEOUT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_defaults),
        cmocka_unit_test(test_store_limits_clamped),
        cmocka_unit_test(test_memory_grow_keeps_base),
        cmocka_unit_test(test_memory_zero_pages),
        cmocka_unit_test(test_memory_limit_on_create_and_grow),
        cmocka_unit_test(test_memory_moves_past_reservation),
        cmocka_unit_test(test_table_get_and_grow),
        cmocka_unit_test(test_table_rejects_bad_arguments),
        cmocka_unit_test(test_global_get_set),
        cmocka_unit_test(test_host_func_type_is_copied),
        cmocka_unit_test(test_func_call_checks_arguments),
        cmocka_unit_test(test_caller_mem_bounds),
        cmocka_unit_test(test_linker_define_replace_and_grow),
        cmocka_unit_test(test_instance_imports_resolve),
        cmocka_unit_test(test_instance_unknown_import),
        cmocka_unit_test(test_instance_incompatible_imports),
        cmocka_unit_test(test_instance_elem_trap_keeps_earlier_writes),
        cmocka_unit_test(test_instance_empty_elem_out_of_range_traps),
        cmocka_unit_test(test_instance_data_trap_keeps_earlier_writes),
        cmocka_unit_test(test_instance_start_runs_after_segments),
        cmocka_unit_test(test_instance_memory_limit_message),
        cmocka_unit_test(test_instance_memory_grow_respects_limit),
        cmocka_unit_test(test_instance_exports_and_register),
        cmocka_unit_test(test_host_calls_from_wasm),
        cmocka_unit_test(test_store_interrupt_and_fuel_stop_loops),
        cmocka_unit_test(test_store_interrupt_from_signal_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
