/* SPDX-License-Identifier: Apache-2.0 */
/* Lazy compilation (cap_module_new_lazy): the guest sees exactly what it sees with eager
 * compilation (results, traps, messages, fuel to the unit, including out-of-fuel at every
 * point), an invalid body is reported only when its function is called, one module is shared
 * safely by threads, and running out of memory in a first-call compile is a clean error. */

/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capsule.h"
#include "util/alloc.h"
#include "wasm/runtime.h" // cap_caller_t's err, to pass a nested call's error on

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Module binaries made with wat2wasm --debug-names (wabt 1.0.32) from the text above each. */
/* (module
 *   (type $ii (func (param i32) (result i32)))
 *   (import "env" "host" (func $host (param i32) (result i32)))
 *   (memory 1)
 *   (table 3 funcref)
 *   (elem (i32.const 0) $fib $double)
 *   (func $fib (export "fib") (param i32) (result i32)
 *     (local i64 f64)
 *     (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
 *       (then (local.get 0))
 *       (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
 *                      (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
 *   (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
 *   (func $indirect (export "indirect") (param i32 i32) (result i32)
 *     (call_indirect (type $ii) (local.get 1) (local.get 0)))
 *   (func $via_host (export "via_host") (param i32) (result i32)
 *     (i32.add (i32.const 1) (call $host (local.get 0))))
 *   (func $divide (export "divide") (param i32) (result i32)
 *     (local i32)
 *     (local.set 1 (i32.const 100))
 *     (i32.div_s (local.get 1) (local.get 0)))
 *   (func $load (export "load") (param i32) (result i32)
 *     (i32.add (i32.load (local.get 0)) (call $divide (i32.const 1))))) */
static const uint8_t wasm_main[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x68, 0x6f,
    0x73, 0x74, 0x00, 0x00, 0x03, 0x07, 0x06, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x04, 0x01,
    0x70, 0x00, 0x03, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x2d, 0x05, 0x03, 0x66, 0x69, 0x62, 0x00,
    0x01, 0x08, 0x69, 0x6e, 0x64, 0x69, 0x72, 0x65, 0x63, 0x74, 0x00, 0x03, 0x08, 0x76, 0x69, 0x61,
    0x5f, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x04, 0x06, 0x64, 0x69, 0x76, 0x69, 0x64, 0x65, 0x00, 0x05,
    0x04, 0x6c, 0x6f, 0x61, 0x64, 0x00, 0x06, 0x09, 0x08, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x01,
    0x02, 0x0a, 0x5a, 0x06, 0x20, 0x02, 0x01, 0x7e, 0x01, 0x7c, 0x20, 0x00, 0x41, 0x02, 0x49, 0x04,
    0x7f, 0x20, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x01, 0x20, 0x00, 0x41, 0x02, 0x6b,
    0x10, 0x01, 0x6a, 0x0b, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x41, 0x02, 0x6c, 0x0b, 0x09, 0x00, 0x20,
    0x01, 0x20, 0x00, 0x11, 0x00, 0x00, 0x0b, 0x09, 0x00, 0x41, 0x01, 0x20, 0x00, 0x10, 0x00, 0x6a,
    0x0b, 0x0e, 0x01, 0x01, 0x7f, 0x41, 0xe4, 0x00, 0x21, 0x01, 0x20, 0x01, 0x20, 0x00, 0x6d, 0x0b,
    0x0c, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x41, 0x01, 0x10, 0x05, 0x6a, 0x0b, 0x00, 0x55, 0x04,
    0x6e, 0x61, 0x6d, 0x65, 0x01, 0x36, 0x07, 0x00, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x01, 0x03, 0x66,
    0x69, 0x62, 0x02, 0x06, 0x64, 0x6f, 0x75, 0x62, 0x6c, 0x65, 0x03, 0x08, 0x69, 0x6e, 0x64, 0x69,
    0x72, 0x65, 0x63, 0x74, 0x04, 0x08, 0x76, 0x69, 0x61, 0x5f, 0x68, 0x6f, 0x73, 0x74, 0x05, 0x06,
    0x64, 0x69, 0x76, 0x69, 0x64, 0x65, 0x06, 0x04, 0x6c, 0x6f, 0x61, 0x64, 0x02, 0x0f, 0x07, 0x00,
    0x00, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00, 0x05, 0x00, 0x06, 0x00, 0x04, 0x05, 0x01,
    0x00, 0x02, 0x69, 0x69,
};

