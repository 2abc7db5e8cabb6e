/* SPDX-License-Identifier: Apache-2.0 */
/* Capsule's JavaScript guest: QuickJS embedded as a Capsule task module (a WASI reactor,
 * qjs-capsule.wasm) or as a plain script runner (a WASI command, qjs.wasm, built with
 * -DCAPSULE_JS_COMMAND).
 *
 * The C side is small on purpose: it owns the event loop (jobs and timers, which sleep through
 * WASI poll_oneoff so the host's deadline holds), and exposes a handful of native functions to
 * the JavaScript runtime (prelude.js, capsule.js, fs.js, runner.js, sourcemap.js: compiled to
 * bytecode at build time by jsc.c and put into the binary with #embed), which builds the web and Node-like globals and the `capsule` package on them.
 *
 * Reactor exports (besides memory and _initialize):
 *   capsule_init()  create the runtime and evaluate the user's bundle ($CAPSULE_JS_MAIN, else
 *                   WASI argv[1] when it is an absolute .js/.mjs path, else /app/main.mjs).
 *                   Idempotent: the start-up a snapshot would take off every run.
 *   capsule_run()   the ABI task entry: capsule_init() if needed, read the request, run the task,
 *                   write the result. Failures are reported through result_write. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <wasi/api.h>

#define CAPSULE_GUEST_RESUME
#include "capsule_guest.h"
#include "quickjs.h"

#define DEFAULT_MAIN "/app/main.mjs"
/* The C stack (wasm-ld -z stack-size) and the part of it QuickJS may use before it throws
 * "Maximum call stack size exceeded". */
#define JS_STACK_LIMIT (768 * 1024)

/* The runtime's JavaScript, compiled to QuickJS bytecode at build time by jsc (jsc.c); the
 * build script points --embed-dir at the .bc files. */
static const uint8_t prelude_bc[] = {
#embed <prelude.bc>
};
static const uint8_t capsule_bc[] = {
#embed <capsule.bc>
};
static const uint8_t fs_bc[] = {
#embed <fs.bc>
};
static const uint8_t runner_bc[] = {
#embed <runner.bc>
};
static const uint8_t sourcemap_bc[] = {
#embed <sourcemap.bc>
};

/* ------------------------------------------------------------------ state */

typedef struct timer {
    struct timer *next;
    int64_t id;
    uint64_t due_ns; /* monotonic */
    JSValue fn;      /* a function; its arguments live in args */
    JSValue args;    /* an array, or undefined */
} timer;

static JSRuntime *rt;
static JSContext *ctx;
static timer *timers; /* sorted by due_ns, then id */
static int64_t next_timer_id = 1;
static int init_state; /* 0 not started, 1 ready, -1 failed */
static JSValue runner_ns = JS_UNDEFINED;
static char *init_error; /* a failure of capsule_init, reported by capsule_run */
static int saw_uncaught; /* an exception escaped a timer or a job */

/* Promises rejected with no handler yet (QuickJS reports them when they are rejected and again
 * if a handler is attached later); whatever is left when the work ends is reported. */
typedef struct rejection {
    struct rejection *next;
    JSValue promise;
    JSValue reason;
} rejection;
static rejection *rejections;

static uint64_t
now_ns(void)
{
    __wasi_timestamp_t t = 0;
    if (__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1000, &t) != 0) {
        return 0;
    }
    return t;
}

/* ------------------------------------------------------------------ error reporting */

/* Prints the pending exception (message and stack) to stderr and clears it. */
static void
dump_exception(const char *what)
{
    JSValue e = JS_GetException(ctx);
    const char *s = JS_ToCString(ctx, e);
    fprintf(stderr, "%s%s\n", what, s ? s : "(exception)");
    JS_FreeCString(ctx, s);
    if (JS_IsError(ctx, e)) {
        JSValue st = JS_GetPropertyStr(ctx, e, "stack");
        if (JS_IsString(st)) {
            const char *t = JS_ToCString(ctx, st);
            if (t) {
                fputs(t, stderr);
            }
            JS_FreeCString(ctx, t);
        }
        JS_FreeValue(ctx, st);
    }
    JS_FreeValue(ctx, e);
    fflush(stderr);
}

static void
track_rejection(JSContext *c, JSValueConst promise, JSValueConst reason, JS_BOOL is_handled,
                void *opaque)
{
    (void)opaque;
    if (!is_handled) {
        rejection *r = malloc(sizeof *r);
        if (r) {
            r->promise = JS_DupValue(c, promise);
            r->reason = JS_DupValue(c, reason);
            r->next = rejections;
            rejections = r;
        }
        return;
    }
    for (rejection **p = &rejections; *p; p = &(*p)->next) {
        if (JS_VALUE_GET_PTR((*p)->promise) == JS_VALUE_GET_PTR(promise)) {
            rejection *r = *p;
            *p = r->next;
            JS_FreeValue(c, r->promise);
            JS_FreeValue(c, r->reason);
            free(r);
            return;
        }
    }
}

/* Prints the rejections nobody handled, like node's "Uncaught (in promise)"; returns how many.
 * A task's own failure is reported through its result, not here. */
