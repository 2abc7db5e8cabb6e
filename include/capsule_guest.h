/* SPDX-License-Identifier: Apache-2.0 */
/* capsule_guest.h: the guest side of Capsule's task ABI (import module "capsule"), for C and
 * C++ guests compiled to wasm32-wasi. Any language can use the same imports; docs/guest-abi.md
 * is the specification, this header its C binding.
 *
 * Every function exchanges JSON (UTF-8) or bytes through (pointer, length) pairs in the guest's
 * memory 0. The host bounds-checks every pair and never writes outside [ptr, ptr + cap).
 * Returns: >= 0 means success (a length or a handle), < 0 is one of CAPSULE_E* below.
 * Buffers follow the snprintf rule: a read returns the full length n; the bytes were copied only
 * when n <= cap, so a guest calls once with a guess (or cap 0), then again with n bytes. */
#ifndef CAPSULE_GUEST_H
#define CAPSULE_GUEST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAPSULE_ABI_VERSION 1

/* Error codes (negative return values). Stable: append only. */
#define CAPSULE_EFAULT   (-1) /* a (pointer, length) pair is not inside the guest's memory */
#define CAPSULE_EINVAL   (-2) /* malformed JSON or an invalid argument (the message is logged) */
#define CAPSULE_EBADF    (-3) /* no such open handle */
#define CAPSULE_ELIMIT   (-4) /* a per-task limit was reached (sizes, handles, log lines) */
#define CAPSULE_ENOMEM   (-5) /* the host could not allocate within the task's ram */
#define CAPSULE_ETIMEOUT (-6) /* the task's deadline passed during the call */
#define CAPSULE_ENOSYS   (-7) /* not provided by this host (a newer ABI function) */

/* Log levels for capsule_log. */
#define CAPSULE_LOG_DEBUG 0
#define CAPSULE_LOG_INFO  1
#define CAPSULE_LOG_WARN  2
#define CAPSULE_LOG_ERROR 3

#if defined(__wasm__)
#define CAPSULE_IMPORT(name) __attribute__((import_module("capsule"), import_name(name)))
#else
#define CAPSULE_IMPORT(name) /* host builds see plain declarations (for tests and mocks) */
#endif

/** The ABI version the host implements (1). */
CAPSULE_IMPORT("abi_version") int32_t capsule_abi_version(void);

/** Copies the task request, {"task_name": "...", "args": [...], "kwargs": {...},
 * "task_id": N}, into buf when its length n <= cap. Returns n, or CAPSULE_EFAULT. */
CAPSULE_IMPORT("request_read") int32_t capsule_request_read(uint8_t *buf, int32_t cap);

/** Sets the task's result: {"result": <any JSON>} on success, or
 * {"error_type": "task_error", "message": "...", ...extra fields such as "exception" and
 * "traceback"} on failure. The JSON is checked now: CAPSULE_EINVAL leaves the earlier result in
 * place. The last successful call before the guest returns wins. CAPSULE_ELIMIT above the
 * result size limit; CAPSULE_EFAULT. Returns 0. */
CAPSULE_IMPORT("result_write") int32_t capsule_result_write(const uint8_t *json, int32_t len);

/** Runs a sub-task in a fresh instance of the same module: req is
 * {"task_name": "...", "args": [...], "kwargs": {...}, "policy": {...}} (policy optional, in the
 * form of the @task options). Blocks until the sub-task ends (ABI 1 runs sub-tasks
 * synchronously) and returns a handle (> 0) whose response is the sub-task's result envelope,
 * including refusals: a policy beyond the caller's grants gives an envelope with error_type
 * "denied", not an error code. Errors: CAPSULE_EFAULT, CAPSULE_EINVAL (not a JSON object, no
 * task_name), CAPSULE_ELIMIT (too many open handles), CAPSULE_ENOMEM, CAPSULE_ETIMEOUT. */
CAPSULE_IMPORT("task_schedule") int32_t capsule_task_schedule(const uint8_t *req, int32_t len);

/** Copies the response of a handle (for a sub-task: its envelope JSON) into buf when its length
 * n <= cap. Returns n, CAPSULE_EBADF or CAPSULE_EFAULT. May be called any number of times. */
