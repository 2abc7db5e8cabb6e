/* SPDX-License-Identifier: Apache-2.0 */
/* Prepared starts of guest runtimes: build a snapshot of the runtime after its start-up (one
 * task run that stops after capsule_init to snapshot, then asks the guest to describe its
 * tasks), keep it in <dir>/<key>.snap, and hand it to every task of that key (see task.h). */
#include "runtime/guest_lang.h"
#include "runtime/rt.h"
#include "runtime/task.h"
#include "util/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_FORMAT 1

struct cap_prepared {
    cap_prepared_table *table;
    unsigned refs; // under the table's lock; the table holds one
    char *key;
    char *path;
    uint64_t file_bytes;
    uint64_t init_fuel;
    cap_snapshot_t *snap;
    json_t *tasks; // {"name": {options}, ...}
    cap_prepared *next;
};

struct cap_prepared_table {
    pthread_mutex_t lock;
    pthread_cond_t changed; // a build finished
    cap_prepared *list;
    char **building; // keys being built (by any thread)
    size_t nbuilding;
};

cap_prepared_table *
cap_prepared_table_new(void)
{
    cap_prepared_table *t = cap_calloc(1, sizeof *t);
    if (t) {
        pthread_mutex_init(&t->lock, NULL);
        pthread_cond_init(&t->changed, NULL);
    }
    return t;
}

static void
prepared_free(cap_prepared *p)
{
    cap_snapshot_free(p->snap);
    json_decref(p->tasks);
    cap_free(p->key);
    cap_free(p->path);
    cap_free(p);
}

void
cap_prepared_table_free(cap_prepared_table *t)
{
    if (!t) {
        return;
    }
    for (cap_prepared *p = t->list, *n; p; p = n) {
        n = p->next;
        prepared_free(p); // every task is done: the runner is being freed
    }
    cap_free(t->building);
    pthread_cond_destroy(&t->changed);
    pthread_mutex_destroy(&t->lock);
    cap_free(t);
}

void
cap_prepared_release(cap_prepared *p)
{
    if (!p) {
        return;
    }
    pthread_mutex_lock(&p->table->lock);
    p->refs--;
    pthread_mutex_unlock(&p->table->lock);
}

const cap_snapshot_t *
cap_prepared_snapshot(const cap_prepared *p)
{
    return p->snap;
}

const json_t *
cap_prepared_tasks(const cap_prepared *p)
{
    return p->tasks;
}

const json_t *
cap_prepared_task_options(const cap_prepared *p, const char *name)
{
    const json_t *o = p->tasks ? json_object_get(p->tasks, name) : NULL;
    return json_is_object(o) ? o : NULL;
}

const char *
cap_prepared_path(const cap_prepared *p)
{
    return p->path ? p->path : "";
}

uint64_t
cap_prepared_file_bytes(const cap_prepared *p)
{
    return p->file_bytes;
}

uint64_t
cap_prepared_init_fuel(const cap_prepared *p)
{
    return p->init_fuel;
}

/* ---- files ---- */

static char *
snap_path(const cap_prepare_spec *ps, const char *suffix)
{
    if (!ps->dir) {
        return NULL;
    }
    size_t n = strlen(ps->dir) + strlen(ps->key) + strlen(suffix) + 8;
    char *s = cap_alloc(n);
    if (s) {
        snprintf(s, n, "%s/%s.snap%s", ps->dir, ps->key, suffix);
    }
    return s;
}

/* The meta blob: what the snapshot is and what the guest said of its tasks. */
static char *
make_meta(const char *key, const json_t *tasks, uint64_t init_fuel, size_t *len)
{
    json_t *o = json_pack("{s:i, s:s, s:O, s:I}", "format", SNAP_FORMAT, "key", key, "tasks",
                          tasks, "init_fuel", (json_int_t)init_fuel);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s) {
        *len = strlen(s);
    }
    return s;
}

/* Opens a snapshot file and checks that its meta names this key. NULL when it is missing or
 * unusable (a stale or damaged file is rebuilt, never trusted). */
