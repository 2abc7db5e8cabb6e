/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the lifecycle journal (src/runtime/journal.c): the run lifecycle, sub-task
 * trees, the ps/logs readers, repair after a killed process, and concurrent writers. */
#include "runtime/journal.h"
#include "util/alloc.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    char dir[64];
    cap_journal_t *j;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/capsule-test-journal-XXXXXX");
    if (!mkdtemp(f->dir)) {
        return -1;
    }
    cap_error_t err;
    if (cap_journal_open(f->dir, &f->j, &err) != CAP_OK) {
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
    cap_journal_close(f->j);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int64_t
begin(cap_journal_t *j, int64_t parent, const char *name)
{
    int64_t id = 0;
    cap_error_t err;
    cap_status st =
        cap_journal_begin(j, parent, name, "task.wasm", "{\"compute\":100}", "[\"5\"]", &id, &err);
    if (st != CAP_OK) {
        fprintf(stderr, "%s\n", err.msg);
    }
    assert_int_equal(st, CAP_OK);
    assert_true(id > 0);
    return id;
}

static void
finish_ok(cap_journal_t *j, int64_t id, const char *name)
{
    cap_task_result r;
    cap_task_result_init(&r);
    cap_task_result_set_name(&r, name);
    assert_int_equal(cap_task_result_from_guest(&r, "{\"result\": [1, 2]}", 18, NULL), CAP_OK);
    r.duration_ms = 12;
    r.fuel_consumed = 45000;
    r.ram_used = 65536;
    cap_task_result_set_output(&r, 1, cap_strdup("hello\n"), 6, false);
    assert_int_equal(cap_journal_finish(j, id, &r, NULL), CAP_OK);
    cap_task_result_clear(&r);
}

static void
test_journal_file_and_wal(void **state)
{
    fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/.capsule/journal.db", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    // Opening again (and a second handle at once) works.
    cap_journal_t *j2 = NULL;
    assert_int_equal(cap_journal_open(f->dir, &j2, NULL), CAP_OK);
    cap_journal_close(j2);
    cap_journal_close(NULL);
}

static void
test_journal_lifecycle(void **state)
{
    fixture *f = *state;
    cap_error_t err;
    int64_t id = begin(f->j, 0, "main");
    cap_journal_run r;
    assert_int_equal(cap_journal_get(f->j, id, &r, &err), CAP_OK);
    assert_int_equal(r.status, CAP_RUN_CREATED);
    assert_string_equal(r.task_name, "main");
    assert_string_equal(r.file, "task.wasm");
    assert_string_equal(r.policy_json, "{\"compute\":100}");
    assert_int_equal(r.root_id, id);
    assert_int_equal(r.parent_id, 0);
    assert_true(r.created_at > 0);
    assert_int_equal(r.started_at, 0);
    assert_int_equal(r.pid, getpid());
    cap_journal_run_clear(&r);

    assert_int_equal(cap_journal_attempt(f->j, id, 1, &err), CAP_OK);
    assert_int_equal(cap_journal_get(f->j, id, &r, &err), CAP_OK);
    assert_int_equal(r.status, CAP_RUN_RUNNING);
    assert_int_equal(r.attempts, 1);
    int64_t started = r.started_at;
    assert_true(started > 0);
    cap_journal_run_clear(&r);
    assert_int_equal(cap_journal_attempt(f->j, id, 2, &err), CAP_OK);
    assert_int_equal(cap_journal_log(f->j, id, "info", "retrying after a trap", &err), CAP_OK);

    // A failed run keeps its error and its (binary) output.
    cap_task_result res;
    cap_task_result_init(&res);
    cap_task_result_fail(&res, CAP_ERRTYPE_OUT_OF_FUEL, "out of fuel after %d units", 100);
    res.retries = 1;
    res.fuel_consumed = 100;
    cap_task_result_set_output(&res, 2, cap_strndup("e\0rr\xff", 5), 5, true);
    assert_int_equal(cap_journal_finish(f->j, id, &res, &err), CAP_OK);
    cap_task_result_clear(&res);
    assert_int_equal(cap_journal_get(f->j, id, &r, &err), CAP_OK);
    assert_int_equal(r.status, CAP_RUN_FAILED);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(r.started_at, started);
    assert_true(r.finished_at >= started);
    assert_string_equal(r.error_type, "out_of_fuel");
    assert_string_equal(r.error_message, "out of fuel after 100 units");
    assert_null(r.result_json);
    assert_int_equal(r.err.len, 5);
    assert_memory_equal(r.err.data, "e\0rr\xff", 5);
    assert_true(r.err.truncated);
    assert_null(r.out.data);
    cap_journal_run_clear(&r);

    int64_t ok = begin(f->j, 0, "main");
    finish_ok(f->j, ok, "main");
    assert_int_equal(cap_journal_get(f->j, ok, &r, &err), CAP_OK);
    assert_int_equal(r.status, CAP_RUN_COMPLETED);
    assert_string_equal(r.result_json, "[1,2]");
    assert_null(r.error_type);
    assert_int_equal(r.attempts, 1);
    assert_true(r.fuel_consumed == 45000);
    assert_true(r.started_at > 0); // set at finish when no attempt was recorded
    cap_journal_run_clear(&r);

    assert_int_equal(cap_journal_get(f->j, 9999, &r, &err), CAP_ERR_CONFIG);
    assert_string_equal(err.msg, "no run with id 9999");
    cap_task_result_init(&res);
    assert_int_equal(cap_journal_finish(f->j, 9999, &res, &err), CAP_ERR_USAGE);
    // A parent that does not exist is refused by the foreign key.
    int64_t bad = 0;
    assert_int_equal(cap_journal_begin(f->j, 9999, "x", NULL, NULL, NULL, &bad, &err), CAP_ERR_IO);
}

static void
test_journal_ps_tree(void **state)
{
    fixture *f = *state;
    cap_error_t err;
    int64_t root = begin(f->j, 0, "main");
    int64_t a = begin(f->j, root, "crunch");
    int64_t b = begin(f->j, root, "crunch");
    int64_t c = begin(f->j, a, "leaf");
    finish_ok(f->j, c, "leaf");
    finish_ok(f->j, a, "crunch");
    cap_task_result res;
    cap_task_result_init(&res);
    cap_task_result_fail(&res, CAP_ERRTYPE_DENIED, "denied: nope");
    assert_int_equal(cap_journal_finish(f->j, b, &res, &err), CAP_OK);
    cap_task_result_clear(&res);
    finish_ok(f->j, root, "main");
    int64_t other = begin(f->j, 0, "other");

    cap_journal_run r;
    assert_int_equal(cap_journal_get(f->j, c, &r, &err), CAP_OK);
    assert_int_equal(r.root_id, root);
    assert_int_equal(r.parent_id, a);
    cap_journal_run_clear(&r);

    char *out = NULL;
    assert_int_equal(cap_journal_ps(f->j, NULL, NULL, 0, CAP_PS_JSON, &out, &err), CAP_OK);
    json_t *arr = json_loads(out, 0, NULL);
    cap_string_free(out);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 2); // top-level runs only, newest first
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), other);
    json_t *m = json_array_get(arr, 1);
    assert_string_equal(json_string_value(json_object_get(m, "status")), "completed");
    json_t *kids = json_object_get(m, "children");
    assert_int_equal(json_array_size(kids), 2);
    json_t *ka = json_array_get(kids, 0);
    assert_int_equal(json_integer_value(json_object_get(ka, "id")), a);
    assert_int_equal(json_array_size(json_object_get(ka, "children")), 1);
    json_t *kb = json_array_get(kids, 1);
    assert_string_equal(json_string_value(json_object_get(kb, "error_type")), "denied");
    assert_string_equal(json_string_value(json_object_get(kb, "status")), "failed");
    json_decref(arr);

    // Filters, flat listing, limits.
    assert_int_equal(cap_journal_ps(f->j, "crunch", NULL, 0, CAP_PS_JSON | CAP_PS_FLAT, &out, &err),
                     CAP_OK);
    arr = json_loads(out, 0, NULL);
    cap_string_free(out);
    assert_int_equal(json_array_size(arr), 2);
    json_decref(arr);
    assert_int_equal(cap_journal_ps(f->j, NULL, "failed", 0, CAP_PS_JSON | CAP_PS_FLAT, &out, &err),
                     CAP_OK);
    arr = json_loads(out, 0, NULL);
    cap_string_free(out);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);
    assert_int_equal(cap_journal_ps(f->j, NULL, NULL, 1, CAP_PS_JSON, &out, &err), CAP_OK);
    arr = json_loads(out, 0, NULL);
    cap_string_free(out);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);
    assert_int_equal(cap_journal_ps(f->j, NULL, "done", 0, 0, &out, &err), CAP_ERR_CONFIG);
    assert_string_equal(err.msg, "unknown status \"done\" (expected created, running, "
                                 "completed, failed or lost)");
    assert_null(out);

    // The text table shows the tree.
    assert_int_equal(cap_journal_ps(f->j, NULL, NULL, 0, 0, &out, &err), CAP_OK);
    assert_non_null(strstr(out, "ID"));
    assert_non_null(strstr(out, "└─ crunch"));
    assert_non_null(strstr(out, "   └─ leaf"));
    assert_non_null(strstr(out, "denied: denied: nope"));
    cap_string_free(out);
}