static int
report_rejections(void)
{
    int n = 0;
    while (rejections) {
        rejection *r = rejections;
        rejections = r->next;
        JS_Throw(ctx, JS_DupValue(ctx, r->reason));
        dump_exception("Uncaught (in promise) ");
        JS_FreeValue(ctx, r->promise);
        JS_FreeValue(ctx, r->reason);
        free(r);
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ the event loop */

static void
timer_free(timer *t)
{
    JS_FreeValue(ctx, t->fn);
    JS_FreeValue(ctx, t->args);
    free(t);
}

static void
timer_insert(timer *t)
{
    timer **p = &timers;
    while (*p && (*p)->due_ns <= t->due_ns) {
        p = &(*p)->next;
    }
    t->next = *p;
    *p = t;
}

/* Runs every queued promise job. */
static void
run_jobs(void)
{
    for (;;) {
        JSContext *c;
        int r = JS_ExecutePendingJob(rt, &c);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            saw_uncaught = 1;
            dump_exception("Uncaught (in a job) ");
        }
    }
}

/* Sleeps until the monotonic time `due` through poll_oneoff, the call the host bounds by the
 * task's deadline. */
static void
sleep_until(uint64_t due)
{
    uint64_t now = now_ns();
    if (due <= now) {
        return;
    }
    __wasi_subscription_t sub;
    memset(&sub, 0, sizeof sub);
    sub.userdata = 1;
    sub.u.tag = __WASI_EVENTTYPE_CLOCK;
    sub.u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
    sub.u.u.clock.timeout = due - now;
    sub.u.u.clock.precision = 1000;
    __wasi_event_t ev;
    __wasi_size_t n = 0;
    (void)__wasi_poll_oneoff(&sub, &ev, 1, &n);
}

/* Fires the earliest timer if it is due (sleeping for it first). Returns 0 when no timer is
 * left. */
static int
run_one_timer(void)
{
    timer *t = timers;
    if (!t) {
        return 0;
    }
    sleep_until(t->due_ns);
    timers = t->next;
    JSValue argv[16];
    int argc = 0;
    if (JS_IsArray(ctx, t->args)) {
        int64_t len = 0;
        JSValue l = JS_GetPropertyStr(ctx, t->args, "length");
        JS_ToInt64(ctx, &len, l);
        JS_FreeValue(ctx, l);
        for (int64_t i = 0; i < len && argc < 16; i++) {
            argv[argc++] = JS_GetPropertyUint32(ctx, t->args, (uint32_t)i);
        }
    }
    JSValue r = JS_Call(ctx, t->fn, JS_UNDEFINED, argc, argv);
    for (int i = 0; i < argc; i++) {
        JS_FreeValue(ctx, argv[i]);
    }
    if (JS_IsException(r)) {
        saw_uncaught = 1;
        dump_exception("Uncaught (in a timer) ");
    }
    JS_FreeValue(ctx, r);
    timer_free(t);
    return 1;
}

/* Runs jobs and timers until `promise` (if it is one) has settled, or until nothing is left to
 * do. Returns the promise's state. */
static JSPromiseStateEnum
run_loop(JSValueConst promise)
{
    for (;;) {
        run_jobs();
        if (JS_IsObject(promise)) {
            JSPromiseStateEnum s = JS_PromiseState(ctx, promise);
            if (s != JS_PROMISE_PENDING) {
                return s;
            }
        }
        if (!run_one_timer()) {
            break;
        }
    }
    return JS_IsObject(promise) ? JS_PromiseState(ctx, promise) : JS_PROMISE_FULFILLED;
}

/* ------------------------------------------------------------------ natives: basics */

/* Bytes of a Uint8Array, ArrayBuffer or any typed array / DataView (via JS: a Uint8Array). */
static uint8_t *
bytes_of(JSValueConst v, size_t *out_len)
{
    size_t off = 0, len = 0, bpe = 0, size = 0;
    uint8_t *p = JS_GetArrayBuffer(ctx, &size, v);
    if (p) {
        *out_len = size;
        return p;
    }
    JS_FreeValue(ctx, JS_GetException(ctx));
    JSValue ab = JS_GetTypedArrayBuffer(ctx, v, &off, &len, &bpe);
    if (JS_IsException(ab)) {
        return NULL;
    }
    p = JS_GetArrayBuffer(ctx, &size, ab);
    JS_FreeValue(ctx, ab);
    if (!p || off + len > size) {
        return NULL;
    }
    *out_len = len;
    return p + off;
}

static JSValue
new_uint8array(const uint8_t *data, size_t len)
{
    JSValue ab = JS_NewArrayBufferCopy(ctx, data, len);
    if (JS_IsException(ab)) {
        return ab;
    }
    JSValue args[3] = {ab, JS_NewInt32(ctx, 0), JS_NewInt64(ctx, (int64_t)len)};
    JSValue u8 = JS_NewTypedArray(ctx, 3, args, JS_TYPED_ARRAY_UINT8);
    JS_FreeValue(ctx, ab);
    return u8;
}

/* write(fd, string | Uint8Array): console and process.stdout/stderr. */
static JSValue
n_write(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    int32_t fd = 1;
    if (argc < 2 || JS_ToInt32(c, &fd, argv[0]) || (fd != 1 && fd != 2)) {
        return JS_ThrowTypeError(c, "write: bad descriptor");
    }
    FILE *f = fd == 1 ? stdout : stderr;
    if (JS_IsString(argv[1])) {
        size_t n;
        const char *s = JS_ToCStringLen(c, &n, argv[1]);
        if (!s) {
            return JS_EXCEPTION;
        }
        fwrite(s, 1, n, f);
        JS_FreeCString(c, s);
    } else {
        size_t n;
        uint8_t *p = bytes_of(argv[1], &n);
        if (!p) {
            return JS_ThrowTypeError(c, "write: expected a string or bytes");
        }
        fwrite(p, 1, n, f);
    }
    return JS_UNDEFINED;
}

static JSValue
n_flush(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)c, (void)this_val, (void)argc, (void)argv;
    fflush(stdout);
    fflush(stderr);
    return JS_UNDEFINED;
}

/* exit(code): process.exit through WASI proc_exit, after flushing the output. */
static JSValue
n_exit(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    int32_t code = 0;
    if (argc > 0 && JS_ToInt32(c, &code, argv[0])) {
        return JS_EXCEPTION;
    }
    fflush(stdout);
    fflush(stderr);
    __wasi_proc_exit((__wasi_exitcode_t)code);
}

/* now(): monotonic milliseconds (performance.now). */
static JSValue
n_now(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val, (void)argc, (void)argv;
    return JS_NewFloat64(c, (double)now_ns() / 1e6);
}

/* setTimer(fn, delay_ms, args_array) -> id */
static JSValue
n_set_timer(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    double ms = 0;
    if (argc < 1 || !JS_IsFunction(c, argv[0])) {
        return JS_ThrowTypeError(c, "the callback must be a function");
    }
    if (argc > 1 && JS_ToFloat64(c, &ms, argv[1])) {
        return JS_EXCEPTION;
    }
    if (!(ms >= 1)) { /* NaN and below 1 ms count as 1 ms, as in browsers and node */
        ms = 1;
    }
    if (ms > 2147483647.0) {
        ms = 1;
    }
    timer *t = calloc(1, sizeof *t);
    if (!t) {
        return JS_ThrowOutOfMemory(c);
    }
    t->id = next_timer_id++;
    t->due_ns = now_ns() + (uint64_t)(ms * 1e6);
    t->fn = JS_DupValue(c, argv[0]);
    t->args = argc > 2 ? JS_DupValue(c, argv[2]) : JS_UNDEFINED;
    timer_insert(t);
    return JS_NewInt64(c, t->id);
}

