/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the interpreter through the public API: exact fuel accounting (also on traps and
 * when fuel runs out), the interrupt flag, call depth, trap codes and messages, and re-entrant
 * host calls. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capsule.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* Module binaries made with wat2wasm (wabt 1.0.32) from the text shown above each array. */
/* (module
 *   (memory 1)
 *   (table 2 funcref)
 *   (elem (i32.const 0) $empty)
 *   (func $empty (export "empty"))
 *   (func (export "loop10") (local i32)
 *     (local.set 0 (i32.const 10))
 *     (loop (br_if 0 (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))))
 *   (func (export "divtrap") (result i32)
 *     (drop (i32.div_u (i32.const 1) (i32.const 0)))
 *     (drop (i32.const 1))
 *     (i32.const 2))
 *   (func (export "spin") (loop (br 0)))
 *   (func $rec (export "rec") (param i32) (result i32)
 *     (i32.add (call $rec (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
 *   (func (export "oob") (result i32) (i32.load (i32.const 65535)))
 *   (func (export "callnull") (call_indirect (i32.const 1)))
 *   (func (export "callbad") (call_indirect (result i32) (i32.const 0)) (drop))
 *   (func (export "callout") (call_indirect (i32.const 7)))
 *   (func $fib (export "fib") (param i32) (result i32)
 *     (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
 *       (then (local.get 0))
 *       (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
 *                      (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
 * ) */
static const uint8_t fuel_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x03, 0x60, 0x00, 0x00, 0x60, 0x00,
    0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03, 0x0b, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x02, 0x01,
    0x00, 0x00, 0x00, 0x02, 0x04, 0x04, 0x01, 0x70, 0x00, 0x02, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07,
    0x54, 0x0a, 0x05, 0x65, 0x6d, 0x70, 0x74, 0x79, 0x00, 0x00, 0x06, 0x6c, 0x6f, 0x6f, 0x70, 0x31,
    0x30, 0x00, 0x01, 0x07, 0x64, 0x69, 0x76, 0x74, 0x72, 0x61, 0x70, 0x00, 0x02, 0x04, 0x73, 0x70,
    0x69, 0x6e, 0x00, 0x03, 0x03, 0x72, 0x65, 0x63, 0x00, 0x04, 0x03, 0x6f, 0x6f, 0x62, 0x00, 0x05,
    0x08, 0x63, 0x61, 0x6c, 0x6c, 0x6e, 0x75, 0x6c, 0x6c, 0x00, 0x06, 0x07, 0x63, 0x61, 0x6c, 0x6c,
    0x62, 0x61, 0x64, 0x00, 0x07, 0x07, 0x63, 0x61, 0x6c, 0x6c, 0x6f, 0x75, 0x74, 0x00, 0x08, 0x03,
    0x66, 0x69, 0x62, 0x00, 0x09, 0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x0a, 0x7c,
    0x0a, 0x02, 0x00, 0x0b, 0x14, 0x01, 0x01, 0x7f, 0x41, 0x0a, 0x21, 0x00, 0x03, 0x40, 0x20, 0x00,
    0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x0b, 0x0d, 0x00, 0x41, 0x01, 0x41, 0x00, 0x6e,
    0x1a, 0x41, 0x01, 0x1a, 0x41, 0x02, 0x0b, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, 0x0c,
    0x00, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x10, 0x04, 0x41, 0x01, 0x6a, 0x0b, 0x09, 0x00, 0x41, 0xff,
    0xff, 0x03, 0x28, 0x02, 0x00, 0x0b, 0x07, 0x00, 0x41, 0x01, 0x11, 0x00, 0x00, 0x0b, 0x08, 0x00,
    0x41, 0x00, 0x11, 0x01, 0x00, 0x1a, 0x0b, 0x07, 0x00, 0x41, 0x07, 0x11, 0x00, 0x00, 0x0b, 0x1c,
    0x00, 0x20, 0x00, 0x41, 0x02, 0x49, 0x04, 0x7f, 0x20, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b,
    0x10, 0x09, 0x20, 0x00, 0x41, 0x02, 0x6b, 0x10, 0x09, 0x6a, 0x0b, 0x0b,
};

/* (module
 *   (import "env" "cb" (func $cb (param i32) (result i32)))
 *   (func $twice (export "twice") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
 *   (func (export "outer") (param i32) (result i32)
 *     (i32.add (call $cb (local.get 0)) (i32.const 1)))
 * ) */
static const uint8_t host_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01,
    0x7f, 0x02, 0x0a, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x02, 0x63, 0x62, 0x00, 0x00, 0x03, 0x03,
    0x02, 0x00, 0x00, 0x07, 0x11, 0x02, 0x05, 0x74, 0x77, 0x69, 0x63, 0x65, 0x00, 0x01, 0x05,
    0x6f, 0x75, 0x74, 0x65, 0x72, 0x00, 0x02, 0x0a, 0x13, 0x02, 0x07, 0x00, 0x20, 0x00, 0x41,
    0x02, 0x6c, 0x0b, 0x09, 0x00, 0x20, 0x00, 0x10, 0x00, 0x41, 0x01, 0x6a, 0x0b,
};

