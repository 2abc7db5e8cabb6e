/* SPDX-License-Identifier: Apache-2.0 */
/* The host side of the HTTP imports: parses a guest's request, performs it with the task's
 * allowed_hosts, its remaining deadline and its free ram as limits, and hands the response back
 * behind a handle of the task's handle table (response_read gives the head as JSON,
 * http_body_read the body bytes). Every hop is recorded for the envelope and the journal. */
#include "runtime/http_abi.h"

#include "runtime/http.h"
#include "runtime/rt.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

enum {
    ABI_EFAULT = -1,
    ABI_EINVAL = -2,
    ABI_EBADF = -3,
    ABI_ELIMIT = -4,
    ABI_ENOMEM = -5,
    ABI_ETIMEOUT = -6,
};

/* What the HTTP imports keep for one task, over all its attempts. */
struct cap_http_state {
    uint32_t requests; // hops sent or refused, all attempts
    json_t *records;   // array of request records
    bool is_http[CAP_ABI_MAX_HANDLES];
    uint8_t *body[CAP_ABI_MAX_HANDLES];
    size_t body_len[CAP_ABI_MAX_HANDLES];
};

static cap_task_ctx *
ctx_of(cap_caller_t *caller)
{
    return cap_store_data(cap_caller_store(caller));
}

static cap_http_state *
state_of(cap_task_ctx *ctx)
{
    if (!ctx->http) {
        ctx->http = cap_calloc(1, sizeof *ctx->http);
    }
    return ctx->http;
}

/* Bytes of the task's ram not in use (linear memory and what the host holds for it). */
static uint64_t
ram_free(const cap_task_ctx *ctx)
{
    uint64_t used = cap_store_memory_used(ctx->store) + ctx->host_bytes;
    uint64_t ram = ctx->spec->policy->ram;
    return used < ram ? ram - used : 0;
}