/* Made with --no-check: $bad does not validate (i64 result in an i32 function). */
/* (module
 *   (func $good (export "good") (result i32) (i32.const 7))
 *   (func $bad (export "bad") (result i32) (i64.const 1))
 *   (func $call_bad (export "call_bad") (result i32) (i32.add (i32.const 1) (call $bad)))) */
static const uint8_t wasm_bad[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03,
    0x04, 0x03, 0x00, 0x00, 0x00, 0x07, 0x19, 0x03, 0x04, 0x67, 0x6f, 0x6f, 0x64, 0x00, 0x00, 0x03,
    0x62, 0x61, 0x64, 0x00, 0x01, 0x08, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x62, 0x61, 0x64, 0x00, 0x02,
    0x0a, 0x13, 0x03, 0x04, 0x00, 0x41, 0x07, 0x0b, 0x04, 0x00, 0x42, 0x01, 0x0b, 0x07, 0x00, 0x41,
    0x01, 0x10, 0x01, 0x6a, 0x0b, 0x00, 0x26, 0x04, 0x6e, 0x61, 0x6d, 0x65, 0x01, 0x16, 0x03, 0x00,
    0x04, 0x67, 0x6f, 0x6f, 0x64, 0x01, 0x03, 0x62, 0x61, 0x64, 0x02, 0x08, 0x63, 0x61, 0x6c, 0x6c,
    0x5f, 0x62, 0x61, 0x64, 0x02, 0x07, 0x03, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00,
};

/* Written by hand: function 0 (export "m") holds the illegal opcode 0xFF; function 1 (export
 * "ok") is empty. Types: () -> (). No name section. */
static const uint8_t wasm_malformed[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                         // header
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00,                                     // type () -> ()
    0x03, 0x03, 0x02, 0x00, 0x00,                                           // two functions
    0x07, 0x0a, 0x02, 0x01, 0x6d, 0x00, 0x00, 0x02, 0x6f, 0x6b, 0x00, 0x01, // exports m, ok
    0x0a, 0x08, 0x02, 0x03, 0x00, 0xff, 0x0b, 0x02, 0x00, 0x0b,             // bodies
};

/* ------------------------------------------------------------------ helpers */

typedef struct rig {
    cap_module_t *m;
    cap_store_t *s;
    cap_linker_t *l;
    cap_instance_t *inst;
    cap_func_t *fib; // what the host import calls back into
} rig;

/* The import env.host: calls the instance's fib (a host -> Wasm call) with its argument. */
static cap_status
host_fib(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    rig *r = env;
    cap_val_t a = {.type = CAP_I32, .of.i32 = (uint32_t)args[0]};
    cap_val_t res;
    cap_status st = cap_func_call(r->s, r->fib, &a, 1, &res, 1, caller->err);
    if (st == CAP_OK) {
        results[0] = res.of.i32;
    }
    return st;
}

static cap_func_t *
export_func(cap_instance_t *inst, const char *name)
{
    cap_extern_t e;
    cap_error_t err;
    assert_int_equal(cap_instance_export(inst, name, &e, &err), CAP_OK);
    assert_int_equal(e.kind, CAP_EXTERN_FUNC);
    return e.of.func;
}

/* Instantiates wasm_main (module already in r->m) in a new store with the given fuel. */
static void
rig_start(rig *r, uint64_t fuel, uint32_t max_depth)
{
    static const cap_valtype i32[1] = {CAP_I32};
    cap_functype_t ft = {1, 1, i32, i32};
    cap_error_t err;
    assert_int_equal(cap_store_new(&r->s, &err), CAP_OK);
    cap_store_set_fuel(r->s, fuel);
    if (max_depth) {
        cap_store_set_max_call_depth(r->s, max_depth);
    }
    assert_int_equal(cap_linker_new(&r->l, &err), CAP_OK);
    assert_int_equal(cap_linker_define_host(r->l, r->s, "env", "host", &ft, host_fib, r, &err),
                     CAP_OK);
    assert_int_equal(cap_instance_new(r->s, r->m, r->l, &r->inst, &err), CAP_OK);
    r->fib = export_func(r->inst, "fib");
}

static void
rig_stop(rig *r)
{
    cap_linker_free(r->l);
    cap_store_free(r->s);
    r->l = NULL;
    r->s = NULL;
}

