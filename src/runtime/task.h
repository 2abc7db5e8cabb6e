/* SPDX-License-Identifier: Apache-2.0 */
/* The task runner: a task is a guest module plus a resolved policy, run in a fresh store per
 * attempt (fuel, ram and a deadline applied), retried up to max_retries, recorded in the journal
 * (created -> running -> completed | failed) and turned into a result envelope. Sub-tasks
 * scheduled through the guest ABI (host_abi.c) come back here, bounded by their parent. */
#ifndef CAP_RUNTIME_TASK_H
#define CAP_RUNTIME_TASK_H

#include "capsule.h"
#include "runtime/config.h"
#include "runtime/journal.h"
#include "runtime/policy.h"
#include "runtime/result.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the compiled-module cache (task_cache.c) ----
 * Modules are keyed by the SHA-256 of their bytes, compiled once and shared read-only by every
 * task on every thread. Thread-safe. */
typedef struct cap_module_cache cap_module_cache;
typedef struct cap_cached_module cap_cached_module;

cap_status cap_module_cache_new(cap_module_cache **out, cap_error_t *err);
/* Frees the cache. Every module taken from it must have been released. NULL is a no-op. */
void cap_module_cache_free(cap_module_cache *cache);
/* Reads `path`, and returns its compiled module (compiling it when the cache has no module with
 * the same bytes). Outcomes: CAP_OK; CAP_ERR_IO (cannot read; message names the file);
 * CAP_ERR_MALFORMED / CAP_ERR_INVALID from the engine; CAP_ERR_NOMEM. Release with
 * cap_module_cache_release. */
cap_status cap_module_cache_load(cap_module_cache *cache, const char *path, cap_cached_module **out,
                                 cap_error_t *err);
/* The same, keyed by the file's identity (device, inode, size, mtime) instead of a hash of its
 * bytes, and with lazy compilation when `lazy` (cap_module_new_lazy: for the guest runtimes, of
 * whose thousands of functions a task calls a few hundred). */
cap_status cap_module_cache_load_file(cap_module_cache *cache, const char *path, bool lazy,
                                      cap_cached_module **out, cap_error_t *err);
/* The same, from bytes in memory. */
cap_status cap_module_cache_load_bytes(cap_module_cache *cache, const uint8_t *bytes, size_t len,
                                       cap_cached_module **out, cap_error_t *err);
/* Another reference to a cached module. */
cap_cached_module *cap_module_cache_retain(cap_cached_module *m);
void cap_module_cache_release(cap_cached_module *m);
/* The compiled module. Borrowed; valid while the reference is held. */
const cap_module_t *cap_cached_module_get(const cap_cached_module *m);
/* Number of modules compiled so far (for tests and benchmarks). */
uint64_t cap_module_cache_compiles(const cap_module_cache *cache);
/* The SHA-256 of bytes (exposed for tests). */
void cap_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* ---- the runner (task.c) ---- */
typedef struct cap_task_runner cap_task_runner;

/* Creates a runner. config (may be NULL) supplies capsule.toml defaults for sub-tasks and the
 * values of granted environment variables; journal (may be NULL: nothing recorded) is where
 * runs are written. Both are borrowed and must outlive the runner. The runner may be used by
 * several threads at once: journal writes are serialised inside it. */
cap_status cap_task_runner_new(const cap_config_t *config, cap_journal_t *journal,
                               cap_task_runner **out, cap_error_t *err);
void cap_task_runner_free(cap_task_runner *rt);
/* The runner's module cache (borrowed). */
cap_module_cache *cap_task_runner_cache(cap_task_runner *rt);

/* Lifecycle events, for `capsule run --verbose`: one line such as
 * "task 12 main: running (attempt 1 of 3)". Called on the thread running the task. */
typedef void (*cap_task_event_fn)(void *user, int64_t task_id, const char *line);

