/* SPDX-License-Identifier: Apache-2.0 */
/* The guest side of HTTP: the `capsule.http_request` and `capsule.http_body_read` imports
 * (docs/guest-abi.md section 3), per-task request records for the envelope's
 * execution.host_requests, and the hooks host_abi.c and task.c call. */
#ifndef CAP_RUNTIME_HTTP_ABI_H
#define CAP_RUNTIME_HTTP_ABI_H

#include "capsule.h"
#include "runtime/task.h"

typedef struct cap_http_state cap_http_state;

/* http_request(req_ptr, req_len, body_ptr, body_len) -> handle | error. */
cap_status cap_http_abi_request(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results,
                                void *env);
/* http_body_read(handle, buf, cap) -> body length | error (snprintf rule). */
cap_status cap_http_abi_body_read(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results,
                                  void *env);

/* Releases the body held for handle slot `slot` (0-based), if any: response_close calls it. */
void cap_http_abi_close(cap_task_ctx *ctx, unsigned slot);
/* Releases every body of the attempt (cap_host_abi_release calls it); the records stay. */
void cap_http_abi_release(cap_task_ctx *ctx);
/* At the end of a task (all attempts): moves the request records into r->host_requests (left
 * NULL when the task made no request) and frees the task's HTTP state. */
void cap_http_abi_finish(cap_task_ctx *ctx, cap_task_result *r);

#endif
