/* SPDX-License-Identifier: Apache-2.0 */
/* `capsule worker`: JSON lines on stdin and stdout for SDKs and tools. Each request
 * {"id", "file", "args", "mounts", ...} is answered by {"id", "output": <envelope>} or
 * {"id", "error": "..."}; requests run concurrently on a thread pool that shares one runner, so
 * one compiled-module cache and one journal. Responses come in completion order. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capsule.h"
#include "cli/cli_task.h"
#include "runtime/json_text.h"
#include "runtime/guest_lang.h"
#include "runtime/task.h"

#define MAX_THREADS 64
#define QUEUE_MAX   1024 // requests read ahead of the pool before reading stops

typedef struct job {
    char *line;
    struct job *next;
} job;

typedef struct worker {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    pthread_cond_t nonfull;
    job *head, *tail;
    size_t queued;
    bool eof;
    pthread_mutex_t out_lock;
    cap_task_runner *rt;
    const cap_config_t *cfg;
    const cli_policy_flags *flags;
} worker;

static void
worker_help(FILE *out)
{
    fprintf(
        out,
        "Usage: capsule worker [--threads N] [--no-journal] [POLICY OPTIONS]\n"
        "Serves task requests as JSON lines on stdin, one response line each on stdout:\n"
        "  {\"id\": 1, \"file\": \"task.wasm\", \"args\": [\"5\"], \"mounts\": [\"./data:ro\"],\n"
        "   \"task_name\": \"main\", \"kwargs\": {}, \"policy\": {\"compute\": \"LOW\"}}\n"
        "  -> {\"id\": 1, \"output\": <result envelope>}  or  {\"id\": 1, \"error\": \"...\"}\n"
        "Requests run concurrently (responses in completion order) and share one\n"
        "compiled-module cache. Policy options (--compute, --ram, --timeout, --max-retries,\n"
        "--allow-host, --env, --mount) set defaults over capsule.toml's; a request's policy\n"
        "and mounts override them. Ends at end of input once every request is answered.\n"
        "  --threads N    worker threads (default: the number of CPUs)\n");
}

/* Writes one response line (under the output lock, flushed at once). */
static void
respond(worker *w, json_t *id, const char *key, json_t *value)
{
    json_t *o = json_object();
    char *s = NULL;
    if (o && json_object_set(o, "id", id ? id : json_null()) == 0 &&
        json_object_set_new(o, key, value) == 0) {
        value = NULL;
        s = cap_json_text(o, false);
    }
    json_decref(value);
    json_decref(o);
    pthread_mutex_lock(&w->out_lock);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
    } else {
        fputs("{\"id\":null,\"error\":\"out of memory\"}\n", stdout);
    }
    fflush(stdout);
    pthread_mutex_unlock(&w->out_lock);
    cap_string_free(s);
}

static void
respond_error(worker *w, json_t *id, const char *msg)
{
    respond(w, id, "error", json_string(msg));
}

