/* SPDX-License-Identifier: Apache-2.0 */
/* A guest that traps (unreachable) after printing: capsule reports the trap, exits 134. */
#include <stdio.h>

__attribute__((noinline)) static void
crash_here(void)
{
    __builtin_trap();
}

int
main(void)
{
    printf("before trap\n");
    fflush(stdout);
    crash_here();
    printf("after trap\n");
    return 0;
}
