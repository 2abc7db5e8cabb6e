/* SPDX-License-Identifier: Apache-2.0 */
/* The lifecycle journal: every task run (sub-tasks included) recorded durably in SQLite at
 * <project>/.capsule/journal.db, WAL mode, safe for several processes at once. Writers are the
 * runtime (begin, attempt, finish, log); readers are `capsule ps` and `capsule logs`. */
#ifndef CAP_RUNTIME_JOURNAL_H
#define CAP_RUNTIME_JOURNAL_H

#include "capsule.h"
#include "runtime/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Run statuses: created -> running -> completed | failed; `lost` when the process recording a
 * run died before finishing it (found by the repair on open). */
typedef enum cap_run_status {
    CAP_RUN_CREATED,
    CAP_RUN_RUNNING,
    CAP_RUN_COMPLETED,
    CAP_RUN_FAILED,
    CAP_RUN_LOST,
} cap_run_status;

const char *cap_run_status_name(cap_run_status s);
bool cap_run_status_parse(const char *name, cap_run_status *out);

/* One row, as read back. Strings are owned (cap_journal_run_clear); NULL when not recorded. */
typedef struct cap_journal_run {
    int64_t id;
    int64_t parent_id; // 0 for a top-level run
    int64_t root_id;   // the top-level run of the tree (its own id for a top-level run)
    char *task_name;
    char *file;        // what was run (module or source file), may be NULL
    char *policy_json; // the effective policy
    char *args_json;   // the task request's args, may be NULL
    cap_run_status status;
    int64_t created_at, started_at, finished_at; // ms since the Unix epoch; 0 = not yet
    uint32_t attempts;
    uint64_t fuel_consumed, ram_used, duration_ms;
    char *error_type, *error_message;
    char *result_json; // the result value (not the whole envelope)
    cap_output out, err;
    int64_t pid; // the process that recorded the run
} cap_journal_run;

void cap_journal_run_clear(cap_journal_run *r);

/* Opens (creating) a journal database at an explicit path, without creating directories. The
 * public cap_journal_open(project_dir) creates <project_dir>/.capsule/ and calls this. Repairs
 * on open; *out_repaired (may be NULL) receives the number of runs marked lost. */
cap_status cap_journal_open_path(const char *db_path, cap_journal_t **out, unsigned *out_repaired,
                                 cap_error_t *err);
/* Marks `created`/`running` runs of dead processes on this host as `lost`. */
cap_status cap_journal_repair(cap_journal_t *j, unsigned *out_count, cap_error_t *err);

/* Records a new run (status created) and returns its id. parent_id 0 = top-level.
 * policy_json and args_json are stored as given (may be NULL). */
cap_status cap_journal_begin(cap_journal_t *j, int64_t parent_id, const char *task_name,
                             const char *file, const char *policy_json, const char *args_json,
                             int64_t *out_id, cap_error_t *err);
/* Marks attempt number `attempt` (1-based) as started: status running; started_at is set on the
 * first attempt. */
cap_status cap_journal_attempt(cap_journal_t *j, int64_t id, uint32_t attempt, cap_error_t *err);
/* Records the outcome from the envelope: completed or failed, finished_at, fuel, ram, duration,
 * attempts (retries + 1), error, result value and captured output. */
cap_status cap_journal_finish(cap_journal_t *j, int64_t id, const cap_task_result *r,
                              cap_error_t *err);
/* Appends a log line (capsule.log from the guest, lifecycle notes from the host). */
cap_status cap_journal_log(cap_journal_t *j, int64_t id, const char *level, const char *message,
                           cap_error_t *err);

/* Reads one run. CAP_ERR_CONFIG "no run with id N" when there is none. */
cap_status cap_journal_get(cap_journal_t *j, int64_t id, cap_journal_run *out, cap_error_t *err);
/* Lists runs newest first: top-level ones only unless `all`, filtered by task name and status
 * (NULL = any), at most `limit` (0 = 20). *out is an array of *out_n runs (free each with
 * cap_journal_run_clear, then the array with cap_free). */
cap_status cap_journal_list(cap_journal_t *j, const char *task_name, const char *status,
                            uint32_t limit, bool all, cap_journal_run **out, size_t *out_n,
                            cap_error_t *err);
/* The direct children of a run, oldest first (same ownership as cap_journal_list). */
cap_status cap_journal_children(cap_journal_t *j, int64_t id, cap_journal_run **out, size_t *out_n,
                                cap_error_t *err);

#endif
