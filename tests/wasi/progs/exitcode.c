/* SPDX-License-Identifier: Apache-2.0 */
/* proc_exit with the code given as argv[1], after output that must not be lost. */
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
    printf("exiting with %s\n", argc > 1 ? argv[1] : "0");
    exit(argc > 1 ? atoi(argv[1]) : 0);
}
