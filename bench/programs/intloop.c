/* SPDX-License-Identifier: Apache-2.0 */
/* Integer loops: Collatz sequence lengths, Euclid's gcd and a multiply-xorshift mix, the kind of
 * tight arithmetic, branchy code an interpreter's dispatch dominates. */
#include "../bench.h"

static uint32_t
collatz_len(uint64_t n)
{
    uint32_t steps = 0;
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n >> 1;
        steps++;
    }
    return steps;
}

static uint32_t
gcd(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

uint32_t
run(void)
{
    uint32_t sum = 0, best = 0;
    for (uint32_t n = 1; n < 60000; n++) {
        uint32_t len = collatz_len(n);
        sum += len;
        if (len > best) {
            best = len;
        }
    }
    uint32_t g = 0;
    for (uint32_t i = 1; i < 400; i++) {
        for (uint32_t j = 1; j < 200; j++) {
            g += gcd(i * 7919u, j * 104729u);
        }
    }
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (uint32_t i = 0; i < 300000; i++) {
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        h += i;
    }
    return sum ^ (best << 20) ^ g ^ (uint32_t)(h >> 32) ^ (uint32_t)h;
}