/* What one call did, for comparing eager and lazy runs. */
typedef struct outcome {
    cap_status st;
    cap_trap trap;
    uint32_t result;
    uint32_t func_index;
    uint64_t fuel; // fuel consumed by the store after the call
    char msg[256];
} outcome;

static outcome
call(rig *r, const char *name, uint32_t a0, uint32_t a1, uint32_t nargs)
{
    outcome o;
    memset(&o, 0, sizeof o);
    cap_val_t args[2] = {{.type = CAP_I32, .of.i32 = a0}, {.type = CAP_I32, .of.i32 = a1}};
    cap_val_t res;
    cap_error_t err;
    cap_error_clear(&err);
    o.st = cap_func_call(r->s, export_func(r->inst, name), args, nargs, &res, 1, &err);
    o.trap = err.trap;
    o.result = o.st == CAP_OK ? res.of.i32 : 0;
    o.func_index = o.st == CAP_OK ? 0 : err.func_index;
    o.fuel = cap_store_fuel_consumed(r->s);
    snprintf(o.msg, sizeof o.msg, "%s", o.st == CAP_OK ? "" : err.msg);
    return o;
}

static void
assert_same(const outcome *a, const outcome *b)
{
    assert_int_equal(a->st, b->st);
    assert_int_equal(a->trap, b->trap);
    assert_int_equal(a->result, b->result);
    assert_int_equal(a->func_index, b->func_index);
    assert_int_equal(a->fuel, b->fuel);
    assert_string_equal(a->msg, b->msg);
}

/* The calls every comparison makes: first calls from the host, from Wasm (direct, indirect,
 * through a host function), traps inside lazily compiled functions. */
enum { NCALLS = 9 };
static void
script(rig *r, outcome out[NCALLS])
{
    out[0] = call(r, "load", 8, 0, 1);      // first calls of load and, from Wasm, divide
    out[1] = call(r, "indirect", 1, 21, 2); // call_indirect: first call of $double
    out[2] = call(r, "via_host", 4, 0, 1);  // host import calls back into fib
    out[3] = call(r, "fib", 6, 0, 1);
    out[4] = call(r, "indirect", 0, 5, 2); // fib through the table
    out[5] = call(r, "divide", 0, 0, 1);   // integer divide by zero in divide
    out[6] = call(r, "load", 70000, 0, 1); // out of bounds memory access in load
    out[7] = call(r, "indirect", 2, 1, 2); // uninitialized element 2 in indirect
    out[8] = call(r, "divide", 4, 0, 1);
}

static cap_module_t *
load(const uint8_t *bytes, size_t len, bool lazy)
{
    cap_module_t *m = NULL;
    cap_error_t err;
    cap_status st =
        lazy ? cap_module_new_lazy(bytes, len, &m, &err) : cap_module_new(bytes, len, &m, &err);
    if (st != CAP_OK) {
        fail_msg("module: %s", err.msg);
    }
    return m;
}

/* ------------------------------------------------------------------ tests */

static void
test_lazy_compile_same_results_and_fuel(void **state)
{
    (void)state;
    rig e = {0}, z = {0};
    e.m = load(wasm_main, sizeof wasm_main, false);
    z.m = load(wasm_main, sizeof wasm_main, true);
    assert_int_equal(cap_compile_lazy_count(z.m), 0);
    outcome oe[NCALLS], oz[NCALLS];
    rig_start(&e, UINT64_MAX, 0);
    rig_start(&z, UINT64_MAX, 0);
    assert_int_equal(cap_compile_lazy_count(z.m), 0); // instantiating compiles nothing
    script(&e, oe);
    script(&z, oz);
    for (int i = 0; i < NCALLS; i++) {
        assert_same(&oe[i], &oz[i]);
    }
    assert_int_equal(oz[0].result, 100 / 1 + 0);
    assert_int_equal(oz[1].result, 42);
    assert_int_equal(oz[2].result, 4);
    assert_int_equal(oz[3].result, 8);
    assert_int_equal(oz[4].result, 5);
    assert_int_equal(oz[5].st, CAP_ERR_TRAP);
    assert_string_equal(oz[5].msg, "integer divide by zero in divide");
    assert_string_equal(oz[6].msg, "out of bounds memory access in load");
    assert_string_equal(oz[7].msg, "uninitialized element 2 in indirect");
    assert_int_equal(oz[8].result, 25);
    assert_true(oz[8].fuel > 0);
    assert_int_equal(cap_compile_lazy_count(z.m), 6); // all six functions have been called

    /* A second instance (another store) takes the compiled code and gives the same again. */
    rig_stop(&e);
    rig_stop(&z);
    rig_start(&e, UINT64_MAX, 0);
    rig_start(&z, UINT64_MAX, 0);
    script(&e, oe);
    script(&z, oz);
    for (int i = 0; i < NCALLS; i++) {
        assert_same(&oe[i], &oz[i]);
    }
    assert_int_equal(cap_compile_lazy_count(z.m), 6);
    rig_stop(&e);
    rig_stop(&z);
    cap_module_free(e.m);
    cap_module_free(z.m);
}

