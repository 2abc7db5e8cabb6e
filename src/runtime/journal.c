/* SPDX-License-Identifier: Apache-2.0 */
/* The lifecycle journal in SQLite; see journal.h. Every write is one statement (or one
 * IMMEDIATE transaction), WAL mode lets readers run beside writers, and a busy timeout makes
 * concurrent writers from several processes wait rather than fail. */
#include "runtime/journal.h"

#include "runtime/rt.h"
#include "util/alloc.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION  1
#define BUSY_TIMEOUT_MS 10000

struct cap_journal_t {
    sqlite3 *db;
    char owner[160]; // "host:pid:starttime" of this process, to tell live runs from lost ones
};

static const char *const status_names[] = {"created", "running", "completed", "failed", "lost"};

const char *
cap_run_status_name(cap_run_status s)
{
    return (unsigned)s < 5 ? status_names[s] : "unknown";
}

bool
cap_run_status_parse(const char *name, cap_run_status *out)
{
    for (unsigned i = 0; name && i < 5; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (cap_run_status)i;
            return true;
        }
    }
    return false;
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  parent_id INTEGER REFERENCES runs(id),"
    "  root_id INTEGER,"
    "  task_name TEXT NOT NULL,"
    "  file TEXT,"
    "  policy TEXT,"
    "  args TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('created','running','completed','failed','lost')),"
    "  created_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  fuel_consumed INTEGER,"
    "  ram_used INTEGER,"
    "  duration_ms INTEGER,"
    "  error_type TEXT,"
    "  error_message TEXT,"
    "  result TEXT,"
    "  stdout BLOB,"
    "  stderr BLOB,"
    "  stdout_truncated INTEGER NOT NULL DEFAULT 0,"
    "  stderr_truncated INTEGER NOT NULL DEFAULT 0,"
    "  owner TEXT NOT NULL,"
    "  pid INTEGER NOT NULL"
    ");"
    "CREATE INDEX IF NOT EXISTS runs_parent ON runs(parent_id);"
    "CREATE INDEX IF NOT EXISTS runs_root ON runs(root_id);"
    "CREATE INDEX IF NOT EXISTS runs_open ON runs(status) WHERE status IN ('created','running');"
    "CREATE TABLE IF NOT EXISTS logs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  ts INTEGER NOT NULL,"
    "  level TEXT NOT NULL,"
    "  message TEXT NOT NULL"
    ");"
    "CREATE INDEX IF NOT EXISTS logs_run ON logs(run_id);";

static cap_status
dberr(cap_journal_t *j, cap_error_t *err, const char *what)
{
    int code = j && j->db ? sqlite3_extended_errcode(j->db) : SQLITE_ERROR;
    if ((code & 0xFF) == SQLITE_NOMEM) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
    }
    return cap_rt_fail(err, CAP_ERR_IO, "journal: %s: %s", what,
                       j && j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(code));
}

/* The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), so a
 * recycled pid is not mistaken for the original process. 0 when unknown. */
static unsigned long long
process_start_time(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    // The command name (field 2) may hold spaces and parentheses: skip to the last ')'.
    char *p = strrchr(buf, ')');
    if (!p) {
        return 0;
    }
    p++;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static void
make_owner(char *buf, size_t size, const char *host, long pid, unsigned long long start)
{
    snprintf(buf, size, "%s:%ld:%llu", host, pid, start);
}

static void
this_host(char *buf, size_t size)
{
    if (gethostname(buf, size) != 0) {
        snprintf(buf, size, "localhost");
    }
    buf[size - 1] = '\0';
    for (char *c = buf; *c; c++) {
        if (*c == ':') {
            *c = '_';
        }
    }
}

/* True when the process named by an owner string is certainly gone: same host, and either no
 * such pid or a pid now used by a process that started at another time. */
static bool
owner_is_dead(const char *owner)
{
    char host[128], mine[128];
    long pid;
    unsigned long long start;
    const char *c1 = strchr(owner, ':');
    if (!c1 || (size_t)(c1 - owner) >= sizeof host) {
        return false;
    }
    memcpy(host, owner, (size_t)(c1 - owner));
    host[c1 - owner] = '\0';
    this_host(mine, sizeof mine);
    if (strcmp(host, mine) != 0 || sscanf(c1 + 1, "%ld:%llu", &pid, &start) != 2 || pid <= 0) {
        return false; // another machine's run: we cannot judge it
    }
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        return true;
    }
    unsigned long long now = process_start_time(pid);
    return start != 0 && now != 0 && now != start;
}

