/* SPDX-License-Identifier: Apache-2.0 */
/* Test guest for tests/http: makes the HTTP requests its task arguments describe through the
 * capsule.http_request import and returns what came back (a WASI command using the ABI).
 * args: [REQ_JSON, BODY_HEX, REQ_JSON, BODY_HEX, ...] (BODY_HEX "" for no body; "-" for a
 * body pointer outside memory). Result: [{"rc": N, "head": <head JSON>, "body_hex": "..."}, ...]
 * where rc is the http_request return value (a handle, or a CAPSULE_E* code). Task "count"
 * sends args[0] args[1] times and returns the return codes it saw, each once, in order. Task
 * "sub" runs a sub-task "main" with policy args[0] (JSON) on the request args[1] and returns
 * its envelope. */
#define CAPSULE_GUEST_HELPERS
#include "../../../include/capsule_guest.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A minimal reader of the request's "args" array of strings (the test sends only strings). */
static const char *
skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
        p++;
    }
    return p;
}

/* Parses a JSON string at p (which points at '"'); returns a malloc'd copy, advances *end. */
static char *
json_str(const char *p, const char **end)
{
    size_t cap = strlen(p) + 1, n = 0;
    char *out = malloc(cap);
    p++;
    while (*p && *p != '"') {
        char c = *p++;
        if (c == '\\') {
            c = *p++;
            switch (c) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'u': {
                unsigned v = 0;
                sscanf(p, "%4x", &v);
                p += 4;
                c = (char)v; // the tests send ASCII only
                break;
            }
            default:
                break;
            }
        }
        out[n++] = c;
    }
    out[n] = '\0';
    *end = *p ? p + 1 : p;
    return out;
}

static int
read_args(const char *req, char **args, int max)
{
    const char *p = strstr(req, "\"args\"");
    if (!p) {
        return 0;
    }
    p = strchr(p, '[');
    int n = 0;
    p = skip_ws(p + 1);
    while (*p == '"' && n < max) {
        args[n++] = json_str(p, &p);
        p = skip_ws(p);
        if (*p == ',') {
            p = skip_ws(p + 1);
        }
    }
    return n;
}

static uint8_t *
unhex(const char *s, int32_t *len)
{
    size_t n = strlen(s) / 2;
    uint8_t *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        b[i] = (uint8_t)v;
    }
    *len = (int32_t)n;
    return b;
}

typedef struct out {
    char *s;
    size_t n, cap;
} out;

static void
put(out *o, const char *s, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        o->cap = (o->n + n + 1) * 2;
        o->s = realloc(o->s, o->cap);
    }
    memcpy(o->s + o->n, s, n);
    o->n += n;
    o->s[o->n] = '\0';
}

static void
puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void
one(out *o, const char *req, const char *body_hex)
{
    int32_t blen = 0;
    uint8_t *body = NULL;
    int32_t h;
    char num[32];
    if (strcmp(body_hex, "-") == 0) {
        h = capsule_http_request((const uint8_t *)req, (int32_t)strlen(req),
                                 (const uint8_t *)0x7ffffff0, 64);
    } else {
        body = unhex(body_hex, &blen);
        h = capsule_http_request((const uint8_t *)req, (int32_t)strlen(req), body, blen);
    }
    free(body);
    snprintf(num, sizeof num, "%d", (int)h);
    puts_(o, "{\"rc\": ");
    puts_(o, num);
    if (h > 0) {
        int32_t n = capsule_response_read(h, NULL, 0);
        char *head = malloc((size_t)n + 1);
        capsule_response_read(h, (uint8_t *)head, n);
        head[n] = '\0';
        int32_t bn = capsule_http_body_read(h, NULL, 0);
        uint8_t *b = malloc((size_t)bn + 1);
        int32_t got = capsule_http_body_read(h, b, bn);
        puts_(o, ", \"head\": ");
        puts_(o, head);
        snprintf(num, sizeof num, "%d", (int)got);
        puts_(o, ", \"body_read\": ");
        puts_(o, num);
        puts_(o, ", \"body_hex\": \"");
        static const char hx[] = "0123456789abcdef";
        for (int32_t i = 0; i < bn; i++) {
            char two[2] = {hx[b[i] >> 4], hx[b[i] & 15]};
            put(o, two, 2);
        }
        puts_(o, "\"");
        int32_t closed = capsule_response_close(h);
        int32_t after = capsule_http_body_read(h, NULL, 0);
        snprintf(num, sizeof num, "%d", (int)(closed == 0 && after == CAPSULE_EBADF));
        puts_(o, ", \"closed_ok\": ");
        puts_(o, num);
        free(head);
        free(b);
    }
    puts_(o, "}");
}

int
main(void)
{
    char *req = capsule_request();
    char *args[64];
    int n = read_args(req, args, 64);
    out o = {0};
    if (strstr(req, "\"task_name\":\"sub\"") && n >= 2) {
        /* A sub-task (this module, task "main") with policy args[0] making request args[1]. */
        out call = {0};
        puts_(&call, "{\"task_name\": \"main\", \"policy\": ");
        puts_(&call, args[0]);
        puts_(&call, ", \"args\": [\"");
        for (const char *c = args[1]; *c; c++) {
            if (*c == '"' || *c == '\\') {
                put(&call, "\\", 1);
            }
            put(&call, c, 1);
        }
        puts_(&call, "\", \"\"]}");
        int32_t e = 0;
        char *env = capsule_call(call.s, &e);
        puts_(&o, "{\"result\": ");
        puts_(&o, env ? env : "null");
        puts_(&o, "}");
        free(env);
        free(call.s);
    } else if (strstr(req, "\"task_name\":\"count\"")) {
        int times = n > 1 ? atoi(args[1]) : 1;
        int last = 1 << 30;
        puts_(&o, "{\"result\": [");
        bool first = true;
        for (int i = 0; i < times; i++) {
            int32_t h =
                capsule_http_request((const uint8_t *)args[0], (int32_t)strlen(args[0]), NULL, 0);
            if (h > 0) {
                capsule_response_close(h);
                h = 1;
            }
            if (h != last) {
                char num[32];
                snprintf(num, sizeof num, "%s[%d, %d]", first ? "" : ", ", i, (int)h);
                puts_(&o, num);
                first = false;
                last = h;
            }
        }
        puts_(&o, "]}");
    } else {
        puts_(&o, "{\"result\": [");
        for (int i = 0; i < n; i += 2) {
            if (i) {
                puts_(&o, ", ");
            }
            one(&o, args[i], i + 1 < n ? args[i + 1] : "");
        }
        puts_(&o, "]}");
    }
    capsule_result(o.s);
    free(o.s);
    free(req);
    return 0;
}
