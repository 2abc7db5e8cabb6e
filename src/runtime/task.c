/* SPDX-License-Identifier: Apache-2.0 */
/* The task runner: one task = a guest module + a resolved policy, run in a fresh store per
 * attempt with fuel, ram and a deadline applied, retried in a fresh instance up to max_retries,
 * journaled (created -> running -> completed | failed) and turned into a result envelope.
 * Sub-tasks (cap_task_run_child) run the same module, bounded by their parent. */
#include "runtime/task.h"

#include "runtime/http_abi.h"
#include "runtime/rt.h"
#include "util/alloc.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the deadline service ----
 * One thread per runner interrupts stores whose deadline passed. A per-attempt thread would do,
 * but a worker runs many short tasks and one timer thread keeps that cheap. An entry lives on
 * the caller's stack between dl_add and dl_remove; the thread touches a store only under the
 * lock, so once dl_remove returns the store may be freed. */
typedef struct dl_entry {
    cap_store_t *store;
    uint64_t deadline_ms; // monotonic
    bool fired;
    struct dl_entry *next;
} dl_entry;

typedef struct dl_service {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started;
    bool stop;
    dl_entry *list;
} dl_service;

static void
abs_time(uint64_t ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

static void *
dl_main(void *arg)
{
    dl_service *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        uint64_t now = cap_rt_monotonic_ms();
        uint64_t next = UINT64_MAX;
        for (dl_entry *e = s->list; e; e = e->next) {
            if (e->fired) {
                continue;
            }
            if (e->deadline_ms <= now) {
                e->fired = true;
                cap_store_interrupt(e->store);
            } else if (e->deadline_ms < next) {
                next = e->deadline_ms;
            }
        }
        if (next == UINT64_MAX) {
            pthread_cond_wait(&s->cond, &s->lock);
        } else {
            struct timespec ts;
            abs_time(next, &ts);
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static bool
dl_init(dl_service *s)
{
    memset(s, 0, sizeof *s);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        return false;
    }
    pthread_mutex_init(&s->lock, NULL);
    return true;
}

static void
dl_destroy(dl_service *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    bool started = s->started;
    pthread_mutex_unlock(&s->lock);
    if (started) {
        pthread_join(s->thread, NULL);
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
}

/* Registers a deadline; false when the timer thread cannot be started. */
static bool
dl_add(dl_service *s, dl_entry *e, cap_store_t *store, uint64_t deadline_ms)
{
    e->store = store;
    e->deadline_ms = deadline_ms;
    e->fired = false;
    pthread_mutex_lock(&s->lock);
    if (!s->started) {
        if (pthread_create(&s->thread, NULL, dl_main, s) != 0) {
            pthread_mutex_unlock(&s->lock);
            return false;
        }
        s->started = true;
    }
    e->next = s->list;
    s->list = e;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* Unregisters a deadline; returns whether it fired. */
static bool
dl_remove(dl_service *s, dl_entry *e)
{
    pthread_mutex_lock(&s->lock);
    for (dl_entry **p = &s->list; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    bool fired = e->fired;
    pthread_mutex_unlock(&s->lock);
    return fired;
}

/* ---- the runner ---- */

struct cap_task_runner {
    const cap_config_t *config;
    cap_journal_t *journal;
    pthread_mutex_t journal_lock; // a journal handle is used by one thread at a time
    cap_module_cache *cache;
    cap_prepared_table *prepared;
    dl_service deadlines;
};

cap_status
cap_task_runner_new(const cap_config_t *config, cap_journal_t *journal, cap_task_runner **out,
                    cap_error_t *err)
{
    *out = NULL;
    cap_task_runner *rt = cap_calloc(1, sizeof *rt);
    if (!rt) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    cap_status st = cap_module_cache_new(&rt->cache, err);
    if (st != CAP_OK) {
        cap_free(rt);
        return st;
    }
    rt->prepared = cap_prepared_table_new();
    if (!rt->prepared || !dl_init(&rt->deadlines)) {
        cap_prepared_table_free(rt->prepared);
        cap_module_cache_free(rt->cache);
        cap_free(rt);
        return cap_rt_fail(err, CAP_ERR_NOMEM, "cannot set up the deadline timer");
    }
    pthread_mutex_init(&rt->journal_lock, NULL);
    rt->config = config;
    rt->journal = journal;
    *out = rt;
    return CAP_OK;
}

void
cap_task_runner_free(cap_task_runner *rt)
{
    if (!rt) {
        return;
    }
    dl_destroy(&rt->deadlines);
    pthread_mutex_destroy(&rt->journal_lock);
    cap_prepared_table_free(rt->prepared);
    cap_module_cache_free(rt->cache);
    cap_free(rt);
}

cap_module_cache *
cap_task_runner_cache(cap_task_runner *rt)
{
    return rt->cache;
}

cap_prepared_table *
cap_task_runner_prepared(cap_task_runner *rt)
{
    return rt->prepared;
}

void
cap_task_spec_init(cap_task_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->stdin_fd = -1;
    spec->snapshot_fd = -1;
}

static void event(const cap_task_spec *spec, int64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
event(const cap_task_spec *spec, int64_t id, const char *fmt, ...)
{
    if (!spec->event_fn) {
        return;
    }
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    spec->event_fn(spec->event_user, id, line);
}

/* Journal writes. A failing journal never fails the task: the run goes on unrecorded and the
 * problem is reported as a lifecycle event. */
static int64_t
j_begin(cap_task_runner *rt, const cap_task_spec *spec, int64_t parent_id, const char *name,
        const cap_policy_t *policy)
{
    if (!rt->journal) {
        return 0;
    }
    json_t *pj = cap_policy_to_jansson(policy);
    char *policy_json = pj ? json_dumps(pj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(pj);
    char *args_json = spec->args ? json_dumps(spec->args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int64_t id = 0;
    cap_error_t e;
    pthread_mutex_lock(&rt->journal_lock);
    cap_status st = cap_journal_begin(rt->journal, parent_id, name, spec->file, policy_json,
                                      args_json ? args_json : "[]", &id, &e);
    pthread_mutex_unlock(&rt->journal_lock);
    free(policy_json);
    free(args_json);
    if (st != CAP_OK) {
        event(spec, 0, "journal: %s", e.msg);
        return 0;
    }
    return id;
}

static void
j_attempt(cap_task_runner *rt, int64_t id, uint32_t n)
{
    if (rt->journal && id) {
        pthread_mutex_lock(&rt->journal_lock);
        cap_journal_attempt(rt->journal, id, n, NULL);
        pthread_mutex_unlock(&rt->journal_lock);
    }
}

static void
j_finish(cap_task_runner *rt, const cap_task_spec *spec, int64_t id, const cap_task_result *r)
{
    if (rt->journal && id) {
        cap_error_t e;
        pthread_mutex_lock(&rt->journal_lock);
        cap_status st = cap_journal_finish(rt->journal, id, r, &e);
        pthread_mutex_unlock(&rt->journal_lock);
        if (st != CAP_OK) {
            event(spec, id, "journal: %s", e.msg);
        }
    }
}

void
cap_task_log(cap_task_ctx *ctx, const char *level, const char *message)
{
    cap_task_runner *rt = ctx->rt;
    event(ctx->spec, ctx->task_id, "log %s: %s", level, message);
    if (rt->journal && ctx->task_id) {
        pthread_mutex_lock(&rt->journal_lock);
        cap_journal_log(rt->journal, ctx->task_id, level, message, NULL);
        pthread_mutex_unlock(&rt->journal_lock);
    }
}

/* ---- one attempt ---- */

/* Moves a guest-reported outcome into r (which keeps its name, id and counters). */
static void
take_outcome(cap_task_result *r, cap_task_result *g)
{
    json_decref(r->result);
    json_decref(r->error_extra);
    cap_free(r->error_message);
    r->success = g->success;
    r->result = g->result;
    r->error_type = g->error_type;
    r->error_message = g->error_message;
    r->error_extra = g->error_extra;
    g->result = NULL;
    g->error_extra = NULL;
    g->error_message = NULL;
}

static void
set_success_null(cap_task_result *r)
{
    json_decref(r->result);
    json_decref(r->error_extra);
    cap_free(r->error_message);
    r->result = NULL;
    r->error_extra = NULL;
    r->error_message = NULL;
    r->success = true;
    r->error_type = CAP_ERRTYPE_NONE;
}

static void
copy_output(cap_task_result *r, int stream, const uint8_t *data, size_t len, bool truncated)
{
    char *copy = NULL;
    if (data && len) {
        copy = cap_alloc(len);
        if (copy) {
            memcpy(copy, data, len);
        } else {
            len = 0;
            truncated = true;
        }
    }
    cap_task_result_set_output(r, stream, copy, len, truncated);
}

/* Looks up an exported function taking and returning nothing. */
static cap_func_t *
export_func(cap_instance_t *inst, const char *name)
{
    cap_extern_t ext;
    if (cap_instance_export(inst, name, &ext, NULL) != CAP_OK || ext.kind != CAP_EXTERN_FUNC) {
        return NULL;
    }
    cap_functype_t ft = cap_func_type(ext.of.func);
    return ft.nparams == 0 && ft.nresults == 0 ? ext.of.func : NULL;
}

/* Runs one attempt in a fresh store and writes its outcome, output, fuel and ram into r. */
static void
run_attempt(cap_task_ctx *ctx, const cap_wasi_config_t *wcfg, cap_task_result *r,
            uint64_t *out_fuel)
{
    const cap_policy_t *eff = ctx->spec->policy;
    cap_error_t e;
    cap_error_clear(&e);
    cap_store_t *store = NULL;
    cap_wasi_t *wasi = NULL;
    cap_linker_t *linker = NULL;
    cap_instance_t *inst = NULL;
    dl_entry dl;
    bool timed = false;
    bool is_command = false;
    cap_status st = cap_store_new(&store, &e);
    if (st != CAP_OK) {
        goto out;
    }
    ctx->store = store;
    cap_store_set_fuel(store, eff->fuel);
    /* The store reads a cap of 0 as "no cap"; a task left with no ram (a sub-task of a parent
     * that uses all of its own) must get none, not all. */
    cap_store_set_memory_limit(store, eff->ram ? eff->ram : 1);
    cap_store_set_data(store, ctx);
    if ((st = cap_wasi_new(store, wcfg, &wasi, &e)) != CAP_OK ||
        (st = cap_linker_new(&linker, &e)) != CAP_OK ||
        (st = cap_wasi_link(wasi, linker, &e)) != CAP_OK ||
        (st = cap_host_abi_link(linker, store, &e)) != CAP_OK) {
        goto out;
    }
    if (!dl_add(&ctx->rt->deadlines, &dl, store, ctx->deadline_ms)) {
        st = cap_rt_fail(&e, CAP_ERR_NOMEM, "cannot start the deadline timer");
        goto out;
    }
    timed = true;
    const cap_module_t *module = cap_cached_module_get(ctx->module);
    if (ctx->spec->prepared) {
        /* The runtime's start-up is in the snapshot: straight to the task. */
        st = cap_instance_restore(store, module, linker,
                                  cap_prepared_snapshot(ctx->spec->prepared), &inst, &e);
        cap_func_t *run = st == CAP_OK ? export_func(inst, "capsule_run") : NULL;
        if (st == CAP_OK && !run) {
            st = cap_rt_fail(&e, CAP_ERR_LINK, "the snapshot's module exports no capsule_run");
        }
        if (st == CAP_OK) {
            st = cap_func_call(store, run, NULL, 0, NULL, 0, &e);
        }
        goto out;
    }
    /* The start function runs inside cap_instance_new: the deadline already covers it. */
    st = cap_instance_new(store, module, linker, &inst, &e);
    if (st == CAP_OK) {
        cap_func_t *run = export_func(inst, "capsule_run");
        cap_func_t *init = export_func(inst, "_initialize");
        cap_func_t *start = export_func(inst, "_start");
        cap_func_t *runtime_init = export_func(inst, "capsule_init");
        if (run) {
            /* A guest runtime (Python, JavaScript) starts its interpreter in capsule_init: that
             * is the runtime's fixed cost, the part a snapshot will keep, not the user's code.
             * It runs without a fuel cap and is not charged (the deadline and the memory cap
             * still hold); the task's compute budget starts at capsule_run. */
            if (runtime_init) {
                cap_store_set_fuel(store, UINT64_MAX);
            }
            if (init) {
                st = cap_func_call(store, init, NULL, 0, NULL, 0, &e);
            }
            if (st == CAP_OK && runtime_init) {
                st = cap_func_call(store, runtime_init, NULL, 0, NULL, 0, &e);
                ctx->startup_fuel = cap_store_fuel_consumed(store);
                cap_store_set_fuel(store, eff->fuel);
            }
            /* Building a prepared start: the state now is what every task will restore, unless
             * the runtime already reported a failure. */
            if (st == CAP_OK && ctx->spec->snapshot_fd >= 0 && !ctx->has_result) {
                st = cap_snapshot_write(inst, ctx->spec->snapshot_fd, NULL, 0, &e);
                if (st != CAP_OK) {
                    st = cap_rt_fail(&e, CAP_ERR_IO, "cannot snapshot the runtime: %s", e.msg);
                }
            }
            if (st == CAP_OK) {
                st = cap_func_call(store, run, NULL, 0, NULL, 0, &e);
            }
        } else if (start) {
            is_command = true;
            st = cap_func_call(store, start, NULL, 0, NULL, 0, &e);
        } else {
            st = cap_rt_fail(&e, CAP_ERR_LINK,
                             "the module exports neither capsule_run nor _start (a task module "
                             "exports capsule_run, a WASI command _start)");
        }
    }
out:
    if (timed) {
        dl_remove(&ctx->rt->deadlines, &dl);
    }
    bool exited0 = st == CAP_ERR_TRAP && e.trap == CAP_TRAP_EXIT && e.exit_code == 0;
    if (st == CAP_OK || exited0) {
        if (ctx->has_result) {
            take_outcome(r, &ctx->guest_result);
        } else {
            set_success_null(r);
        }
        r->has_exit_code = is_command || exited0;
        r->exit_code = 0;
    } else {
        cap_task_result_fail_from(r, &e, eff);
    }
    uint64_t fuel = store ? cap_store_fuel_consumed(store) - ctx->startup_fuel : 0;
    *out_fuel = fuel;
    r->fuel_consumed = fuel + ctx->child_fuel;
    r->ram_used = store ? cap_store_memory_peak(store) : 0;
    r->startup_fuel = ctx->startup_fuel;
    if (wasi) {
        size_t n;
        bool trunc;
        const uint8_t *d = cap_wasi_stdout(wasi, &n, &trunc);
        copy_output(r, 1, d, n, trunc);
        d = cap_wasi_stderr(wasi, &n, &trunc);
        copy_output(r, 2, d, n, trunc);
    } else {
        cap_task_result_set_output(r, 1, NULL, 0, false);
        cap_task_result_set_output(r, 2, NULL, 0, false);
    }
    cap_host_abi_release(ctx);
    cap_linker_free(linker);
    cap_wasi_free(wasi);
    cap_store_free(store);
    ctx->store = NULL;
}

/* Failures that a fresh attempt cannot change are not retried. */
static bool
retryable(cap_error_type t)
{
    return t != CAP_ERRTYPE_INVALID_MODULE && t != CAP_ERRTYPE_INVALID_CONFIG &&
           t != CAP_ERRTYPE_DENIED;
}

/* The request handed to the guest through request_read. */
static char *
make_request(const cap_task_spec *spec, const char *name, int64_t id, size_t *out_len)
{
    json_t *o = json_object();
    if (!o) {
        return NULL;
    }
    if (spec->snapshot_fd >= 0) {
        /* A snapshot build asks the guest for its tasks' own options. */
        json_object_set_new(o, "describe", json_true());
    }
    int bad = json_object_set_new(o, "task_name", json_string(name));
    bad |= json_object_set_new(o, "args", spec->args ? json_deep_copy(spec->args) : json_array());
    bad |= json_object_set_new(o, "kwargs",
                               spec->kwargs ? json_deep_copy(spec->kwargs) : json_object());
    bad |= json_object_set_new(o, "task_id", json_integer(id));
    char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) {
        return NULL;
    }
    char *copy = cap_strdup(s);
    free(s);
    if (copy) {
        *out_len = strlen(copy);
    }
    return copy;
}

/* The value a granted environment variable gets: an explicit value first, then the real
 * environment, then the project's .env. */
static const char *
env_value(const cap_task_runner *rt, const cap_task_spec *spec, const char *name)
{
    for (size_t i = spec->nenv; i-- > 0;) {
        if (strcmp(spec->env_names[i], name) == 0) {
            return spec->env_values[i];
        }
    }
    return rt->config ? cap_config_env(rt->config, name) : getenv(name);
}

static cap_status
make_wasi_config(const cap_task_runner *rt, const cap_task_spec *spec, const char *name,
                 cap_wasi_config_t **out, cap_error_t *err)
{
    cap_wasi_config_t *c = NULL;
    const cap_policy_t *p = spec->policy;
    cap_status st = cap_wasi_config_new(&c, err);
    if (st != CAP_OK) {
        return st;
    }
    size_t nargs = 1 + (spec->args ? json_array_size(spec->args) : 0);
    char **argv = cap_calloc(nargs, sizeof *argv);
    if (!argv) {
        st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        goto out;
    }
    argv[0] = cap_strdup(spec->file ? spec->file : name);
    for (size_t i = 1; i < nargs; i++) {
        const json_t *a = json_array_get(spec->args, i - 1);
        if (json_is_string(a)) {
            argv[i] = cap_strndup(json_string_value(a), json_string_length(a));
        } else {
            char *s = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
            argv[i] = s ? cap_strdup(s) : NULL;
            free(s);
        }
    }
    for (size_t i = 0; i < nargs; i++) {
        if (!argv[i]) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if ((st = cap_wasi_config_set_args(c, nargs, (const char *const *)argv, err)) != CAP_OK) {
        goto out;
    }
    for (size_t i = 0; i < spec->nruntime_env; i++) {
        st = cap_wasi_config_set_env(c, spec->runtime_env_names[i], spec->runtime_env_values[i],
                                     err);
        if (st != CAP_OK) {
            goto out;
        }
    }
    for (size_t i = 0; i < p->nenv; i++) {
        const char *v = env_value(rt, spec, p->env[i]);
        if (v && (st = cap_wasi_config_set_env(c, p->env[i], v, err)) != CAP_OK) {
            goto out;
        }
    }
    for (size_t i = 0; i < spec->ncode_mounts; i++) {
        cap_mount m;
        if ((st = cap_policy_parse_mount("code mount", spec->code_mounts[i], &m, err)) != CAP_OK) {
            goto out;
        }
        st = cap_wasi_config_preopen_dir(c, m.host, m.guest, false, err);
        cap_mount_clear(&m);
        if (st != CAP_OK) {
            goto out;
        }
    }
    for (size_t i = 0; i < p->nfiles; i++) {
        const cap_mount *m = &p->files[i];
        if ((st = cap_wasi_config_preopen_dir(c, m->host, m->guest, m->writable, err)) != CAP_OK) {
            goto out;
        }
    }
    if (spec->stdin_path) {
        st = cap_wasi_config_set_stdin_file(c, spec->stdin_path, err);
    } else if (spec->stdin_fd >= 0) {
        st = cap_wasi_config_set_stdin_fd(c, spec->stdin_fd, err);
    }
    if (st != CAP_OK) {
        goto out;
    }
    /* Captured output is host memory spent on the task: each stream gets at most a quarter of
     * its ram, whatever the requested cap. */
    size_t lim = spec->output_limit ? spec->output_limit : CAP_WASI_DEFAULT_OUTPUT_LIMIT;
    if (p->ram / 4 < lim) {
        lim = (size_t)(p->ram / 4);
    }
    cap_wasi_config_set_output_limit(c, lim, lim);
    cap_wasi_config_set_capture(c, true);
    if (spec->stream_fn) {
        cap_wasi_config_set_output_callback(c, spec->stream_fn, spec->stream_user);
    }
out:
    if (argv) {
        for (size_t i = 0; i < nargs; i++) {
            cap_free(argv[i]);
        }
        cap_free(argv);
    }
    if (st != CAP_OK) {
        cap_wasi_config_free(c);
        c = NULL;
    }
    *out = c;
    return st;
}

/* Runs a task (top-level or sub-task) to its envelope. `module` may be NULL (loaded from
 * spec->file through the cache). *out_fuel receives the fuel of all attempts together. */
static void
run_task(cap_task_runner *rt, const cap_task_spec *spec, cap_task_ctx *parent, cap_task_result *r,
         uint64_t *out_fuel)
{
    const char *name = spec->task_name ? spec->task_name : "main";
    const cap_policy_t *eff = spec->policy;
    uint64_t t0 = cap_rt_monotonic_ms();
    uint64_t total_fuel = 0;
    uint32_t children = 0;
    cap_wasi_config_t *wcfg = NULL;
    cap_cached_module *mod = NULL;
    cap_error_t e;
    cap_error_clear(&e);
    cap_task_result_set_name(r, name);
    int64_t id = spec->snapshot_fd >= 0 ? 0 : j_begin(rt, spec, parent ? parent->task_id : 0, name, eff);
    r->task_id = id;
    event(spec, id, "task %lld %s: created%s%s", (long long)id, name, spec->file ? " from " : "",
          spec->file ? spec->file : "");

    cap_status st = CAP_OK;
    if (spec->module) {
        mod = cap_module_cache_retain(spec->module);
    } else if (spec->file) {
        st = cap_module_cache_load_file(rt->cache, spec->file, spec->lazy_compile, &mod, &e);
    } else {
        st = cap_rt_fail(&e, CAP_ERR_USAGE, "no module to run");
    }
    if (st == CAP_OK) {
        st = make_wasi_config(rt, spec, name, &wcfg, &e);
    }
    if (st != CAP_OK) {
        cap_task_result_fail_from(r, &e, eff);
        goto done;
    }
    cap_task_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.rt = rt;
    ctx.spec = spec;
    ctx.module = mod;
    ctx.parent = parent;
    ctx.task_id = id;
    ctx.depth = parent ? parent->depth + 1 : 0;
    ctx.children = &children;
    ctx.request = make_request(spec, name, id, &ctx.request_len);
    if (!ctx.request) {
        cap_task_result_fail(r, CAP_ERRTYPE_HOST_ERROR, "out of memory");
        goto done;
    }
    uint32_t attempts = eff->max_retries + 1;
    for (uint32_t a = 1; a <= attempts; a++) {
        j_attempt(rt, id, a);
        event(spec, id, "task %lld %s: running (attempt %u of %u)", (long long)id, name, a,
              attempts);
        uint64_t now = cap_rt_monotonic_ms();
        ctx.deadline_ms = eff->timeout_ms > UINT64_MAX - now ? UINT64_MAX : now + eff->timeout_ms;
        if (parent && parent->deadline_ms < ctx.deadline_ms) {
            ctx.deadline_ms = parent->deadline_ms; // the parent's deadline covers its children
        }
        ctx.child_fuel = 0;
        ctx.startup_fuel = 0;
        ctx.log_lines = 0;
        ctx.log_dropped = 0;
        ctx.host_bytes = 0;
        ctx.has_result = false;
        uint64_t fuel = 0;
        run_attempt(&ctx, wcfg, r, &fuel);
        total_fuel += fuel + ctx.child_fuel;
        r->retries = a - 1;
        if (r->success || !retryable(r->error_type) || a == attempts) {
            break;
        }
        event(spec, id, "task %lld %s: attempt %u failed: %s: %s", (long long)id, name, a,
              cap_error_type_name(r->error_type), r->error_message ? r->error_message : "");
        if (parent && cap_rt_monotonic_ms() >= parent->deadline_ms) {
            break; // no time left for another attempt
        }
    }
    if (ctx.log_dropped) {
        char note[96];
        snprintf(note, sizeof note, "%u log lines dropped (limit %u per attempt)", ctx.log_dropped,
                 CAP_ABI_MAX_LOG_LINES);
        cap_task_log(&ctx, "warn", note);
    }
    cap_http_abi_finish(&ctx, r); // HTTP request records into the envelope
    cap_free(ctx.request);
done:
    r->duration_ms = cap_rt_monotonic_ms() - t0;
    j_finish(rt, spec, id, r);
    if (r->success) {
        event(spec, id, "task %lld %s: completed in %llu ms (retries %u, fuel %llu, ram %llu)",
              (long long)id, name, (unsigned long long)r->duration_ms, r->retries,
              (unsigned long long)r->fuel_consumed, (unsigned long long)r->ram_used);
    } else {
        event(spec, id, "task %lld %s: failed after %llu ms (retries %u): %s: %s", (long long)id,
              name, (unsigned long long)r->duration_ms, r->retries,
              cap_error_type_name(r->error_type), r->error_message ? r->error_message : "");
    }
    cap_wasi_config_free(wcfg);
    cap_module_cache_release(mod);
    *out_fuel = total_fuel;
}

cap_status
cap_task_run(cap_task_runner *rt, const cap_task_spec *spec, cap_task_result *out, cap_error_t *err)
{
    cap_task_result_init(out);
    if (!rt || !spec || !spec->policy || spec->policy->set != CAP_POL_ALL ||
        (!spec->file && !spec->module)) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_task_run needs a module and a resolved policy");
    }
    uint64_t fuel;
    run_task(rt, spec, NULL, out, &fuel);
    if (!out->task_name) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    return CAP_OK;
}

/* ---- sub-tasks ---- */

/* True when the real (resolved) path of child lies at or below the real path of parent. */
static bool
real_path_within(const char *parent, const char *child)
{
    char *rp = realpath(parent, NULL);
    char *rc = realpath(child, NULL);
    bool ok = false;
    if (rp && rc) {
        size_t n = strlen(rp);
        ok = strncmp(rp, rc, n) == 0 && (rc[n] == '\0' || rc[n] == '/' || (n == 1 && rp[0] == '/'));
    }
    free(rp);
    free(rc);
    return ok;
}

/* cap_policy_bound compares paths lexically; a symlink inside the parent's directory could
 * still lead out of it. Every file grant of the child must also be covered on the real file
 * system by a parent grant that covers it lexically. */
static cap_status
check_real_paths(const cap_policy_t *parent, const cap_policy_t *child, cap_error_t *err)
{
    for (size_t i = 0; i < child->nfiles; i++) {
        const cap_mount *m = &child->files[i];
        bool ok = false;
        for (size_t j = 0; j < parent->nfiles && !ok; j++) {
            ok = cap_policy_mount_covers(&parent->files[j], m) &&
                 real_path_within(parent->files[j].host, m->host);
        }
        if (!ok) {
            return cap_rt_fail(err, CAP_ERR_DENIED,
                               "denied: the sub-task asks for allowed_files \"%s%s\", which "
                               "resolves outside what its parent was granted",
                               m->host, m->writable ? ":rw" : ":ro");
        }
    }
    return CAP_OK;
}

cap_status
cap_task_run_child(cap_task_ctx *p, const char *task_name, const json_t *args, const json_t *kwargs,
                   const json_t *policy, char **out, size_t *out_len, cap_error_t *err)
{
    cap_task_runner *rt = p->rt;
    cap_policy_t req, resolved, bounded;
    memset(&req, 0, sizeof req);
    memset(&resolved, 0, sizeof resolved);
    memset(&bounded, 0, sizeof bounded);
    cap_task_result r;
    cap_task_result_init(&r);
    cap_error_t e;
    cap_error_clear(&e);
    *out = NULL;
    cap_status st = CAP_OK;
    if (policy && !json_is_null(policy) &&
        (st = cap_policy_set_jansson(&req, policy, err)) != CAP_OK) {
        goto done;
    }
    const cap_policy_t *defaults = rt->config ? cap_config_defaults(rt->config) : NULL;
    if ((st = cap_policy_resolve_into(&resolved, &req, defaults, err)) != CAP_OK) {
        goto done;
    }

    const cap_policy_t *pp = p->spec->policy;
    bool denied = false;
    if (p->depth + 1 > CAP_SUBTASK_MAX_DEPTH) {
        denied = true;
        cap_rt_fail(&e, CAP_ERR_DENIED, "denied: sub-tasks may nest at most %u deep",
                    CAP_SUBTASK_MAX_DEPTH);
    } else if (*p->children >= CAP_SUBTASK_MAX_CHILDREN) {
        denied = true;
        cap_rt_fail(&e, CAP_ERR_DENIED, "denied: a task may schedule at most %u sub-tasks",
                    CAP_SUBTASK_MAX_CHILDREN);
    } else {
        /* What the parent has left: fuel not yet spent (its children's included), ram not in
         * use (linear memory and what the host holds for it), time until its deadline. */
        uint64_t used = cap_store_fuel_consumed(p->store) - p->startup_fuel + p->child_fuel;
        uint64_t mem = cap_store_memory_used(p->store) + p->host_bytes;
        uint64_t now = cap_rt_monotonic_ms();
        cap_budget b = {
            .fuel = pp->fuel > used ? pp->fuel - used : 0,
            .ram = pp->ram > mem ? pp->ram - mem : 0,
            .timeout_ms = p->deadline_ms > now ? p->deadline_ms - now : 0,
        };
        st = cap_policy_bound(pp, &b, &resolved, &bounded, &e);
        if (st == CAP_OK) {
            st = check_real_paths(pp, &bounded, &e);
        }
        if (st == CAP_ERR_DENIED) {
            denied = true;
            st = CAP_OK;
        } else if (st != CAP_OK) {
            cap_rt_fail(err, st, "%s", e.msg);
            goto done;
        }
    }
    (*p->children)++;

    cap_task_spec cs;
    cap_task_spec_init(&cs);
    cs.file = p->spec->file;
    cs.module = p->module;
    cs.task_name = task_name;
    cs.args = args;
    cs.kwargs = kwargs;
    cs.policy = denied ? &resolved : &bounded;
    cs.env_names = p->spec->env_names;
    cs.env_values = p->spec->env_values;
    cs.nenv = p->spec->nenv;
    cs.code_mounts = p->spec->code_mounts;
    cs.ncode_mounts = p->spec->ncode_mounts;
    cs.runtime_env_names = p->spec->runtime_env_names;
    cs.runtime_env_values = p->spec->runtime_env_values;
    cs.nruntime_env = p->spec->nruntime_env;
    cs.prepared = p->spec->prepared;
    cs.lazy_compile = p->spec->lazy_compile;
    cs.output_limit = p->spec->output_limit;
    cs.event_fn = p->spec->event_fn;
    cs.event_user = p->spec->event_user;
    uint64_t child_fuel = 0;
    if (denied) {
        cap_task_result_set_name(&r, task_name);
        r.task_id = j_begin(rt, &cs, p->task_id, task_name, &resolved);
        cap_task_result_fail_from(&r, &e, &resolved);
        j_finish(rt, &cs, r.task_id, &r);
        event(&cs, r.task_id, "task %lld %s: %s", (long long)r.task_id, task_name,
              r.error_message ? r.error_message : "denied");
    } else {
        run_task(rt, &cs, p, &r, &child_fuel);
        /* The child's fuel is charged to the parent: the parent cannot multiply its compute by
         * scheduling many children. */
        p->child_fuel += child_fuel;
        uint64_t spent = cap_store_fuel_consumed(p->store) - p->startup_fuel + p->child_fuel;
        cap_store_set_fuel(p->store, pp->fuel > spent ? pp->fuel - spent : 0);
    }
    *out = cap_task_result_to_json(&r);
    if (!*out) {
        st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        goto done;
    }
    *out_len = strlen(*out);
done:
    cap_task_result_clear(&r);
    cap_policy_clear(&req);
    cap_policy_clear(&resolved);
    cap_policy_clear(&bounded);
    return st;
}