cap_status
cap_journal_repair(cap_journal_t *j, unsigned *out_count, cap_error_t *err)
{
    sqlite3_stmt *q = NULL, *u = NULL;
    unsigned count = 0;
    cap_status st = CAP_OK;
    if (out_count) {
        *out_count = 0;
    }
    if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return dberr(j, err, "cannot start the repair");
    }
    if (sqlite3_prepare_v2(j->db,
                           "SELECT DISTINCT owner FROM runs WHERE status IN ('created','running')",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(j->db,
                           "UPDATE runs SET status = 'lost', finished_at = ?1,"
                           " error_type = 'host_error', error_message = 'the process running "
                           "this task (pid ' || pid || ') ended before it finished'"
                           " WHERE owner = ?2 AND status IN ('created','running')",
                           -1, &u, NULL) != SQLITE_OK) {
        st = dberr(j, err, "cannot prepare the repair");
        goto done;
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(q, 0);
        if (!owner || strcmp(owner, j->owner) == 0 || !owner_is_dead(owner)) {
            continue;
        }
        sqlite3_bind_int64(u, 1, cap_rt_now_ms());
        sqlite3_bind_text(u, 2, owner, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(u) != SQLITE_DONE) {
            st = dberr(j, err, "cannot mark lost runs");
            goto done;
        }
        count += (unsigned)sqlite3_changes(j->db);
        sqlite3_reset(u);
    }
    if (rc != SQLITE_DONE) {
        st = dberr(j, err, "cannot read open runs");
    }
done:
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    if (st == CAP_OK && sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        st = dberr(j, err, "cannot commit the repair");
    }
    if (st != CAP_OK) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    } else if (out_count) {
        *out_count = count;
    }
    return st;
}

cap_status
cap_journal_open_path(const char *db_path, cap_journal_t **out, unsigned *out_repaired,
                      cap_error_t *err)
{
    if (!db_path || !out) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_journal_open_path: path and out required");
    }
    *out = NULL;
    cap_journal_t *j = cap_calloc(1, sizeof *j);
    if (!j) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
    }
    char host[128];
    this_host(host, sizeof host);
    make_owner(j->owner, sizeof j->owner, host, (long)getpid(), process_start_time((long)getpid()));
    cap_status st;
    int rc = sqlite3_open_v2(
        db_path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = cap_rt_fail(err, rc == SQLITE_NOMEM ? CAP_ERR_NOMEM : CAP_ERR_IO,
                         "journal: cannot open %s: %s", db_path,
                         j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(j->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(j->db, 1);
    // journal_mode=WAL persists in the file; synchronous=NORMAL is durable across process crashes
    // in WAL mode (only a power loss may drop the last transactions).
    if (sqlite3_exec(j->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=ON;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        st = dberr(j, err, "cannot configure the database");
        goto fail;
    }
    sqlite3_stmt *v = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK &&
        sqlite3_step(v) == SQLITE_ROW) {
        version = sqlite3_column_int(v, 0);
    }
    sqlite3_finalize(v);
    if (version > SCHEMA_VERSION) {
        st = cap_rt_fail(err, CAP_ERR_IO,
                         "journal: %s was written by a newer Capsule (schema %d, this one knows "
                         "%d)",
                         db_path, version, SCHEMA_VERSION);
        goto fail;
    }
    if (version < SCHEMA_VERSION) {
        char sql[sizeof schema + 64];
        snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; %s PRAGMA user_version=%d; COMMIT;", schema,
                 SCHEMA_VERSION);
        if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            st = dberr(j, err, "cannot create the tables");
            sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
    }
    if ((st = cap_journal_repair(j, out_repaired, err)) != CAP_OK) {
        goto fail;
    }
    *out = j;
    return CAP_OK;
fail:
    sqlite3_close(j->db);
    cap_free(j);
    return st;
}

cap_status
cap_journal_open(const char *project_dir, cap_journal_t **out, cap_error_t *err)
{
    if (!out) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_journal_open: out is NULL");
    }
    *out = NULL;
    const char *dir = project_dir && project_dir[0] ? project_dir : ".";
    size_t dl = strlen(dir);
    char *cdir = cap_alloc(dl + 32);
    char *path = cap_alloc(dl + 48);
    if (!cdir || !path) {
        cap_free(cdir);
        cap_free(path);
        return cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
    }
    snprintf(cdir, dl + 32, "%s/.capsule", dir);
    snprintf(path, dl + 48, "%s/.capsule/journal.db", dir);
    cap_status st = CAP_OK;
    if (mkdir(cdir, 0755) != 0 && errno != EEXIST) {
        st = cap_rt_fail(err, CAP_ERR_IO, "journal: cannot create %s: %s", cdir, strerror(errno));
    } else {
        st = cap_journal_open_path(path, out, NULL, err);
    }
    cap_free(cdir);
    cap_free(path);
    return st;
}