static JSValue
n_clear_timer(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    int64_t id = 0;
    if (argc < 1 || JS_ToInt64(c, &id, argv[0])) {
        return JS_UNDEFINED;
    }
    for (timer **p = &timers; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            timer *t = *p;
            *p = t->next;
            timer_free(t);
            break;
        }
    }
    return JS_UNDEFINED;
}

/* fillRandom(view): crypto.getRandomValues through WASI random_get. */
static JSValue
n_fill_random(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    size_t n = 0;
    uint8_t *p = argc > 0 ? bytes_of(argv[0], &n) : NULL;
    if (!p) {
        return JS_ThrowTypeError(c, "expected an integer typed array");
    }
    if (n && __wasi_random_get(p, n) != 0) {
        return JS_ThrowInternalError(c, "random_get failed");
    }
    return JS_UNDEFINED;
}

/* utf8Encode(string) -> Uint8Array. The prelude makes the string well-formed first. */
static JSValue
n_utf8_encode(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    size_t n;
    const char *s = JS_ToCStringLen(c, &n, argc > 0 ? argv[0] : JS_UNDEFINED);
    if (!s) {
        return JS_EXCEPTION;
    }
    JSValue r = new_uint8array((const uint8_t *)s, n);
    JS_FreeCString(c, s);
    return r;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    if (b < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t min;
    uint32_t cp;
    if ((b & 0xE0) == 0xC0) {
        len = 2, min = 0x80, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
        len = 3, min = 0x800, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, cp = b & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

/* utf8Decode(bytes, fatal) -> string; invalid sequences become U+FFFD, or throw when fatal. */
static JSValue
n_utf8_decode(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    size_t n = 0;
    uint8_t *p = argc > 0 ? bytes_of(argv[0], &n) : NULL;
    if (!p) {
        if (argc > 0 && JS_IsUndefined(argv[0])) {
            return JS_NewStringLen(c, "", 0);
        }
        return JS_ThrowTypeError(c, "The \"input\" argument must be an ArrayBuffer or "
                                    "ArrayBufferView");
    }
    int fatal = argc > 1 && JS_ToBool(c, argv[1]);
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k) {
            break;
        }
        i += k;
    }
    if (i == n) {
        return JS_NewStringLen(c, (const char *)p, n);
    }
    if (fatal) {
        return JS_ThrowTypeError(c, "The encoded data was not valid for encoding utf-8");
    }
    /* Rebuild with replacement characters (each maximal invalid prefix becomes one U+FFFD). */
    char *out = malloc(n * 3 + 1);
    if (!out) {
        return JS_ThrowOutOfMemory(c);
    }
    size_t o = 0;
    i = 0;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (k) {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            while (i < n && (p[i] & 0xC0) == 0x80 && !utf8_seq(p + i, n - i)) {
                i++;
            }
        }
    }
    JSValue r = JS_NewStringLen(c, out, o);
    free(out);
    return r;
}

/* ------------------------------------------------------------------ natives: the capsule ABI */

static JSValue
abi_error(JSContext *c, int32_t code)
{
    return JS_NewInt32(c, code);
}

/* requestRead() -> string, or a negative ABI code. */
static JSValue
n_request_read(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val, (void)argc, (void)argv;
    int32_t n = capsule_request_read(NULL, 0);
    if (n < 0) {
        return abi_error(c, n);
    }
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        return JS_ThrowOutOfMemory(c);
    }
    int32_t m = capsule_request_read((uint8_t *)buf, n);
    JSValue r = m == n ? JS_NewStringLen(c, buf, (size_t)n) : abi_error(c, m < 0 ? m : -2);
    free(buf);
    return r;
}

/* resultWrite(json) -> 0 or a negative ABI code. */
static JSValue
n_result_write(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    size_t n;
    const char *s = JS_ToCStringLen(c, &n, argc > 0 ? argv[0] : JS_UNDEFINED);
    if (!s) {
        return JS_EXCEPTION;
    }
    int32_t r = capsule_result_write((const uint8_t *)s, (int32_t)n);
    JS_FreeCString(c, s);
    return JS_NewInt32(c, r);
}

/* taskSchedule(request_json) -> the sub-task's envelope (a string), or a negative ABI code.
 * ABI 1 blocks until the sub-task has finished. */
static JSValue
n_task_schedule(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    size_t n;
    const char *s = JS_ToCStringLen(c, &n, argc > 0 ? argv[0] : JS_UNDEFINED);
    if (!s) {
        return JS_EXCEPTION;
    }
    fflush(stdout);
    fflush(stderr);
    int32_t h = capsule_task_schedule((const uint8_t *)s, (int32_t)n);
    JS_FreeCString(c, s);
    if (h < 0) {
        return abi_error(c, h);
    }
    int32_t len = capsule_response_read(h, NULL, 0);
    JSValue r;
    if (len < 0) {
        r = abi_error(c, len);
    } else {
        char *buf = malloc((size_t)len + 1);
        if (!buf) {
            capsule_response_close(h);
            return JS_ThrowOutOfMemory(c);
        }
        int32_t m = capsule_response_read(h, (uint8_t *)buf, len);
        r = m == len ? JS_NewStringLen(c, buf, (size_t)len) : abi_error(c, m < 0 ? m : -2);
        free(buf);
    }
    capsule_response_close(h);
    return r;
}

/* log(level, message) -> 0 or a negative ABI code. */
static JSValue
n_log(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    int32_t level = 1;
    size_t n;
    if (argc < 2 || JS_ToInt32(c, &level, argv[0])) {
        return JS_ThrowTypeError(c, "log(level, message)");
    }
    const char *s = JS_ToCStringLen(c, &n, argv[1]);
    if (!s) {
        return JS_EXCEPTION;
    }
    int32_t r = capsule_log(level, (const uint8_t *)s, (int32_t)n);
    JS_FreeCString(c, s);
    return JS_NewInt32(c, r);
}