static void
test_journal_logs(void **state)
{
    fixture *f = *state;
    cap_error_t err;
    int64_t root = begin(f->j, 0, "main");
    int64_t kid = begin(f->j, root, "child");
    assert_int_equal(cap_journal_log(f->j, root, "info", "hello from the guest", &err), CAP_OK);
    finish_ok(f->j, kid, "child");
    finish_ok(f->j, root, "main");
    char *out = NULL;
    assert_int_equal(cap_journal_logs(f->j, root, CAP_PS_JSON, &out, &err), CAP_OK);
    json_t *o = json_loads(out, 0, NULL);
    cap_string_free(out);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "stdout")), "hello\n");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "policy"), "compute")),
                     100);
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "args"), 0)), "5");
    assert_int_equal(json_array_size(json_object_get(o, "result")), 2);
    json_t *logs = json_object_get(o, "logs");
    assert_int_equal(json_array_size(logs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(logs, 0), "message")),
                        "hello from the guest");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "children"), 0)), kid);
    json_decref(o);
    assert_int_equal(cap_journal_logs(f->j, root, 0, &out, &err), CAP_OK);
    assert_non_null(strstr(out, "main (completed)"));
    assert_non_null(strstr(out, "--- stdout ---\nhello\n"));
    assert_non_null(strstr(out, "[info] hello from the guest"));
    cap_string_free(out);
    assert_int_equal(cap_journal_logs(f->j, 424242, 0, &out, &err), CAP_ERR_CONFIG);
    assert_string_equal(err.msg, "no run with id 424242");
    assert_int_equal(cap_journal_logs(NULL, 1, 0, &out, &err), CAP_ERR_USAGE);
}