/* What to run. Everything is borrowed for the duration of cap_task_run. */
typedef struct cap_task_spec {
    const char *file;           // the module's path (read through the cache; journaled)
    bool lazy_compile;          // compile its functions on first call (guest runtimes)
    cap_cached_module *module;  // or an already loaded module (then `file` is only a label)
    const char *task_name;      // NULL: "main"
    const json_t *args;         // a JSON array, NULL: []
    const json_t *kwargs;       // a JSON object, NULL: {}
    const cap_policy_t *policy; // resolved: every field set (cap_policy_resolve_into)
    /* Explicit environment values (CLI --env NAME=VALUE) that win over the real environment
     * and .env for the names the policy grants. */
    const char *const *env_names;
    const char *const *env_values;
    size_t nenv;
    /* Read-only mounts of the code the guest runs ("HOST::/GUEST", e.g. a Python or JavaScript
     * project mounted at /app for a guest runtime): set by the host, not grants of the policy,
     * and given to every sub-task of the run as well. */
    const char *const *code_mounts;
    size_t ncode_mounts;
    /* WASI extras for the top-level task: stdin (a file path, or a descriptor when >= 0), the
     * per-stream capture cap (0 = CAP_WASI_DEFAULT_OUTPUT_LIMIT), live output streaming. */
    const char *stdin_path;
    int stdin_fd;
    size_t output_limit;
    cap_wasi_output_fn stream_fn;
    void *stream_user;
    cap_task_event_fn event_fn;
    void *event_user;
    /* Environment the host sets for a guest runtime (e.g. CAPSULE_PYTHON_MAIN): given to the
     * task and its sub-tasks whatever the policy says, like the code mounts. */
    const char *const *runtime_env_names;
    const char *const *runtime_env_values;
    size_t nruntime_env;
    /* A guest runtime's prepared start (prepared.c): each attempt restores its snapshot instead
     * of starting the runtime (NULL: start from scratch). Sub-tasks share it. */
    const struct cap_prepared *prepared;
    /* Internal (prepared.c builds a snapshot through a task run): >= 0 writes a snapshot of the
     * instance to this file once capsule_init returned, then asks the guest to describe its
     * tasks (request {"describe": true}); the run is not journaled. */
    int snapshot_fd;
} cap_task_spec;

/* Initialises a spec with defaults (no stdin, no streaming). */
void cap_task_spec_init(cap_task_spec *spec);

/* Runs a top-level task to its envelope in *out (initialised here; clear it with
 * cap_task_result_clear). Every failure of the task itself, including a module that cannot be
 * read, decoded or linked, is described by the envelope: the return value is CAP_OK then.
 * Returns CAP_ERR_USAGE for a spec without a resolved policy or without a module, and
 * CAP_ERR_NOMEM when not even the envelope could be built. */
cap_status cap_task_run(cap_task_runner *rt, const cap_task_spec *spec, cap_task_result *out,
                        cap_error_t *err);

/* ---- prepared starts of guest runtimes (prepared.c) ----
 * A guest runtime (Python, JavaScript) is started once (_initialize + capsule_init: interpreter
 * start-up and the user's imports), snapshotted to <dir>/<key>.snap, and every task restores the
 * snapshot (copy-on-write) instead. The key (computed by guest_lang.c) covers the runtime, the
 * user's code and the runtime environment, so a change to any of them builds a new snapshot.
 * The snapshot also records what the guest says of its tasks (their @task options). */
typedef struct cap_prepared cap_prepared;

typedef struct cap_prepare_spec {
    const char *module_path;      // the runtime module
    const char *key;              // hex digest naming the snapshot
    const char *dir;              // where snapshot files live; NULL: in memory only
    const char *const *code_mounts;
    size_t ncode_mounts;
    const char *const *runtime_env_names;
    const char *const *runtime_env_values;
    size_t nruntime_env;
    uint64_t timeout_ms; // for a build (0: 5 minutes)
    bool rebuild;        // build even when a snapshot exists
    cap_task_event_fn event_fn;
    void *event_user;
} cap_prepare_spec;

typedef enum cap_prepared_source {
    CAP_PREPARED_MEMORY, // already loaded in this process
    CAP_PREPARED_FILE,   // read from dir
    CAP_PREPARED_BUILT,  // built now
} cap_prepared_source;

/* Finds or builds the prepared start for ps (thread-safe; concurrent callers of one key wait for
 * one build). *source says where it came from. Outcomes: CAP_OK; CAP_ERR_TRAP / CAP_ERR_CONFIG
 * etc. when the runtime's start-up fails (err says how: run the task without a snapshot to get
 * its envelope); CAP_ERR_IO; CAP_ERR_NOMEM. Release with cap_prepared_release. */
cap_status cap_prepared_get(cap_task_runner *rt, const cap_prepare_spec *ps, cap_prepared **out,
                            cap_prepared_source *source, cap_error_t *err);
void cap_prepared_release(cap_prepared *p);
/* The snapshot to restore (borrowed). */
const cap_snapshot_t *cap_prepared_snapshot(const cap_prepared *p);
/* What the guest said of its tasks: {"name": {options}, ...} (borrowed). */
const json_t *cap_prepared_tasks(const cap_prepared *p);
/* The guest's own options of task `name` (a JSON object, borrowed), or NULL. */
const json_t *cap_prepared_task_options(const cap_prepared *p, const char *name);
/* Where the snapshot file is ("" when in memory only), its size on disk, and the fuel the
 * start-up took (what every restored run saves). */