/* httpRequest(request_json, body_bytes_or_undefined) -> [head_json, Uint8Array body], or a
 * negative ABI code. The host makes the request (allowed_hosts are checked there); ABI 1
 * blocks until it has ended. */
static JSValue
n_http_request(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    size_t n = 0, blen = 0;
    const char *req = JS_ToCStringLen(c, &n, argc > 0 ? argv[0] : JS_UNDEFINED);
    if (!req) {
        return JS_EXCEPTION;
    }
    uint8_t *body = NULL;
    if (argc > 1 && !JS_IsUndefined(argv[1]) && !JS_IsNull(argv[1])) {
        body = bytes_of(argv[1], &blen);
        if (!body) {
            JS_FreeCString(c, req);
            return JS_ThrowTypeError(c, "httpRequest: the body must be bytes");
        }
    }
    fflush(stdout);
    fflush(stderr);
    int32_t h = capsule_http_request((const uint8_t *)req, (int32_t)n, body ? body : (uint8_t *)"",
                                     (int32_t)blen);
    JS_FreeCString(c, req);
    if (h < 0) {
        return abi_error(c, h);
    }
    JSValue out = JS_UNDEFINED;
    char *head = NULL;
    uint8_t *data = NULL;
    int32_t hl = capsule_response_read(h, NULL, 0);
    if (hl < 0 || !(head = malloc((size_t)hl + 1)) ||
        capsule_response_read(h, (uint8_t *)head, hl) != hl) {
        out = hl < 0 ? abi_error(c, hl) : JS_ThrowOutOfMemory(c);
        goto done;
    }
    int32_t bl = capsule_http_body_read(h, NULL, 0);
    if (bl < 0) {
        bl = 0; /* a failed request has no body */
    }
    if (!(data = malloc((size_t)bl + 1)) ||
        (bl > 0 && capsule_http_body_read(h, data, bl) != bl)) {
        out = JS_ThrowOutOfMemory(c);
        goto done;
    }
    out = JS_NewArray(c);
    JS_SetPropertyUint32(c, out, 0, JS_NewStringLen(c, head, (size_t)hl));
    JS_SetPropertyUint32(c, out, 1, new_uint8array(data, (size_t)bl));
done:
    free(head);
    free(data);
    capsule_response_close(h);
    return out;
}

/* ------------------------------------------------------------------ natives: the file system */

static const char *
errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return "ENOENT";
    case EEXIST:
        return "EEXIST";
    case ENOTDIR:
        return "ENOTDIR";
    case EISDIR:
        return "EISDIR";
    case EACCES:
        return "EACCES";
    case EPERM:
        return "EPERM";
    case ENOTEMPTY:
        return "ENOTEMPTY";
    case EBADF:
        return "EBADF";
    case EINVAL:
        return "EINVAL";
    case ENOTCAPABLE:
        return "ENOTCAPABLE";
    case EROFS:
        return "EROFS";
    case ENOSPC:
        return "ENOSPC";
    case ENAMETOOLONG:
        return "ENAMETOOLONG";
    case ELOOP:
        return "ELOOP";
    case EXDEV:
        return "EXDEV";
    case ENOMEM:
        return "ENOMEM";
    case EIO:
        return "EIO";
    case EFBIG:
        return "EFBIG";
    case ENOSYS:
        return "ENOSYS";
    default:
        return "EIO";
    }
}

/* Throws a Node-style system error: "ENOENT: no such file or directory, open 'x'" with code,
 * errno, syscall and path properties. */
static JSValue
throw_errno(JSContext *c, int e, const char *syscall, const char *path)
{
    const char *code = errno_code(e);
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, strerror(e), syscall, path ? path : "");
    JSValue err = JS_NewError(c);
    JS_DefinePropertyValueStr(c, err, "message", JS_NewString(c, msg),
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    JS_SetPropertyStr(c, err, "code", JS_NewString(c, code));
    JS_SetPropertyStr(c, err, "errno", JS_NewInt32(c, -e));
    JS_SetPropertyStr(c, err, "syscall", JS_NewString(c, syscall));
    if (path) {
        JS_SetPropertyStr(c, err, "path", JS_NewString(c, path));
    }
    return JS_Throw(c, err);
}

/* Reads argv[i] as a path string (freed by the caller with JS_FreeCString). */
static const char *
path_arg(JSContext *c, int argc, JSValueConst *argv, int i)
{
    if (i >= argc || !JS_IsString(argv[i])) {
        JS_ThrowTypeError(c, "The \"path\" argument must be of type string");
        return NULL;
    }
    return JS_ToCString(c, argv[i]);
}

/* Reads a whole file; malloc'd, or NULL with errno set. */
static uint8_t *
read_all(const char *path, size_t *out_len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return NULL;
    }
    size_t cap = 64 * 1024, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    *out_len = len;
    return buf;
}

/* readFile(path) -> Uint8Array */
static JSValue
n_read_file(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    const char *path = path_arg(c, argc, argv, 0);
    if (!path) {
        return JS_EXCEPTION;
    }
    size_t n = 0;
    uint8_t *data = read_all(path, &n);
    JSValue r = data ? new_uint8array(data, n) : throw_errno(c, errno, "open", path);
    free(data);
    JS_FreeCString(c, path);
    return r;
}

/* writeFile(path, bytes, append, exclusive) */
static JSValue
n_write_file(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    const char *path = path_arg(c, argc, argv, 0);
    if (!path) {
        return JS_EXCEPTION;
    }
    size_t n = 0;
    uint8_t *p = argc > 1 ? bytes_of(argv[1], &n) : NULL;
    if (!p && n) {
        JS_FreeCString(c, path);
        return JS_ThrowTypeError(c, "writeFile: expected bytes");
    }
    int flags = O_WRONLY | O_CREAT;
    flags |= argc > 2 && JS_ToBool(c, argv[2]) ? O_APPEND : O_TRUNC;
    if (argc > 3 && JS_ToBool(c, argv[3])) {
        flags |= O_EXCL;
    }
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        JSValue r = throw_errno(c, errno, "open", path);
        JS_FreeCString(c, path);
        return r;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w < 0) {
            int e = errno;
            close(fd);
            JSValue r = throw_errno(c, e, "write", path);
            JS_FreeCString(c, path);
            return r;
        }
        off += (size_t)w;
    }
    close(fd);
    JS_FreeCString(c, path);
    return JS_UNDEFINED;
}