/* A process that dies with SIGKILL in the middle of a run leaves a `running` row; the next open
 * marks it `lost`. Runs of live processes (this one) are left alone. */
static void
test_journal_repair_after_sigkill(void **state)
{
    fixture *f = *state;
    cap_error_t err;
    int64_t mine = begin(f->j, 0, "alive");
    assert_int_equal(cap_journal_attempt(f->j, mine, 1, &err), CAP_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cap_journal_t *j = NULL;
        int64_t id;
        if (cap_journal_open(f->dir, &j, NULL) != CAP_OK ||
            cap_journal_begin(j, 0, "doomed", NULL, NULL, NULL, &id, NULL) != CAP_OK ||
            cap_journal_attempt(j, id, 1, NULL) != CAP_OK ||
            cap_journal_begin(j, id, "doomed-child", NULL, NULL, NULL, &id, NULL) != CAP_OK) {
            _exit(3);
        }
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char path[128];
    snprintf(path, sizeof path, "%s/.capsule/journal.db", f->dir);
    cap_journal_t *j = NULL;
    unsigned repaired = 99;
    assert_int_equal(cap_journal_open_path(path, &j, &repaired, &err), CAP_OK);
    assert_int_equal(repaired, 2);
    char *out = NULL;
    assert_int_equal(cap_journal_ps(j, "doomed", NULL, 0, CAP_PS_JSON, &out, &err), CAP_OK);
    json_t *arr = json_loads(out, 0, NULL);
    cap_string_free(out);
    json_t *run = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "lost");
    assert_string_equal(json_string_value(json_object_get(run, "error_type")), "host_error");
    assert_non_null(strstr(json_string_value(json_object_get(run, "error_message")),
                           "ended before it finished"));
    json_t *kid = json_array_get(json_object_get(run, "children"), 0);
    assert_string_equal(json_string_value(json_object_get(kid, "status")), "lost");
    json_decref(arr);
    cap_journal_run r;
    assert_int_equal(cap_journal_get(j, mine, &r, &err), CAP_OK);
    assert_int_equal(r.status, CAP_RUN_RUNNING);
    cap_journal_run_clear(&r);
    // A second repair finds nothing more.
    assert_int_equal(cap_journal_repair(j, &repaired, &err), CAP_OK);
    assert_int_equal(repaired, 0);
    cap_journal_close(j);
}

