/* SPDX-License-Identifier: Apache-2.0 */
/* The host side of the guest ABI, import module "capsule" (docs/guest-abi.md): the task request,
 * the result, synchronous sub-tasks behind handles, and log lines. Every guest (pointer, length)
 * pair goes through cap_caller_mem before a byte is touched; host memory held for the guest
 * counts against its ram. */
#include "runtime/http_abi.h"
#include "runtime/rt.h"
#include "runtime/task.h"
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

static cap_task_ctx *
ctx_of(cap_caller_t *caller)
{
    return cap_store_data(cap_caller_store(caller));
}

static void
ret(cap_slot_t *results, int32_t v)
{
    results[0] = (uint32_t)v;
}

static uint32_t
arg(const cap_slot_t *args, unsigned i)
{
    return (uint32_t)args[i];
}

/* True when the host may hold `more` bytes for the guest within its ram, next to its linear
 * memory and what the host already holds. */
static bool
can_hold(const cap_task_ctx *ctx, uint64_t more)
{
    uint64_t used = cap_store_memory_used(ctx->store) + ctx->host_bytes;
    uint64_t ram = ctx->spec->policy->ram;
    return used <= ram && more <= ram - used;
}

/* Copies data to the guest buffer (buf, cap) by the snprintf rule; returns n or an error. */
static int32_t
give(cap_caller_t *caller, uint32_t buf, int32_t cap, const char *data, size_t n)
{
    if (cap < 0) {
        return ABI_EINVAL;
    }
    if (n > INT32_MAX) {
        return ABI_ELIMIT;
    }
    if (cap > 0) {
        uint8_t *dst = cap_caller_mem(caller, buf, (uint64_t)cap);
        if (!dst) {
            return ABI_EFAULT;
        }
        if (n <= (size_t)cap) {
            memcpy(dst, data, n);
        }
    }
    return (int32_t)n;
}

static cap_status
abi_version(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)caller;
    (void)args;
    (void)env;
    ret(results, 1);
    return CAP_OK;
}

static cap_status
request_read(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)env;
    cap_task_ctx *ctx = ctx_of(caller);
    ret(results, give(caller, arg(args, 0), (int32_t)arg(args, 1), ctx->request, ctx->request_len));
    return CAP_OK;
}

static cap_status
result_write(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)env;
    cap_task_ctx *ctx = ctx_of(caller);
    uint32_t ptr = arg(args, 0);
    int32_t len = (int32_t)arg(args, 1);
    if (len < 0) {
        ret(results, ABI_EINVAL);
        return CAP_OK;
    }
    if ((uint32_t)len > CAP_ABI_MAX_RESULT) {
        ret(results, ABI_ELIMIT);
        return CAP_OK;
    }
    const uint8_t *src = cap_caller_mem(caller, ptr, (uint64_t)len);
    if (!src) {
        ret(results, ABI_EFAULT);
        return CAP_OK;
    }
    /* The previous result is released when this one is accepted, so only the growth counts. */
    if ((size_t)len > ctx->result_bytes && !can_hold(ctx, (size_t)len - ctx->result_bytes)) {
        ret(results, ABI_ENOMEM);
        return CAP_OK;
    }
    char *copy = cap_strndup((const char *)src, (size_t)len); // parse a copy, never guest memory
    if (!copy) {
        ret(results, ABI_ENOMEM);
        return CAP_OK;
    }
    cap_task_result scratch;
    cap_task_result_init(&scratch);
    cap_error_t e;
    cap_status st = cap_task_result_from_guest(&scratch, copy, (size_t)len, &e);
    cap_free(copy);
    if (st != CAP_OK) {
        cap_task_result_clear(&scratch);
        if (st == CAP_ERR_CONFIG) {
            cap_task_log(ctx, "warn", e.msg);
        }
        ret(results, st == CAP_ERR_CONFIG ? ABI_EINVAL : ABI_ENOMEM);
        return CAP_OK;
    }
    cap_task_result_clear(&ctx->guest_result);
    ctx->guest_result = scratch;
    ctx->has_result = true;
    ctx->host_bytes = ctx->host_bytes - ctx->result_bytes + (size_t)len;
    ctx->result_bytes = (size_t)len;
    ret(results, 0);
    return CAP_OK;
}

