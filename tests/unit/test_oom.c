/* SPDX-License-Identifier: Apache-2.0 */
/* The allocation-failure walk (SQLite/Lua style): fail the Nth allocation for N = 1, 2, ...
 * through decode, compile, store, linker, instantiation and a call, until a run succeeds. Every
 * failing run must end in CAP_ERR_NOMEM (or a trap where an allocation made while the guest ran
 * failed) and free everything; LeakSanitizer checks the latter at exit. */

/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capsule.h"
#include "util/alloc.h"

#include <stdbool.h>
#include <string.h>

/* Module binaries made with wat2wasm (wabt 1.0.32) from the text shown above each array. */
/* (module
 *   (type $ii (func (param i32) (result i32)))
 *   (import "env" "host" (func $host (param i32) (result i32)))
 *   (import "env" "mem" (memory 1))
 *   (import "env" "tab" (table 4 funcref))
 *   (import "env" "g" (global $g i32))
 *   (table $own 3 10 funcref)
 *   (global $counter (mut i32) (global.get $g))
 *   (global $fr funcref (ref.func $double))
 *   (func $double (type $ii) (i32.mul (local.get 0) (i32.const 2)))
 *   (func $start (global.set $counter (call $host (global.get $counter))))
 *   (elem (table $own) (i32.const 0) func $double $start)
 *   (elem (table 0) (i32.const 1) func $double)
 *   (elem $passive funcref (ref.func $double) (ref.null func))
 *   (elem declare func $start)
 *   (data (i32.const 0) "hello")
 *   (data $pd "passive")
 *   (start $start)
 *   (func (export "run") (param i32) (result i32)
 *     (table.init $own $passive (i32.const 1) (i32.const 0) (i32.const 2))
 *     (drop (table.grow $own (ref.null func) (i32.const 5)))
 *     (drop (memory.grow (i32.const 1)))
 *     (memory.init $pd (i32.const 65536) (i32.const 0) (i32.const 7))
 *     (i32.add
 *       (call_indirect $own (type $ii) (local.get 0) (i32.const 0))
 *       (i32.add (global.get $counter) (i32.load8_u (i32.const 65536)))))) */
static const uint8_t wasm_full[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x60, 0x00, 0x00, 0x02, 0x2c, 0x04, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x00,
    0x00, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x03, 0x65, 0x6e, 0x76,
    0x03, 0x74, 0x61, 0x62, 0x01, 0x70, 0x00, 0x04, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x67, 0x03, 0x7f,
    0x00, 0x03, 0x04, 0x03, 0x00, 0x01, 0x00, 0x04, 0x05, 0x01, 0x70, 0x01, 0x03, 0x0a, 0x06, 0x0b,
    0x02, 0x7f, 0x01, 0x23, 0x00, 0x0b, 0x70, 0x00, 0xd2, 0x01, 0x0b, 0x07, 0x07, 0x01, 0x03, 0x72,
    0x75, 0x6e, 0x00, 0x03, 0x08, 0x01, 0x02, 0x09, 0x1d, 0x04, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x00,
    0x02, 0x01, 0x02, 0x00, 0x41, 0x01, 0x0b, 0x01, 0x01, 0x05, 0x70, 0x02, 0xd2, 0x01, 0x0b, 0xd0,
    0x70, 0x0b, 0x03, 0x00, 0x01, 0x02, 0x0c, 0x01, 0x02, 0x0a, 0x4a, 0x03, 0x07, 0x00, 0x20, 0x00,
    0x41, 0x02, 0x6c, 0x0b, 0x08, 0x00, 0x23, 0x01, 0x10, 0x00, 0x24, 0x01, 0x0b, 0x37, 0x00, 0x41,
    0x01, 0x41, 0x00, 0x41, 0x02, 0xfc, 0x0c, 0x02, 0x01, 0xd0, 0x70, 0x41, 0x05, 0xfc, 0x0f, 0x01,
    0x1a, 0x41, 0x01, 0x40, 0x00, 0x1a, 0x41, 0x80, 0x80, 0x04, 0x41, 0x00, 0x41, 0x07, 0xfc, 0x08,
    0x01, 0x00, 0x20, 0x00, 0x41, 0x00, 0x11, 0x00, 0x01, 0x23, 0x01, 0x41, 0x80, 0x80, 0x04, 0x2d,
    0x00, 0x00, 0x6a, 0x6a, 0x0b, 0x0b, 0x14, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x05, 0x68, 0x65, 0x6c,
    0x6c, 0x6f, 0x01, 0x07, 0x70, 0x61, 0x73, 0x73, 0x69, 0x76, 0x65,
};

/* (module
 *   (import "a" "f0" (func (param i32) (result i32)))
 *   (import "b" "f1" (func (param i32) (result i32)))
 *   (import "c" "f2" (func (param i32) (result i32)))
 *   (func (export "run") (param i32) (result i32)
 *     (call 0 (call 1 (call 2 (local.get 0)))))) */