/* Only what is called is compiled. */
static void
test_lazy_compile_only_called(void **state)
{
    (void)state;
    rig z = {0};
    z.m = load(wasm_main, sizeof wasm_main, true);
    rig_start(&z, UINT64_MAX, 0);
    outcome o = call(&z, "fib", 10, 0, 1);
    assert_int_equal(o.result, 55);
    assert_int_equal(cap_compile_lazy_count(z.m), 1);
    o = call(&z, "indirect", 1, 4, 2);
    assert_int_equal(o.result, 8);
    assert_int_equal(cap_compile_lazy_count(z.m), 3);
    rig_stop(&z);
    cap_module_free(z.m);
}

/* Every fuel limit from 0 to what the whole script needs: each run, with a fresh lazy module (so
 * every first call happens with the limit in force), stops at exactly the same point, with the
 * same outcome and fuel consumed, as the eager module. Also with a call-depth limit. */
static void
test_lazy_compile_fuel_walk(void **state)
{
    (void)state;
    rig e = {0};
    e.m = load(wasm_main, sizeof wasm_main, false);
    rig_start(&e, UINT64_MAX, 0);
    outcome full[NCALLS];
    script(&e, full);
    rig_stop(&e);
    uint64_t total = full[NCALLS - 1].fuel;
    assert_true(total > 100 && total < 1000); // each limit takes a few milliseconds
    for (uint64_t limit = 0; limit <= total + 1; limit++) {
        rig z = {0};
        z.m = load(wasm_main, sizeof wasm_main, true);
        outcome oe[NCALLS], oz[NCALLS];
        rig_start(&e, limit, limit % 7 == 3 ? 4 : 0);
        rig_start(&z, limit, limit % 7 == 3 ? 4 : 0);
        script(&e, oe);
        script(&z, oz);
        for (int i = 0; i < NCALLS; i++) {
            assert_same(&oe[i], &oz[i]);
        }
        rig_stop(&e);
        rig_stop(&z);
        cap_module_free(z.m);
    }
    cap_module_free(e.m);
}

/* Deep recursion hits the call-depth limit in the same place and with the same message. */
static void
test_lazy_compile_stack_exhausted(void **state)
{
    (void)state;
    rig e = {0}, z = {0};
    e.m = load(wasm_main, sizeof wasm_main, false);
    z.m = load(wasm_main, sizeof wasm_main, true);
    rig_start(&e, UINT64_MAX, 5);
    rig_start(&z, UINT64_MAX, 5);
    outcome a = call(&e, "fib", 20, 0, 1), b = call(&z, "fib", 20, 0, 1);
    assert_same(&a, &b);
    assert_int_equal(b.trap, CAP_TRAP_STACK_EXHAUSTED);
    assert_string_equal(b.msg, "call stack exhausted in fib");
    rig_stop(&e);
    rig_stop(&z);
    cap_module_free(e.m);
    cap_module_free(z.m);
}

static cap_status
call0(cap_store_t *s, cap_instance_t *inst, const char *name, uint32_t *result, cap_error_t *err)
{
    cap_val_t res;
    size_t nres = result ? 1 : 0;
    cap_status st = cap_func_call(s, export_func(inst, name), NULL, 0, &res, nres, err);
    if (st == CAP_OK && result) {
        *result = res.of.i32;
    }
    return st;
}

/* An invalid body stops neither loading nor instantiation nor other calls: calling it fails
 * with CAP_ERR_INVALID naming it, from the host and from Wasm, every time. */