void
cap_journal_close(cap_journal_t *journal)
{
    if (journal) {
        sqlite3_close(journal->db);
        cap_free(journal);
    }
}

static void
bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v) {
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(s, i);
    }
}

/* Steps a write statement to completion and finalizes it. */
static cap_status
run_write(cap_journal_t *j, sqlite3_stmt *s, const char *what, cap_error_t *err)
{
    int rc = sqlite3_step(s);
    cap_status st = rc == SQLITE_DONE ? CAP_OK : dberr(j, err, what);
    sqlite3_finalize(s);
    return st;
}

cap_status
cap_journal_begin(cap_journal_t *j, int64_t parent_id, const char *task_name, const char *file,
                  const char *policy_json, const char *args_json, int64_t *out_id, cap_error_t *err)
{
    sqlite3_stmt *s = NULL;
    if (!j || !task_name || !out_id) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_journal_begin: bad arguments");
    }
    // root_id: the parent's root, or the row's own id for a top-level run (set in one statement
    // through last_insert_rowid would need two; a subselect on the parent keeps it one).
    if (sqlite3_prepare_v2(j->db,
                           "INSERT INTO runs (parent_id, root_id, task_name, file, policy, args,"
                           " status, created_at, owner, pid) VALUES (?1,"
                           " (SELECT root_id FROM runs WHERE id = ?1), ?2, ?3, ?4, ?5, 'created',"
                           " ?6, ?7, ?8)",
                           -1, &s, NULL) != SQLITE_OK) {
        return dberr(j, err, "cannot record a run");
    }
    if (parent_id > 0) {
        sqlite3_bind_int64(s, 1, parent_id);
    } else {
        sqlite3_bind_null(s, 1);
    }
    sqlite3_bind_text(s, 2, task_name, -1, SQLITE_TRANSIENT);
    bind_text_or_null(s, 3, file);
    bind_text_or_null(s, 4, policy_json);
    bind_text_or_null(s, 5, args_json);
    sqlite3_bind_int64(s, 6, cap_rt_now_ms());
    sqlite3_bind_text(s, 7, j->owner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)getpid());
    cap_status st = run_write(j, s, "cannot record a run", err);
    if (st != CAP_OK) {
        return st;
    }
    int64_t id = sqlite3_last_insert_rowid(j->db);
    if (parent_id <= 0) {
        if (sqlite3_prepare_v2(j->db, "UPDATE runs SET root_id = id WHERE id = ?1", -1, &s, NULL) !=
            SQLITE_OK) {
            return dberr(j, err, "cannot record a run");
        }
        sqlite3_bind_int64(s, 1, id);
        if ((st = run_write(j, s, "cannot record a run", err)) != CAP_OK) {
            return st;
        }
    }
    *out_id = id;
    return CAP_OK;
}

cap_status
cap_journal_attempt(cap_journal_t *j, int64_t id, uint32_t attempt, cap_error_t *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db,
                           "UPDATE runs SET status = 'running', attempts = ?2,"
                           " started_at = COALESCE(started_at, ?3) WHERE id = ?1",
                           -1, &s, NULL) != SQLITE_OK) {
        return dberr(j, err, "cannot record an attempt");
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, attempt);
    sqlite3_bind_int64(s, 3, cap_rt_now_ms());
    return run_write(j, s, "cannot record an attempt", err);
}