static void
serve(worker *w, const char *line)
{
    json_error_t jerr;
    json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    cap_policy_t pol, eff;
    memset(&pol, 0, sizeof pol);
    memset(&eff, 0, sizeof eff);
    cap_error_t err;
    cap_task_result r;
    cap_task_result_init(&r);
    cap_guest_run guest;
    memset(&guest, 0, sizeof guest);
    cap_prepared *prep = NULL;
    char msg[400];
    if (!req || !json_is_object(req)) {
        snprintf(msg, sizeof msg, "invalid request: %s",
                 req ? "expected a JSON object" : jerr.text);
        respond_error(w, NULL, msg);
        goto out;
    }
    json_t *id = json_object_get(req, "id");
    json_t *file = json_object_get(req, "file");
    json_t *args = json_object_get(req, "args");
    json_t *kwargs = json_object_get(req, "kwargs");
    json_t *name = json_object_get(req, "task_name");
    json_t *mounts = json_object_get(req, "mounts");
    json_t *policy = json_object_get(req, "policy");
    json_t *code = json_object_get(req, "code_mounts");
    const char *code_mounts[16];
    size_t ncode = 0;
    /* null stands for "not given", as in the SDKs' optional arguments. */
    args = json_is_null(args) ? NULL : args;
    kwargs = json_is_null(kwargs) ? NULL : kwargs;
    name = json_is_null(name) ? NULL : name;
    mounts = json_is_null(mounts) ? NULL : mounts;
    code = json_is_null(code) ? NULL : code;
    const char *why = NULL;
    if (!json_is_string(file)) {
        why = "invalid request: \"file\" must be a string";
    } else if (args && !json_is_array(args)) {
        why = "invalid request: \"args\" must be an array";
    } else if (kwargs && !json_is_object(kwargs)) {
        why = "invalid request: \"kwargs\" must be an object";
    } else if (name && !json_is_string(name)) {
        why = "invalid request: \"task_name\" must be a string";
    } else if (mounts && !json_is_array(mounts)) {
        why = "invalid request: \"mounts\" must be an array of strings";
    } else if (code && (!json_is_array(code) || json_array_size(code) > 16)) {
        why = "invalid request: \"code_mounts\" must be an array of at most 16 strings";
    } else if (policy && !json_is_object(policy) && !json_is_null(policy)) {
        why = "invalid request: \"policy\" must be an object";
    }
    if (why) {
        respond_error(w, id, why);
        goto out;
    }
    if (w->flags->policy && cap_policy_copy(&pol, w->flags->policy, &err) != CAP_OK) {
        respond_error(w, id, err.msg);
        goto out;
    }
    if (json_is_object(policy) && cap_policy_set_jansson(&pol, policy, &err) != CAP_OK) {
        snprintf(msg, sizeof msg, "invalid policy: %s", err.msg);
        respond_error(w, id, msg);
        goto out;
    }
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m)
    {
        if (!json_is_string(m)) {
            respond_error(w, id, "invalid request: \"mounts\" must be an array of strings");
            goto out;
        }
        if (cap_policy_set(&pol, "allowed_files", json_string_value(m), &err) != CAP_OK) {
            snprintf(msg, sizeof msg, "invalid mount: %s", err.msg);
            respond_error(w, id, msg);
            goto out;
        }
    }
    json_array_foreach(code, i, m)
    {
        if (!json_is_string(m)) {
            respond_error(w, id, "invalid request: \"code_mounts\" must hold strings");
            goto out;
        }
        code_mounts[ncode++] = json_string_value(m);
    }
    if (access(json_string_value(file), R_OK) != 0) {
        snprintf(msg, sizeof msg, "cannot read %s", json_string_value(file));
        respond_error(w, id, msg);
        goto out;
    }
    /* A Python or JavaScript source runs on its guest runtime, as with `capsule run`. */
    if (cap_guest_run_prepare(json_string_value(file), ".", &guest, &err) != CAP_OK) {
        respond_error(w, id, err.msg);
        goto out;
    }
    const char *module = json_string_value(file);
    if (guest.lang != CAP_GUEST_WASM) {
        module = guest.module;
        for (size_t g = 0; g < guest.ncode_mounts; g++) {
            if (ncode == sizeof code_mounts / sizeof code_mounts[0]) {
                respond_error(w, id, "invalid request: too many code mounts");
                goto out;
            }
            code_mounts[ncode++] = guest.code_mounts[g];
        }
        /* The runtime's prepared start, loaded once per worker (built if missing): a task
         * restores it instead of starting the interpreter. A failing start-up runs from
         * scratch so that the envelope reports it. */
        cap_prepared_source src;
        cap_error_t perr;
        if (cap_prepared_for_guest(w->rt, &guest, false, NULL, NULL, &prep, &src, &perr) !=
            CAP_OK) {
            prep = NULL;
        }
    }
    /* Flags and the request's policy, then the task's own @task options, then capsule.toml. */
    if (cap_prepared_resolve_policy(prep, name ? json_string_value(name) : NULL, &pol,
                                    cap_config_defaults(w->cfg), &eff, &err) != CAP_OK) {
        respond_error(w, id, err.msg);
        goto out;
    }
    cap_task_spec spec;
    cap_task_spec_init(&spec);
    spec.file = module;
    spec.task_name = name ? json_string_value(name) : NULL;
    spec.args = args;
    spec.kwargs = kwargs;
    spec.policy = &eff;
    spec.env_names = (const char *const *)w->flags->env_names;
    spec.env_values = (const char *const *)w->flags->env_values;
    spec.nenv = w->flags->nenv;
    spec.code_mounts = code_mounts;
    spec.ncode_mounts = ncode;
    spec.runtime_env_names = (const char *const *)guest.env_names;
    spec.runtime_env_values = (const char *const *)guest.env_values;
    spec.nruntime_env = guest.nenv;
    spec.prepared = prep;
    spec.lazy_compile = guest.lang != CAP_GUEST_WASM;
    if (cap_task_run(w->rt, &spec, &r, &err) != CAP_OK) {
        respond_error(w, id, err.msg);
        goto out;
    }
    json_t *env = cap_task_result_to_jansson(&r);
    if (!env) {
        respond_error(w, id, "out of memory");
        goto out;
    }
    respond(w, id, "output", env);
out:
    cap_prepared_release(prep);
    cap_guest_run_clear(&guest);
    cap_task_result_clear(&r);
    cap_policy_clear(&pol);
    cap_policy_clear(&eff);
    json_decref(req);
}

