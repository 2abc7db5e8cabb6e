/* SPDX-License-Identifier: Apache-2.0 */
/* The result envelope of a task: what a run returns to the CLI (--json), the SDKs and a parent
 * task, and what the journal stores. One JSON object of a fixed shape (extra fields allowed):
 *   {"success", "result", "error": {"error_type", "message", ...} | null,
 *    "execution": {"task_name", "duration_ms", "retries", "fuel_consumed", "ram_used"},
 *    "stdout", "stderr", "stdout_truncated", "stderr_truncated", "task_id"} */
#ifndef CAP_RUNTIME_RESULT_H
#define CAP_RUNTIME_RESULT_H

#include "capsule.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Captured output of one stream. */
typedef struct cap_output {
    char *data; // owned, may hold any bytes (made valid UTF-8 when written as JSON); NULL = none
    size_t len;
    bool truncated; // the task wrote more than the cap; data holds the first part
} cap_output;

typedef struct cap_task_result {
    bool success;
    json_t *result;            // owned; NULL stands for JSON null
    cap_error_type error_type; // CAP_ERRTYPE_NONE on success
    char *error_message;       // owned; NULL on success
    json_t *error_extra;       // owned object of extra error fields (exception, traceback), or NULL
    char *task_name;           // owned
    int64_t task_id;           // the journal's id of the run, 0 when not journaled
    uint64_t duration_ms;      // wall time of all attempts together
    uint32_t retries;          // attempts made after the first
    uint64_t fuel_consumed;    // of the last attempt
    uint64_t ram_used;         // peak bytes of the last attempt
    uint64_t startup_fuel;     // a guest runtime's uncharged start-up (not in the envelope)
    bool has_exit_code;
    int32_t exit_code;
    cap_output out, err;
    json_t *host_requests; // owned array of HTTP request records (execution.host_requests), or NULL
} cap_task_result;

/* Zeroes a result (a successful null result with no name). */
void cap_task_result_init(cap_task_result *r);
/* Frees what a result owns and zeroes it. */
void cap_task_result_clear(cap_task_result *r);
/* Sets the task name (copied). CAP_ERR_NOMEM. */
cap_status cap_task_result_set_name(cap_task_result *r, const char *name);

/* Marks the result failed with an error type and a printf-style message (replacing any earlier
 * result and error). Returns CAP_OK, or CAP_ERR_NOMEM (the type is still set). */
cap_status cap_task_result_fail(cap_task_result *r, cap_error_type type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Marks the result failed from an engine or runtime error record, with the one-line message of
 * its error type: "out of fuel after 100000000 units", "timeout after 30s", "memory limit of 64MB
 * exceeded", "exited with code 3", or err->msg. `policy` (may be NULL) supplies the limits named
 * in the messages. A trap CAP_TRAP_EXIT with code 0 marks the result successful (null result). */
cap_status cap_task_result_fail_from(cap_task_result *r, const cap_error_t *err,
                                     const cap_policy_t *policy);

/* Reads what a guest handed back through the ABI (capsule.result): {"result": <json>} makes the
 * result successful; {"error_type": ..., "message": "...", ...} makes it fail with task_error
 * (guests cannot claim host-detected types such as out_of_fuel; other fields such as
 * "exception" and "traceback" are kept in the envelope's error object). Anything else, or bytes
 * that are not JSON, is CAP_ERR_CONFIG with a message for a task_error; r is unchanged then. */
cap_status cap_task_result_from_guest(cap_task_result *r, const char *json, size_t len,
                                      cap_error_t *err);

/* Takes ownership of captured output (data allocated with cap_alloc). */
void cap_task_result_set_output(cap_task_result *r, int stream, char *data, size_t len,
                                bool truncated);

/* The envelope as a jansson object (new reference), or NULL when out of memory. */
json_t *cap_task_result_to_jansson(const cap_task_result *r);
/* The envelope as compact JSON text, allocated with cap_alloc (cap_string_free), or NULL. */
char *cap_task_result_to_json(const cap_task_result *r);

/* Makes a jansson string from arbitrary bytes, replacing invalid UTF-8 by U+FFFD. */
json_t *cap_json_string_lossy(const char *data, size_t len);

#endif