static const uint8_t wasm_names[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f,
    0x01, 0x7f, 0x02, 0x16, 0x03, 0x01, 0x61, 0x02, 0x66, 0x30, 0x00, 0x00, 0x01, 0x62,
    0x02, 0x66, 0x31, 0x00, 0x00, 0x01, 0x63, 0x02, 0x66, 0x32, 0x00, 0x00, 0x03, 0x02,
    0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x03, 0x0a, 0x0c, 0x01,
    0x0a, 0x00, 0x20, 0x00, 0x10, 0x02, 0x10, 0x01, 0x10, 0x00, 0x0b,
};

/* (module
 *   (memory (export "memory") 2 100)
 *   (func $fib (export "fib") (param i32) (result i32)
 *     (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
 *       (then (local.get 0))
 *       (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
 *                      (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
 *   (func (export "run") (param i32) (result i32) (call $fib (local.get 0)))
 *   (data (i32.const 100) "abc")) */
static const uint8_t wasm_plain[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01,
    0x7f, 0x03, 0x03, 0x02, 0x00, 0x00, 0x05, 0x04, 0x01, 0x01, 0x02, 0x64, 0x07, 0x16, 0x03,
    0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x03, 0x66, 0x69, 0x62, 0x00, 0x00,
    0x03, 0x72, 0x75, 0x6e, 0x00, 0x01, 0x0a, 0x25, 0x02, 0x1c, 0x00, 0x20, 0x00, 0x41, 0x02,
    0x49, 0x04, 0x7f, 0x20, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, 0x20, 0x00,
    0x41, 0x02, 0x6b, 0x10, 0x00, 0x6a, 0x0b, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b,
    0x0b, 0x0a, 0x01, 0x00, 0x41, 0xe4, 0x00, 0x0b, 0x03, 0x61, 0x62, 0x63,
};
/* (module
 *   (import "env" "tab" (table 4 funcref))
 *   (import "env" "host" (func $host (param i32) (result i32)))
 *   (memory 1)
 *   (func $f (export "run") (param i32) (result i32) (local.get 0))
 *   (elem (i32.const 0) $f $host)
 *   (elem (i32.const 3) $f $f)
 *   (data (i32.const 0) "never")) */
static const uint8_t wasm_trapinit[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f,
    0x01, 0x7f, 0x02, 0x18, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x74, 0x61, 0x62, 0x01,
    0x70, 0x00, 0x04, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x00,
    0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x07, 0x01, 0x03, 0x72,
    0x75, 0x6e, 0x00, 0x01, 0x09, 0x0f, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x01, 0x00,
    0x00, 0x41, 0x03, 0x0b, 0x02, 0x01, 0x01, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x20, 0x00,
    0x0b, 0x0b, 0x0b, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x05, 0x6e, 0x65, 0x76, 0x65, 0x72,
};

#define MAX_WALK 200000u

static cap_status
host_inc(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)caller;
    (void)env;
    results[0] = (uint32_t)(args[0] + 1);
    return CAP_OK;
}

static int env_frees; // times the host function's environment was released
static int env_made;  // whether that host function was created

static void
free_env(void *env)
{
    (void)env;
    env_frees++;
}

/* Defines what full.wat and names.wat import; the names of names.wat's imports are allocated
 * by the linker, a host function gets an environment that must be released exactly once. */
static cap_status
define_imports(cap_store_t *s, cap_linker_t *l, cap_error_t *err)
{
    static const cap_valtype i32[1] = {CAP_I32};
    cap_functype_t ft = {1, 1, i32, i32};
    cap_status st;
    cap_func_t *f;
    cap_memory_t *mem;
    cap_table_t *tab;
    cap_global_t *g;
    cap_extern_t e;
    cap_val_t v;
    if ((st = cap_func_new_host(s, &ft, host_inc, &env_frees, free_env, &f, err)) != CAP_OK) {
        return st;
    }
    env_made = 1;
    e.kind = CAP_EXTERN_FUNC;
    e.of.func = f;
    if ((st = cap_linker_define(l, "env", "host", e, err)) != CAP_OK ||
        (st = cap_linker_define(l, "a", "f0", e, err)) != CAP_OK ||
        (st = cap_linker_define(l, "c", "f2", e, err)) != CAP_OK) {
        return st;
    }
    if ((st = cap_linker_define_host(l, s, "b", "f1", &ft, host_inc, NULL, err)) != CAP_OK) {
        return st;
    }
    if ((st = cap_memory_new(s, 1, 0, false, &mem, err)) != CAP_OK) {
        return st;
    }
    e.kind = CAP_EXTERN_MEMORY;
    e.of.memory = mem;
    if ((st = cap_linker_define(l, "env", "mem", e, err)) != CAP_OK) {
        return st;
    }
    memset(&v, 0, sizeof v);
    v.type = CAP_FUNCREF;
    if ((st = cap_table_new(s, CAP_FUNCREF, 4, 0, false, v, &tab, err)) != CAP_OK) {
        return st;
    }
    e.kind = CAP_EXTERN_TABLE;
    e.of.table = tab;
    if ((st = cap_linker_define(l, "env", "tab", e, err)) != CAP_OK) {
        return st;
    }
    v.type = CAP_I32;
    v.of.i32 = 10;
    if ((st = cap_global_new(s, v, false, &g, err)) != CAP_OK) {
        return st;
    }
    e.kind = CAP_EXTERN_GLOBAL;
    e.of.global = g;
    return cap_linker_define(l, "env", "g", e, err);
}

