/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the task runner (src/runtime/task*.c, host_abi.c): results, limits, retries,
 * the journal, the compiled-module cache shared by threads, and 1000 tasks in a row without a
 * leaked descriptor (LeakSanitizer checks memory at exit under the asan preset). The guests are
 * tiny hand-written modules, kept here as bytes with their text form alongside. */
#include "runtime/journal.h"
#include "runtime/task.h"
#include "util/alloc.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* (module
 *   (import "capsule" "request_read" (func $rr (param i32 i32) (result i32)))
 *   (import "capsule" "result_write" (func $rw (param i32 i32) (result i32)))
 *   (memory (export "memory") 1)
 *   (data (i32.const 0) "{\"result\": 42}")
 *   (func (export "capsule_run")
 *     (drop (call $rr (i32.const 1024) (i32.const 1024)))
 *     (drop (call $rw (i32.const 0) (i32.const 14))))) */
static const uint8_t ok_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x02, 0x7f, 0x7f,
    0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x2f, 0x02, 0x07, 0x63, 0x61, 0x70, 0x73, 0x75, 0x6c,
    0x65, 0x0c, 0x72, 0x65, 0x71, 0x75, 0x65, 0x73, 0x74, 0x5f, 0x72, 0x65, 0x61, 0x64, 0x00,
    0x00, 0x07, 0x63, 0x61, 0x70, 0x73, 0x75, 0x6c, 0x65, 0x0c, 0x72, 0x65, 0x73, 0x75, 0x6c,
    0x74, 0x5f, 0x77, 0x72, 0x69, 0x74, 0x65, 0x00, 0x00, 0x03, 0x02, 0x01, 0x01, 0x05, 0x03,
    0x01, 0x00, 0x01, 0x07, 0x18, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
    0x0b, 0x63, 0x61, 0x70, 0x73, 0x75, 0x6c, 0x65, 0x5f, 0x72, 0x75, 0x6e, 0x00, 0x02, 0x0a,
    0x14, 0x01, 0x12, 0x00, 0x41, 0x80, 0x08, 0x41, 0x80, 0x08, 0x10, 0x00, 0x1a, 0x41, 0x00,
    0x41, 0x0e, 0x10, 0x01, 0x1a, 0x0b, 0x0b, 0x14, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x0e, 0x7b,
    0x22, 0x72, 0x65, 0x73, 0x75, 0x6c, 0x74, 0x22, 0x3a, 0x20, 0x34, 0x32, 0x7d,
};

/* (module (memory (export "memory") 1) (func (export "capsule_run") (loop $l (br $l)))) */
static const uint8_t spin_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03,
    0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x18, 0x02, 0x06, 0x6d, 0x65, 0x6d,
    0x6f, 0x72, 0x79, 0x02, 0x00, 0x0b, 0x63, 0x61, 0x70, 0x73, 0x75, 0x6c, 0x65, 0x5f, 0x72,
    0x75, 0x6e, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b,
};

/* (module
 *   (import "capsule" "result_write" (func $rw (param i32 i32) (result i32)))
 *   (memory (export "memory") 1)
 *   (data (i32.const 0) "{\"message\": \"no\"}")
 *   (func (export "capsule_run") (drop (call $rw (i32.const 0) (i32.const 17))))) */
static const uint8_t fail_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x02, 0x7f, 0x7f,
    0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x18, 0x01, 0x07, 0x63, 0x61, 0x70, 0x73, 0x75, 0x6c,
    0x65, 0x0c, 0x72, 0x65, 0x73, 0x75, 0x6c, 0x74, 0x5f, 0x77, 0x72, 0x69, 0x74, 0x65, 0x00,
    0x00, 0x03, 0x02, 0x01, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x18, 0x02, 0x06, 0x6d,
    0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x0b, 0x63, 0x61, 0x70, 0x73, 0x75, 0x6c, 0x65,
    0x5f, 0x72, 0x75, 0x6e, 0x00, 0x01, 0x0a, 0x0b, 0x01, 0x09, 0x00, 0x41, 0x00, 0x41, 0x11,
    0x10, 0x00, 0x1a, 0x0b, 0x0b, 0x17, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x11, 0x7b, 0x22, 0x6d,
    0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x22, 0x3a, 0x20, 0x22, 0x6e, 0x6f, 0x22, 0x7d,
};

