/* SPDX-License-Identifier: Apache-2.0 */
/* `capsule logs ID`: one run's details, captured output and log lines from the journal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capsule.h"
#include "cli/cli_task.h"

static void
logs_help(FILE *out)
{
    fprintf(out, "Usage: capsule logs [--json] ID\n"
                 "Shows one run recorded in .capsule/journal.db: its policy, status timestamps,\n"
                 "attempts, error or result, captured stdout and stderr, log lines and\n"
                 "sub-tasks (ids as listed by 'capsule ps').\n"
                 "  --json  one JSON object instead of text\n");
}

int
cli_logs(int argc, char **argv)
{
    unsigned flags = 0;
    const char *id_text = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            flags |= CAP_PS_JSON;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            logs_help(stdout);
            return CLI_TASK_OK;
        } else if (!id_text && argv[i][0] != '-') {
            id_text = argv[i];
        } else {
            fprintf(stderr, "capsule logs: unexpected argument '%s' (try 'capsule logs --help')\n",
                    argv[i]);
            return CLI_TASK_USAGE;
        }
    }
    if (!id_text) {
        fprintf(stderr, "capsule logs: missing ID (try 'capsule ps' to list runs)\n");
        return CLI_TASK_USAGE;
    }
    char *end;
    errno = 0;
    long long id = strtoll(id_text, &end, 10);
    if (errno || *end || id <= 0) {
        fprintf(stderr, "capsule logs: '%s' is not a run id (a positive number)\n", id_text);
        return CLI_TASK_USAGE;
    }
    cap_error_t err;
    cap_journal_t *j = NULL;
    char *out = NULL;
    if (cap_journal_open(".", &j, &err) != CAP_OK) {
        fprintf(stderr, "capsule logs: %s\n", err.msg);
        return CLI_TASK_USAGE;
    }
    cap_status st = cap_journal_logs(j, (int64_t)id, flags, &out, &err);
    cap_journal_close(j);
    if (st != CAP_OK) {
        fprintf(stderr, "capsule logs: %s\n", err.msg);
        return st == CAP_ERR_CONFIG ? CLI_TASK_FAILED : CLI_TASK_USAGE;
    }
    fputs(out, stdout);
    if (out[0] && out[strlen(out) - 1] != '\n') {
        fputc('\n', stdout);
    }
    cap_string_free(out);
    return CLI_TASK_OK;
}
