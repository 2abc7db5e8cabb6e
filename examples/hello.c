/* SPDX-License-Identifier: Apache-2.0 */
/* The smallest useful WASI command: greets, echoes its arguments and lists its environment's
 * size, so `capsule run` can be seen passing argv and capturing stdout. */
#include <stdio.h>

int
main(int argc, char **argv)
{
    printf("Hello from a Capsule sandbox!\n");
    for (int i = 1; i < argc; i++) {
        printf("arg %d: %s\n", i, argv[i]);
    }
    return 0;
}