typedef struct fixture {
    char dir[64];
    char wasm[96]; // dir/ok.wasm
    cap_journal_t *j;
    cap_task_runner *rt;
    cap_policy_t eff;
} fixture;

static void
write_file(const char *path, const uint8_t *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/capsule-test-task-XXXXXX");
    if (!mkdtemp(f->dir)) {
        return -1;
    }
    snprintf(f->wasm, sizeof f->wasm, "%s/ok.wasm", f->dir);
    write_file(f->wasm, ok_wasm, sizeof ok_wasm);
    cap_error_t err;
    if (cap_journal_open(f->dir, &f->j, &err) != CAP_OK ||
        cap_task_runner_new(NULL, f->j, &f->rt, &err) != CAP_OK ||
        cap_policy_resolve_into(&f->eff, NULL, NULL, &err) != CAP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    cap_task_runner_free(f->rt);
    cap_journal_close(f->j);
    cap_policy_clear(&f->eff);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static unsigned
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    unsigned n = 0;
    if (!d) {
        return 0;
    }
    while (readdir(d)) {
        n++;
    }
    closedir(d);
    return n;
}

/* Runs a spec and returns the envelope (clear it afterwards). */
static void
run(fixture *f, cap_task_spec *spec, cap_task_result *r)
{
    cap_error_t err;
    if (!spec->policy) {
        spec->policy = &f->eff;
    }
    assert_int_equal(cap_task_run(f->rt, spec, r, &err), CAP_OK);
}

static void
test_task_result_and_journal(void **state)
{
    fixture *f = *state;
    cap_task_spec spec;
    cap_task_spec_init(&spec);
    spec.file = f->wasm;
    cap_task_result r;
    run(f, &spec, &r);
    assert_true(r.success);
    assert_true(json_is_integer(r.result) && json_integer_value(r.result) == 42);
    assert_string_equal(r.task_name, "main");
    assert_true(r.task_id > 0);
    assert_int_equal(r.retries, 0);
    assert_true(r.fuel_consumed > 0);
    assert_int_equal(r.ram_used, 65536);
    cap_journal_run row;
    cap_error_t err;
    assert_int_equal(cap_journal_get(f->j, r.task_id, &row, &err), CAP_OK);
    assert_int_equal(row.status, CAP_RUN_COMPLETED);
    assert_int_equal(row.attempts, 1);
    assert_string_equal(row.result_json, "42");
    cap_journal_run_clear(&row);
    cap_task_result_clear(&r);
}

static void
test_task_limits_and_retries(void **state)
{
    fixture *f = *state;
    cap_cached_module *spin = NULL, *fail = NULL;
    cap_error_t err;
    cap_module_cache *cache = cap_task_runner_cache(f->rt);
    assert_int_equal(cap_module_cache_load_bytes(cache, spin_wasm, sizeof spin_wasm, &spin, &err),
                     CAP_OK);
    assert_int_equal(cap_module_cache_load_bytes(cache, fail_wasm, sizeof fail_wasm, &fail, &err),
                     CAP_OK);
    cap_policy_t *p = NULL, eff;
    memset(&eff, 0, sizeof eff);
    assert_int_equal(cap_policy_new(&p, &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "compute", "10000", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "max_retries", "2", &err), CAP_OK);
    assert_int_equal(cap_policy_resolve_into(&eff, p, NULL, &err), CAP_OK);

    cap_task_spec spec;
    cap_task_spec_init(&spec);
    spec.module = spin;
    spec.policy = &eff;
    cap_task_result r;
    run(f, &spec, &r);
    assert_false(r.success);
    assert_int_equal(r.error_type, CAP_ERRTYPE_OUT_OF_FUEL);
    assert_string_equal(r.error_message, "out of fuel after 10000 units");
    assert_int_equal(r.retries, 2);
    assert_true(r.fuel_consumed <= 10000);
    cap_task_result_clear(&r);

    spec.module = fail;
    run(f, &spec, &r);
    assert_int_equal(r.error_type, CAP_ERRTYPE_TASK_ERROR);
    assert_string_equal(r.error_message, "no");
    assert_int_equal(r.retries, 2);
    cap_journal_run row;
    assert_int_equal(cap_journal_get(f->j, r.task_id, &row, &err), CAP_OK);
    assert_int_equal(row.status, CAP_RUN_FAILED);
    assert_int_equal(row.attempts, 3);
    cap_journal_run_clear(&row);
    cap_task_result_clear(&r);

    /* The timeout pre-empts a spinning guest. */
    assert_int_equal(cap_policy_set(p, "compute", "HIGH", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "timeout", "100ms", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "max_retries", "0", &err), CAP_OK);
    cap_policy_clear(&eff);
    assert_int_equal(cap_policy_resolve_into(&eff, p, NULL, &err), CAP_OK);
    spec.module = spin;
    run(f, &spec, &r);
    assert_int_equal(r.error_type, CAP_ERRTYPE_TIMEOUT);
    assert_string_equal(r.error_message, "timeout after 100ms");
    assert_true(r.duration_ms < 5000);
    cap_task_result_clear(&r);

    cap_module_cache_release(spin);
    cap_module_cache_release(fail);
    cap_policy_clear(&eff);
    cap_policy_free(p);
}

static void
test_task_missing_module(void **state)
{
    fixture *f = *state;
    cap_task_spec spec;
    cap_task_spec_init(&spec);
    spec.file = "/nonexistent/x.wasm";
    cap_task_result r;
    run(f, &spec, &r);
    assert_false(r.success);
    assert_int_equal(r.error_type, CAP_ERRTYPE_HOST_ERROR);
    assert_non_null(strstr(r.error_message, "/nonexistent/x.wasm"));
    cap_task_result_clear(&r);
}

/* 1000 tasks in a row, each with a mounted directory and a journal row: no descriptor may be
 * left open (and LeakSanitizer finds no leaked memory at exit). */
static void
test_task_thousand_runs_no_leak(void **state)
{
    fixture *f = *state;
    cap_policy_t *p = NULL, eff;
    memset(&eff, 0, sizeof eff);
    cap_error_t err;
    char mount[96];
    snprintf(mount, sizeof mount, "%s::/data", f->dir);
    assert_int_equal(cap_policy_new(&p, &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "allowed_files", mount, &err), CAP_OK);
    assert_int_equal(cap_policy_resolve_into(&eff, p, NULL, &err), CAP_OK);
    cap_task_spec spec;
    cap_task_spec_init(&spec);
    spec.file = f->wasm;
    spec.policy = &eff;
    json_t *args = json_pack("[s, i]", "x", 1);
    spec.args = args;
    cap_task_result r;
    run(f, &spec, &r); // warm up: the module cache, SQLite's statements
    cap_task_result_clear(&r);
    unsigned fds = count_fds();
    for (int i = 0; i < 1000; i++) {
        run(f, &spec, &r);
        assert_true(r.success);
        cap_task_result_clear(&r);
    }
    assert_int_equal(count_fds(), fds);
    assert_int_equal(cap_module_cache_compiles(cap_task_runner_cache(f->rt)), 1);
    json_decref(args);
    cap_policy_clear(&eff);
    cap_policy_free(p);
}

typedef struct thread_arg {
    fixture *f;
    int ok;
} thread_arg;

static void *
runner_thread(void *a)
{
    thread_arg *t = a;
    cap_task_spec spec;
    cap_task_spec_init(&spec);
    spec.file = t->f->wasm;
    spec.policy = &t->f->eff;
    for (int i = 0; i < 25; i++) {
        cap_task_result r;
        cap_error_t err;
        if (cap_task_run(t->f->rt, &spec, &r, &err) == CAP_OK && r.success) {
            t->ok++;
        }
        cap_task_result_clear(&r);
    }
    return NULL;
}

/* Threads share one runner: one compiled module, one journal, serialised writes. */
static void
test_task_threads_share_cache(void **state)
{
    fixture *f = *state;
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].f = f;
        args[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, runner_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 25);
    }
    assert_int_equal(cap_module_cache_compiles(cap_task_runner_cache(f->rt)), 1);
    cap_journal_run *runs = NULL;
    size_t n = 0;
    cap_error_t err;
    assert_int_equal(cap_journal_list(f->j, NULL, "completed", 1000, false, &runs, &n, &err),
                     CAP_OK);
    assert_int_equal(n, 100);
    for (size_t i = 0; i < n; i++) {
        cap_journal_run_clear(&runs[i]);
    }
    cap_free(runs);
}

