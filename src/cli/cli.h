/* SPDX-License-Identifier: Apache-2.0 */
/* The capsule executable's commands. Each takes the arguments after its own name and returns
 * the process exit code. */
#ifndef CAP_CLI_H
#define CAP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of the CLI itself (a guest's own exit code passes through unchanged). */
#define CLI_EXIT_USAGE    2   // bad command line
#define CLI_EXIT_CANNOT   126 // the module could not be loaded, validated, linked or mounted
#define CLI_EXIT_NOTFOUND 127 // the module file does not exist
#define CLI_EXIT_TRAP     134 // the guest trapped (also out of fuel, timeout): 128 + SIGABRT

int cli_run(int argc, char **argv, const char *cmd_name);
void cli_run_help(FILE *out);

/* "64MB", "512KB", "2GB", "1024" (bytes), 1024-based. false on junk or overflow. */
bool cli_parse_size(const char *s, uint64_t *out);
/* "500ms", "30s", "5m", "1h", "250us" (a unit is required). false on junk or overflow. */
bool cli_parse_duration(const char *s, uint64_t *out_ns);

#endif