cap_status
cap_journal_finish(cap_journal_t *j, int64_t id, const cap_task_result *r, cap_error_t *err)
{
    sqlite3_stmt *s = NULL;
    char *result = NULL;
    if (r->success && r->result) {
        result = json_dumps(r->result, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!result) {
            return cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
        }
    }
    if (sqlite3_prepare_v2(j->db,
                           "UPDATE runs SET status = ?2, finished_at = ?3, attempts = ?4,"
                           " fuel_consumed = ?5, ram_used = ?6, duration_ms = ?7,"
                           " error_type = ?8, error_message = ?9, result = ?10, stdout = ?11,"
                           " stderr = ?12, stdout_truncated = ?13, stderr_truncated = ?14,"
                           " started_at = COALESCE(started_at, ?3) WHERE id = ?1",
                           -1, &s, NULL) != SQLITE_OK) {
        free(result);
        return dberr(j, err, "cannot record a result");
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, r->success ? "completed" : "failed", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, cap_rt_now_ms());
    sqlite3_bind_int64(s, 4, (sqlite3_int64)r->retries + 1);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)r->fuel_consumed);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)r->ram_used);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)r->duration_ms);
    bind_text_or_null(s, 8, r->success ? NULL : cap_error_type_name(r->error_type));
    bind_text_or_null(s, 9, r->success ? NULL : r->error_message);
    bind_text_or_null(s, 10, result);
    if (r->out.data) {
        sqlite3_bind_blob64(s, 11, r->out.data, r->out.len, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(s, 11);
    }
    if (r->err.data) {
        sqlite3_bind_blob64(s, 12, r->err.data, r->err.len, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(s, 12);
    }
    sqlite3_bind_int(s, 13, r->out.truncated);
    sqlite3_bind_int(s, 14, r->err.truncated);
    free(result);
    cap_status st = run_write(j, s, "cannot record a result", err);
    if (st == CAP_OK && sqlite3_changes(j->db) == 0) {
        st = cap_rt_fail(err, CAP_ERR_USAGE, "journal: no run with id %lld", (long long)id);
    }
    return st;
}

cap_status
cap_journal_log(cap_journal_t *j, int64_t id, const char *level, const char *message,
                cap_error_t *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db,
                           "INSERT INTO logs (run_id, ts, level, message) VALUES (?1, ?2, ?3, ?4)",
                           -1, &s, NULL) != SQLITE_OK) {
        return dberr(j, err, "cannot record a log line");
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, cap_rt_now_ms());
    sqlite3_bind_text(s, 3, level ? level : "info", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, message ? message : "", -1, SQLITE_TRANSIENT);
    return run_write(j, s, "cannot record a log line", err);
}

/* ---- reading ---- */

#define RUN_COLUMNS                                                                                \
    "id, parent_id, root_id, task_name, file, policy, args, status, created_at, started_at,"       \
    " finished_at, attempts, fuel_consumed, ram_used, duration_ms, error_type, error_message,"     \
    " result, stdout, stderr, stdout_truncated, stderr_truncated, pid"

void
cap_journal_run_clear(cap_journal_run *r)
{
    cap_free(r->task_name);
    cap_free(r->file);
    cap_free(r->policy_json);
    cap_free(r->args_json);
    cap_free(r->error_type);
    cap_free(r->error_message);
    cap_free(r->result_json);
    cap_free(r->out.data);
    cap_free(r->err.data);
    memset(r, 0, sizeof *r);
}

static bool
col_text(sqlite3_stmt *s, int i, char **out)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t) {
        *out = NULL;
        return sqlite3_errcode(sqlite3_db_handle(s)) != SQLITE_NOMEM;
    }
    *out = cap_strndup((const char *)t, (size_t)sqlite3_column_bytes(s, i));
    return *out != NULL;
}

static bool
col_blob(sqlite3_stmt *s, int i, cap_output *o)
{
    const void *b = sqlite3_column_blob(s, i);
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    if (!b) {
        o->data = NULL;
        o->len = 0;
        return true;
    }
    o->data = cap_strndup(b, n);
    o->len = n;
    return o->data != NULL;
}