static void
test_lazy_compile_invalid_body(void **state)
{
    (void)state;
    cap_module_t *m = NULL;
    cap_error_t err;
    assert_int_equal(cap_module_new(wasm_bad, sizeof wasm_bad, &m, &err), CAP_ERR_INVALID);
    assert_null(m);
    assert_int_equal(cap_module_new_lazy(wasm_bad, sizeof wasm_bad, &m, &err), CAP_OK);
    cap_store_t *s;
    cap_instance_t *inst;
    assert_int_equal(cap_store_new(&s, &err), CAP_OK);
    assert_int_equal(cap_instance_new(s, m, NULL, &inst, &err), CAP_OK);
    uint32_t r = 0;
    assert_int_equal(call0(s, inst, "good", &r, &err), CAP_OK);
    assert_int_equal(r, 7);
    uint64_t fuel = cap_store_fuel_consumed(s);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(call0(s, inst, "bad", &r, &err), CAP_ERR_INVALID);
        assert_int_equal(err.status, CAP_ERR_INVALID);
        assert_string_equal(err.msg, "type mismatch in bad");
        assert_int_equal(err.func_index, 1);
        assert_true(err.offset != UINT64_MAX && err.offset < sizeof wasm_bad);
        assert_int_equal(cap_store_fuel_consumed(s), fuel); // nothing ran
        assert_int_equal(call0(s, inst, "call_bad", &r, &err), CAP_ERR_INVALID);
        assert_string_equal(err.msg, "type mismatch in bad");
        /* As when a call traps: call_bad's entry, i32.const and the call itself are charged,
         * nothing of bad (what follows the call is charged only on return). */
        assert_int_equal(cap_store_fuel_consumed(s), fuel + 3);
        fuel = cap_store_fuel_consumed(s);
        /* With no error record the status still says it. */
        assert_int_equal(call0(s, inst, "bad", &r, NULL), CAP_ERR_INVALID);
    }
    assert_int_equal(call0(s, inst, "good", &r, &err), CAP_OK);
    assert_int_equal(r, 7);
    assert_int_equal(cap_compile_lazy_count(m), 2); // good and call_bad
    cap_store_free(s);
    cap_module_free(m);
}

static void
test_lazy_compile_malformed_body(void **state)
{
    (void)state;
    cap_module_t *m = NULL;
    cap_error_t err;
    assert_int_equal(cap_module_new(wasm_malformed, sizeof wasm_malformed, &m, &err),
                     CAP_ERR_MALFORMED);
    assert_string_equal(err.msg, "illegal opcode");
    assert_int_equal(cap_module_new_lazy(wasm_malformed, sizeof wasm_malformed, &m, &err), CAP_OK);
    cap_store_t *s;
    cap_instance_t *inst;
    assert_int_equal(cap_store_new(&s, &err), CAP_OK);
    assert_int_equal(cap_instance_new(s, m, NULL, &inst, &err), CAP_OK);
    assert_int_equal(call0(s, inst, "ok", NULL, &err), CAP_OK);
    assert_int_equal(call0(s, inst, "m", NULL, &err), CAP_ERR_MALFORMED);
    assert_string_equal(err.msg, "illegal opcode in function 0");
    assert_int_equal(err.func_index, 0);
    assert_int_equal(call0(s, inst, "ok", NULL, &err), CAP_OK);
    cap_store_free(s);
    cap_module_free(m);
}

/* ---- threads */

/* Builds a module of n functions f_k(x) = f_{k-1}(x) + 1 (f_0(x) = x), each exported as "f<k>",
 * so threads that call them in different orders race to compile the same bodies. */
#define CHAIN_N 400

typedef struct bytes {
    uint8_t b[64 * 1024];
    size_t n;
} bytes;

static void
put(bytes *o, uint8_t v)
{
    assert_true(o->n < sizeof o->b);
    o->b[o->n++] = v;
}

static void
put_leb(bytes *o, uint32_t v)
{
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        put(o, (uint8_t)(c | (v ? 0x80 : 0)));
    } while (v);
}

static void
put_section(bytes *o, uint8_t id, const bytes *sec)
{
    put(o, id);
    put_leb(o, (uint32_t)sec->n);
    for (size_t i = 0; i < sec->n; i++) {
        put(o, sec->b[i]);
    }
}

static bytes chain_mod, chain_sec;