typedef struct env {
    cap_module_t *module;
    cap_store_t *store;
    cap_instance_t *inst;
} env;

static void
env_open(env *e, const uint8_t *bytes, size_t len, cap_linker_t *linker)
{
    cap_error_t err;
    assert_int_equal(cap_module_new(bytes, len, &e->module, &err), CAP_OK);
    if (!e->store) {
        assert_int_equal(cap_store_new(&e->store, &err), CAP_OK);
    }
    assert_int_equal(cap_instance_new(e->store, e->module, linker, &e->inst, &err), CAP_OK);
}

static void
env_close(env *e)
{
    cap_store_free(e->store);
    cap_module_free(e->module);
}

static cap_func_t *
export_func(env *e, const char *name)
{
    cap_extern_t ext;
    cap_error_t err;
    assert_int_equal(cap_instance_export(e->inst, name, &ext, &err), CAP_OK);
    assert_int_equal(ext.kind, CAP_EXTERN_FUNC);
    return ext.of.func;
}

/* Calls an export taking and returning at most one i32; returns the status. */
static cap_status
call_i32(env *e, const char *name, int nargs, uint32_t arg, int nres, uint32_t *res,
         cap_error_t *err)
{
    cap_val_t a = {.type = CAP_I32, .of.i32 = arg};
    cap_val_t r = {.type = CAP_I32};
    cap_status st =
        cap_func_call(e->store, export_func(e, name), &a, (size_t)nargs, &r, (size_t)nres, err);
    if (st == CAP_OK && nres && res) {
        *res = r.of.i32;
    }
    return st;
}

static uint64_t
fuel_of(env *e, const char *name, int nargs, uint32_t arg, int nres)
{
    cap_error_t err;
    uint64_t before = cap_store_fuel_consumed(e->store);
    assert_int_equal(call_i32(e, name, nargs, arg, nres, NULL, &err), CAP_OK);
    return cap_store_fuel_consumed(e->store) - before;
}

/* wasmtime's rule: 1 per operator except nop, drop, block, loop, unreachable, return, else and
 * end, plus 1 per function entry. */
static void
test_vm_fuel_exact(void **state)
{
    (void)state;
    env e = {0};
    env_open(&e, fuel_wasm, sizeof fuel_wasm, NULL);
    assert_int_equal(fuel_of(&e, "empty", 0, 0, 0), 1);
    assert_int_equal(fuel_of(&e, "loop10", 0, 0, 0), 53);
    /* fib(10): 88 inner calls of 14 and 89 leaves of 6. */
    assert_int_equal(fuel_of(&e, "fib", 1, 10, 1), 88 * 14 + 89 * 6);
    cap_store_set_fuel(e.store, 1000000);
    assert_int_equal(fuel_of(&e, "fib", 1, 10, 1), 88 * 14 + 89 * 6);
    env_close(&e);
}

static void
test_vm_fuel_trap_refund(void **state)
{
    (void)state;
    env e = {0};
    env_open(&e, fuel_wasm, sizeof fuel_wasm, NULL);
    cap_error_t err;
    uint64_t before = cap_store_fuel_consumed(e.store);
    assert_int_equal(call_i32(&e, "divtrap", 0, 0, 1, NULL, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_DIV_ZERO);
    /* entry, i32.const, i32.const, i32.div_u: the rest of the block is given back. */
    assert_int_equal(cap_store_fuel_consumed(e.store) - before, 4);
    env_close(&e);
}

static void
test_vm_fuel_out_of_fuel(void **state)
{
    (void)state;
    env e = {0};
    env_open(&e, fuel_wasm, sizeof fuel_wasm, NULL);
    cap_error_t err;
    for (uint64_t limit = 0; limit < 60; limit++) {
        cap_store_t *s = NULL;
        assert_int_equal(cap_store_new(&s, &err), CAP_OK);
        cap_instance_t *inst;
        assert_int_equal(cap_instance_new(s, e.module, NULL, &inst, &err), CAP_OK);
        cap_store_set_fuel(s, limit);
        cap_extern_t ext;
        assert_int_equal(cap_instance_export(inst, "loop10", &ext, &err), CAP_OK);
        cap_status st = cap_func_call(s, ext.of.func, NULL, 0, NULL, 0, &err);
        uint64_t used = cap_store_fuel_consumed(s);
        assert_true(used <= limit);
        if (limit >= 53) {
            assert_int_equal(st, CAP_OK);
            assert_int_equal(used, 53);
        } else {
            assert_int_equal(st, CAP_ERR_TRAP);
            assert_int_equal(err.trap, CAP_TRAP_OUT_OF_FUEL);
            /* Whole blocks: the entry block (8), then 5 per iteration. */
            assert_true(used == 0 || (used >= 8 && (used - 8) % 5 == 0));
            assert_true(limit - used < 8);
        }
        cap_store_free(s);
    }
    env_close(&e);
}

static void *
interrupter(void *arg)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    cap_store_interrupt(arg);
    return NULL;
}