/* stat(path, lstat) -> {size, mode, mtimeMs, atimeMs, ctimeMs, kind} */
static JSValue
n_stat(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    const char *path = path_arg(c, argc, argv, 0);
    if (!path) {
        return JS_EXCEPTION;
    }
    int use_lstat = argc > 1 && JS_ToBool(c, argv[1]);
    struct stat st;
    if ((use_lstat ? lstat(path, &st) : stat(path, &st)) != 0) {
        JSValue r = throw_errno(c, errno, use_lstat ? "lstat" : "stat", path);
        JS_FreeCString(c, path);
        return r;
    }
    JS_FreeCString(c, path);
    JSValue o = JS_NewObject(c);
    const char *kind = S_ISREG(st.st_mode)   ? "file"
                       : S_ISDIR(st.st_mode) ? "dir"
                       : S_ISLNK(st.st_mode) ? "symlink"
                                             : "other";
    JS_SetPropertyStr(c, o, "kind", JS_NewString(c, kind));
    JS_SetPropertyStr(c, o, "size", JS_NewFloat64(c, (double)st.st_size));
    JS_SetPropertyStr(c, o, "mode", JS_NewInt32(c, (int32_t)st.st_mode));
    JS_SetPropertyStr(c, o, "ino", JS_NewFloat64(c, (double)st.st_ino));
    JS_SetPropertyStr(c, o, "nlink", JS_NewFloat64(c, (double)st.st_nlink));
    JS_SetPropertyStr(c, o, "atimeMs",
                      JS_NewFloat64(c, st.st_atim.tv_sec * 1e3 + st.st_atim.tv_nsec / 1e6));
    JS_SetPropertyStr(c, o, "mtimeMs",
                      JS_NewFloat64(c, st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6));
    JS_SetPropertyStr(c, o, "ctimeMs",
                      JS_NewFloat64(c, st.st_ctim.tv_sec * 1e3 + st.st_ctim.tv_nsec / 1e6));
    return o;
}

/* readdir(path) -> [[name, kind], ...] */
static JSValue
n_readdir(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    const char *path = path_arg(c, argc, argv, 0);
    if (!path) {
        return JS_EXCEPTION;
    }
    DIR *d = opendir(path);
    if (!d) {
        JSValue r = throw_errno(c, errno, "scandir", path);
        JS_FreeCString(c, path);
        return r;
    }
    JSValue arr = JS_NewArray(c);
    uint32_t i = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
            continue;
        }
        const char *kind = de->d_type == DT_REG   ? "file"
                           : de->d_type == DT_DIR ? "dir"
                           : de->d_type == DT_LNK ? "symlink"
                                                  : "other";
        JSValue pair = JS_NewArray(c);
        JS_SetPropertyUint32(c, pair, 0, JS_NewString(c, de->d_name));
        JS_SetPropertyUint32(c, pair, 1, JS_NewString(c, kind));
        JS_SetPropertyUint32(c, arr, i++, pair);
    }
    closedir(d);
    JS_FreeCString(c, path);
    return arr;
}

/* A one-path system call: mkdir, rmdir, unlink. */
static JSValue
n_path_op(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv, int magic)
{
    (void)this_val;
    const char *path = path_arg(c, argc, argv, 0);
    if (!path) {
        return JS_EXCEPTION;
    }
    int r;
    const char *name;
    switch (magic) {
    case 0:
        r = mkdir(path, 0755), name = "mkdir";
        break;
    case 1:
        r = rmdir(path), name = "rmdir";
        break;
    default:
        r = unlink(path), name = "unlink";
        break;
    }
    JSValue out = r == 0 ? JS_UNDEFINED : throw_errno(c, errno, name, path);
    JS_FreeCString(c, path);
    return out;
}

static JSValue
n_rename(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    const char *from = path_arg(c, argc, argv, 0);
    if (!from) {
        return JS_EXCEPTION;
    }
    const char *to = path_arg(c, argc, argv, 1);
    if (!to) {
        JS_FreeCString(c, from);
        return JS_EXCEPTION;
    }
    JSValue out = rename(from, to) == 0 ? JS_UNDEFINED : throw_errno(c, errno, "rename", from);
    JS_FreeCString(c, from);
    JS_FreeCString(c, to);
    return out;
}

/* ------------------------------------------------------------------ args and environment */

extern char **environ;

static JSValue
make_argv(JSContext *c)
{
    JSValue arr = JS_NewArray(c);
    __wasi_size_t argc = 0, size = 0;
    if (__wasi_args_sizes_get(&argc, &size) != 0 || argc == 0) {
        return arr;
    }
    char **argv = calloc(argc, sizeof *argv);
    char *buf = malloc(size ? size : 1);
    if (argv && buf && __wasi_args_get((uint8_t **)argv, (uint8_t *)buf) == 0) {
        for (uint32_t i = 0; i < argc; i++) {
            JS_SetPropertyUint32(c, arr, i, JS_NewString(c, argv[i]));
        }
    }
    free(argv);
    free(buf);
    return arr;
}

/* The environment the host gave (only the task's granted variables). */
static JSValue
make_env(JSContext *c)
{
    JSValue o = JS_NewObject(c);
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e) {
            continue;
        }
        char name[256];
        size_t k = (size_t)(eq - *e);
        if (k >= sizeof name) {
            continue;
        }
        memcpy(name, *e, k);
        name[k] = '\0';
        if (!strcmp(name, "CAPSULE_JS_MAIN")) {
            continue; /* the runtime's setting, not a granted variable */
        }
        JS_SetPropertyStr(c, o, name, JS_NewString(c, eq + 1));
    }
    return o;
}

/* readArgv() / readEnv(): this task's args and environment, re-read at every serve() (the prelude's
 * refresh), since a restored snapshot holds the start-up's. */
