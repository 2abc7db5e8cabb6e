/* SPDX-License-Identifier: Apache-2.0 */
/* `capsule exec FILE.wasm [ARGS...]`: builds a WASI configuration from the flags, runs the
 * command through cap_wasi_run and turns the outcome into an exit code. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capsule.h"
#include "cli/cli.h"

void
cli_run_help(FILE *out)
{
    fprintf(
        out,
        "Options of exec (before FILE; everything after FILE goes to the guest):\n"
        "  --mount HOST[::GUEST][:ro|:rw]  grant a host directory (repeatable); GUEST\n"
        "                                  defaults to /<name of HOST>, mode to ro\n"
        "  --env NAME | --env NAME=VALUE   grant an environment variable (repeatable);\n"
        "                                  NAME alone copies the host's value\n"
        "  --stdin FILE|-                  guest stdin from FILE or this stdin (default: empty)\n"
        "  --fuel N                        stop after N executed instructions\n"
        "  --max-memory SIZE               cap linear memory, e.g. 64MB (1024-based)\n"
        "  --timeout DURATION              stop after e.g. 500ms, 30s, 5m, 1h\n"
        "  --max-output SIZE               cap stdout and stderr each (default 4MB;\n"
        "                                  'unlimited' for no cap)\n"
        "  --                              end of options\n"
        "  -h, --help                      this help\n\n"
        "Exit status: the guest's exit code (0-255; other codes become 255);\n"
        "  2 usage error; 126 the module cannot be loaded, validated, linked or mounted;\n"
        "  127 FILE not found; 134 the guest trapped, ran out of fuel or timed out\n"
        "  (the message goes to stderr as 'capsule: trap: ...').\n");
}

bool
cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9') {
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) {
        return false;
    }
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0},    {"B", 0},    {"K", 10}, {"KB", 10}, {"KiB", 10}, {"M", 20},
                 {"MB", 20}, {"MiB", 20}, {"G", 30}, {"GB", 30}, {"GiB", 30}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            if (v > (UINT64_MAX >> units[i].shift)) {
                return false;
            }
            *out = (uint64_t)v << units[i].shift;
            return true;
        }
    }
    return false;
}

bool
cli_parse_duration(const char *s, uint64_t *out_ns)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9') {
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) {
        return false;
    }
    static const struct {
        const char *suffix;
        uint64_t ns;
    } units[] = {{"ns", 1},
                 {"us", 1000},
                 {"ms", 1000000},
                 {"s", 1000000000ull},
                 {"m", 60000000000ull},
                 {"h", 3600000000000ull}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > UINT64_MAX / units[i].ns) {
                return false;
            }
            *out_ns = (uint64_t)v * units[i].ns;
            return true;
        }
    }
    return false;
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
            return; // our own stdout is gone (closed pipe): drop the output, keep the guest going
        }
        data += n;
        len -= (size_t)n;
    }
}

/* Parses "HOST[::GUEST][:ro|:rw]" and adds the preopen. */
static cap_status
add_mount(cap_wasi_config_t *cfg, const char *spec, cap_error_t *err)
{
    size_t len = strlen(spec);
    bool writable = false;
    char *s = strdup(spec);
    if (!s) {
        return CAP_ERR_NOMEM;
    }
    if (len > 3 && (strcmp(s + len - 3, ":ro") == 0 || strcmp(s + len - 3, ":rw") == 0) &&
        s[len - 4] != ':') {
        writable = s[len - 1] == 'w';
        s[len - 3] = '\0';
    } else if (len > 3 && strcmp(s + len - 3, ":ro") == 0) {
        s[len - 3] = '\0'; // "HOST:::ro" is odd but unambiguous
    }
    char *guest = strstr(s, "::");
    if (guest) {
        *guest = '\0';
        guest += 2;
        size_t gl = strlen(guest);
        if (gl > 3 && (strcmp(guest + gl - 3, ":ro") == 0 || strcmp(guest + gl - 3, ":rw") == 0)) {
            writable = guest[gl - 1] == 'w';
            guest[gl - 3] = '\0';
        }
    }
    cap_status st = cap_wasi_config_preopen_dir(cfg, s, guest, writable, err);
    free(s);
    return st;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "capsule: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try 'capsule exec --help')\n");
    return CLI_EXIT_USAGE;
}

/* Reads a whole file into memory (malloc'd). */
static uint8_t *
read_file(const char *path, size_t *out_len, int *out_errno)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *out_errno = errno;
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap) {
            break;
        }
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    *out_errno = ferror(f) ? EIO : ENOMEM;
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *out_len = len;
    return buf;
}

