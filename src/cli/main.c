/* SPDX-License-Identifier: Apache-2.0 */
/* capsule: the command-line entry point. Parses the command name and hands over; every real
 * action is a call into the library (include/capsule.h). */
#include <stdio.h>
#include <string.h>

#include "capsule.h"
#include "cli/cli.h"
#include "cli/cli_task.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "capsule %s: a sandboxed WebAssembly runtime\n\n"
            "Usage:\n"
            "  capsule run [OPTIONS] [FILE.wasm] [ARGS...] run a task (capsule run --help)\n"
            "  capsule build [--force] FILE                prepare a .py/.ts/.js entry: save its\n"
            "                                             started runtime (capsule build --help)\n"
            "  capsule exec [OPTIONS] FILE.wasm [ARGS...]  run a WASI command as is: its exit\n"
            "                                             code becomes capsule's\n"
            "  capsule ps [--json] [--all] [-n N]          list recent runs (capsule ps --help)\n"
            "  capsule logs [--json] ID                    show one run\n"
            "  capsule worker [OPTIONS]                    serve JSON-line task requests\n"
            "  capsule --help | --version\n\n",
            CAP_VERSION_STRING);
    cli_run_help(out);
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("capsule %s\n", CAP_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) {
        return cli_task_run(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "build") == 0) {
        return cli_build(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "exec") == 0) {
        return cli_run(argc - 2, argv + 2, cmd);
    }
    if (strcmp(cmd, "ps") == 0) {
        return cli_ps(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "logs") == 0) {
        return cli_logs(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "worker") == 0) {
        return cli_worker(argc - 2, argv + 2);
    }
    fprintf(stderr, "capsule: unknown command '%s' (try 'capsule --help')\n", cmd);
    return CLI_EXIT_USAGE;
}