static JSValue
n_read_argv(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    (void)argv;
    return make_argv(c);
}

static JSValue
n_read_env(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    (void)argv;
    return make_env(c);
}

/* ------------------------------------------------------------------ modules */

/* Built-in modules. "node:fs" and "fs/promises" are tiny modules over fs.js. */
static const char node_fs_src[] = "export * from 'fs'; import fs from 'fs'; export default fs;\n";
static const char fs_promises_src[] =
    "import fs from 'fs'; const p = fs.promises; export default p;\n"
    "export const { readFile, writeFile, appendFile, stat, lstat, readdir, mkdir, rm, rmdir,\n"
    "  unlink, rename, copyFile, access, mkdtemp, constants } = p;\n";

static const struct {
    const char *name;
    const uint8_t *bc; /* bytecode, or NULL for src */
    size_t bc_len;
    const char *src;
} builtin_modules[] = {
    {"capsule", capsule_bc, sizeof capsule_bc, NULL},
    {"capsule:runner", runner_bc, sizeof runner_bc, NULL},
    {"capsule:sourcemap", sourcemap_bc, sizeof sourcemap_bc, NULL},
    {"fs", fs_bc, sizeof fs_bc, NULL},
    {"node:fs", NULL, 0, node_fs_src},
    {"fs/promises", NULL, 0, fs_promises_src},
    {"node:fs/promises", NULL, 0, fs_promises_src},
};

/* A module from build-time bytecode (static, so QuickJS may keep pointing into it). */
static JSModuleDef *
read_module(JSContext *c, const uint8_t *bc, size_t len)
{
    JSValue m = JS_ReadObject(c, bc, len, JS_READ_OBJ_BYTECODE | JS_READ_OBJ_ROM_DATA);
    if (JS_IsException(m)) {
        return NULL;
    }
    if (JS_VALUE_GET_TAG(m) != JS_TAG_MODULE) {
        JS_FreeValue(c, m);
        JS_ThrowInternalError(c, "built-in bytecode is not a module");
        return NULL;
    }
    JSModuleDef *def = JS_VALUE_GET_PTR(m);
    JS_FreeValue(c, m);
    return def;
}