static void warn(cap_task_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
warn(cap_task_ctx *ctx, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cap_task_log(ctx, "warn", msg);
}

/* Records one hop: an entry in execution.host_requests and a journal line. Request bodies are
 * never stored. */
static void
on_hop(void *user, const cap_http_hop *hop)
{
    cap_task_ctx *ctx = user;
    cap_http_state *s = ctx->http;
    s->requests++;
    bool ok = hop->outcome == CAP_HTTP_OK;
    if (!s->records) {
        s->records = json_array();
    }
    json_t *rec = json_object();
    if (s->records && rec) {
        int bad = json_object_set_new(rec, "method", json_string(hop->method));
        bad |= json_object_set_new(rec, "url", cap_json_string_lossy(hop->url, strlen(hop->url)));
        bad |= json_object_set_new(rec, "status",
                                   hop->status ? json_integer(hop->status) : json_null());
        bad |= json_object_set_new(rec, "bytes_in", json_integer((json_int_t)hop->bytes_in));
        bad |= json_object_set_new(rec, "bytes_out", json_integer((json_int_t)hop->bytes_out));
        bad |= json_object_set_new(rec, "duration_ms", json_integer((json_int_t)hop->duration_ms));
        bad |= json_object_set_new(rec, "denied", json_boolean(hop->outcome == CAP_HTTP_DENIED));
        bad |= json_object_set_new(
            rec, "error", ok ? json_null() : json_string(cap_http_outcome_name(hop->outcome)));
        if (!bad) {
            json_array_append(s->records, rec);
        }
    }
    json_decref(rec);
    char line[700];
    if (ok) {
        snprintf(line, sizeof line, "http %s %.400s -> %ld (%llu bytes in, %llu out, %llu ms)",
                 hop->method, hop->url, hop->status, (unsigned long long)hop->bytes_in,
                 (unsigned long long)hop->bytes_out, (unsigned long long)hop->duration_ms);
    } else {
        snprintf(line, sizeof line, "http %s %.300s: %s", hop->method, hop->url, hop->message);
    }
    cap_task_log(ctx, ok ? "info" : "warn", line);
}

static bool
interrupted(void *user)
{
    cap_task_ctx *ctx = user;
    return cap_store_interrupted(ctx->store) || cap_rt_monotonic_ms() >= ctx->deadline_ms;
}

/* The parsed request; strings borrowed from the JSON document. */
typedef struct parsed {
    const char *method;
    const char *url;
    const char **names;
    const char **values;
    size_t nheaders;
    uint64_t timeout_ms;
    uint32_t max_redirects;
    uint64_t max_body;
} parsed;

static bool
get_uint(const json_t *v, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* A NUL-free JSON string's text, or NULL. */
static const char *
text(const json_t *v)
{
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        return NULL;
    }
    return json_string_value(v);
}

/* Checks one header and appends it; returns the reason it is refused, or NULL. The name
 * points into the request document, which outlives the request. */
static const char *
add_header(parsed *p, const char *name, const json_t *value)
{
    const char *v = text(value);
    if (!name || !v) {
        return "header names and values must be strings without NUL";
    }
    if (p->nheaders >= CAP_HTTP_MAX_HEADERS) {
        return "too many headers";
    }
    const char *why = cap_http_header_ok(name, v, strlen(v));
    if (why) {
        return why;
    }
    p->names[p->nheaders] = name;
    p->values[p->nheaders] = v;
    p->nheaders++;
    return NULL;
}

/* Reads the request object. Returns NULL, or why it is malformed (written to `buf`). */
static const char *
parse_request(const json_t *req, parsed *p, char *buf, size_t size)
{
    static const char *const known[] = {
        "method", "url", "headers", "timeout_ms", "max_redirects", "max_response_bytes", NULL};
    if (!json_is_object(req)) {
        return "the request must be a JSON object";
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)req, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++) {
            ok = strcmp(key, known[i]) == 0;
        }
        if (!ok) {
            snprintf(buf, size, "unknown field \"%.60s\"", key);
            return buf;
        }
    }
    p->url = text(json_object_get(req, "url"));
    if (!p->url) {
        return "the request needs a string url";
    }
    v = json_object_get(req, "method");
    p->method = v ? text(v) : "GET";
    if (!p->method) {
        return "method must be a string";
    }
    const char *why = cap_http_method_ok(p->method);
    if (why) {
        return why;
    }
    p->timeout_ms = CAP_HTTP_DEFAULT_TIMEOUT;
    v = json_object_get(req, "timeout_ms");
    if (v && (!get_uint(v, UINT32_MAX, &p->timeout_ms) || p->timeout_ms == 0)) {
        return "timeout_ms must be a positive integer";
    }
    uint64_t r = CAP_HTTP_DEFAULT_REDIRECTS;
    v = json_object_get(req, "max_redirects");
    if (v && !get_uint(v, CAP_HTTP_MAX_REDIRECTS, &r)) {
        snprintf(buf, size, "max_redirects must be an integer from 0 to %u",
                 CAP_HTTP_MAX_REDIRECTS);
        return buf;
    }
    p->max_redirects = (uint32_t)r;
    p->max_body = CAP_HTTP_DEFAULT_BODY;
    v = json_object_get(req, "max_response_bytes");
    if (v && !get_uint(v, CAP_HTTP_MAX_BODY, &p->max_body)) {
        snprintf(buf, size, "max_response_bytes must be an integer from 0 to %u",
                 CAP_HTTP_MAX_BODY);
        return buf;
    }
    v = json_object_get(req, "headers");
    if (json_is_object(v)) {
        const char *name;
        const json_t *value;
        json_object_foreach((json_t *)v, name, value)
        {
            if ((why = add_header(p, name, value)) != NULL) {
                return why;
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *pair;
        json_array_foreach(v, i, pair)
        {
            if (!json_is_array(pair) || json_array_size(pair) != 2) {
                return "headers must be an object or an array of [name, value] pairs";
            }
            if ((why = add_header(p, text(json_array_get(pair, 0)), json_array_get(pair, 1))) !=
                NULL) {
                return why;
            }
        }
    } else if (v && !json_is_null(v)) {
        return "headers must be an object or an array of [name, value] pairs";
    }
    return NULL;
}

/* The head document of a response. */
static char *
head_json(const cap_http_response *resp)
{
    json_t *o = json_object();
    if (!o) {
        return NULL;
    }
    int bad = 0;
    if (resp->outcome != CAP_HTTP_OK) {
        json_t *e = json_object();
        bad |= !e;
        if (e) {
            bad |= json_object_set_new(e, "error_type",
                                       json_string(cap_http_outcome_name(resp->outcome)));
            bad |= json_object_set_new(e, "message",
                                       cap_json_string_lossy(resp->message, strlen(resp->message)));
            bad |= json_object_set_new(o, "error", e);
        }
    } else {
        json_t *hs = json_array();
        bad |= !hs;
        for (size_t i = 0; hs && i < resp->nheaders; i++) {
            json_t *pair = json_array();
            bad |= !pair;
            if (pair) {
                bad |= json_array_append_new(
                    pair,
                    cap_json_string_lossy(resp->header_names[i], strlen(resp->header_names[i])));
                bad |= json_array_append_new(
                    pair,
                    cap_json_string_lossy(resp->header_values[i], strlen(resp->header_values[i])));
                bad |= json_array_append_new(hs, pair);
            }
        }
        bad |= json_object_set_new(o, "status", json_integer(resp->status));
        if (hs) {
            bad |= json_object_set_new(o, "headers", hs);
        }
        bad |= json_object_set_new(o, "url", json_string(resp->url ? resp->url : ""));
        bad |= json_object_set_new(o, "redirects", json_integer(resp->redirects));
        const char *ver = resp->http_version == 10   ? "1.0"
                          : resp->http_version == 11 ? "1.1"
                          : resp->http_version == 20 ? "2"
                          : resp->http_version == 30 ? "3"
                                                     : "";
        bad |= json_object_set_new(o, "http_version", json_string(ver));
        bad |= json_object_set_new(o, "body_size", json_integer((json_int_t)resp->body_len));
    }
    char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    char *copy = s ? cap_strdup(s) : NULL;
    free(s);
    return copy;
}

static int32_t
request(cap_caller_t *caller, cap_task_ctx *ctx, uint32_t rptr, int32_t rlen, uint32_t bptr,
        int32_t blen)
{
    if (cap_store_interrupted(ctx->store)) {
        return ABI_ETIMEOUT;
    }
    if (rlen < 0 || blen < 0) {
        return ABI_EINVAL;
    }
    if ((uint32_t)rlen > (1u << 20) || (uint32_t)blen > CAP_HTTP_MAX_REQUEST_BODY) {
        return ABI_ELIMIT;
    }
    const uint8_t *rsrc = cap_caller_mem(caller, rptr, (uint64_t)rlen);
    const uint8_t *bsrc = cap_caller_mem(caller, bptr, (uint64_t)blen);
    if (!rsrc || (blen > 0 && !bsrc)) {
        return ABI_EFAULT;
    }
    cap_http_state *s = state_of(ctx);
    if (!s) {
        return ABI_ENOMEM;
    }
    if (s->requests >= CAP_HTTP_MAX_REQUESTS) {
        warn(ctx, "http_request: a task may make at most %u HTTP requests", CAP_HTTP_MAX_REQUESTS);
        return ABI_ELIMIT;
    }
    unsigned slot = CAP_ABI_MAX_HANDLES;
    for (unsigned i = 0; i < CAP_ABI_MAX_HANDLES && slot == CAP_ABI_MAX_HANDLES; i++) {
        if (!ctx->responses[i]) {
            slot = i;
        }
    }
    if (slot == CAP_ABI_MAX_HANDLES) {
        return ABI_ELIMIT;
    }
    if ((uint64_t)blen + (uint64_t)rlen > ram_free(ctx)) {
        return ABI_ENOMEM;
    }
    json_error_t jerr;
    json_t *req = json_loadb((const char *)rsrc, (size_t)rlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        warn(ctx, "http_request: invalid JSON: %s", jerr.text);
        return ABI_EINVAL;
    }
    const char *names[CAP_HTTP_MAX_HEADERS];
    const char *values[CAP_HTTP_MAX_HEADERS];
    parsed p;
    memset(&p, 0, sizeof p);
    p.names = names;
    p.values = values;
    char buf[160];
    const char *why = parse_request(req, &p, buf, sizeof buf);
    if (why) {
        warn(ctx, "http_request: %s", why);
        json_decref(req);
        return ABI_EINVAL;
    }
    /* The body is copied out of guest memory: nothing keeps a guest pointer while the host
     * waits on the network. */
    uint8_t *body = NULL;
    if (blen > 0) {
        body = cap_alloc((size_t)blen);
        if (!body) {
            json_decref(req);
            return ABI_ENOMEM;
        }
        memcpy(body, bsrc, (size_t)blen);
    }
    ctx->host_bytes += (uint64_t)blen;
    /* The response body may take half of the free ram (the buffer grows by doubling). */
    uint64_t room = ram_free(ctx) / 2;
    uint64_t now = cap_rt_monotonic_ms();
    uint64_t left = ctx->deadline_ms > now ? ctx->deadline_ms - now : 0;
    bool clipped = left <= p.timeout_ms;
    const cap_policy_t *pol = ctx->spec->policy;
    cap_http_request hr = {
        .method = p.method,
        .url = p.url,
        .header_names = names,
        .header_values = values,
        .nheaders = p.nheaders,
        .body = body,
        .body_len = (size_t)blen,
        .has_body = blen > 0 || strcmp(p.method, "POST") == 0 || strcmp(p.method, "PUT") == 0 ||
                    strcmp(p.method, "PATCH") == 0,
        .timeout_ms = clipped ? (left ? left : 1) : p.timeout_ms,
        .max_redirects = p.max_redirects,
        .max_body = (size_t)(p.max_body < room ? p.max_body : room),
        .allowed = (const char *const *)pol->hosts,
        .nallowed = pol->nhosts,
        .interrupted = interrupted,
        .on_hop = on_hop,
        .user = ctx,
    };
    cap_http_response resp;
    cap_error_t e;
    cap_status st = cap_http_perform(&hr, &resp, &e);
    json_decref(req);
    cap_free(body);
    ctx->host_bytes -= (uint64_t)blen;
    if (st != CAP_OK) {
        cap_http_response_clear(&resp);
        return ABI_ENOMEM;
    }
    if (resp.outcome == CAP_HTTP_INTERRUPTED || (resp.outcome == CAP_HTTP_TIMEOUT && clipped &&
                                                 cap_rt_monotonic_ms() >= ctx->deadline_ms)) {
        cap_http_response_clear(&resp);
        return ABI_ETIMEOUT; // the task's own deadline: it is interrupted right after
    }
    char *head = head_json(&resp);
    if (!head) {
        cap_http_response_clear(&resp);
        return ABI_ENOMEM;
    }
    size_t hlen = strlen(head);
    ctx->responses[slot] = head;
    ctx->response_len[slot] = hlen;
    ctx->host_bytes += hlen + resp.body_len;
    s->is_http[slot] = true;
    s->body[slot] = resp.body;
    s->body_len[slot] = resp.body_len;
    resp.body = NULL;
    resp.body_len = 0;
    cap_http_response_clear(&resp);
    return (int32_t)slot + 1;
}

cap_status
cap_http_abi_request(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)env;
    int32_t r = request(caller, ctx_of(caller), (uint32_t)args[0], (int32_t)(uint32_t)args[1],
                        (uint32_t)args[2], (int32_t)(uint32_t)args[3]);
    results[0] = (uint32_t)r;
    return CAP_OK;
}