int
cli_run(int argc, char **argv, const char *cmd_name)
{
    int code = CLI_EXIT_CANNOT;
    cap_error_t err;
    cap_wasi_config_t *cfg = NULL;
    cap_store_t *store = NULL;
    cap_module_t *module = NULL;
    cap_wasi_t *wasi = NULL;
    uint8_t *bytes = NULL;
    uint64_t fuel = UINT64_MAX, max_mem = 0, timeout = 0, max_out = CAP_WASI_DEFAULT_OUTPUT_LIMIT;
    const char *stdin_spec = NULL;
    (void)cmd_name;

    if (cap_wasi_config_new(&cfg, &err) != CAP_OK) {
        fprintf(stderr, "capsule: %s\n", err.msg);
        return CLI_EXIT_CANNOT;
    }
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            break; // FILE
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_run_help(stdout);
            code = 0;
            goto out;
        }
        /* Every other option takes a value: "--opt VALUE" or "--opt=VALUE". */
        char name[32];
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof name) {
            code = usage_error("unknown option '%s'", a);
            goto out;
        }
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        static const char *const known[] = {"--mount",      "--env",     "--stdin",     "--fuel",
                                            "--max-memory", "--timeout", "--max-output"};
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
            ok = ok || strcmp(name, known[k]) == 0;
        }
        if (!ok) {
            code = usage_error("unknown option '%s'", a);
            goto out;
        }
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            code = usage_error("option '%s' needs a value", name);
            goto out;
        }
        if (strcmp(name, "--mount") == 0) {
            cap_status st = add_mount(cfg, val, &err);
            if (st != CAP_OK) {
                fprintf(stderr, "capsule: %s\n", err.msg);
                code = CLI_EXIT_CANNOT;
                goto out;
            }
        } else if (strcmp(name, "--env") == 0) {
            const char *e = strchr(val, '=');
            cap_status st;
            if (e) {
                char *n = strndup(val, (size_t)(e - val));
                st = n ? cap_wasi_config_set_env(cfg, n, e + 1, &err) : CAP_ERR_NOMEM;
                free(n);
            } else {
                st = cap_wasi_config_inherit_env(cfg, val, &err);
            }
            if (st != CAP_OK) {
                code = usage_error("--env: invalid variable '%s'", val);
                goto out;
            }
        } else if (strcmp(name, "--stdin") == 0) {
            stdin_spec = val;
        } else if (strcmp(name, "--fuel") == 0) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(val, &end, 10);
            if (errno || *end || val[0] < '0' || val[0] > '9') {
                code = usage_error("--fuel: '%s' is not a number of instructions", val);
                goto out;
            }
            fuel = v;
        } else if (strcmp(name, "--max-memory") == 0) {
            if (!cli_parse_size(val, &max_mem) || max_mem == 0) {
                code = usage_error("--max-memory: '%s' is not a size like 64MB", val);
                goto out;
            }
        } else if (strcmp(name, "--timeout") == 0) {
            if (!cli_parse_duration(val, &timeout) || timeout == 0) {
                code =
                    usage_error("--timeout: '%s' is not a duration like 500ms, 30s, 5m, 1h", val);
                goto out;
            }
        } else if (strcmp(name, "--max-output") == 0) {
            if (strcmp(val, "unlimited") == 0) {
                max_out = SIZE_MAX;
            } else if (!cli_parse_size(val, &max_out)) {
                code = usage_error("--max-output: '%s' is not a size like 4MB", val);
                goto out;
            }
        }
    }
    if (i >= argc) {
        code = usage_error("%s", "exec: missing FILE.wasm");
        goto out;
    }
    const char *file = argv[i];
    if (stdin_spec) {
        cap_status st = strcmp(stdin_spec, "-") == 0
                            ? cap_wasi_config_set_stdin_fd(cfg, STDIN_FILENO, &err)
                            : cap_wasi_config_set_stdin_file(cfg, stdin_spec, &err);
        if (st != CAP_OK) {
            fprintf(stderr, "capsule: %s\n", err.msg);
            code = CLI_EXIT_CANNOT;
            goto out;
        }
    }
    if (cap_wasi_config_set_args(cfg, (size_t)(argc - i), (const char *const *)(argv + i), &err) !=
        CAP_OK) {
        fprintf(stderr, "capsule: %s\n", err.msg);
        goto out;
    }
    size_t lim = max_out > SIZE_MAX ? SIZE_MAX : (size_t)max_out;
    cap_wasi_config_set_output_limit(cfg, lim, lim);
    cap_wasi_config_set_capture(cfg, false);
    cap_wasi_config_set_output_callback(cfg, stream_out, NULL);

    size_t len = 0;
    int e = 0;
    bytes = read_file(file, &len, &e);
    if (!bytes) {
        fprintf(stderr, "capsule: %s: %s\n", file, strerror(e));
        code = e == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_CANNOT;
        goto out;
    }
    if (cap_module_new(bytes, len, &module, &err) != CAP_OK) {
        fprintf(stderr, "capsule: %s: %s\n", file, err.msg);
        goto out;
    }
    if (cap_store_new(&store, &err) != CAP_OK) {
        fprintf(stderr, "capsule: %s\n", err.msg);
        goto out;
    }
    cap_store_set_fuel(store, fuel);
    if (max_mem) {
        cap_store_set_memory_limit(store, max_mem);
    }
    if (cap_wasi_new(store, cfg, &wasi, &err) != CAP_OK) {
        fprintf(stderr, "capsule: %s\n", err.msg);
        goto out;
    }
    cap_status st = cap_wasi_run(store, module, wasi, timeout, &err);
    if (st == CAP_OK) {
        int32_t ec = cap_wasi_exit_code(wasi);
        code = ec >= 0 && ec <= 255 ? ec : 255;
    } else if (st == CAP_ERR_TRAP) {
        fprintf(stderr, "capsule: trap: %s\n", err.msg);
        code = CLI_EXIT_TRAP;
    } else {
        fprintf(stderr, "capsule: %s: %s\n", file, err.msg);
        code = CLI_EXIT_CANNOT;
    }
out:
    cap_wasi_free(wasi);
    cap_store_free(store);
    cap_module_free(module);
    cap_wasi_config_free(cfg);
    free(bytes);
    return code;
}
