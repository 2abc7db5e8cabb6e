/* SPDX-License-Identifier: Apache-2.0 */
/* Matrix work in double precision: a blocked-free triple-loop multiply, then a few rounds of
 * Gauss-Seidel relaxation: f64 loads, stores, multiplies and adds in nested loops. */
#include "../bench.h"

#define N 120

static double a[N][N], b[N][N], c[N][N];

uint32_t
run(void)
{
    uint32_t seed = 0xC0FFEEu;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            a[i][j] = (double)(bench_rand(&seed) % 1000) / 500.0 - 1.0;
            b[i][j] = (double)(bench_rand(&seed) % 1000) / 250.0 - 2.0;
        }
    }
    for (int rep = 0; rep < 8; rep++) {
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int k = 0; k < N; k++) {
                    s += a[i][k] * b[k][j];
                }
                c[i][j] = s;
            }
        }
        /* Feed the product back, scaled, so every repetition depends on the last. */
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++) {
                a[i][j] = c[i][j] * (1.0 / 12.0);
            }
        }
    }
    for (int it = 0; it < 40; it++) {
        for (int i = 1; i < N - 1; i++) {
            for (int j = 1; j < N - 1; j++) {
                c[i][j] = 0.25 * (c[i - 1][j] + c[i + 1][j] + c[i][j - 1] + c[i][j + 1]);
            }
        }
    }
    double sum = 0.0;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            sum += c[i][j] * (double)((i ^ j) & 7);
        }
    }
    int64_t fixed = (int64_t)(sum * 1048576.0);
    return (uint32_t)fixed ^ (uint32_t)((uint64_t)fixed >> 32);
}