static bool
read_row(sqlite3_stmt *s, cap_journal_run *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    r->parent_id = sqlite3_column_int64(s, 1);
    r->root_id = sqlite3_column_int64(s, 2);
    char *status = NULL;
    bool ok = col_text(s, 3, &r->task_name) && col_text(s, 4, &r->file) &&
              col_text(s, 5, &r->policy_json) && col_text(s, 6, &r->args_json) &&
              col_text(s, 7, &status);
    if (ok) {
        cap_run_status_parse(status, &r->status);
    }
    cap_free(status);
    r->created_at = sqlite3_column_int64(s, 8);
    r->started_at = sqlite3_column_int64(s, 9);
    r->finished_at = sqlite3_column_int64(s, 10);
    r->attempts = (uint32_t)sqlite3_column_int64(s, 11);
    r->fuel_consumed = (uint64_t)sqlite3_column_int64(s, 12);
    r->ram_used = (uint64_t)sqlite3_column_int64(s, 13);
    r->duration_ms = (uint64_t)sqlite3_column_int64(s, 14);
    ok = ok && col_text(s, 15, &r->error_type) && col_text(s, 16, &r->error_message) &&
         col_text(s, 17, &r->result_json) && col_blob(s, 18, &r->out) && col_blob(s, 19, &r->err);
    r->out.truncated = sqlite3_column_int(s, 20) != 0;
    r->err.truncated = sqlite3_column_int(s, 21) != 0;
    r->pid = sqlite3_column_int64(s, 22);
    if (!ok) {
        cap_journal_run_clear(r);
    }
    return ok;
}

/* Runs a prepared SELECT of RUN_COLUMNS and collects every row. Finalizes the statement. */
static cap_status
collect(cap_journal_t *j, sqlite3_stmt *s, cap_journal_run **out, size_t *out_n, cap_error_t *err)
{
    cap_journal_run *rows = NULL;
    size_t n = 0, cap = 0;
    cap_status st = CAP_OK;
    int rc;
    *out = NULL;
    *out_n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            cap_journal_run *nr = cap_realloc(rows, ncap * sizeof *nr);
            if (!nr) {
                st = cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
                break;
            }
            rows = nr;
            cap = ncap;
        }
        if (!read_row(s, &rows[n])) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
            break;
        }
        n++;
    }
    if (st == CAP_OK && rc != SQLITE_DONE) {
        st = dberr(j, err, "cannot read runs");
    }
    sqlite3_finalize(s);
    if (st != CAP_OK) {
        for (size_t i = 0; i < n; i++) {
            cap_journal_run_clear(&rows[i]);
        }
        cap_free(rows);
        return st;
    }
    *out = rows;
    *out_n = n;
    return CAP_OK;
}

cap_status
cap_journal_get(cap_journal_t *j, int64_t id, cap_journal_run *out, cap_error_t *err)
{
    sqlite3_stmt *s = NULL;
    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(j->db, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1", -1, &s, NULL) !=
        SQLITE_OK) {
        return dberr(j, err, "cannot read a run");
    }
    sqlite3_bind_int64(s, 1, id);
    cap_journal_run *rows;
    size_t n;
    cap_status st = collect(j, s, &rows, &n, err);
    if (st != CAP_OK) {
        return st;
    }
    if (n == 0) {
        cap_free(rows);
        return cap_rt_fail(err, CAP_ERR_CONFIG, "no run with id %lld", (long long)id);
    }
    *out = rows[0];
    cap_free(rows);
    return CAP_OK;
}

cap_status
cap_journal_list(cap_journal_t *j, const char *task_name, const char *status, uint32_t limit,
                 bool all, cap_journal_run **out, size_t *out_n, cap_error_t *err)
{
    sqlite3_stmt *s = NULL;
    cap_run_status rs;
    *out = NULL;
    *out_n = 0;
    if (status && !cap_run_status_parse(status, &rs)) {
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "unknown status \"%.40s\" (expected created, running, completed, "
                           "failed or lost)",
                           status);
    }
    if (sqlite3_prepare_v2(j->db,
                           "SELECT " RUN_COLUMNS " FROM runs WHERE (?1 OR parent_id IS NULL)"
                           " AND (?2 IS NULL OR task_name = ?2) AND (?3 IS NULL OR status = ?3)"
                           " ORDER BY id DESC LIMIT ?4",
                           -1, &s, NULL) != SQLITE_OK) {
        return dberr(j, err, "cannot list runs");
    }
    sqlite3_bind_int(s, 1, all);
    bind_text_or_null(s, 2, task_name);
    bind_text_or_null(s, 3, status);
    sqlite3_bind_int64(s, 4, limit ? limit : 20);
    return collect(j, s, out, out_n, err);
}

cap_status
cap_journal_children(cap_journal_t *j, int64_t id, cap_journal_run **out, size_t *out_n,
                     cap_error_t *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db,
                           "SELECT " RUN_COLUMNS " FROM runs WHERE parent_id = ?1 ORDER BY id", -1,
                           &s, NULL) != SQLITE_OK) {
        return dberr(j, err, "cannot list sub-tasks");
    }
    sqlite3_bind_int64(s, 1, id);
    return collect(j, s, out, out_n, err);
}