/* Several processes writing at once: every run is recorded, none fails with "database is
 * locked" (the busy timeout serialises them). */
static void
test_journal_concurrent_writers(void **state)
{
    fixture *f = *state;
    enum { PROCS = 4, RUNS = 40 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            cap_journal_t *j = NULL;
            if (cap_journal_open(f->dir, &j, NULL) != CAP_OK) {
                _exit(2);
            }
            for (int i = 0; i < RUNS; i++) {
                int64_t id;
                cap_task_result r;
                cap_task_result_init(&r);
                if (cap_journal_begin(j, 0, "worker", NULL, NULL, NULL, &id, NULL) != CAP_OK ||
                    cap_journal_attempt(j, id, 1, NULL) != CAP_OK ||
                    cap_journal_log(j, id, "info", "x", NULL) != CAP_OK ||
                    cap_journal_finish(j, id, &r, NULL) != CAP_OK) {
                    _exit(3);
                }
            }
            cap_journal_close(j);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    cap_journal_run *rows;
    size_t n;
    cap_error_t err;
    assert_int_equal(cap_journal_list(f->j, "worker", "completed", 1000, false, &rows, &n, &err),
                     CAP_OK);
    assert_int_equal(n, PROCS * RUNS);
    for (size_t i = 0; i < n; i++) {
        cap_journal_run_clear(&rows[i]);
    }
    cap_free(rows);
}

static void
test_journal_open_errors(void **state)
{
    fixture *f = *state;
    cap_error_t err;
    cap_journal_t *j = (cap_journal_t *)1;
    assert_int_equal(cap_journal_open("/nonexistent/capsule/project", &j, &err), CAP_ERR_IO);
    assert_null(j);
    assert_non_null(strstr(err.msg, "cannot create /nonexistent/capsule/project/.capsule"));
    assert_int_equal(cap_journal_open(f->dir, NULL, &err), CAP_ERR_USAGE);
    // A journal from a newer Capsule is refused rather than misread.
    char path[128];
    snprintf(path, sizeof path, "%s/.capsule/journal.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cap_journal_open(f->dir, &j, &err), CAP_ERR_IO);
    assert_non_null(strstr(err.msg, "newer Capsule"));
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    // A file that is not a database.
    char junk[128];
    snprintf(junk, sizeof junk, "%s/junk.db", f->dir);
    FILE *fp = fopen(junk, "w");
    fputs("this is not a database, not even close to one; just some text to fill a page", fp);
    fclose(fp);
    assert_int_equal(cap_journal_open_path(junk, &j, NULL, &err), CAP_ERR_IO);
    assert_non_null(strstr(err.msg, "journal:"));
}

static void
test_journal_status_names(void **state)
{
    (void)state;
    cap_run_status s;
    assert_string_equal(cap_run_status_name(CAP_RUN_LOST), "lost");
    assert_string_equal(cap_run_status_name((cap_run_status)42), "unknown");
    assert_true(cap_run_status_parse("completed", &s));
    assert_int_equal(s, CAP_RUN_COMPLETED);
    assert_false(cap_run_status_parse("Completed", &s));
    assert_false(cap_run_status_parse(NULL, &s));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_file_and_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_ps_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_repair_after_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_open_errors, setup, teardown),
        cmocka_unit_test(test_journal_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
