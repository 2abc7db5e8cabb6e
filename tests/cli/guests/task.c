/* SPDX-License-Identifier: Apache-2.0 */
/* A C guest for the CLI tests: a WASI command that also speaks the capsule ABI. It reads its
 * request and dispatches on task_name (`capsule run --task NAME`; sub-tasks name theirs), so one
 * module holds every behaviour the tests need: limits hit, results, failures, sub-tasks. */
#define CAPSULE_GUEST_HELPERS
#include "../../../include/capsule_guest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *req;
static char name[64];
volatile char *bomb_keep;

/* The request is compact JSON written by the host in a fixed key order:
 * {"task_name":"...","args":[...],"kwargs":{...},"task_id":N}. */
static void
read_request(void)
{
    req = capsule_request();
    if (!req) {
        printf("no request\n");
        exit(10);
    }
    const char *p = strstr(req, "\"task_name\":\"");
    if (!p) {
        exit(11);
    }
    p += 13;
    size_t n = 0;
    while (p[n] && p[n] != '"' && n < sizeof name - 1) {
        name[n] = p[n];
        n++;
    }
    name[n] = '\0';
}

/* The raw text of the args array. */
static char *
args_text(void)
{
    const char *a = strstr(req, "\"args\":");
    const char *k = strstr(req, ",\"kwargs\":");
    if (!a || !k || k < a) {
        return strdup("[]");
    }
    a += 7;
    return strndup(a, (size_t)(k - a));
}

/* Calls fn on each top-level element of a JSON array text. */
static void
each_element(const char *arr, void (*fn)(const char *elem, size_t len, void *u), void *u)
{
    const char *p = arr + 1;
    int depth = 0, in_str = 0;
    const char *start = NULL;
    for (; *p; p++) {
        char c = *p;
        if (!start && (c == ' ' || c == ',' || c == '\n')) {
            continue;
        }
        if (!start) {
            if (c == ']') {
                return;
            }
            start = p;
        }
        if (in_str) {
            if (c == '\\') {
                p++;
            } else if (c == '"') {
                in_str = 0;
            }
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) { // the end of the array
                fn(start, (size_t)(p - start), u);
                return;
            }
            depth--;
        } else if (c == ',' && depth == 0) {
            fn(start, (size_t)(p - start), u);
            start = NULL;
        }
    }
}

typedef struct {
    char *buf;
    size_t len;
} sbuf;