static void
free_rows(cap_journal_run *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cap_journal_run_clear(&rows[i]);
    }
    cap_free(rows);
}

/* ---- ps and logs renderings ---- */

static json_t *
int_or_null(int64_t v)
{
    return v ? json_integer(v) : json_null();
}

static json_t *
str_or_null(const char *s)
{
    return s ? cap_json_string_lossy(s, strlen(s)) : json_null();
}

/* A stored JSON text as a JSON value (the text itself as a string if it does not parse). */
static json_t *
json_or_null(const char *s)
{
    if (!s) {
        return json_null();
    }
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v ? v : cap_json_string_lossy(s, strlen(s));
}

static json_t *
run_summary(const cap_journal_run *r)
{
    json_t *o = json_object();
    if (!o) {
        return NULL;
    }
    int bad = 0;
    bad |= json_object_set_new(o, "id", json_integer(r->id));
    bad |= json_object_set_new(o, "parent_id", int_or_null(r->parent_id));
    bad |= json_object_set_new(o, "task_name", str_or_null(r->task_name));
    bad |= json_object_set_new(o, "status", json_string(cap_run_status_name(r->status)));
    bad |= json_object_set_new(o, "created_at", int_or_null(r->created_at));
    bad |= json_object_set_new(o, "started_at", int_or_null(r->started_at));
    bad |= json_object_set_new(o, "finished_at", int_or_null(r->finished_at));
    bad |= json_object_set_new(o, "duration_ms", json_integer((json_int_t)r->duration_ms));
    bad |= json_object_set_new(o, "attempts", json_integer(r->attempts));
    bad |= json_object_set_new(o, "fuel_consumed", json_integer((json_int_t)r->fuel_consumed));
    bad |= json_object_set_new(o, "ram_used", json_integer((json_int_t)r->ram_used));
    bad |= json_object_set_new(o, "error_type", str_or_null(r->error_type));
    bad |= json_object_set_new(o, "error_message", str_or_null(r->error_message));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Adds the tree of sub-tasks under a summary object, depth-bounded. */
static cap_status
add_children(cap_journal_t *j, json_t *node, int64_t id, int depth, cap_error_t *err)
{
    cap_journal_run *kids;
    size_t n;
    cap_status st = cap_journal_children(j, id, &kids, &n, err);
    if (st != CAP_OK) {
        return st;
    }
    json_t *arr = json_array();
    if (!arr || json_object_set_new(node, "children", arr) != 0) {
        free_rows(kids, n);
        return cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
    }
    for (size_t i = 0; i < n && st == CAP_OK; i++) {
        json_t *k = run_summary(&kids[i]);
        if (!k || json_array_append_new(arr, k) != 0) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
        } else if (depth < 64) {
            st = add_children(j, k, kids[i].id, depth + 1, err);
        }
    }
    free_rows(kids, n);
    return st;
}