CAPSULE_IMPORT("response_read")
int32_t capsule_response_read(int32_t handle, uint8_t *buf, int32_t cap);

/** Releases a handle and its response. Returns 0 or CAPSULE_EBADF. */
CAPSULE_IMPORT("response_close") int32_t capsule_response_close(int32_t handle);

/** Writes a log line (UTF-8; invalid bytes are replaced) to the journal of this run, at a
 * CAPSULE_LOG_* level. Lines longer than 4096 bytes are cut. Returns 0, CAPSULE_EFAULT,
 * CAPSULE_EINVAL (bad level) or CAPSULE_ELIMIT (the task's log quota is used up). */
CAPSULE_IMPORT("log") int32_t capsule_log(int32_t level, const uint8_t *msg, int32_t len);

/** Makes an HTTP request through the host (the guest has no sockets). req is
 * {"method": "GET", "url": "https://api.example.com/x", "headers": {"accept": "text/plain"},
 *  "timeout_ms": 10000, "max_redirects": 10, "max_response_bytes": 1048576} (only url is
 * required); the request body, any bytes, is (body, body_len) (body_len 0: none). The host checks
 * every hop against the task's allowed_hosts and refuses private addresses. Returns a handle
 * (> 0) whose response_read gives the head, {"status": 200, "headers": [["content-type",
 * "text/plain"], ...], "url": "...", "redirects": 0, "http_version": "1.1", "body_size": N}, or
 * {"error": {"error_type": "denied" | "invalid_url" | "network_error" | "timeout" |
 * "too_large", "message": "..."}}; capsule_http_body_read gives the body. Errors:
 * CAPSULE_EFAULT, CAPSULE_EINVAL (malformed request JSON, a header the host sets such as Host),
 * CAPSULE_ELIMIT (too many open handles or requests), CAPSULE_ENOMEM, CAPSULE_ETIMEOUT (the
 * task's deadline passed). Close the handle with capsule_response_close. */
CAPSULE_IMPORT("http_request")
int32_t capsule_http_request(const uint8_t *req, int32_t req_len, const uint8_t *body,
                             int32_t body_len);

/** Copies the response body of an HTTP handle into buf when its length n <= cap. Returns n,
 * CAPSULE_EBADF (not an open HTTP handle) or CAPSULE_EFAULT. */
CAPSULE_IMPORT("http_body_read")
int32_t capsule_http_body_read(int32_t handle, uint8_t *buf, int32_t cap);

#ifdef CAPSULE_GUEST_HELPERS
#include <stdlib.h>
#include <string.h>

