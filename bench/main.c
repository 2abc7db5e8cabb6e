/* SPDX-License-Identifier: Apache-2.0 */
/* Driver for the native and WASI builds of a benchmark program: runs run() once to warm up,
 * then ITERS times (argv[1], default 5), printing each run's time and the checksum in the same
 * format capsule-bench and bench/node_bench.mjs use ("ns=..." lines, then "result=..."). */
#define _POSIX_C_SOURCE 200809L // clock_gettime under -std=c11
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 5;
    uint32_t result = run();
    for (int i = 0; i < iters; i++) {
        uint64_t t0 = now_ns();
        uint32_t r = run();
        uint64_t t1 = now_ns();
        if (r != result) {
            fprintf(stderr, "checksum changed between runs: %u then %u\n", result, r);
            return 1;
        }
        printf("ns=%llu\n", (unsigned long long)(t1 - t0));
    }
    printf("result=%u\n", result);
    return 0;
}
