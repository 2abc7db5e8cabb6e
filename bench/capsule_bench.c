/* SPDX-License-Identifier: Apache-2.0 */
/* capsule-bench: loads a benchmark module that imports nothing, instantiates it and calls its
 * `run` export several times, printing the time of each call in the format bench/run.sh reads.
 *   capsule-bench [--iters N] [--fuel] MODULE.wasm
 * --fuel turns fuel metering on (with a budget no benchmark exhausts), to measure its cost.
 * Output: load_ns=<decode+validate+compile> inst_ns=<instantiate>, one ns=<call> line per
 * iteration after one warm-up call, then result=<run's i32 result> and fuel=<fuel per call>. */
#define _POSIX_C_SOURCE 200809L
#include <capsule.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint8_t *
read_file(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    *out_len = len;
    return buf;
}

static int
usage(void)
{
    fprintf(stderr, "usage: capsule-bench [--iters N] [--fuel] MODULE.wasm\n");
    return 2;
}

int
main(int argc, char **argv)
{
    int iters = 5;
    bool fuel = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            iters = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--fuel") == 0) {
            fuel = true;
        } else if (argv[i][0] == '-' || path) {
            return usage();
        } else {
            path = argv[i];
        }
    }
    if (!path || iters < 0) {
        return usage();
    }

    size_t len = 0;
    uint8_t *bytes = read_file(path, &len);
    if (!bytes) {
        perror(path);
        return 1;
    }
    int rc = 1;
    cap_error_t err;
    cap_module_t *module = NULL;
    cap_store_t *store = NULL;
    cap_instance_t *inst = NULL;
    cap_extern_t run;

    uint64_t t0 = now_ns();
    if (cap_module_new(bytes, len, &module, &err) != CAP_OK) {
        fprintf(stderr, "%s: %s (offset %llu)\n", path, err.msg, (unsigned long long)err.offset);
        goto done;
    }
    uint64_t t1 = now_ns();
    if (cap_store_new(&store, &err) != CAP_OK) {
        fprintf(stderr, "store: %s\n", err.msg);
        goto done;
    }
    /* A budget far beyond any benchmark: metering is on, but never runs out. */
    const uint64_t budget = UINT64_C(1) << 60;
    if (fuel) {
        cap_store_set_fuel(store, budget);
    }
    uint64_t t2 = now_ns();
    if (cap_instance_new(store, module, NULL, &inst, &err) != CAP_OK) {
        fprintf(stderr, "instantiate: %s\n", err.msg);
        goto done;
    }
    uint64_t t3 = now_ns();
    if (cap_instance_export(inst, "run", &run, &err) != CAP_OK || run.kind != CAP_EXTERN_FUNC) {
        fprintf(stderr, "%s: no exported function `run`\n", path);
        goto done;
    }
    printf("load_ns=%llu\ninst_ns=%llu\n", (unsigned long long)(t1 - t0),
           (unsigned long long)(t3 - t2));

    cap_val_t result;
    uint32_t first = 0;
    uint64_t fuel_per_call = 0;
    for (int i = 0; i <= iters; i++) { // call 0 is the warm-up
        uint64_t f0 = cap_store_fuel_consumed(store);
        uint64_t s = now_ns();
        if (cap_func_call(store, run.of.func, NULL, 0, &result, 1, &err) != CAP_OK) {
            fprintf(stderr, "run: %s\n", err.msg);
            goto done;
        }
        uint64_t e = now_ns();
        fuel_per_call = cap_store_fuel_consumed(store) - f0;
        if (i == 0) {
            first = result.of.i32;
        } else {
            if (result.of.i32 != first) {
                fprintf(stderr, "run: result changed between calls: %u then %u\n", first,
                        result.of.i32);
                goto done;
            }
            printf("ns=%llu\n", (unsigned long long)(e - s));
        }
    }
    printf("result=%u\n", first);
    if (fuel) {
        printf("fuel=%llu\n", (unsigned long long)fuel_per_call);
    }
    rc = 0;
done:
    cap_store_free(store); // frees the instance too
    cap_module_free(module);
    free(bytes);
    return rc;
}