static JSModuleDef *
compile_module(JSContext *c, const char *name, const char *src, size_t len)
{
    JSValue fn = JS_Eval(c, src, len, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
    if (JS_IsException(fn)) {
        return NULL;
    }
    JSModuleDef *m = JS_VALUE_GET_PTR(fn);
    JSValue meta = JS_GetImportMeta(c, m);
    if (!JS_IsException(meta)) {
        JS_SetPropertyStr(c, meta, "url", JS_NewString(c, name));
        JS_SetPropertyStr(c, meta, "main", JS_NewBool(c, 0));
    }
    JS_FreeValue(c, meta);
    JS_FreeValue(c, fn);
    return m;
}

/* Module names are absolute paths or built-in names; relative imports resolve against the
 * importing module's directory. */
static char *
module_normalize(JSContext *c, const char *base, const char *name, void *opaque)
{
    (void)opaque;
    if (name[0] != '.') {
        return js_strdup(c, name);
    }
    /* Relative: resolve against the importing module's directory. */
    const char *slash = strrchr(base, '/');
    size_t dir = slash ? (size_t)(slash - base) : 0;
    size_t cap = dir + strlen(name) + 2;
    char *out = js_malloc(c, cap);
    if (!out) {
        return NULL;
    }
    memcpy(out, base, dir);
    out[dir] = '\0';
    const char *p = name;
    for (;;) {
        if (!strncmp(p, "./", 2)) {
            p += 2;
        } else if (!strncmp(p, "../", 3)) {
            char *s = strrchr(out, '/');
            if (s) {
                *s = '\0';
            }
            p += 3;
        } else {
            break;
        }
    }
    strcat(out, "/");
    strcat(out, p);
    return out;
}

/* NAME.qbc, the bundle's bytecode written by guest/js/bundle.sh with jsc (from the same QuickJS
 * source as this guest): used when it is at least as new as NAME and records the same module
 * name, which saves parsing the bundle on every start. Anything else (missing, stale, another
 * QuickJS version) falls back to the source, silently. */
static JSModuleDef *
load_precompiled(JSContext *c, const char *name)
{
    char path[1024];
    struct stat src_st, bc_st;
    int n = snprintf(path, sizeof path, "%s.qbc", name);
    if (n < 0 || (size_t)n >= sizeof path || stat(path, &bc_st) != 0 ||
        stat(name, &src_st) != 0 || bc_st.st_mtim.tv_sec < src_st.st_mtim.tv_sec) {
        return NULL;
    }
    size_t len = 0;
    uint8_t *bc = read_all(path, &len);
    if (!bc) {
        return NULL;
    }
    JSValue m = JS_ReadObject(c, bc, len, JS_READ_OBJ_BYTECODE);
    free(bc);
    if (JS_IsException(m)) {
        JS_FreeValue(c, JS_GetException(c));
        return NULL;
    }
    if (JS_VALUE_GET_TAG(m) != JS_TAG_MODULE) {
        JS_FreeValue(c, m);
        return NULL;
    }
    JSModuleDef *def = JS_VALUE_GET_PTR(m);
    JSAtom a = JS_GetModuleName(c, def);
    const char *recorded = JS_AtomToCString(c, a);
    int same = recorded && !strcmp(recorded, name);
    JS_FreeCString(c, recorded);
    JS_FreeAtom(c, a);
    JS_FreeValue(c, m);
    /* A module with another name stays registered under that name, unused. */
    return same ? def : NULL;
}

static JSModuleDef *
module_loader(JSContext *c, const char *name, void *opaque)
{
    (void)opaque;
    for (size_t i = 0; i < sizeof builtin_modules / sizeof builtin_modules[0]; i++) {
        if (!strcmp(name, builtin_modules[i].name)) {
            if (builtin_modules[i].bc) {
                return read_module(c, builtin_modules[i].bc, builtin_modules[i].bc_len);
            }
            return compile_module(c, name, builtin_modules[i].src,
                                  strlen(builtin_modules[i].src));
        }
    }
    if (name[0] != '/') {
        JS_ThrowReferenceError(c,
                               "Cannot find module '%s': only 'capsule', 'fs', 'fs/promises' "
                               "and bundled code are available (bundle npm packages with "
                               "esbuild)",
                               name);
        return NULL;
    }
    JSModuleDef *pre = load_precompiled(c, name);
    if (pre) {
        return pre;
    }
    size_t len = 0;
    uint8_t *src = read_all(name, &len);
    if (!src) {
        JS_ThrowReferenceError(c, "Cannot load module '%s': %s", name, strerror(errno));
        return NULL;
    }
    char *z = realloc(src, len + 1);
    if (!z) {
        free(src);
        JS_ThrowOutOfMemory(c);
        return NULL;
    }
    z[len] = '\0';
    JSModuleDef *m = compile_module(c, name, z, len);
    free(z);
    return m;
}

/* ------------------------------------------------------------------ start-up */

static const JSCFunctionListEntry native_funcs[] = {
    JS_CFUNC_DEF("write", 2, n_write),
    JS_CFUNC_DEF("flush", 0, n_flush),
    JS_CFUNC_DEF("now", 0, n_now),
    JS_CFUNC_DEF("exit", 1, n_exit),
    JS_CFUNC_DEF("setTimer", 3, n_set_timer),
    JS_CFUNC_DEF("clearTimer", 1, n_clear_timer),
    JS_CFUNC_DEF("fillRandom", 1, n_fill_random),
    JS_CFUNC_DEF("readArgv", 0, n_read_argv),
    JS_CFUNC_DEF("readEnv", 0, n_read_env),
    JS_CFUNC_DEF("utf8Encode", 1, n_utf8_encode),
    JS_CFUNC_DEF("utf8Decode", 2, n_utf8_decode),
    JS_CFUNC_DEF("requestRead", 0, n_request_read),
    JS_CFUNC_DEF("resultWrite", 1, n_result_write),
    JS_CFUNC_DEF("taskSchedule", 1, n_task_schedule),
    JS_CFUNC_DEF("log", 2, n_log),
    JS_CFUNC_DEF("httpRequest", 2, n_http_request),
    JS_CFUNC_DEF("readFile", 1, n_read_file),
    JS_CFUNC_DEF("writeFile", 4, n_write_file),
    JS_CFUNC_DEF("stat", 2, n_stat),
    JS_CFUNC_DEF("readdir", 1, n_readdir),
    JS_CFUNC_MAGIC_DEF("mkdir", 1, n_path_op, 0),
    JS_CFUNC_MAGIC_DEF("rmdir", 1, n_path_op, 1),
    JS_CFUNC_MAGIC_DEF("unlink", 1, n_path_op, 2),
    JS_CFUNC_DEF("rename", 2, n_rename),
};

/* Creates the runtime and context and evaluates the prelude. Returns 0 or -1 (message in
 * init_error). */
static int
start_runtime(void)
{
    rt = JS_NewRuntime();
    if (!rt) {
        init_error = strdup("cannot create the JavaScript runtime (out of memory)");
        return -1;
    }
    JS_SetMaxStackSize(rt, JS_STACK_LIMIT);
    JS_SetModuleLoaderFunc(rt, module_normalize, module_loader, NULL);
    JS_SetHostPromiseRejectionTracker(rt, track_rejection, NULL);
    ctx = JS_NewContext(rt);
    if (!ctx) {
        init_error = strdup("cannot create the JavaScript context (out of memory)");
        return -1;
    }
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue native = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, native, native_funcs,
                               sizeof native_funcs / sizeof native_funcs[0]);
    JS_SetPropertyStr(ctx, native, "argv", make_argv(ctx));
    JS_SetPropertyStr(ctx, native, "env", make_env(ctx));
#ifdef CAPSULE_JS_COMMAND
    JS_SetPropertyStr(ctx, native, "command", JS_NewBool(ctx, 1));
#endif
    JS_SetPropertyStr(ctx, global, "__capsule_native", native);
    JS_FreeValue(ctx, global);
    JSValue r = JS_ReadObject(ctx, prelude_bc, sizeof prelude_bc,
                              JS_READ_OBJ_BYTECODE | JS_READ_OBJ_ROM_DATA);
    if (!JS_IsException(r)) {
        r = JS_EvalFunction(ctx, r);
    }
    if (JS_IsException(r)) {
        dump_exception("prelude: ");
        init_error = strdup("the JavaScript prelude failed (see stderr)");
        return -1;
    }
    JS_FreeValue(ctx, r);
    return 0;
}

/* Imports a module by name and waits for its evaluation; returns its namespace or an
 * exception. */