static void
format_time(int64_t ms, char *buf, size_t size)
{
    if (!ms) {
        snprintf(buf, size, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static void
text_row(cap_sb *sb, const json_t *run, int depth)
{
    char when[32], dur[32];
    format_time(json_integer_value(json_object_get(run, "created_at")), when, sizeof when);
    json_int_t status_dur = json_integer_value(json_object_get(run, "duration_ms"));
    snprintf(dur, sizeof dur, "%lldms", (long long)status_dur);
    char name[96];
    int off = 0;
    for (int i = 0; i < depth && off < 40; i++) {
        off += snprintf(name + off, sizeof name - (size_t)off, i + 1 == depth ? "└─ " : "   ");
    }
    snprintf(name + off, sizeof name - (size_t)off, "%s",
             json_string_value(json_object_get(run, "task_name")));
    const char *etype = json_string_value(json_object_get(run, "error_type"));
    const char *emsg = json_string_value(json_object_get(run, "error_message"));
    cap_sb_printf(sb, "%-7lld %-10s %-24s %-19s %10s %14lld  %s%s%.80s\n",
                  (long long)json_integer_value(json_object_get(run, "id")),
                  json_string_value(json_object_get(run, "status")), name, when, dur,
                  (long long)json_integer_value(json_object_get(run, "fuel_consumed")),
                  etype ? etype : "", etype ? ": " : "", emsg ? emsg : "");
    const json_t *kids = json_object_get(run, "children");
    size_t i;
    const json_t *k;
    json_array_foreach(kids, i, k)
    {
        text_row(sb, k, depth + 1);
    }
}

static cap_status
hand_out(char *s, char **out, cap_error_t *err)
{
    if (!s) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
    }
    *out = s;
    return CAP_OK;
}

static char *
dump(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (!s) {
        return NULL;
    }
    char *copy = cap_strdup(s);
    free(s);
    return copy;
}

cap_status
cap_journal_ps(cap_journal_t *journal, const char *task_name, const char *status, uint32_t limit,
               unsigned flags, char **out, cap_error_t *err)
{
    if (!journal || !out) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_journal_ps: journal and out are required");
    }
    *out = NULL;
    cap_journal_run *rows;
    size_t n;
    bool flat = flags & CAP_PS_FLAT;
    cap_status st = cap_journal_list(journal, task_name, status, limit, flat, &rows, &n, err);
    if (st != CAP_OK) {
        return st;
    }
    json_t *arr = json_array();
    if (!arr) {
        st = cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
    }
    for (size_t i = 0; i < n && st == CAP_OK; i++) {
        json_t *o = run_summary(&rows[i]);
        if (!o || json_array_append_new(arr, o) != 0) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
        } else if (!flat) {
            st = add_children(journal, o, rows[i].id, 0, err);
        }
    }
    free_rows(rows, n);
    if (st == CAP_OK) {
        if (flags & CAP_PS_JSON) {
            st = hand_out(dump(arr), out, err);
        } else {
            cap_sb sb = {0};
            cap_sb_printf(&sb, "%-7s %-10s %-24s %-19s %10s %14s  %s\n", "ID", "STATUS", "TASK",
                          "CREATED", "DURATION", "FUEL", "ERROR");
            size_t i;
            json_t *o;
            json_array_foreach(arr, i, o)
            {
                text_row(&sb, o, 0);
            }
            if (json_array_size(arr) == 0) {
                cap_sb_puts(&sb, "(no runs recorded yet)\n");
            }
            st = hand_out(cap_sb_take(&sb), out, err);
        }
    }
    json_decref(arr);
    return st;
}

static cap_status
logs_lines(cap_journal_t *j, int64_t id, json_t *arr, cap_error_t *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db,
                           "SELECT ts, level, message FROM logs WHERE run_id = ?1 ORDER BY id", -1,
                           &s, NULL) != SQLITE_OK) {
        return dberr(j, err, "cannot read log lines");
    }
    sqlite3_bind_int64(s, 1, id);
    int rc;
    cap_status st = CAP_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *level = (const char *)sqlite3_column_text(s, 1);
        const char *msg = (const char *)sqlite3_column_text(s, 2);
        json_t *o = json_pack("{s:I, s:o, s:o}", "ts", (json_int_t)sqlite3_column_int64(s, 0),
                              "level", str_or_null(level), "message", str_or_null(msg));
        if (!o || json_array_append_new(arr, o) != 0) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
            break;
        }
    }
    if (st == CAP_OK && rc != SQLITE_DONE) {
        st = dberr(j, err, "cannot read log lines");
    }
    sqlite3_finalize(s);
    return st;
}