static void
build_chain(void)
{
    static const uint8_t head[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t type[] = {0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f};
    bytes *o = &chain_mod, *sec = &chain_sec;
    o->n = 0;
    for (size_t i = 0; i < sizeof head; i++) {
        put(o, head[i]);
    }
    sec->n = 0;
    for (size_t i = 0; i < sizeof type; i++) {
        put(sec, type[i]);
    }
    put_section(o, 1, sec);
    sec->n = 0;
    put_leb(sec, CHAIN_N);
    for (uint32_t k = 0; k < CHAIN_N; k++) {
        put(sec, 0);
    }
    put_section(o, 3, sec);
    sec->n = 0;
    put_leb(sec, CHAIN_N);
    for (uint32_t k = 0; k < CHAIN_N; k++) {
        char name[16];
        int len = snprintf(name, sizeof name, "f%u", k);
        put_leb(sec, (uint32_t)len);
        for (int i = 0; i < len; i++) {
            put(sec, (uint8_t)name[i]);
        }
        put(sec, 0x00);
        put_leb(sec, k);
    }
    put_section(o, 7, sec);
    sec->n = 0;
    put_leb(sec, CHAIN_N);
    for (uint32_t k = 0; k < CHAIN_N; k++) {
        bytes body = {.n = 0};
        put(&body, 0x00); // no locals
        put(&body, 0x20); // local.get 0
        put(&body, 0x00);
        if (k > 0) {
            put(&body, 0x10); // call k-1
            put_leb(&body, k - 1);
            put(&body, 0x41); // i32.const 1
            put(&body, 0x01);
            put(&body, 0x6a); // i32.add
        }
        put(&body, 0x0b);
        put_leb(sec, (uint32_t)body.n);
        for (size_t i = 0; i < body.n; i++) {
            put(sec, body.b[i]);
        }
    }
    put_section(o, 10, sec);
}

enum { NTHREADS = 4 };

typedef struct worker {
    const cap_module_t *chain;
    const cap_module_t *main;
    pthread_barrier_t *barrier;
    int id;
    int failures;
} worker;

static void *
worker_run(void *arg)
{
    worker *w = arg;
    cap_error_t err;
    cap_store_t *s = NULL;
    cap_instance_t *inst = NULL;
    if (cap_store_new(&s, &err) != CAP_OK ||
        cap_instance_new(s, w->chain, NULL, &inst, &err) != CAP_OK) {
        w->failures++;
        cap_store_free(s);
        return NULL;
    }
    pthread_barrier_wait(w->barrier);
    for (uint32_t i = 0; i < CHAIN_N; i++) {
        /* Threads walk the functions in different orders: up, down, from the middle. */
        uint32_t k = w->id % 2 ? CHAIN_N - 1 - i : (i + (uint32_t)w->id * 97) % CHAIN_N;
        char name[16];
        snprintf(name, sizeof name, "f%u", k);
        cap_extern_t e;
        cap_val_t a = {.type = CAP_I32, .of.i32 = (uint32_t)w->id * 1000};
        cap_val_t r;
        if (cap_instance_export(inst, name, &e, &err) != CAP_OK ||
            cap_func_call(s, e.of.func, &a, 1, &r, 1, &err) != CAP_OK ||
            r.of.i32 != (uint32_t)w->id * 1000 + k) {
            w->failures++;
        }
    }
    cap_store_free(s);

    /* The main module too, with its host import, in a store of this thread. */
    rig z = {0};
    z.m = (cap_module_t *)w->main;
    static const cap_valtype i32[1] = {CAP_I32};
    cap_functype_t ft = {1, 1, i32, i32};
    if (cap_store_new(&z.s, &err) != CAP_OK || cap_linker_new(&z.l, &err) != CAP_OK ||
        cap_linker_define_host(z.l, z.s, "env", "host", &ft, host_fib, &z, &err) != CAP_OK ||
        cap_instance_new(z.s, z.m, z.l, &z.inst, &err) != CAP_OK) {
        w->failures++;
    } else {
        cap_extern_t e;
        cap_val_t a[2] = {{.type = CAP_I32, .of.i32 = 1}, {.type = CAP_I32, .of.i32 = 15}};
        cap_val_t r;
        cap_instance_export(z.inst, "fib", &e, &err);
        z.fib = e.of.func;
        cap_instance_export(z.inst, "via_host", &e, &err);
        if (cap_func_call(z.s, e.of.func, a + 1, 1, &r, 1, &err) != CAP_OK || r.of.i32 != 611) {
            w->failures++;
        }
        cap_instance_export(z.inst, "indirect", &e, &err);
        if (cap_func_call(z.s, e.of.func, a, 2, &r, 1, &err) != CAP_OK || r.of.i32 != 30) {
            w->failures++;
        }
    }
    cap_linker_free(z.l);
    cap_store_free(z.s);
    return NULL;
}

static void
test_lazy_compile_threads(void **state)
{
    (void)state;
    build_chain();
    for (int round = 0; round < 20; round++) {
        cap_module_t *chain = load(chain_mod.b, chain_mod.n, true);
        cap_module_t *m = load(wasm_main, sizeof wasm_main, true);
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, NTHREADS);
        pthread_t t[NTHREADS];
        worker w[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
            w[i] = (worker){chain, m, &barrier, i, 0};
            assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
        }
        for (int i = 0; i < NTHREADS; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(w[i].failures, 0);
        }
        pthread_barrier_destroy(&barrier);
        assert_int_equal(cap_compile_lazy_count(chain), CHAIN_N); // each compiled exactly once
        assert_int_equal(cap_compile_lazy_count(m), 4);           // via_host, fib, indirect, double
        cap_module_free(chain);
        cap_module_free(m);
    }
}