static int32_t
schedule(cap_caller_t *caller, cap_task_ctx *ctx, uint32_t ptr, int32_t len)
{
    cap_store_t *store = cap_caller_store(caller);
    if (cap_store_interrupted(store)) {
        return ABI_ETIMEOUT;
    }
    if (len < 0) {
        return ABI_EINVAL;
    }
    if ((uint32_t)len > CAP_ABI_MAX_RESULT) {
        return ABI_ELIMIT;
    }
    const uint8_t *src = cap_caller_mem(caller, ptr, (uint64_t)len);
    if (!src) {
        return ABI_EFAULT;
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
    json_error_t jerr;
    json_t *req = json_loadb((const char *)src, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        char msg[300];
        snprintf(msg, sizeof msg, "task_schedule: invalid JSON: %s", jerr.text);
        cap_task_log(ctx, "warn", msg);
        return ABI_EINVAL;
    }
    json_t *name = json_object_get(req, "task_name");
    json_t *args = json_object_get(req, "args");
    json_t *kwargs = json_object_get(req, "kwargs");
    json_t *policy = json_object_get(req, "policy");
    const char *why = NULL;
    if (!json_is_object(req)) {
        why = "the request must be a JSON object";
    } else if (!json_is_string(name) || json_string_length(name) == 0 ||
               strlen(json_string_value(name)) != json_string_length(name)) {
        why = "the request needs a non-empty string task_name";
    } else if (args && !json_is_array(args) && !json_is_null(args)) {
        why = "args must be a JSON array";
    } else if (kwargs && !json_is_object(kwargs) && !json_is_null(kwargs)) {
        why = "kwargs must be a JSON object";
    } else if (policy && !json_is_object(policy) && !json_is_null(policy)) {
        why = "policy must be a JSON object";
    }
    if (why) {
        char msg[128];
        snprintf(msg, sizeof msg, "task_schedule: %s", why);
        cap_task_log(ctx, "warn", msg);
        json_decref(req);
        return ABI_EINVAL;
    }
    char *resp = NULL;
    size_t rlen = 0;
    cap_error_t e;
    cap_status st =
        cap_task_run_child(ctx, json_string_value(name), json_is_array(args) ? args : NULL,
                           json_is_object(kwargs) ? kwargs : NULL, policy, &resp, &rlen, &e);
    json_decref(req);
    if (st != CAP_OK) {
        if (st == CAP_ERR_CONFIG) {
            char msg[300];
            snprintf(msg, sizeof msg, "task_schedule: %s", e.msg);
            cap_task_log(ctx, "warn", msg);
            return ABI_EINVAL;
        }
        return ABI_ENOMEM;
    }
    if (cap_store_interrupted(store)) {
        cap_free(resp);
        return ABI_ETIMEOUT; // the parent's own deadline passed while it waited
    }
    if (!can_hold(ctx, rlen)) {
        cap_free(resp);
        return ABI_ENOMEM;
    }
    ctx->responses[slot] = resp;
    ctx->response_len[slot] = rlen;
    ctx->host_bytes += rlen;
    return (int32_t)slot + 1;
}

static cap_status
task_schedule(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)env;
    ret(results, schedule(caller, ctx_of(caller), arg(args, 0), (int32_t)arg(args, 1)));
    return CAP_OK;
}

/* The slot of an open handle, or -1. */
static int
slot_of(const cap_task_ctx *ctx, int32_t h)
{
    if (h < 1 || (uint32_t)h > CAP_ABI_MAX_HANDLES || !ctx->responses[h - 1]) {
        return -1;
    }
    return h - 1;
}