cap_status
cap_journal_logs(cap_journal_t *journal, int64_t id, unsigned flags, char **out, cap_error_t *err)
{
    if (!journal || !out) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_journal_logs: journal and out are required");
    }
    *out = NULL;
    cap_journal_run r;
    cap_status st = cap_journal_get(journal, id, &r, err);
    if (st != CAP_OK) {
        return st;
    }
    json_t *o = run_summary(&r);
    json_t *lines = json_array();
    json_t *kids = json_array();
    cap_journal_run *rows = NULL;
    size_t n = 0;
    int bad = !o || !lines || !kids;
    if (!bad) {
        bad |= json_object_set_new(o, "root_id", int_or_null(r.root_id));
        bad |= json_object_set_new(o, "file", str_or_null(r.file));
        bad |= json_object_set_new(o, "pid", json_integer(r.pid));
        bad |= json_object_set_new(o, "policy", json_or_null(r.policy_json));
        bad |= json_object_set_new(o, "args", json_or_null(r.args_json));
        bad |= json_object_set_new(o, "result", json_or_null(r.result_json));
        bad |= json_object_set_new(o, "stdout", cap_json_string_lossy(r.out.data, r.out.len));
        bad |= json_object_set_new(o, "stderr", cap_json_string_lossy(r.err.data, r.err.len));
        bad |= json_object_set_new(o, "stdout_truncated", json_boolean(r.out.truncated));
        bad |= json_object_set_new(o, "stderr_truncated", json_boolean(r.err.truncated));
    }
    if (bad) {
        st = cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
    }
    if (st == CAP_OK) {
        st = logs_lines(journal, id, lines, err);
    }
    if (st == CAP_OK) {
        st = cap_journal_children(journal, id, &rows, &n, err);
    }
    for (size_t i = 0; i < n && st == CAP_OK; i++) {
        if (json_array_append_new(kids, json_integer(rows[i].id)) != 0) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "journal: out of memory");
        }
    }
    free_rows(rows, n);
    if (st == CAP_OK) {
        json_object_set(o, "logs", lines);
        json_object_set(o, "children", kids);
        if (flags & CAP_PS_JSON) {
            st = hand_out(dump(o), out, err);
        } else {
            cap_sb sb = {0};
            char t1[32], t2[32], t3[32];
            format_time(r.created_at, t1, sizeof t1);
            format_time(r.started_at, t2, sizeof t2);
            format_time(r.finished_at, t3, sizeof t3);
            cap_sb_printf(&sb, "run %lld: %s (%s)\n", (long long)r.id, r.task_name,
                          cap_run_status_name(r.status));
            if (r.parent_id) {
                cap_sb_printf(&sb, "parent:    %lld\n", (long long)r.parent_id);
            }
            if (r.file) {
                cap_sb_printf(&sb, "file:      %s\n", r.file);
            }
            cap_sb_printf(&sb, "created:   %s\nstarted:   %s\nfinished:  %s\n", t1, t2, t3);
            cap_sb_printf(&sb,
                          "attempts:  %u\nduration:  %llums\nfuel:      %llu\nram:       %llu "
                          "bytes\n",
                          r.attempts, (unsigned long long)r.duration_ms,
                          (unsigned long long)r.fuel_consumed, (unsigned long long)r.ram_used);
            if (r.policy_json) {
                cap_sb_printf(&sb, "policy:    %s\n", r.policy_json);
            }
            if (r.args_json) {
                cap_sb_printf(&sb, "args:      %s\n", r.args_json);
            }
            if (r.error_type) {
                cap_sb_printf(&sb, "error:     %s: %s\n", r.error_type,
                              r.error_message ? r.error_message : "");
            }
            if (r.result_json) {
                cap_sb_printf(&sb, "result:    %s\n", r.result_json);
            }
            if (n || json_array_size(kids)) {
                cap_sb_puts(&sb, "sub-tasks:");
                size_t i;
                json_t *k;
                json_array_foreach(kids, i, k)
                {
                    cap_sb_printf(&sb, " %lld", (long long)json_integer_value(k));
                }
                cap_sb_puts(&sb, "\n");
            }
            size_t i;
            json_t *line;
            json_array_foreach(lines, i, line)
            {
                char ts[32];
                format_time(json_integer_value(json_object_get(line, "ts")), ts, sizeof ts);
                cap_sb_printf(&sb, "log %s [%s] %s\n", ts,
                              json_string_value(json_object_get(line, "level")),
                              json_string_value(json_object_get(line, "message")));
            }
            cap_sb_printf(&sb, "--- stdout%s ---\n", r.out.truncated ? " (truncated)" : "");
            cap_sb_append(&sb, r.out.data ? r.out.data : "", r.out.len);
            if (r.out.len && r.out.data[r.out.len - 1] != '\n') {
                cap_sb_puts(&sb, "\n");
            }
            cap_sb_printf(&sb, "--- stderr%s ---\n", r.err.truncated ? " (truncated)" : "");
            cap_sb_append(&sb, r.err.data ? r.err.data : "", r.err.len);
            if (r.err.len && r.err.data[r.err.len - 1] != '\n') {
                cap_sb_puts(&sb, "\n");
            }
            st = hand_out(cap_sb_take(&sb), out, err);
        }
    }
    json_decref(o);
    json_decref(lines);
    json_decref(kids);
    cap_journal_run_clear(&r);
    return st;
}