static cap_prepared *
load_file(const char *path, const char *key, cap_prepare_spec const *ps, int fd_in)
{
    int fd = fd_in >= 0 ? fd_in : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    cap_snapshot_t *snap = NULL;
    cap_error_t e;
    struct stat sb;
    cap_status st = fstat(fd, &sb) == 0 ? cap_snapshot_open(fd, &snap, &e) : CAP_ERR_IO;
    if (fd_in < 0) {
        close(fd);
    }
    if (st != CAP_OK) {
        if (st != CAP_ERR_IO && ps->event_fn) {
            ps->event_fn(ps->event_user, 0, "snapshot: ignoring an unusable file (rebuilding)");
        }
        return NULL;
    }
    size_t mlen = 0;
    const char *meta = cap_snapshot_meta(snap, &mlen);
    json_t *m = meta ? json_loadb(meta, mlen, 0, NULL) : NULL;
    const char *mkey = json_string_value(json_object_get(m, "key"));
    json_t *tasks = json_object_get(m, "tasks");
    cap_prepared *p = NULL;
    if (mkey && strcmp(mkey, key) == 0 && json_integer_value(json_object_get(m, "format")) ==
                                               SNAP_FORMAT &&
        json_is_object(tasks)) {
        p = cap_calloc(1, sizeof *p);
    }
    if (p) {
        p->key = cap_strdup(key);
        p->path = path ? cap_strdup(path) : NULL;
        p->tasks = json_incref(tasks);
        p->snap = snap;
        p->file_bytes = (uint64_t)sb.st_blocks * 512;
        p->init_fuel = (uint64_t)json_integer_value(json_object_get(m, "init_fuel"));
        if (!p->key || (path && !p->path)) {
            prepared_free(p);
            p = NULL;
            snap = NULL;
        }
    } else {
        cap_snapshot_free(snap);
        if (ps->event_fn) {
            ps->event_fn(ps->event_user, 0, "snapshot: ignoring a stale or foreign file "
                                            "(rebuilding)");
        }
    }
    json_decref(m);
    return p;
}

/* Writes a snapshot file for ps: one task run of the runtime that snapshots after capsule_init
 * and then describes its tasks; the description goes into the file's meta blob. */
