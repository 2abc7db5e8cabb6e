/* SPDX-License-Identifier: Apache-2.0 */
/* `capsule build FILE`: ahead-of-time preparation. A Python or JavaScript/TypeScript entry is
 * bundled (JavaScript), its runtime started and the user's code imported, and the state saved
 * as a snapshot in .capsule/snapshots that every `capsule run` restores (the first run does the
 * same on its own). A WebAssembly module is decoded and validated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capsule.h"
#include "cli/cli_task.h"
#include "runtime/guest_lang.h"
#include "runtime/policy.h"
#include "runtime/rt.h"
#include "runtime/task.h"

static void
build_help(FILE *out)
{
    fprintf(out,
            "Usage: capsule build [OPTIONS] FILE\n"
            "Prepares FILE to start fast. A Python (.py) or JavaScript/TypeScript (.js, .mjs,\n"
            ".ts) entry is bundled (JavaScript), its runtime started and the code imported,\n"
            "and that state saved under .capsule/snapshots/, keyed by the code, the runtime and\n"
            "the options: every `capsule run` of the entry then restores it instead of starting\n"
            "the interpreter (the first `capsule run` builds it too). A WebAssembly module is\n"
            "decoded and validated.\n"
            "Options:\n"
            "  --force        build even when an up-to-date snapshot exists\n"
            "  --json         print the outcome as one JSON object\n"
            "  --verbose, -v  print lifecycle lines to stderr\n"
            "  -h, --help     this help\n\n"
            "Exit status: 0 built (or up to date); 1 the code failed to load; 2 usage error.\n");
}

static void
print_event(void *user, int64_t id, const char *line)
{
    (void)user;
    (void)id;
    fprintf(stderr, "capsule: %s\n", line);
}

/* A module: validate it (compile everything) and say what it is. */
static int
build_module(const char *file, bool json)
{
    cap_module_cache *cache = NULL;
    cap_cached_module *m = NULL;
    cap_error_t err;
    int code = CLI_TASK_FAILED;
    uint64_t t0 = cap_rt_monotonic_ms();
    if (cap_module_cache_new(&cache, &err) == CAP_OK &&
        cap_module_cache_load(cache, file, &m, &err) == CAP_OK) {
        uint64_t ms = cap_rt_monotonic_ms() - t0;
        if (json) {
            printf("{\"file\":\"%s\",\"valid\":true,\"duration_ms\":%llu}\n", file,
                   (unsigned long long)ms);
        } else {
            printf("%s: a valid WebAssembly module (checked in %llu ms; modules need no "
                   "snapshot)\n",
                   file, (unsigned long long)ms);
        }
        code = CLI_TASK_OK;
    } else if (json) {
        json_t *o = json_pack("{s:s, s:b, s:s}", "file", file, "valid", 0, "error", err.msg);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        fprintf(stderr, "capsule build: %s: %s\n", file, err.msg);
    }
    cap_module_cache_release(m);
    cap_module_cache_free(cache);
    return code;
}

static void
format_size(uint64_t bytes, char *buf, size_t size)
{
    if (bytes >= (1u << 20)) {
        snprintf(buf, size, "%.1f MB", (double)bytes / (1 << 20));
    } else {
        snprintf(buf, size, "%.1f KB", (double)bytes / 1024);
    }
}

int
cli_build(int argc, char **argv)
{
    bool force = false, json = false, verbose = false;
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            build_help(stdout);
            return CLI_TASK_OK;
        } else if (strcmp(a, "--force") == 0) {
            force = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            verbose = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "capsule build: unknown option '%s' (try 'capsule build --help')\n",
                    a);
            return CLI_TASK_USAGE;
        } else if (file) {
            fprintf(stderr, "capsule build: one FILE at a time (try 'capsule build --help')\n");
            return CLI_TASK_USAGE;
        } else {
            file = a;
        }
    }
    if (!file) {
        fprintf(stderr, "capsule build: no FILE given (try 'capsule build --help')\n");
        return CLI_TASK_USAGE;
    }
    if (access(file, R_OK) != 0) {
        perror("capsule build");
        fprintf(stderr, "capsule build: cannot read %s\n", file);
        return CLI_TASK_USAGE;
    }
    cap_error_t err;
    cap_guest_run guest;
    if (cap_guest_run_prepare(file, ".", &guest, &err) != CAP_OK) {
        fprintf(stderr, "capsule build: %s\n", err.msg);
        return CLI_TASK_USAGE;
    }
    if (guest.lang == CAP_GUEST_WASM) {
        cap_guest_run_clear(&guest);
        return build_module(file, json);
    }
    int code = CLI_TASK_FAILED;
    cap_config_t *cfg = NULL;
    cap_task_runner *rt = NULL;
    cap_prepared *prep = NULL;
    cap_prepared_source src = CAP_PREPARED_BUILT;
    uint64_t t0 = cap_rt_monotonic_ms();
    if (cap_config_load(".", &cfg, &err) != CAP_OK || cap_task_runner_new(cfg, NULL, &rt, &err) != CAP_OK) {
        fprintf(stderr, "capsule build: %s\n", err.msg);
        code = CLI_TASK_USAGE;
        goto out;
    }
    if (cap_prepared_for_guest(rt, &guest, force, verbose ? print_event : NULL, NULL, &prep, &src,
                               &err) != CAP_OK) {
        fprintf(stderr, "capsule build: %s: %s\n", file, err.msg);
        goto out;
    }
    uint64_t ms = cap_rt_monotonic_ms() - t0;
    const cap_snapshot_t *snap = cap_prepared_snapshot(prep);
    uint64_t mem = cap_snapshot_memory_bytes(snap);
    const json_t *tasks = cap_prepared_tasks(prep); // the code's tasks and their own options
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:O}", "file", file,
                              "snapshot", cap_prepared_path(prep), "key", guest.snapshot_key,
                              "source", src == CAP_PREPARED_BUILT ? "built" : "up_to_date",
                              "memory_bytes", (json_int_t)mem, "file_bytes",
                              (json_int_t)cap_prepared_file_bytes(prep), "startup_fuel",
                              (json_int_t)cap_prepared_init_fuel(prep), "duration_ms",
                              (json_int_t)ms, "tasks", tasks);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        char msize[32], fsize[32];
        format_size(mem, msize, sizeof msize);
        format_size(cap_prepared_file_bytes(prep), fsize, sizeof fsize);
        printf("%s %s\n  snapshot %s (memory %s, %s on disk) in %llu ms\n",
               src == CAP_PREPARED_BUILT ? "built" : "up to date:", file,
               cap_prepared_path(prep), msize, fsize, (unsigned long long)ms);
        printf("  start-up not paid by each run: %llu instructions\n",
               (unsigned long long)cap_prepared_init_fuel(prep));
        printf("  tasks:");
        const char *name;
        json_t *o;
        bool first = true;
        json_object_foreach((json_t *)tasks, name, o)
        {
            char *opts = json_object_size(o) ? json_dumps(o, JSON_COMPACT) : NULL;
            printf("%s %s%s%s", first ? "" : ",", name, opts ? " " : "", opts ? opts : "");
            free(opts);
            first = false;
        }
        printf("%s\n", first ? " (none)" : "");
    }
    code = CLI_TASK_OK;
out:
    cap_prepared_release(prep);
    cap_task_runner_free(rt);
    cap_config_free(cfg);
    cap_guest_run_clear(&guest);
    return code;
}
