/* SPDX-License-Identifier: Apache-2.0 */
/* `capsule ps`: the recent runs of the project's journal, sub-tasks as a tree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capsule.h"
#include "cli/cli_task.h"

static void
ps_help(FILE *out)
{
    fprintf(out, "Usage: capsule ps [--json] [--all] [--task NAME] [--status STATUS] [-n N]\n"
                 "Lists the most recent runs recorded in .capsule/journal.db, newest first, with\n"
                 "their sub-tasks as a tree.\n"
                 "  --json           a JSON array of runs instead of a table\n"
                 "  --all            list sub-tasks as rows of their own (flat)\n"
                 "  --task NAME      only runs of this task\n"
                 "  --status STATUS  created, running, completed, failed or lost\n"
                 "  -n N             at most N runs (default 20)\n");
}

int
cli_ps(int argc, char **argv)
{
    unsigned flags = 0;
    const char *task = NULL, *status = NULL;
    unsigned long limit = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            flags |= CAP_PS_JSON;
        } else if (strcmp(a, "--all") == 0 || strcmp(a, "--flat") == 0) {
            flags |= CAP_PS_FLAT;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            ps_help(stdout);
            return CLI_TASK_OK;
        } else if ((strcmp(a, "--task") == 0 || strcmp(a, "--status") == 0 ||
                    strcmp(a, "-n") == 0) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 't') {
                task = v;
            } else if (a[2] == 's') {
                status = v;
            } else {
                char *end;
                errno = 0;
                limit = strtoul(v, &end, 10);
                if (errno || *end || v[0] < '0' || v[0] > '9' || limit > 100000) {
                    fprintf(stderr,
                            "capsule ps: -n: '%s' is not a count (try 'capsule ps "
                            "--help')\n",
                            v);
                    return CLI_TASK_USAGE;
                }
            }
        } else {
            fprintf(stderr,
                    "capsule ps: unknown or incomplete option '%s' (try 'capsule ps "
                    "--help')\n",
                    a);
            return CLI_TASK_USAGE;
        }
    }
    cap_error_t err;
    cap_journal_t *j = NULL;
    char *out = NULL;
    if (cap_journal_open(".", &j, &err) != CAP_OK) {
        fprintf(stderr, "capsule ps: %s\n", err.msg);
        return CLI_TASK_USAGE;
    }
    cap_status st = cap_journal_ps(j, task, status, (uint32_t)limit, flags, &out, &err);
    cap_journal_close(j);
    if (st != CAP_OK) {
        fprintf(stderr, "capsule ps: %s\n", err.msg);
        return CLI_TASK_USAGE;
    }
    fputs(out, stdout);
    if (out[0] && out[strlen(out) - 1] != '\n') {
        fputc('\n', stdout);
    }
    cap_string_free(out);
    return CLI_TASK_OK;
}