static JSValue
import_module(const char *name)
{
    char src[512];
    int n = snprintf(src, sizeof src, "import * as m from '%s'; globalThis.__capsule_m = m;",
                     name);
    if (n < 0 || (size_t)n >= sizeof src) {
        return JS_ThrowRangeError(ctx, "module name too long");
    }
    JSValue fn = JS_Eval(ctx, src, (size_t)n, "capsule:import",
                         JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
    if (JS_IsException(fn)) {
        return fn;
    }
    JSValue p = JS_EvalFunction(ctx, fn);
    if (JS_IsException(p)) {
        return p;
    }
    JSPromiseStateEnum s = run_loop(p);
    JSValue out;
    if (s == JS_PROMISE_REJECTED) {
        out = JS_Throw(ctx, JS_PromiseResult(ctx, p));
    } else if (s == JS_PROMISE_PENDING) {
        out = JS_ThrowInternalError(ctx, "the module's top-level await never settled");
    } else {
        JSValue global = JS_GetGlobalObject(ctx);
        out = JS_GetPropertyStr(ctx, global, "__capsule_m");
        JS_DeleteProperty(ctx, global, JS_NewAtom(ctx, "__capsule_m"), 0);
        JS_FreeValue(ctx, global);
    }
    JS_FreeValue(ctx, p);
    return out;
}

/* The bundle to run: $CAPSULE_JS_MAIN (as $CAPSULE_PYTHON_MAIN for the Python guest), else WASI
 * argv[1] when it is an absolute .js/.mjs/.cjs path, else /app/main.mjs. */
static char *
main_path(void)
{
    const char *env = getenv("CAPSULE_JS_MAIN");
    if (env && env[0] == '/') {
        return strdup(env);
    }
    char *out = NULL;
    __wasi_size_t argc = 0, size = 0;
    if (__wasi_args_sizes_get(&argc, &size) == 0 && argc >= 2) {
        char **argv = calloc(argc, sizeof *argv);
        char *buf = malloc(size);
        if (argv && buf && __wasi_args_get((uint8_t **)argv, (uint8_t *)buf) == 0) {
            const char *a = argv[1];
            size_t n = strlen(a);
            if (a[0] == '/' && ((n > 3 && !strcmp(a + n - 3, ".js")) ||
                                (n > 4 && (!strcmp(a + n - 4, ".mjs") ||
                                           !strcmp(a + n - 4, ".cjs"))))) {
                out = strdup(a);
            }
        }
        free(argv);
        free(buf);
    }
    return out ? out : strdup(DEFAULT_MAIN);
}

/* Calls runner.<fn>(arg) and runs the loop until its promise settles; returns the fulfilled
 * value or an exception. */
static JSValue
call_runner(const char *fn, JSValueConst arg)
{
    JSValue f = JS_GetPropertyStr(ctx, runner_ns, fn);
    JSValue p = JS_Call(ctx, f, JS_UNDEFINED, 1, &arg);
    JS_FreeValue(ctx, f);
    if (JS_IsException(p)) {
        return p;
    }
    JSPromiseStateEnum s = run_loop(p);
    JSValue out;
    if (!JS_IsObject(p) || JS_PromiseState(ctx, p) < 0) {
        return p; /* not a promise */
    }
    if (s == JS_PROMISE_FULFILLED) {
        out = JS_PromiseResult(ctx, p);
    } else if (s == JS_PROMISE_REJECTED) {
        out = JS_Throw(ctx, JS_PromiseResult(ctx, p));
    } else {
        out = JS_ThrowInternalError(ctx, "the runner never settled");
    }
    JS_FreeValue(ctx, p);
    return out;
}

/* Starts the runtime and evaluates the bundle. mode: "task" or "script". */
static void
init_with(const char *mode)
{
    if (init_state != 0) {
        return;
    }
    init_state = -1;
    if (start_runtime() < 0) {
        return;
    }
    runner_ns = import_module("capsule:runner");
    if (JS_IsException(runner_ns)) {
        dump_exception("runner: ");
        init_error = strdup("cannot load the runner (see stderr)");
        return;
    }
    char *path = main_path();
    JSValue arg = JS_NewObject(ctx);
    JS_SetPropertyStr(ctx, arg, "path", JS_NewString(ctx, path));
    JS_SetPropertyStr(ctx, arg, "mode", JS_NewString(ctx, mode));
    free(path);
    JSValue r = call_runner("prepare", arg);
    JS_FreeValue(ctx, arg);
    if (JS_IsException(r)) {
        dump_exception("prepare: ");
        init_error = strdup("the runner's prepare() failed (see stderr)");
        return;
    }
    JS_FreeValue(ctx, r);
    init_state = 1;
    capsule_resume_mark(); /* what a snapshot keeps ends here (once: init_with is idempotent) */
}

#ifndef CAPSULE_JS_COMMAND

static void
fail_result(const char *message)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "{\"error_type\":\"task_error\",\"exception\":\"InternalError\","
                     "\"message\":\"the JavaScript runtime failed: %s\"}",
                     message);
    /* The message is ours and holds no quotes or backslashes. */
    if (n > 0 && (size_t)n < sizeof buf) {
        capsule_result_write((const uint8_t *)buf, (int32_t)n);
    }
}

__attribute__((export_name("capsule_init"))) void capsule_init(void);
__attribute__((export_name("capsule_run"))) void capsule_run(void);

void
capsule_init(void)
{
    init_with("task");
}

void
capsule_run(void)
{
    capsule_init();
    if (init_state != 1) {
        fail_result(init_error ? init_error : "start-up failed");
        fflush(stdout);
        fflush(stderr);
        return;
    }
    capsule_resume();
    JSValue r = call_runner("serve", JS_UNDEFINED);
    if (JS_IsException(r)) {
        dump_exception("serve: ");
        fail_result("the runner's serve() failed (see stderr)");
    }
    JS_FreeValue(ctx, r);
    report_rejections();
    fflush(stdout);
    fflush(stderr);
}

#else /* CAPSULE_JS_COMMAND */

/* qjs.wasm SCRIPT.mjs [ARGS...]: evaluates a module with the same runtime and runs the event
 * loop until it is empty; if the module defined tasks and the host runs it as a task, serves
 * the request like capsule_run. Exit status 1 on an uncaught exception. */
int
main(int argc, char **argv)
{
    (void)argv;
    if (argc < 2) {
        fprintf(stderr, "usage: qjs.wasm SCRIPT.mjs [ARGS...]\n");
        return 2;
    }
    init_with("script");
    if (init_state != 1) {
        fprintf(stderr, "qjs: %s\n", init_error ? init_error : "start-up failed");
        return 1;
    }
    JSValue r = call_runner("serve", JS_UNDEFINED);
    int code = 0;
    if (JS_IsException(r)) {
        dump_exception("");
        code = 1;
    } else if (JS_IsNumber(r)) {
        JS_ToInt32(ctx, &code, r);
    }
    JS_FreeValue(ctx, r);
    run_loop(JS_UNDEFINED);
    if (report_rejections() > 0 || (saw_uncaught && code == 0)) {
        code = code ? code : 1; /* node exits 1 on an unhandled rejection too */
    }
    if (code == 0) { /* process.exitCode, as node honours it */
        JSValue g = JS_GetGlobalObject(ctx);
        JSValue p = JS_GetPropertyStr(ctx, g, "process");
        JSValue ec = JS_GetPropertyStr(ctx, p, "exitCode");
        if (JS_IsNumber(ec)) {
            JS_ToInt32(ctx, &code, ec);
        }
        JS_FreeValue(ctx, ec);
        JS_FreeValue(ctx, p);
        JS_FreeValue(ctx, g);
    }
    fflush(stdout);
    fflush(stderr);
    return code;
}

#endif