static cap_status
build(cap_task_runner *rt, const cap_prepare_spec *ps, cap_prepared **out, cap_error_t *err)
{
    *out = NULL;
    char *final = snap_path(ps, "");
    char *tmp = NULL;
    int fd = -1;
    if (ps->dir) {
        cap_rt_mkdirs(ps->dir); // on failure the open below fails: kept in memory
        size_t n = strlen(final) + 32;
        tmp = cap_alloc(n);
        if (tmp) {
            snprintf(tmp, n, "%s.%ld.tmp", final, (long)getpid());
            fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        }
    }
    if (fd < 0) {
        /* No project directory to keep it in: keep it in memory for this process. */
        cap_free(tmp);
        tmp = NULL;
        cap_free(final);
        final = NULL;
        fd = memfd_create("capsule-snapshot-build", MFD_CLOEXEC);
    }
    if (fd < 0) {
        cap_free(final);
        return cap_rt_fail(err, CAP_ERR_IO, "cannot create a snapshot file: %s", strerror(errno));
    }

    /* The build runs under a policy of its own: no grants, no environment but the runtime's,
     * no fuel limit during start-up (never charged), a generous memory cap (the snapshot's size
     * is checked against each task's own cap when it is restored). */
    cap_policy_t req, pol;
    memset(&req, 0, sizeof req);
    memset(&pol, 0, sizeof pol);
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%llums",
             (unsigned long long)(ps->timeout_ms ? ps->timeout_ms : 300000));
    cap_status st = cap_policy_set_field(&req, "compute", NULL, "HIGH", err);
    if (st == CAP_OK) {
        st = cap_policy_set_field(&req, "ram", NULL, "2GB", err);
    }
    if (st == CAP_OK) {
        st = cap_policy_set_field(&req, "timeout", NULL, timeout, err);
    }
    if (st == CAP_OK) {
        st = cap_policy_resolve_into(&pol, &req, NULL, err);
    }
    cap_task_result r;
    cap_task_result_init(&r);
    if (st == CAP_OK) {
        cap_task_spec spec;
        cap_task_spec_init(&spec);
        spec.file = ps->module_path;
        spec.lazy_compile = true;
        spec.task_name = "main";
        spec.policy = &pol;
        spec.code_mounts = ps->code_mounts;
        spec.ncode_mounts = ps->ncode_mounts;
        spec.runtime_env_names = ps->runtime_env_names;
        spec.runtime_env_values = ps->runtime_env_values;
        spec.nruntime_env = ps->nruntime_env;
        spec.snapshot_fd = fd;
        spec.event_fn = ps->event_fn;
        spec.event_user = ps->event_user;
        st = cap_task_run(rt, &spec, &r, err);
    }
    if (st == CAP_OK && !r.success) {
        st = cap_rt_fail(err, CAP_ERR_CONFIG, "the runtime's start-up failed: %s: %s",
                         cap_error_type_name(r.error_type),
                         r.error_message ? r.error_message : "");
    }
    const json_t *tasks = st == CAP_OK ? json_object_get(r.result, "tasks") : NULL;
    if (st == CAP_OK && !json_is_object(tasks)) {
        st = cap_rt_fail(err, CAP_ERR_CONFIG,
                         "the runtime did not describe its tasks (the snapshot is not used)");
    }
    if (st == CAP_OK) {
        size_t mlen = 0;
        char *meta = make_meta(ps->key, tasks, r.startup_fuel, &mlen);
        st = meta ? cap_snapshot_set_meta(fd, meta, mlen, err)
                  : cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        free(meta);
    }
    cap_task_result_clear(&r);
    cap_policy_clear(&req);
    cap_policy_clear(&pol);
    if (st == CAP_OK && tmp && (fsync(fd) != 0 || rename(tmp, final) != 0)) {
        st = cap_rt_fail(err, CAP_ERR_IO, "cannot save the snapshot %s: %s", final,
                         strerror(errno));
    }
    if (st == CAP_OK) {
        *out = load_file(final, ps->key, ps, final ? -1 : fd);
        if (!*out) {
            st = cap_rt_fail(err, CAP_ERR_IO, "cannot read back the snapshot just built");
        }
    }
    if (st != CAP_OK && tmp) {
        unlink(tmp);
    }
    close(fd);
    cap_free(tmp);
    cap_free(final);
    return st;
}

/* Removes the other snapshots of the same entry ("<entry>-*.snap" but this key): each edit of
 * the code would otherwise leave megabytes behind. A process that opened one has its own copy. */
static void
prune_older(const cap_prepare_spec *ps)
{
    const char *dash = strchr(ps->key, '-');
    DIR *d = ps->dir && dash ? opendir(ps->dir) : NULL;
    if (!d) {
        return;
    }
    size_t plen = (size_t)(dash - ps->key) + 1;
    size_t klen = strlen(ps->key);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (len == klen + 5 && strncmp(n, ps->key, plen) == 0 && strcmp(n + klen, ".snap") == 0 &&
            strncmp(n, ps->key, klen) != 0) {
            unlinkat(dirfd(d), n, 0);
        }
    }
    closedir(d);
}

static bool
is_building(cap_prepared_table *t, const char *key)
{
    for (size_t i = 0; i < t->nbuilding; i++) {
        if (strcmp(t->building[i], key) == 0) {
            return true;
        }
    }
    return false;
}

static void
unmark_building(cap_prepared_table *t, const char *key)
{
    for (size_t i = 0; i < t->nbuilding; i++) {
        if (strcmp(t->building[i], key) == 0) {
            t->building[i] = t->building[--t->nbuilding];
            break;
        }
    }
}

