/* SPDX-License-Identifier: Apache-2.0 */
/* `capsule run [FILE] [ARGS...]`: runs a WebAssembly task through the task runner with the
 * policy from the flags, capsule.toml's defaults and the built-in ones, records it in the
 * journal and reports its envelope (--json) or its output and a one-line error. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capsule.h"
#include "cli/cli_task.h"
#include "runtime/json_text.h"
#include "runtime/guest_lang.h"
#include "runtime/rt.h"
#include "runtime/task.h"

void
cli_task_run_help(FILE *out)
{
    fprintf(
        out,
        "Usage: capsule run [OPTIONS] [FILE] [ARGS...]\n"
        "Runs a task under a policy: FILE is a WebAssembly module (a task module exporting\n"
        "capsule_run, or any WASI command), a Python file (main.py, run by build/python) or a\n"
        "JavaScript/TypeScript entry (.js, .mjs, .ts: bundled, run by build/js). FILE defaults\n"
        "to capsule.toml's [workflow] entrypoint.\n"
        "Options (anywhere before '--'; after FILE unknown options go to the task):\n"
        "  --json                    print only the result envelope (JSON, last line of stdout)\n"
        "  --verbose, -v             print lifecycle lines to stderr\n"
        "  --task NAME               the task name in the request (default: main)\n"
        "  --args-file FILE          the task's args as a JSON array (instead of ARGS)\n"
        "  --compute LEVEL           LOW, MEDIUM (default), HIGH or a fuel count (--fuel N)\n"
        "  --ram SIZE                memory cap, e.g. 64MB (default 256MB; --max-memory)\n"
        "  --timeout DURATION        deadline per attempt, e.g. 500ms, 30s (default 60s)\n"
        "  --max-retries N           re-run a failed attempt up to N times (default 0)\n"
        "  --mount HOST[::GUEST][:ro|:rw]  grant a directory (repeatable; read-only default)\n"
        "  --allow-host HOST         grant a host for HTTP requests (repeatable)\n"
        "  --env NAME[=VALUE]        grant an environment variable (repeatable); NAME alone\n"
        "                            takes the value from the environment or .env\n"
        "  --code-mount HOST::/GUEST mount the code a guest runtime runs, read-only, for the\n"
        "                            task and its sub-tasks (not a grant of the policy)\n"
        "  --stdin FILE|-            the task's stdin (default: empty)\n"
        "  --max-output SIZE         cap captured stdout and stderr each (default 4MB, at most\n"
        "                            a quarter of ram)\n"
        "  --no-journal              do not record the run in .capsule/journal.db\n"
        "  --no-snapshot             start a Python or JavaScript runtime from scratch instead\n"
        "                            of restoring its snapshot (.capsule/snapshots)\n"
        "  -h, --help                this help\n\n"
        "Exit status: 0 the task succeeded; 1 it failed (with --json the envelope says why);\n"
        "  2 a usage or configuration error.\n");
}

static int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "capsule %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try 'capsule %s --help')\n", cmd);
    return CLI_TASK_USAGE;
}

bool
cli_is_policy_flag(const char *name)
{
    static const char *const flags[] = {
        "--compute",     "--fuel",       "--ram", "--max-memory", "--timeout",
        "--max-retries", "--allow-host", "--env", "--mount",      NULL};
    for (size_t i = 0; flags[i]; i++) {
        if (strcmp(name, flags[i]) == 0) {
            return true;
        }
    }
    return false;
}

cap_status
cli_policy_flag(cli_policy_flags *f, const char *name, const char *value, cap_error_t *err)
{
    if (!f->policy) {
        cap_status st = cap_policy_new(&f->policy, err);
        if (st != CAP_OK) {
            return st;
        }
    }
    static const struct {
        const char *flag, *field;
    } map[] = {{"--compute", "compute"},
               {"--fuel", "compute"},
               {"--ram", "ram"},
               {"--max-memory", "ram"},
               {"--timeout", "timeout"},
               {"--max-retries", "max_retries"},
               {"--allow-host", "allowed_hosts"},
               {"--mount", "allowed_files"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(name, map[i].flag) == 0) {
            return cap_policy_set(f->policy, map[i].field, value, err);
        }
    }
    if (strcmp(name, "--env") == 0) {
        const char *eq = strchr(value, '=');
        char *n = eq ? strndup(value, (size_t)(eq - value)) : strdup(value);
        if (!n) {
            return CAP_ERR_NOMEM;
        }
        cap_status st = cap_policy_set(f->policy, "env_variables", n, err);
        if (st == CAP_OK && eq) {
            char **nn = realloc(f->env_names, (f->nenv + 1) * sizeof *nn);
            if (nn) {
                f->env_names = nn;
            }
            char **nv = realloc(f->env_values, (f->nenv + 1) * sizeof *nv);
            if (nv) {
                f->env_values = nv;
            }
            char *v = strdup(eq + 1);
            if (!nn || !nv || !v) {
                free(v);
                free(n);
                return CAP_ERR_NOMEM;
            }
            f->env_names[f->nenv] = n;
            f->env_values[f->nenv] = v;
            f->nenv++;
            return CAP_OK;
        }
        free(n);
        return st;
    }
    if (err) {
        snprintf(err->msg, sizeof err->msg, "unknown option '%s'", name);
        err->status = CAP_ERR_USAGE;
    }
    return CAP_ERR_USAGE;
}

void
cli_policy_flags_free(cli_policy_flags *f)
{
    cap_policy_free(f->policy);
    for (size_t i = 0; i < f->nenv; i++) {
        free(f->env_names[i]);
        free(f->env_values[i]);
    }
    free(f->env_names);
    free(f->env_values);
    memset(f, 0, sizeof *f);
}

static void
stream_out(void *user, int stream, const uint8_t *data, size_t len)
{
    (void)user;
    int fd = stream == 2 ? STDERR_FILENO : STDOUT_FILENO;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; // our stdout is gone: drop the output, keep the task going
        }
        data += n;
        len -= (size_t)n;
    }
}

static void
print_event(void *user, int64_t id, const char *line)
{
    (void)user;
    (void)id;
    fprintf(stderr, "capsule: %s\n", line);
}

/* Reads a whole (small) file; NULL with errno set on failure. */
static char *
slurp(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1) {
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (buf && bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (buf) {
        buf[len] = '\0';
        *out_len = len;
    }
    return buf;
}

static bool
parse_size(const char *s, size_t *out)
{
    if (strcmp(s, "unlimited") == 0) {
        *out = SIZE_MAX;
        return true;
    }
    uint64_t v;
    cap_error_t e;
    if (cap_policy_parse_ram("--max-output", s, &v, &e) != CAP_OK || v > SIZE_MAX) {
        return false;
    }
    *out = (size_t)v;
    return true;
}

int
cli_task_run(int argc, char **argv)
{
    int code = CLI_TASK_USAGE;
    cap_error_t err;
    cli_policy_flags flags;
    memset(&flags, 0, sizeof flags);
    bool json = false, verbose = false, journal_on = true, snapshot_on = true;
    cap_prepared *prep = NULL;
    const char *task_name = NULL, *args_file = NULL, *stdin_spec = NULL, *file = NULL;
    size_t max_output = 0;
    json_t *args = json_array();
    cap_config_t *cfg = NULL;
    cap_journal_t *journal = NULL;
    cap_task_runner *rt = NULL;
    cap_policy_t eff;
    memset(&eff, 0, sizeof eff);
    cap_task_result r;
    cap_task_result_init(&r);
    bool options_done = false;
    const char *code_mounts[16 + CAP_GUEST_MAX_CODE_MOUNTS];
    size_t ncode = 0;
    cap_guest_run guest;
    memset(&guest, 0, sizeof guest);

    if (!args) {
        fprintf(stderr, "capsule run: out of memory\n");
        return CLI_TASK_USAGE;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        bool is_opt = !options_done && a[0] == '-' && a[1] != '\0';
        if (is_opt) {
            char name[32];
            const char *eq = strchr(a, '=');
            size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
            if (nlen >= sizeof name) {
                nlen = sizeof name - 1;
            }
            memcpy(name, a, nlen);
            name[nlen] = '\0';
            bool takes_value = cli_is_policy_flag(name) || strcmp(name, "--task") == 0 ||
                               strcmp(name, "--args-file") == 0 || strcmp(name, "--stdin") == 0 ||
                               strcmp(name, "--max-output") == 0 ||
                               strcmp(name, "--code-mount") == 0;
            bool is_switch = strcmp(a, "--json") == 0 || strcmp(a, "--verbose") == 0 ||
                             strcmp(a, "-v") == 0 || strcmp(a, "--no-journal") == 0 ||
                             strcmp(a, "--no-snapshot") == 0 ||
                             strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
            if (!takes_value && !is_switch) {
                if (file) {
                    is_opt = false; // an option of the task's own, after FILE
                } else {
                    code = cli_usage("run", "unknown option '%s'", a);
                    goto out;
                }
            } else if (is_switch) {
                if (strcmp(a, "--json") == 0) {
                    json = true;
                } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
                    verbose = true;
                } else if (strcmp(a, "--no-journal") == 0) {
                    journal_on = false;
                } else if (strcmp(a, "--no-snapshot") == 0) {
                    snapshot_on = false;
                } else {
                    cli_task_run_help(stdout);
                    code = CLI_TASK_OK;
                    goto out;
                }
                continue;
            } else {
                const char *val;
                if (eq) {
                    val = eq + 1;
                } else if (i + 1 < argc) {
                    val = argv[++i];
                } else {
                    code = cli_usage("run", "option '%s' needs a value", name);
                    goto out;
                }
                if (strcmp(name, "--task") == 0) {
                    task_name = val;
                } else if (strcmp(name, "--args-file") == 0) {
                    args_file = val;
                } else if (strcmp(name, "--stdin") == 0) {
                    stdin_spec = val;
                } else if (strcmp(name, "--code-mount") == 0) {
                    if (ncode >= 16) {
                        code = cli_usage("run", "at most 16 --code-mount options");
                        goto out;
                    }
                    code_mounts[ncode++] = val;
                } else if (strcmp(name, "--max-output") == 0) {
                    if (!parse_size(val, &max_output)) {
                        code = cli_usage("run", "--max-output: '%s' is not a size like 4MB", val);
                        goto out;
                    }
                } else if (cli_policy_flag(&flags, name, val, &err) != CAP_OK) {
                    fprintf(stderr, "capsule run: %s: %s\n", name, err.msg);
                    code = CLI_TASK_USAGE;
                    goto out;
                }
                continue;
            }
        }
        if (!file) {
            file = a;
        } else if (json_array_append_new(args, json_string(a)) != 0) {
            fprintf(stderr, "capsule run: out of memory\n");
            goto out;
        }
    }

    if (cap_config_load(".", &cfg, &err) != CAP_OK) {
        fprintf(stderr, "capsule run: %s\n", err.msg);
        goto out;
    }
    if (!file) {
        file = cap_config_workflow(cfg, "entrypoint");
        if (!file) {
            code = cli_usage("run", "no FILE given and capsule.toml names no [workflow] "
                                    "entrypoint");
            goto out;
        }
    }
    if (args_file) {
        if (json_array_size(args) > 0) {
            code = cli_usage("run", "give the task's args either after FILE or in --args-file, "
                                    "not both");
            goto out;
        }
        size_t n = 0;
        char *text = slurp(args_file, &n);
        if (!text) {
            fprintf(stderr, "capsule run: --args-file %s: %s\n", args_file, strerror(errno));
            goto out;
        }
        json_error_t jerr;
        json_t *a = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
        free(text);
        if (!a || !json_is_array(a)) {
            fprintf(stderr, "capsule run: --args-file %s:%d:%d: %s\n", args_file, jerr.line,
                    jerr.column, a ? "expected a JSON array" : jerr.text);
            json_decref(a);
            goto out;
        }
        json_decref(args);
        args = a;
    }
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "capsule run: %s: %s\n", file, strerror(errno));
        goto out;
    }
    /* A Python or JavaScript source runs on its guest runtime: the runtime's module with the
     * code mounted read-only for the task and its sub-tasks. */
    if (cap_guest_run_prepare(file, ".", &guest, &err) != CAP_OK) {
        fprintf(stderr, "capsule run: %s\n", err.msg);
        goto out;
    }
    if (guest.lang != CAP_GUEST_WASM) {
        file = guest.module;
        for (size_t i = 0; i < guest.ncode_mounts; i++) {
            code_mounts[ncode++] = guest.code_mounts[i];
        }
    }
    size_t flen = strlen(file);
    if (flen < 5 || strcmp(file + flen - 5, ".wasm") != 0) {
        /* Python and JavaScript tasks need their guest runtimes; only modules run for now. */
        FILE *f = fopen(file, "rb");
        unsigned char magic[4] = {0};
        size_t got = f ? fread(magic, 1, 4, f) : 0;
        if (f) {
            fclose(f);
        }
        if (got != 4 || memcmp(magic, "\0asm", 4) != 0) {
            fprintf(stderr,
                    "capsule run: %s: not a WebAssembly module (nor a .py, .js, .mjs or .ts "
                    "source)\n",
                    file);
            goto out;
        }
    }
    if (journal_on && cap_journal_open(".", &journal, &err) != CAP_OK) {
        fprintf(stderr, "capsule run: warning: the run is not journaled: %s\n", err.msg);
        journal = NULL;
    }
    if (cap_task_runner_new(cfg, journal, &rt, &err) != CAP_OK) {
        fprintf(stderr, "capsule run: %s\n", err.msg);
        goto out;
    }
    /* A guest runtime restores its prepared start (built now if there is none): start-up is
     * paid once, and the snapshot knows the tasks' own @task options. If the start-up fails,
     * the task runs from scratch so that its envelope reports the failure. */
    if (guest.lang != CAP_GUEST_WASM && snapshot_on) {
        cap_prepared_source src;
        cap_error_t perr;
        uint64_t t0 = cap_rt_monotonic_ms();
        if (cap_prepared_for_guest(rt, &guest, false, verbose ? print_event : NULL, NULL, &prep,
                                   &src, &perr) != CAP_OK) {
            prep = NULL;
            if (verbose) {
                fprintf(stderr, "capsule: snapshot not used: %s\n", perr.msg);
            }
        } else if (verbose) {
            fprintf(stderr, "capsule: snapshot %s %s (%llu ms)\n",
                    src == CAP_PREPARED_BUILT ? "built:" : "restored from",
                    cap_prepared_path(prep)[0] ? cap_prepared_path(prep) : "(in memory)",
                    (unsigned long long)(cap_rt_monotonic_ms() - t0));
        }
    }
    if (cap_prepared_resolve_policy(prep, task_name, flags.policy, cap_config_defaults(cfg), &eff,
                                    &err) != CAP_OK) {
        fprintf(stderr, "capsule run: %s\n", err.msg);
        goto out;
    }
    cap_task_spec spec;
    cap_task_spec_init(&spec);
    spec.file = file;
    spec.task_name = task_name;
    spec.args = args;
    spec.policy = &eff;
    spec.env_names = (const char *const *)flags.env_names;
    spec.env_values = (const char *const *)flags.env_values;
    spec.nenv = flags.nenv;
    spec.output_limit = max_output;
    spec.code_mounts = code_mounts;
    spec.ncode_mounts = ncode;
    spec.runtime_env_names = (const char *const *)guest.env_names;
    spec.runtime_env_values = (const char *const *)guest.env_values;
    spec.nruntime_env = guest.nenv;
    spec.prepared = prep;
    spec.lazy_compile = guest.lang != CAP_GUEST_WASM;
    if (stdin_spec && strcmp(stdin_spec, "-") == 0) {
        spec.stdin_fd = STDIN_FILENO;
    } else if (stdin_spec) {
        spec.stdin_path = stdin_spec;
    }
    if (!json) {
        spec.stream_fn = stream_out;
    }
    if (verbose) {
        spec.event_fn = print_event;
    }
    if (cap_task_run(rt, &spec, &r, &err) != CAP_OK) {
        fprintf(stderr, "capsule run: %s\n", err.msg);
        goto out;
    }
    if (json) {
        char *env = cap_task_result_to_json(&r);
        if (!env) {
            fprintf(stderr, "capsule run: out of memory\n");
            goto out;
        }
        fflush(stdout);
        printf("%s\n", env);
        cap_string_free(env);
    } else if (r.success && r.result) {
        /* One line, with Python's separators: {"squares": [0, 1, 4]}. */
        char *s = cap_json_text(r.result, true);
        if (s) {
            printf("%s\n", s);
            cap_string_free(s);
        }
    } else if (!r.success) {
        fprintf(stderr, "capsule: %s: %s\n", cap_error_type_name(r.error_type),
                r.error_message ? r.error_message : "");
    }
    fflush(stdout);
    code = r.success ? CLI_TASK_OK : CLI_TASK_FAILED;
out:
    cap_task_result_clear(&r);
    cap_prepared_release(prep);
    cap_task_runner_free(rt);
    cap_guest_run_clear(&guest);
    cap_journal_close(journal);
    cap_config_free(cfg);
    cap_policy_clear(&eff);
    cli_policy_flags_free(&flags);
    json_decref(args);
    return code;
}