/* One complete run: module, store, linker, instance, call run(arg). */
static cap_status
scenario(const uint8_t *bytes, size_t len, uint32_t arg, uint32_t *out, cap_error_t *err)
{
    cap_module_t *m = NULL;
    cap_store_t *s = NULL;
    cap_linker_t *l = NULL;
    cap_instance_t *inst;
    cap_extern_t run;
    cap_val_t a, r;
    cap_status st;
    if ((st = cap_module_new(bytes, len, &m, err)) != CAP_OK) {
        goto done;
    }
    if ((st = cap_store_new(&s, err)) != CAP_OK) {
        goto done;
    }
    if ((st = cap_linker_new(&l, err)) != CAP_OK) {
        goto done;
    }
    if ((st = define_imports(s, l, err)) != CAP_OK) {
        goto done;
    }
    if ((st = cap_instance_new(s, m, l, &inst, err)) != CAP_OK) {
        goto done;
    }
    if ((st = cap_instance_export(inst, "run", &run, err)) != CAP_OK) {
        goto done;
    }
    memset(&a, 0, sizeof a);
    a.type = CAP_I32;
    a.of.i32 = arg;
    if ((st = cap_func_call(s, run.of.func, &a, 1, &r, 1, err)) != CAP_OK) {
        goto done;
    }
    *out = r.of.i32;
done:
    cap_linker_free(l);
    cap_store_free(s);
    cap_module_free(m);
    return st;
}

/* Walks N upwards from 1 until the scenario succeeds, checking each failure. */
static void
walk(const uint8_t *bytes, size_t len, uint32_t arg, uint32_t want, cap_status want_st)
{
    cap_error_t err;
    uint32_t got = 0;
    cap_alloc_fail_after(0);
    cap_status st = scenario(bytes, len, arg, &got, &err);
    if (st != want_st) {
        fail_msg("the run without injected failures: want %s, got %s: %s", cap_status_name(want_st),
                 cap_status_name(st), err.msg);
    }
    assert_int_equal(got, want);
    uint64_t needed = 0;
    for (uint64_t n = 1; n < MAX_WALK; n++) {
        env_frees = 0;
        env_made = 0;
        got = 0;
        cap_alloc_fail_after(n);
        st = scenario(bytes, len, arg, &got, &err);
        bool injected = cap_alloc_count() >= n; // did the Nth allocation happen (and fail)?
        cap_alloc_fail_after(0);
        assert_int_equal(env_frees, env_made); // released exactly once when it existed
        if (!injected) {
            /* Nothing failed: the run must be the normal one, and the walk is complete. */
            if (st != want_st) {
                fail_msg("no allocation failed, yet the run ended in %s: %s", cap_status_name(st),
                         err.msg);
            }
            assert_int_equal(got, want);
            needed = n;
            break;
        }
        /* A failed allocation inside memory.grow or table.grow is visible to the guest only as
         * -1, so a run may still succeed (with a result of its own). */
        if (st != CAP_OK && st != CAP_ERR_NOMEM && st != CAP_ERR_TRAP) {
            fail_msg("allocation %llu failed: want NOMEM, got %s: %s", (unsigned long long)n,
                     cap_status_name(st), err.msg);
        }
        if (st != CAP_OK) {
            assert_int_equal(err.status, st);
        }
    }
    assert_true(needed > 0);
    print_message("ran to the end once %llu allocations were allowed\n",
                  (unsigned long long)needed - 1);
}

static void
test_oom_full_module(void **state)
{
    (void)state;
    walk(wasm_full, sizeof wasm_full, 5, 133, CAP_OK);
}

static void
test_oom_plain_module(void **state)
{
    (void)state;
    walk(wasm_plain, sizeof wasm_plain, 10, 55, CAP_OK);
}

static void
test_oom_imported_host_functions(void **state)
{
    (void)state;
    walk(wasm_names, sizeof wasm_names, 1, 4, CAP_OK);
}

/* Instantiation traps in its second element segment: every shorter run must fail cleanly too,
 * and the half-built instance must be freed with its store. */
static void
test_oom_trapping_instantiation(void **state)
{
    (void)state;
    walk(wasm_trapinit, sizeof wasm_trapinit, 1, 0, CAP_ERR_TRAP);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_full_module),
        cmocka_unit_test(test_oom_plain_module),
        cmocka_unit_test(test_oom_imported_host_functions),
        cmocka_unit_test(test_oom_trapping_instantiation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
