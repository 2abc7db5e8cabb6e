/* SPDX-License-Identifier: Apache-2.0 */
/* The task commands of the capsule executable: `run` (a task through the task runner), `build`, `ps`,
 * `logs` and `worker`. Each takes the arguments after its own name and returns the exit code:
 * 0 success, 1 the task failed, 2 a usage or configuration error. */
#ifndef CAP_CLI_TASK_H
#define CAP_CLI_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "capsule.h"

#define CLI_TASK_OK     0
#define CLI_TASK_FAILED 1
#define CLI_TASK_USAGE  2

int cli_task_run(int argc, char **argv);
int cli_ps(int argc, char **argv);
int cli_logs(int argc, char **argv);
int cli_worker(int argc, char **argv);
int cli_build(int argc, char **argv);
void cli_task_run_help(FILE *out);

/* Policy flags shared by `run` and `worker`: --compute/--fuel, --ram/--max-memory, --timeout,
 * --max-retries, --allow-host, --env NAME[=VALUE], --mount. */
typedef struct cli_policy_flags {
    cap_policy_t *policy; // the task's own options (explicit fields)
    char **env_names;     // explicit --env NAME=VALUE values
    char **env_values;
    size_t nenv;
} cli_policy_flags;

/* Returns true when `name` is a policy flag (taking a value). */
bool cli_is_policy_flag(const char *name);
/* Applies one policy flag. CAP_ERR_CONFIG with a message naming the flag and value. */
cap_status cli_policy_flag(cli_policy_flags *f, const char *name, const char *value,
                           cap_error_t *err);
void cli_policy_flags_free(cli_policy_flags *f);

#endif
