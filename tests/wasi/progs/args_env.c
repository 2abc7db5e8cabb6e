/* SPDX-License-Identifier: Apache-2.0 */
/* Arguments and environment: argv as given after FILE, only granted variables visible. */
#include "check.h"

extern char **environ;

int
main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++) {
        printf("argv[%d]=%s\n", i, argv[i]);
    }
    int n = 0;
    for (char **e = environ; *e; e++) {
        printf("env: %s\n", *e);
        n++;
    }
    printf("envc=%d\n", n);
    CHECK(getenv("CAPSULE_TEST_HOST_ONLY") == NULL); // set on the host, never granted
    CHECK(getenv("PATH") == NULL);
    CHECK(getenv("HOME") == NULL);
    return check_done("args_env");
}