const char *cap_prepared_path(const cap_prepared *p);
uint64_t cap_prepared_file_bytes(const cap_prepared *p);
uint64_t cap_prepared_init_fuel(const cap_prepared *p);

/* cap_prepared_get for a guest-language source prepared by guest_lang.c. */
struct cap_guest_run;
cap_status cap_prepared_for_guest(cap_task_runner *rt, const struct cap_guest_run *g,
                                  bool rebuild, cap_task_event_fn event_fn, void *event_user,
                                  cap_prepared **out, cap_prepared_source *source,
                                  cap_error_t *err);
/* The policy of a top-level task: each field from `explicit_` (flags) if set there, else from
 * the task's own @task options recorded in p (may be NULL), else from `defaults`
 * (capsule.toml), else the built-in default. */
cap_status cap_prepared_resolve_policy(const cap_prepared *p, const char *task_name,
                                       const cap_policy_t *explicit_,
                                       const cap_policy_t *defaults, cap_policy_t *out,
                                       cap_error_t *err);

/* The runner's table of prepared starts (owned by the runner; prepared.c). */
typedef struct cap_prepared_table cap_prepared_table;
cap_prepared_table *cap_prepared_table_new(void);
void cap_prepared_table_free(cap_prepared_table *t);
cap_prepared_table *cap_task_runner_prepared(cap_task_runner *rt);

/* ---- internals shared with host_abi.c ---- */

/* The state of one attempt of one task, hung off its store (cap_store_data). */
typedef struct cap_task_ctx cap_task_ctx;

#define CAP_ABI_MAX_HANDLES   64u
#define CAP_ABI_MAX_RESULT    (16u << 20)
#define CAP_ABI_MAX_LOG_LINE  4096u
#define CAP_ABI_MAX_LOG_LINES 1000u

struct cap_task_ctx {
    cap_task_runner *rt;
    const cap_task_spec *spec; // the task's spec (its policy is the effective one)
    cap_cached_module *module;
    cap_store_t *store;
    cap_task_ctx *parent; // NULL for a top-level task
    int64_t task_id;      // journal id, 0 when not journaled
    uint32_t depth;       // 0 for a top-level task
    uint64_t deadline_ms; // monotonic ms at which this attempt is interrupted
    /* The request JSON handed to request_read. */
    char *request;
    size_t request_len;
    /* What the guest gave through result_write (the last valid call). */
    bool has_result;
    cap_task_result guest_result;
    size_t result_bytes;
    /* Open sub-task responses: handle h is responses[h - 1]. */
    char *responses[CAP_ABI_MAX_HANDLES];
    size_t response_len[CAP_ABI_MAX_HANDLES];
    uint32_t *children; // sub-tasks scheduled by this task, over all attempts (shared counter)
    uint32_t log_lines;
    uint32_t log_dropped;
    uint64_t host_bytes; // host memory held for the guest (result, responses)
    uint64_t child_fuel; // fuel spent by sub-tasks (charged to this task)
    uint64_t startup_fuel; // fuel of a guest runtime's capsule_init this attempt (not charged)
    /* HTTP state over all attempts (request count, records, response bodies): http_abi.c. */
    struct cap_http_state *http;
};

/* Defines the `capsule` import module (docs/guest-abi.md) in linker, bound to ctx's store. */
cap_status cap_host_abi_link(cap_linker_t *linker, cap_store_t *store, cap_error_t *err);
/* Releases what the ABI holds for an attempt (responses, the guest's result). */
void cap_host_abi_release(cap_task_ctx *ctx);

/* Runs a sub-task for `parent` (the synchronous task_schedule of ABI 1): name, args, kwargs and
 * the requested policy (may be NULL) from the guest's request. The child's policy is resolved
 * with capsule.toml's defaults and bounded by the parent's policy and remaining budget; a
 * refusal is a `denied` envelope. *out receives the envelope JSON (cap_alloc'd). Returns CAP_OK,
 * CAP_ERR_CONFIG for a malformed policy (message in err), CAP_ERR_NOMEM. */
cap_status cap_task_run_child(cap_task_ctx *parent, const char *task_name, const json_t *args,
                              const json_t *kwargs, const json_t *policy, char **out,
                              size_t *out_len, cap_error_t *err);

/* Writes a guest log line to the task's journal (serialised with the runner's other writes). */
void cap_task_log(cap_task_ctx *ctx, const char *level, const char *message);

#endif
