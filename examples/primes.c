/* SPDX-License-Identifier: Apache-2.0 */
/* A WASI command that does some real work: counts the primes below N (argv[1], default
 * 1000000) with a sieve in a heap buffer and prints the count and the largest one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    if (n < 2 || n > 100000000) {
        fprintf(stderr, "usage: primes [N], 2 <= N <= 100000000\n");
        return 2;
    }
    unsigned char *composite = calloc((size_t)n, 1);
    if (!composite) {
        fprintf(stderr, "primes: out of memory\n");
        return 1;
    }
    long count = 0, last = 0;
    for (long i = 2; i < n; i++) {
        if (composite[i]) {
            continue;
        }
        count++;
        last = i;
        /* i * i would overflow a 32-bit long (wasm32) for large i: test i <= n / i first. */
        if (i <= (n - 1) / i) {
            for (long j = i * i; j < n; j += i) {
                composite[j] = 1;
            }
        }
    }
    free(composite);
    printf("%ld primes below %ld; the largest is %ld\n", count, n, last);
    return 0;
}