static void *
thread_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->eof) {
            pthread_cond_wait(&w->nonempty, &w->lock);
        }
        job *j = w->head;
        if (!j) {
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        w->head = j->next;
        if (!w->head) {
            w->tail = NULL;
        }
        w->queued--;
        pthread_cond_signal(&w->nonfull);
        pthread_mutex_unlock(&w->lock);
        serve(w, j->line);
        free(j->line);
        free(j);
    }
}

int
cli_worker(int argc, char **argv)
{
    int code = CLI_TASK_USAGE;
    cli_policy_flags flags;
    memset(&flags, 0, sizeof flags);
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    bool journal_on = true;
    cap_error_t err;
    cap_config_t *cfg = NULL;
    cap_journal_t *journal = NULL;
    worker w;
    memset(&w, 0, sizeof w);
    pthread_t tids[MAX_THREADS];
    long started = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            worker_help(stdout);
            return CLI_TASK_OK;
        }
        if (strcmp(a, "--no-journal") == 0) {
            journal_on = false;
            continue;
        }
        if (i + 1 >= argc || (strcmp(a, "--threads") != 0 && !cli_is_policy_flag(a))) {
            fprintf(stderr,
                    "capsule worker: unknown or incomplete option '%s' (try 'capsule "
                    "worker --help')\n",
                    a);
            goto out;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--threads") == 0) {
            char *end;
            threads = strtol(v, &end, 10);
            if (*end || threads < 1 || threads > MAX_THREADS) {
                fprintf(stderr, "capsule worker: --threads: '%s' is not a count from 1 to %d\n", v,
                        MAX_THREADS);
                goto out;
            }
        } else if (cli_policy_flag(&flags, a, v, &err) != CAP_OK) {
            fprintf(stderr, "capsule worker: %s: %s\n", a, err.msg);
            goto out;
        }
    }
    if (threads < 1) {
        threads = 1;
    } else if (threads > MAX_THREADS) {
        threads = MAX_THREADS;
    }
    if (cap_config_load(".", &cfg, &err) != CAP_OK) {
        fprintf(stderr, "capsule worker: %s\n", err.msg);
        goto out;
    }
    if (journal_on && cap_journal_open(".", &journal, &err) != CAP_OK) {
        fprintf(stderr, "capsule worker: warning: runs are not journaled: %s\n", err.msg);
        journal = NULL;
    }
    if (cap_task_runner_new(cfg, journal, &w.rt, &err) != CAP_OK) {
        fprintf(stderr, "capsule worker: %s\n", err.msg);
        goto out;
    }
    pthread_mutex_init(&w.lock, NULL);
    pthread_mutex_init(&w.out_lock, NULL);
    pthread_cond_init(&w.nonempty, NULL);
    pthread_cond_init(&w.nonfull, NULL);
    w.cfg = cfg;
    w.flags = &flags;
    for (; started < threads; started++) {
        if (pthread_create(&tids[started], NULL, thread_main, &w) != 0) {
            break;
        }
    }
    if (started == 0) {
        fprintf(stderr, "capsule worker: cannot start threads\n");
        code = CLI_TASK_FAILED;
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) >= 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
                line[--n] = '\0';
            }
            if (n == 0) {
                continue;
            }
            job *j = malloc(sizeof *j);
            char *copy = j ? strdup(line) : NULL;
            if (!copy) {
                free(j);
                respond_error(&w, NULL, "out of memory");
                continue;
            }
            j->line = copy;
            j->next = NULL;
            pthread_mutex_lock(&w.lock);
            while (w.queued >= QUEUE_MAX) {
                pthread_cond_wait(&w.nonfull, &w.lock);
            }
            if (w.tail) {
                w.tail->next = j;
            } else {
                w.head = j;
            }
            w.tail = j;
            w.queued++;
            pthread_cond_signal(&w.nonempty);
            pthread_mutex_unlock(&w.lock);
        }
        free(line);
        code = CLI_TASK_OK;
    }
    pthread_mutex_lock(&w.lock);
    w.eof = true;
    pthread_cond_broadcast(&w.nonempty);
    pthread_mutex_unlock(&w.lock);
    for (long t = 0; t < started; t++) {
        pthread_join(tids[t], NULL);
    }
    pthread_cond_destroy(&w.nonempty);
    pthread_cond_destroy(&w.nonfull);
    pthread_mutex_destroy(&w.lock);
    pthread_mutex_destroy(&w.out_lock);
out:
    cap_task_runner_free(w.rt);
    cap_journal_close(journal);
    cap_config_free(cfg);
    cli_policy_flags_free(&flags);
    return code;
}