static void
sb_add(sbuf *s, const char *t, size_t n)
{
    s->buf = realloc(s->buf, s->len + n + 1);
    memcpy(s->buf + s->len, t, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

static void
schedule_one(const char *elem, size_t len, void *u)
{
    sbuf *out = u;
    char *r = strndup(elem, len);
    int32_t e;
    char *env = capsule_call(r, &e);
    free(r);
    if (out->buf[out->len - 1] != '[') {
        sb_add(out, ",", 1);
    }
    if (env) {
        sb_add(out, env, strlen(env));
        free(env);
    } else {
        char tmp[48];
        snprintf(tmp, sizeof tmp, "{\"abi_error\":%d}", (int)e);
        sb_add(out, tmp, strlen(tmp));
    }
}

volatile int recurse_stop; // never set: keeps the recursion unbounded without a warning
static int recurse(int n);
static int (*volatile recurse_ptr)(int) = recurse; // an indirect call: no tail-call rewrite

/* Recursion with no shadow-stack frame, so the Wasm call depth is what runs out. */
static int
recurse(int n)
{
    if (recurse_stop) {
        return n;
    }
    return recurse_ptr(n + 1) + 1;
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    static char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int
main(void)
{
    read_request();
    char out[1024];
    if (strcmp(name, "main") == 0 || strcmp(name, "hello") == 0) {
        char *args = args_text();
        printf("hello from %s\n", name);
        fprintf(stderr, "a line on stderr\n");
        snprintf(out, sizeof out, "{\"result\": {\"hello\": \"world\", \"args\": %s}}", args);
        free(args);
        capsule_result(out);
    } else if (strcmp(name, "spin") == 0) {
        for (volatile unsigned long i = 0;; i++) {
        }
    } else if (strcmp(name, "bomb") == 0) {
        size_t mb = 0;
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p) {
                break;
            }
            memset(p, 1, 1 << 20);
            bomb_keep = p;
            mb++;
        }
        snprintf(out, sizeof out, "{\"result\": {\"allocated_mb\": %zu}}", mb);
        capsule_result(out);
    } else if (strcmp(name, "recurse") == 0) {
        return recurse(0);
    } else if (strcmp(name, "sleep") == 0) {
        printf("sleeping\n");
        fflush(stdout);
        sleep(3600);
    } else if (strcmp(name, "fail") == 0) {
        capsule_result("{\"error_type\": \"out_of_fuel\", \"message\": \"boom\", "
                       "\"exception\": \"ValueError\"}");
    } else if (strcmp(name, "exit3") == 0) {
        printf("exiting with 3\n");
        return 3;
    } else if (strcmp(name, "log") == 0) {
        capsule_log_info("first line");
        capsule_log(CAPSULE_LOG_WARN, (const uint8_t *)"second line", 11);
        int32_t bad = capsule_log(9, (const uint8_t *)"x", 1);
        int32_t fault = capsule_log(1, (const uint8_t *)0xFFFFFFF0u, 100);
        int32_t rfault = capsule_result_write((const uint8_t *)0xFFFFFFF0u, 100);
        int32_t rbad = capsule_result("{\"neither\": 1}");
        int32_t rdbad = capsule_response_read(7, NULL, 0);
        snprintf(out, sizeof out,
                 "{\"result\": {\"abi\": %d, \"bad_level\": %d, \"fault\": %d, \"rfault\": %d, "
                 "\"rbad\": %d, \"rdbad\": %d}}",
                 (int)capsule_abi_version(), (int)bad, (int)fault, (int)rfault, (int)rbad,
                 (int)rdbad);
        capsule_result(out);
    } else if (strcmp(name, "env") == 0) {
        const char *s = getenv("SECRET");
        const char *o = getenv("OTHER");
        snprintf(out, sizeof out, "{\"result\": {\"SECRET\": \"%s\", \"OTHER\": \"%s\"}}",
                 s ? s : "(unset)", o ? o : "(unset)");
        capsule_result(out);
    } else if (strcmp(name, "readfile") == 0) {
        const char *a = read_file("/data/in.txt");
        const char *b = read_file("/data/link/secret.txt");
        FILE *w = fopen("/data/new.txt", "w");
        snprintf(out, sizeof out, "{\"result\": {\"in\": \"%s\", \"via_link\": %s, \"write\": %s}}",
                 a ? "ok" : "missing", b ? "true" : "false", w ? "true" : "false");
        if (w) {
            fclose(w);
        }
        capsule_result(out);
    } else if (strcmp(name, "parent") == 0 || strcmp(name, "parent_spin") == 0) {
        /* args: the sub-task requests to make, in order; result: their envelopes. */
        char *args = args_text();
        sbuf s = {0};
        sb_add(&s, "{\"result\": [", 12);
        each_element(args, schedule_one, &s);
        sb_add(&s, "]}", 2);
        free(args);
        if (strcmp(name, "parent_spin") == 0) {
            for (volatile unsigned long i = 0;; i++) {
            }
        }
        capsule_result(s.buf);
        free(s.buf);
    } else if (strcmp(name, "nest") == 0) {
        int32_t e;
        char *env = capsule_call("{\"task_name\": \"nest\"}", &e);
        sbuf s = {0};
        sb_add(&s, "{\"result\": ", 11);
        sb_add(&s, env ? env : "null", strlen(env ? env : "null"));
        sb_add(&s, "}", 1);
        capsule_result(s.buf);
        free(s.buf);
        free(env);
    } else if (strcmp(name, "fanout") == 0) {
        /* Schedules sub-tasks until refused; the result counts them. */
        int n = 0, denied = 0;
        for (int i = 0; i < 1100 && !denied; i++) {
            int32_t e;
            char *env = capsule_call("{\"task_name\": \"noop\"}", &e);
            if (env && strstr(env, "\"denied\"")) {
                denied = 1;
            } else if (env) {
                n++;
            }
            free(env);
        }
        snprintf(out, sizeof out, "{\"result\": {\"ran\": %d, \"denied\": %d}}", n, denied);
        capsule_result(out);
    } else if (strcmp(name, "hog_then_child") == 0) {
        /* Uses all of its ram, then asks for a sub-task with plenty: the child gets none. */
        char *p;
        while ((p = malloc(1 << 16)) != NULL) {
            bomb_keep = p; // a visible use: the allocations cannot be elided
        }
        int32_t e;
        char *env = capsule_call("{\"task_name\": \"bomb\", \"policy\": {\"ram\": \"1GB\"}}", &e);
        printf("%s\n", env ? env : e == CAPSULE_ENOMEM ? "ENOMEM" : "other error");
    } else if (strcmp(name, "noop") == 0) {
        capsule_result("{\"result\": null}");
    } else {
        printf("unknown task %s\n", name);
        return 2;
    }
    free(req);
    return 0;
}