static void
test_vm_interrupt_stops_loop(void **state)
{
    (void)state;
    env e = {0};
    env_open(&e, fuel_wasm, sizeof fuel_wasm, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, interrupter, e.store), 0);
    cap_error_t err;
    assert_int_equal(call_i32(&e, "spin", 0, 0, 0, NULL, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_TIMEOUT);
    pthread_join(t, NULL);
    cap_store_clear_interrupt(e.store);
    assert_int_equal(call_i32(&e, "empty", 0, 0, 0, NULL, &err), CAP_OK);
    env_close(&e);
}

static void
test_vm_call_depth(void **state)
{
    (void)state;
    env e = {0};
    env_open(&e, fuel_wasm, sizeof fuel_wasm, NULL);
    cap_error_t err;
    for (uint32_t depth = 10; depth <= 100000; depth *= 100) {
        cap_store_set_max_call_depth(e.store, depth);
        assert_int_equal(call_i32(&e, "rec", 1, 0, 1, NULL, &err), CAP_ERR_TRAP);
        assert_int_equal(err.trap, CAP_TRAP_STACK_EXHAUSTED);
        assert_non_null(strstr(err.msg, "call stack exhausted"));
    }
    uint32_t r = 0;
    assert_int_equal(call_i32(&e, "fib", 1, 20, 1, &r, &err), CAP_OK);
    assert_int_equal(r, 6765);
    env_close(&e);
}

static void
expect_trap(env *e, const char *name, int nres, cap_trap trap, const char *msg)
{
    cap_error_t err;
    assert_int_equal(call_i32(e, name, 0, 0, nres, NULL, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, trap);
    assert_int_equal(strncmp(err.msg, msg, strlen(msg)), 0);
}

static void
test_vm_traps(void **state)
{
    (void)state;
    env e = {0};
    env_open(&e, fuel_wasm, sizeof fuel_wasm, NULL);
    expect_trap(&e, "divtrap", 1, CAP_TRAP_DIV_ZERO, "integer divide by zero");
    expect_trap(&e, "oob", 1, CAP_TRAP_MEMORY_OOB, "out of bounds memory access");
    expect_trap(&e, "callnull", 0, CAP_TRAP_UNINITIALIZED, "uninitialized element");
    expect_trap(&e, "callbad", 0, CAP_TRAP_INDIRECT_MISMATCH, "indirect call type mismatch");
    expect_trap(&e, "callout", 0, CAP_TRAP_INDIRECT_OOB, "undefined element");
    env_close(&e);
}

/* The host callback calls back into Wasm ("twice") and checks the fuel it sees. */
static cap_func_t *twice;
static uint64_t fuel_seen;

static cap_status
cb(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *envp)
{
    (void)envp;
    cap_store_t *store = cap_caller_store(caller);
    fuel_seen = cap_store_fuel_consumed(store);
    if ((uint32_t)args[0] == 99) {
        return cap_caller_exit(caller, 3);
    }
    cap_val_t a = {.type = CAP_I32, .of.i32 = (uint32_t)args[0]}, r;
    cap_error_t err;
    cap_status st = cap_func_call(store, twice, &a, 1, &r, 1, &err);
    if (st != CAP_OK) {
        return st;
    }
    results[0] = r.of.i32;
    return CAP_OK;
}

static void
test_vm_host_reentrant(void **state)
{
    (void)state;
    env e = {0};
    cap_error_t err;
    cap_linker_t *l;
    assert_int_equal(cap_store_new(&e.store, &err), CAP_OK);
    assert_int_equal(cap_linker_new(&l, &err), CAP_OK);
    cap_valtype i32 = CAP_I32;
    cap_functype_t ft = {1, 1, &i32, &i32};
    assert_int_equal(cap_linker_define_host(l, e.store, "env", "cb", &ft, cb, NULL, &err), CAP_OK);
    env_open(&e, host_wasm, sizeof host_wasm, l);
    twice = export_func(&e, "twice");
    uint32_t r = 0;
    uint64_t before = cap_store_fuel_consumed(e.store);
    assert_int_equal(call_i32(&e, "outer", 1, 20, 1, &r, &err), CAP_OK);
    assert_int_equal(r, 41);
    /* At the host call: entry, local.get, call. */
    assert_int_equal(fuel_seen - before, 3);
    /* outer: 1 + 4 operators; twice: 1 + 3. */
    assert_int_equal(cap_store_fuel_consumed(e.store) - before, 5 + 4);
    assert_int_equal(call_i32(&e, "outer", 1, 99, 1, &r, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_EXIT);
    assert_int_equal(err.exit_code, 3);
    cap_linker_free(l);
    env_close(&e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_fuel_exact),       cmocka_unit_test(test_vm_fuel_trap_refund),
        cmocka_unit_test(test_vm_fuel_out_of_fuel), cmocka_unit_test(test_vm_interrupt_stops_loop),
        cmocka_unit_test(test_vm_call_depth),       cmocka_unit_test(test_vm_traps),
        cmocka_unit_test(test_vm_host_reentrant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