/* ---- out of memory */

/* Fails the Nth allocation of a first call (which compiles load and divide, and creates the
 * store's stacks) for N = 1, 2, ... until the call succeeds. Each failure must be CAP_ERR_NOMEM
 * (or the call-stack trap that a failed stack allocation is), leak nothing (LeakSanitizer), and
 * leave the module usable: the same call then succeeds with the same result and fuel. */
static void
test_lazy_compile_oom_first_call(void **state)
{
    (void)state;
    rig e = {0};
    e.m = load(wasm_main, sizeof wasm_main, false);
    rig_start(&e, UINT64_MAX, 0);
    outcome want = call(&e, "load", 8, 0, 1);
    rig_stop(&e);
    cap_module_free(e.m);
    int nomem = 0;
    for (uint64_t n = 1; n < 10000; n++) {
        rig z = {0};
        z.m = load(wasm_main, sizeof wasm_main, true);
        rig_start(&z, UINT64_MAX, 0);
        cap_alloc_fail_after(n);
        outcome o = call(&z, "load", 8, 0, 1);
        cap_alloc_fail_after(0);
        if (o.st == CAP_OK) {
            assert_same(&o, &want);
            rig_stop(&z);
            cap_module_free(z.m);
            assert_true(nomem > 0);
            return;
        }
        if (o.st == CAP_ERR_NOMEM) {
            nomem++;
        } else {
            assert_int_equal(o.st, CAP_ERR_TRAP);
            assert_int_equal(o.trap, CAP_TRAP_STACK_EXHAUSTED);
        }
        /* The module and the store still work. */
        rig_stop(&z);
        rig_start(&z, UINT64_MAX, 0);
        o = call(&z, "load", 8, 0, 1);
        assert_same(&o, &want);
        rig_stop(&z);
        cap_module_free(z.m);
    }
    fail_msg("the walk did not end");
}

/* Loading a lazy module under allocation failures: CAP_ERR_NOMEM and no leak, every time. */
static void
test_lazy_compile_oom_load(void **state)
{
    (void)state;
    for (uint64_t n = 1; n < 10000; n++) {
        cap_module_t *m = NULL;
        cap_error_t err;
        cap_alloc_fail_after(n);
        cap_status st = cap_module_new_lazy(wasm_main, sizeof wasm_main, &m, &err);
        cap_alloc_fail_after(0);
        if (st == CAP_OK) {
            cap_module_free(m);
            return;
        }
        assert_int_equal(st, CAP_ERR_NOMEM);
        assert_null(m);
    }
    fail_msg("the walk did not end");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_compile_same_results_and_fuel),
        cmocka_unit_test(test_lazy_compile_only_called),
        cmocka_unit_test(test_lazy_compile_fuel_walk),
        cmocka_unit_test(test_lazy_compile_stack_exhausted),
        cmocka_unit_test(test_lazy_compile_invalid_body),
        cmocka_unit_test(test_lazy_compile_malformed_body),
        cmocka_unit_test(test_lazy_compile_threads),
        cmocka_unit_test(test_lazy_compile_oom_first_call),
        cmocka_unit_test(test_lazy_compile_oom_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
