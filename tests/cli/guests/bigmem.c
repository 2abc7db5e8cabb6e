/* SPDX-License-Identifier: Apache-2.0 */
/* A guest whose initial memory is about 300 MiB (a large zero-initialised array): under a
 * smaller ram the host refuses to instantiate it (memory_limit). */
#include <stdio.h>

static char big[300 << 20];

int
main(int argc, char **argv)
{
    big[argc] = 1;
    printf("touched %d\n", big[1] + (argv != 0));
    return 0;
}