cap_status
cap_prepared_get(cap_task_runner *rt, const cap_prepare_spec *ps, cap_prepared **out,
                 cap_prepared_source *source, cap_error_t *err)
{
    *out = NULL;
    cap_prepared_table *t = cap_task_runner_prepared(rt);
    pthread_mutex_lock(&t->lock);
    for (;;) {
        cap_prepared **pp = &t->list;
        for (; *pp; pp = &(*pp)->next) {
            if (strcmp((*pp)->key, ps->key) == 0) {
                break;
            }
        }
        if (*pp && ps->rebuild && (*pp)->refs == 0) {
            cap_prepared *old = *pp; // `capsule build --force` in a long-lived runner
            *pp = old->next;
            prepared_free(old);
        } else if (*pp) {
            (*pp)->refs++;
            pthread_mutex_unlock(&t->lock);
            *out = *pp;
            *source = CAP_PREPARED_MEMORY;
            return CAP_OK;
        }
        if (!is_building(t, ps->key)) {
            break;
        }
        pthread_cond_wait(&t->changed, &t->lock); // another thread builds this key
    }
    char **nb = cap_realloc(t->building, (t->nbuilding + 1) * sizeof *nb);
    if (!nb) {
        pthread_mutex_unlock(&t->lock);
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    t->building = nb;
    t->building[t->nbuilding++] = (char *)ps->key;
    pthread_mutex_unlock(&t->lock);

    cap_status st = CAP_OK;
    cap_prepared *p = NULL;
    *source = CAP_PREPARED_FILE;
    if (!ps->rebuild && ps->dir) {
        char *path = snap_path(ps, "");
        p = path ? load_file(path, ps->key, ps, -1) : NULL;
        cap_free(path);
    }
    if (!p) {
        *source = CAP_PREPARED_BUILT;
        st = build(rt, ps, &p, err);
        if (st == CAP_OK) {
            prune_older(ps);
        }
    }

    pthread_mutex_lock(&t->lock);
    unmark_building(t, ps->key);
    if (p) {
        p->table = t;
        p->refs = 1;
        p->next = t->list;
        t->list = p;
    }
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
    *out = p;
    return st;
}

cap_status
cap_prepared_for_guest(cap_task_runner *rt, const cap_guest_run *g, bool rebuild,
                       cap_task_event_fn event_fn, void *event_user, cap_prepared **out,
                       cap_prepared_source *source, cap_error_t *err)
{
    cap_prepare_spec ps;
    memset(&ps, 0, sizeof ps);
    ps.module_path = g->module;
    ps.key = g->snapshot_key;
    ps.dir = g->snapshot_dir;
    ps.code_mounts = (const char *const *)g->code_mounts;
    ps.ncode_mounts = g->ncode_mounts;
    ps.runtime_env_names = (const char *const *)g->env_names;
    ps.runtime_env_values = (const char *const *)g->env_values;
    ps.nruntime_env = g->nenv;
    ps.rebuild = rebuild;
    ps.event_fn = event_fn;
    ps.event_user = event_user;
    return cap_prepared_get(rt, &ps, out, source, err);
}

cap_status
cap_prepared_resolve_policy(const cap_prepared *p, const char *task_name,
                            const cap_policy_t *explicit_, const cap_policy_t *defaults,
                            cap_policy_t *out, cap_error_t *err)
{
    const json_t *opts = p ? cap_prepared_task_options(p, task_name ? task_name : "main") : NULL;
    if (!opts) {
        return cap_policy_resolve_into(out, explicit_, defaults, err);
    }
    cap_policy_t own, mid;
    memset(&own, 0, sizeof own);
    memset(&mid, 0, sizeof mid);
    cap_status st = cap_policy_set_jansson(&own, opts, err);
    if (st != CAP_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        cap_rt_fail(err, st, "task %s's own options: %s", task_name ? task_name : "main", msg);
    }
    if (st == CAP_OK) {
        st = cap_policy_resolve_into(&mid, &own, defaults, err);
    }
    if (st == CAP_OK) {
        st = cap_policy_resolve_into(out, explicit_, &mid, err);
    }
    cap_policy_clear(&own);
    cap_policy_clear(&mid);
    return st;
}