/* Reads the task request into a NUL-terminated malloc'd string (free it), or NULL. */
static inline char *
capsule_request(void)
{
    int32_t n = capsule_request_read(NULL, 0);
    if (n < 0) {
        return NULL;
    }
    char *buf = (char *)malloc((size_t)n + 1);
    if (!buf || capsule_request_read((uint8_t *)buf, n) != n) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Sets a NUL-terminated JSON result document. */
static inline int32_t
capsule_result(const char *json)
{
    return capsule_result_write((const uint8_t *)json, (int32_t)strlen(json));
}

/* Runs a sub-task and returns its envelope as a NUL-terminated malloc'd string (free it), or
 * NULL with *out_err set to the CAPSULE_E* code. */
static inline char *
capsule_call(const char *req_json, int32_t *out_err)
{
    int32_t h = capsule_task_schedule((const uint8_t *)req_json, (int32_t)strlen(req_json));
    if (h < 0) {
        *out_err = h;
        return NULL;
    }
    int32_t n = capsule_response_read(h, NULL, 0);
    char *buf = n >= 0 ? (char *)malloc((size_t)n + 1) : NULL;
    if (!buf || capsule_response_read(h, (uint8_t *)buf, n) != n) {
        *out_err = n < 0 ? n : CAPSULE_ENOMEM;
        free(buf);
        capsule_response_close(h);
        return NULL;
    }
    buf[n] = '\0';
    capsule_response_close(h);
    *out_err = 0;
    return buf;
}

/* Makes an HTTP request (req_json as for capsule_http_request). On success returns the head
 * JSON as a NUL-terminated malloc'd string and the body in *out_body (malloc'd, NUL-terminated
 * for convenience, *out_body_len bytes); free both. On an ABI error returns NULL with *out_err
 * set. A refused or failed request is not an ABI error: its head holds "error". */
static inline char *
capsule_http(const char *req_json, const void *body, int32_t body_len, uint8_t **out_body,
             int32_t *out_body_len, int32_t *out_err)
{
    *out_body = NULL;
    *out_body_len = 0;
    int32_t h = capsule_http_request((const uint8_t *)req_json, (int32_t)strlen(req_json),
                                     (const uint8_t *)body, body_len);
    if (h < 0) {
        *out_err = h;
        return NULL;
    }
    int32_t n = capsule_response_read(h, NULL, 0);
    int32_t bn = capsule_http_body_read(h, NULL, 0);
    char *head = n >= 0 ? (char *)malloc((size_t)n + 1) : NULL;
    uint8_t *b = bn >= 0 ? (uint8_t *)malloc((size_t)bn + 1) : NULL;
    if (!head || !b || capsule_response_read(h, (uint8_t *)head, n) != n ||
        capsule_http_body_read(h, b, bn) != bn) {
        *out_err = n < 0 ? n : bn < 0 ? bn : CAPSULE_ENOMEM;
        free(head);
        free(b);
        capsule_response_close(h);
        return NULL;
    }
    head[n] = '\0';
    b[bn] = 0;
    capsule_response_close(h);
    *out_body = b;
    *out_body_len = bn;
    *out_err = 0;
    return head;
}

/* Logs a NUL-terminated message at INFO level. */
static inline int32_t
capsule_log_info(const char *msg)
{
    return capsule_log(CAPSULE_LOG_INFO, (const uint8_t *)msg, (int32_t)strlen(msg));
}
#endif /* CAPSULE_GUEST_HELPERS */

#if defined(CAPSULE_GUEST_RESUME) && defined(__wasi__)
/* For guests on wasi-libc that the host may restore from a snapshot (docs/guest-abi.md,
 * "Snapshots"): wasi-libc reads the preopened directories and the environment once, at start-up,
 * into linear memory, so a restored instance still holds the snapshot's. Call
 * capsule_resume_mark() at the end of start-up (what the snapshot keeps) and capsule_resume()
 * at the start of every task entry: it registers the preopens added since the mark (the task's
 * grants come after the runtime's own mounts) and re-reads the environment. Harmless when the
 * instance was not restored. */
#include <stdlib.h>
#include <wasi/api.h>

extern int __wasilibc_register_preopened_fd(int fd, const char *prefix);
extern void __wasilibc_deinitialize_environ(void);
extern void __wasilibc_initialize_environ(void);

static int capsule_resume_next_fd = -1;

/* Registers (when `add`) the preopened directories from fd `from` on; returns the first fd
 * that is not one. */
static inline int
capsule_resume_scan(int from, int add)
{
    int fd = from;
    for (;; fd++) {
        __wasi_prestat_t ps;
        if (__wasi_fd_prestat_get((__wasi_fd_t)fd, &ps) != __WASI_ERRNO_SUCCESS) {
            return fd;
        }
        if (!add || ps.tag != __WASI_PREOPENTYPE_DIR) {
            continue;
        }
        size_t n = ps.u.dir.pr_name_len;
        char *name = (char *)malloc(n + 1);
        if (!name) {
            return fd;
        }
        if (__wasi_fd_prestat_dir_name((__wasi_fd_t)fd, (uint8_t *)name, n) ==
            __WASI_ERRNO_SUCCESS) {
            name[n] = '\0';
            __wasilibc_register_preopened_fd(fd, name); /* copies the name */
        }
        free(name);
    }
}

static inline void
capsule_resume_mark(void)
{
    capsule_resume_next_fd = capsule_resume_scan(3, 0);
}

static inline void
capsule_resume(void)
{
    if (capsule_resume_next_fd >= 0) {
        capsule_resume_next_fd = capsule_resume_scan(capsule_resume_next_fd, 1);
    }
    __wasilibc_deinitialize_environ();
    __wasilibc_initialize_environ();
}
#endif /* CAPSULE_GUEST_RESUME */

#ifdef __cplusplus
}
#endif
#endif /* CAPSULE_GUEST_H */
