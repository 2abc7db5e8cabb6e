/* SPDX-License-Identifier: Apache-2.0 */
/* Floating-point physics: a small n-body simulation (f64 with sqrt) and a Mandelbrot set
 * escape-time count (f64 multiply-add chains with data-dependent loop exits). */
#include "../bench.h"

#define BODIES 5

typedef struct body {
    double x, y, z, vx, vy, vz, mass;
} body;

static void
advance(body *bs, double dt)
{
    for (int i = 0; i < BODIES; i++) {
        for (int j = i + 1; j < BODIES; j++) {
            double dx = bs[i].x - bs[j].x, dy = bs[i].y - bs[j].y, dz = bs[i].z - bs[j].z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * __builtin_sqrt(d2));
            bs[i].vx -= dx * bs[j].mass * mag;
            bs[i].vy -= dy * bs[j].mass * mag;
            bs[i].vz -= dz * bs[j].mass * mag;
            bs[j].vx += dx * bs[i].mass * mag;
            bs[j].vy += dy * bs[i].mass * mag;
            bs[j].vz += dz * bs[i].mass * mag;
        }
    }
    for (int i = 0; i < BODIES; i++) {
        bs[i].x += dt * bs[i].vx;
        bs[i].y += dt * bs[i].vy;
        bs[i].z += dt * bs[i].vz;
    }
}

static double
energy(const body *bs)
{
    double e = 0.0;
    for (int i = 0; i < BODIES; i++) {
        e += 0.5 * bs[i].mass * (bs[i].vx * bs[i].vx + bs[i].vy * bs[i].vy + bs[i].vz * bs[i].vz);
        for (int j = i + 1; j < BODIES; j++) {
            double dx = bs[i].x - bs[j].x, dy = bs[i].y - bs[j].y, dz = bs[i].z - bs[j].z;
            e -= bs[i].mass * bs[j].mass / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static uint32_t
mandelbrot(int w, int h, int max_iter)
{
    uint32_t total = 0;
    for (int py = 0; py < h; py++) {
        double ci = (double)py * 2.0 / h - 1.0;
        for (int px = 0; px < w; px++) {
            double cr = (double)px * 3.0 / w - 2.0;
            double zr = 0.0, zi = 0.0;
            int n = 0;
            while (n < max_iter && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                n++;
            }
            total += (uint32_t)n;
        }
    }
    return total;
}

uint32_t
run(void)
{
    body bs[BODIES] = {
        {0, 0, 0, 0, 0, 0, 39.47841760435743},
        {4.84, -1.16, -0.10, 0.606, 2.81, -0.02, 0.0377},
        {8.34, 4.12, -0.40, -1.01, 1.82, 0.008, 0.0113},
        {12.89, -15.11, -0.22, 1.08, 0.868, -0.01, 0.0017},
        {15.37, -25.91, 0.179, 0.979, 0.594, -0.034, 0.0020},
    };
    for (int step = 0; step < 60000; step++) {
        advance(bs, 0.001);
    }
    double e = energy(bs);
    uint32_t m = mandelbrot(120, 80, 200);
    return (uint32_t)(int64_t)(e * 1e9) ^ m;
}