static void
test_task_sha256_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t h[32];
        char hex[65];
        cap_sha256((const uint8_t *)v[i].in, strlen(v[i].in), h);
        for (int b = 0; b < 32; b++) {
            snprintf(hex + 2 * b, 3, "%02x", h[b]);
        }
        assert_string_equal(hex, v[i].hex);
    }
    /* A million 'a's crosses many blocks and the two-block padding case. */
    size_t n = 1000000;
    uint8_t *a = malloc(n);
    memset(a, 'a', n);
    uint8_t h[32];
    cap_sha256(a, n, h);
    free(a);
    assert_int_equal(h[0], 0xcd);
    assert_int_equal(h[1], 0xc7);
    assert_int_equal(h[31], 0xd0);
}

/* Fails each allocation of a run in turn (SQLite-style fault injection): every failure must end
 * as an envelope or CAP_ERR_NOMEM, never a crash or a leak. No journal: SQLite allocates outside
 * cap_alloc. */
static void
test_task_allocation_failure_walk(void **state)
{
    (void)state;
    cap_task_runner *rt = NULL;
    cap_error_t err;
    cap_policy_t eff;
    memset(&eff, 0, sizeof eff);
    assert_int_equal(cap_task_runner_new(NULL, NULL, &rt, &err), CAP_OK);
    assert_int_equal(cap_policy_resolve_into(&eff, NULL, NULL, &err), CAP_OK);
    cap_task_spec spec;
    cap_task_spec_init(&spec);
    spec.policy = &eff;
    bool clean = false;
    unsigned failed_runs = 0;
    for (uint64_t n = 1; n < 100000 && !clean; n++) {
        cap_cached_module *m = NULL;
        /* A fresh module each time, so that decoding and compiling are walked too. */
        cap_module_cache *cache = NULL;
        assert_int_equal(cap_module_cache_new(&cache, &err), CAP_OK);
        cap_alloc_fail_after(n);
        cap_status st = cap_module_cache_load_bytes(cache, ok_wasm, sizeof ok_wasm, &m, &err);
        cap_task_result r;
        cap_task_result_init(&r);
        if (st == CAP_OK) {
            spec.module = m;
            st = cap_task_run(rt, &spec, &r, &err);
        }
        uint64_t used = cap_alloc_count();
        cap_alloc_fail_after(0);
        clean = st == CAP_OK && r.success && used < n;
        if (!clean) {
            failed_runs++;
            assert_true(st == CAP_OK || st == CAP_ERR_NOMEM);
            assert_true(st != CAP_OK || !r.success || used >= n);
        }
        cap_task_result_clear(&r);
        cap_module_cache_release(m);
        cap_module_cache_free(cache);
    }
    assert_true(clean);
    assert_true(failed_runs > 10);
    cap_policy_clear(&eff);
    cap_task_runner_free(rt);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_task_result_and_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_task_limits_and_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_task_missing_module, setup, teardown),
        cmocka_unit_test_setup_teardown(test_task_thousand_runs_no_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_task_threads_share_cache, setup, teardown),
        cmocka_unit_test(test_task_sha256_vectors),
        cmocka_unit_test(test_task_allocation_failure_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