static cap_status
response_read(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)env;
    cap_task_ctx *ctx = ctx_of(caller);
    int s = slot_of(ctx, (int32_t)arg(args, 0));
    if (s < 0) {
        ret(results, ABI_EBADF);
        return CAP_OK;
    }
    ret(results,
        give(caller, arg(args, 1), (int32_t)arg(args, 2), ctx->responses[s], ctx->response_len[s]));
    return CAP_OK;
}

static cap_status
response_close(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)env;
    cap_task_ctx *ctx = ctx_of(caller);
    int s = slot_of(ctx, (int32_t)arg(args, 0));
    if (s < 0) {
        ret(results, ABI_EBADF);
        return CAP_OK;
    }
    cap_http_abi_close(ctx, (unsigned)s); // an HTTP response's body
    cap_free(ctx->responses[s]);
    ctx->responses[s] = NULL;
    ctx->host_bytes -= ctx->response_len[s];
    ctx->response_len[s] = 0;
    ret(results, 0);
    return CAP_OK;
}

static cap_status
log_line(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)env;
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    cap_task_ctx *ctx = ctx_of(caller);
    uint32_t level = arg(args, 0);
    int32_t len = (int32_t)arg(args, 2);
    if (level > 3 || len < 0) {
        ret(results, ABI_EINVAL);
        return CAP_OK;
    }
    const uint8_t *src = cap_caller_mem(caller, arg(args, 1), (uint64_t)len);
    if (!src) {
        ret(results, ABI_EFAULT);
        return CAP_OK;
    }
    if (ctx->log_lines >= CAP_ABI_MAX_LOG_LINES) {
        ctx->log_dropped++;
        ret(results, ABI_ELIMIT);
        return CAP_OK;
    }
    size_t n = (size_t)len > CAP_ABI_MAX_LOG_LINE ? CAP_ABI_MAX_LOG_LINE : (size_t)len;
    json_t *s = cap_json_string_lossy((const char *)src, n); // invalid UTF-8 becomes U+FFFD
    if (!s) {
        ret(results, ABI_ENOMEM);
        return CAP_OK;
    }
    ctx->log_lines++;
    cap_task_log(ctx, levels[level], json_string_value(s));
    json_decref(s);
    ret(results, 0);
    return CAP_OK;
}

void
cap_host_abi_release(cap_task_ctx *ctx)
{
    cap_http_abi_release(ctx);
    for (unsigned i = 0; i < CAP_ABI_MAX_HANDLES; i++) {
        cap_free(ctx->responses[i]);
        ctx->responses[i] = NULL;
        ctx->response_len[i] = 0;
    }
    cap_task_result_clear(&ctx->guest_result);
    ctx->has_result = false;
    ctx->result_bytes = 0;
    ctx->host_bytes = 0;
}

cap_status
cap_host_abi_link(cap_linker_t *linker, cap_store_t *store, cap_error_t *err)
{
    static const cap_valtype i32s[4] = {CAP_I32, CAP_I32, CAP_I32, CAP_I32};
    static const struct {
        const char *name;
        uint32_t nparams;
        cap_host_fn fn;
    } fns[] = {
        {"abi_version", 0, abi_version},
        {"request_read", 2, request_read},
        {"result_write", 2, result_write},
        {"task_schedule", 2, task_schedule},
        {"response_read", 3, response_read},
        {"response_close", 1, response_close},
        {"log", 3, log_line},
        {"http_request", 4, cap_http_abi_request},
        {"http_body_read", 3, cap_http_abi_body_read},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        cap_functype_t ft = {fns[i].nparams, 1, i32s, i32s};
        cap_status st = cap_linker_define_host(linker, store, "capsule", fns[i].name, &ft,
                                               fns[i].fn, NULL, err);
        if (st != CAP_OK) {
            return st;
        }
    }
    return CAP_OK;
}