cap_status
cap_http_abi_body_read(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)env;
    cap_task_ctx *ctx = ctx_of(caller);
    int32_t h = (int32_t)(uint32_t)args[0];
    uint32_t buf = (uint32_t)args[1];
    int32_t cap = (int32_t)(uint32_t)args[2];
    cap_http_state *s = ctx->http;
    int32_t r;
    if (h < 1 || (uint32_t)h > CAP_ABI_MAX_HANDLES || !ctx->responses[h - 1] || !s ||
        !s->is_http[h - 1]) {
        r = ABI_EBADF;
    } else if (cap < 0) {
        r = ABI_EINVAL;
    } else if (s->body_len[h - 1] > INT32_MAX) {
        r = ABI_ELIMIT;
    } else {
        size_t n = s->body_len[h - 1];
        r = (int32_t)n;
        if (cap > 0) {
            uint8_t *dst = cap_caller_mem(caller, buf, (uint64_t)cap);
            if (!dst) {
                r = ABI_EFAULT;
            } else if (n <= (size_t)cap && n > 0) {
                memcpy(dst, s->body[h - 1], n);
            }
        }
    }
    results[0] = (uint32_t)r;
    return CAP_OK;
}

void
cap_http_abi_close(cap_task_ctx *ctx, unsigned slot)
{
    cap_http_state *s = ctx->http;
    if (!s || slot >= CAP_ABI_MAX_HANDLES || !s->is_http[slot]) {
        return;
    }
    ctx->host_bytes -= s->body_len[slot];
    cap_free(s->body[slot]);
    s->body[slot] = NULL;
    s->body_len[slot] = 0;
    s->is_http[slot] = false;
}

void
cap_http_abi_release(cap_task_ctx *ctx)
{
    for (unsigned i = 0; ctx->http && i < CAP_ABI_MAX_HANDLES; i++) {
        cap_free(ctx->http->body[i]);
        ctx->http->body[i] = NULL;
        ctx->http->body_len[i] = 0;
        ctx->http->is_http[i] = false;
    }
}

void
cap_http_abi_finish(cap_task_ctx *ctx, cap_task_result *r)
{
    cap_http_state *s = ctx->http;
    if (!s) {
        return;
    }
    cap_http_abi_release(ctx);
    if (r && s->records && json_array_size(s->records) > 0) {
        json_decref(r->host_requests);
        r->host_requests = s->records;
        s->records = NULL;
    }
    json_decref(s->records);
    cap_free(s);
    ctx->http = NULL;
}
