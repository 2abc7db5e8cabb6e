/* SPDX-License-Identifier: Apache-2.0 */
/* The C guest the SDK tests run (compiled to wasm32-wasi at build time): a WASI command that
 * reads its request through the capsule ABI and dispatches on the task name, so one module
 * gives every outcome the SDKs must report: a result, a task error, limits hit, an exit code,
 * captured output, mounted files and granted environment variables. */
#define CAPSULE_GUEST_HELPERS
#include "../../../include/capsule_guest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The request is compact JSON written by the host in a fixed key order:
 * {"task_name":"...","args":[...],"kwargs":{...},"task_id":N}. */
static void
task_name(const char *req, char *out, size_t cap)
{
    const char *p = strstr(req, "\"task_name\":\"");
    size_t n = 0;
    if (p) {
        p += 13;
        while (p[n] && p[n] != '"' && n < cap - 1) {
            out[n] = p[n];
            n++;
        }
    }
    out[n] = '\0';
}

/* Writes {"result": <text>} (text is JSON) without a fixed-size buffer: payloads are large. */
static void
result_of(const char *json)
{
    size_t n = strlen(json);
    char *out = malloc(n + 16);
    if (!out) {
        capsule_result("{\"error_type\": \"task_error\", \"message\": \"out of memory\"}");
        return;
    }
    memcpy(out, "{\"result\": ", 11);
    memcpy(out + 11, json, n);
    memcpy(out + 11 + n, "}", 2);
    capsule_result(out);
    free(out);
}

static void
read_file_result(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        capsule_result("{\"result\": {\"found\": false}}");
        return;
    }
    char buf[200];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '"' || buf[n - 1] == '\\')) {
        buf[--n] = '\0';
    }
    char out[300];
    snprintf(out, sizeof out, "{\"result\": {\"found\": true, \"text\": \"%s\"}}", buf);
    capsule_result(out);
}

int
main(void)
{
    char *req = capsule_request();
    if (!req) {
        return 10;
    }
    char name[64];
    task_name(req, name, sizeof name);
    if (strcmp(name, "main") == 0 || strcmp(name, "echo") == 0) {
        /* The whole request comes back: args and kwargs round-trip exactly. */
        printf("hello from %s\n", name);
        result_of(req);
    } else if (strcmp(name, "fail") == 0) {
        fprintf(stderr, "about to fail\n");
        capsule_result("{\"error_type\": \"task_error\", \"message\": \"ValueError: bad input\","
                       " \"exception\": \"ValueError\"}");
    } else if (strcmp(name, "spin") == 0) {
        for (volatile unsigned long i = 0;; i++) {
        }
    } else if (strcmp(name, "sleep") == 0) {
        sleep(3600);
    } else if (strcmp(name, "exit3") == 0) {
        return 3;
    } else if (strcmp(name, "cat") == 0) {
        /* stdin to stdout. */
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
            fwrite(buf, 1, n, stdout);
        }
    } else if (strcmp(name, "readfile") == 0) {
        read_file_result("/data/in.txt");
    } else if (strcmp(name, "env") == 0) {
        const char *g = getenv("GREETING");
        char out[300];
        snprintf(out, sizeof out, "{\"result\": {\"GREETING\": %s%s%s}}", g ? "\"" : "",
                 g ? g : "null", g ? "\"" : "");
        capsule_result(out);
    } else {
        printf("unknown task %s\n", name);
        return 2;
    }
    free(req);
    return 0;
}
