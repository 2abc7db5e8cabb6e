/* SPDX-License-Identifier: Apache-2.0 */
/* Start-up: almost no work, so the time measured is loading, instantiating and calling. */
#include "../bench.h"

uint32_t
run(void)
{
    uint32_t s = 0;
    for (uint32_t i = 1; i <= 10; i++) {
        s += i * i;
    }
    return s;
}
