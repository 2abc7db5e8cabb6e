/* SPDX-License-Identifier: Apache-2.0 */
/* Running a WASI command: link, instantiate, call _start, under a watchdog thread that
 * interrupts the store when the deadline passes. Shared by the CLI, the tasks layer and SDKs. */
#include "util/alloc.h"
#include "wasi/wasi_int.h"
#include "wasm/module.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct watchdog {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    cap_store_t *store;
    struct timespec deadline; // CLOCK_MONOTONIC
    bool done;
    bool fired;
    bool running;
} watchdog;

static void *
watchdog_main(void *arg)
{
    watchdog *wd = arg;
    pthread_mutex_lock(&wd->lock);
    while (!wd->done) {
        int r = pthread_cond_timedwait(&wd->cond, &wd->lock, &wd->deadline);
        if (r == ETIMEDOUT && !wd->done) {
            wd->fired = true;
            cap_store_interrupt(wd->store);
            break;
        }
    }
    pthread_mutex_unlock(&wd->lock);
    return NULL;
}

/* Starts the watchdog; false when the thread cannot be created. */
static bool
watchdog_start(watchdog *wd, cap_store_t *store, uint64_t timeout_ns)
{
    memset(wd, 0, sizeof *wd);
    wd->store = store;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wd->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&wd->lock, NULL);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t secs = timeout_ns / 1000000000ull;
    long nsec = now.tv_nsec + (long)(timeout_ns % 1000000000ull);
    if (nsec >= 1000000000L) {
        nsec -= 1000000000L;
        secs++;
    }
    const uint64_t max_secs = (uint64_t)1 << 40; // ~35,000 years: "never" without overflow
    wd->deadline.tv_sec = now.tv_sec + (time_t)(secs > max_secs ? max_secs : secs);
    wd->deadline.tv_nsec = nsec;
    if (pthread_create(&wd->thread, NULL, watchdog_main, wd) != 0) {
        pthread_cond_destroy(&wd->cond);
        pthread_mutex_destroy(&wd->lock);
        return false;
    }
    wd->running = true;
    return true;
}

/* Stops the watchdog; returns whether it fired. */
static bool
watchdog_stop(watchdog *wd)
{
    if (!wd->running) {
        return false;
    }
    pthread_mutex_lock(&wd->lock);
    wd->done = true;
    pthread_cond_signal(&wd->cond);
    pthread_mutex_unlock(&wd->lock);
    pthread_join(wd->thread, NULL);
    pthread_cond_destroy(&wd->cond);
    pthread_mutex_destroy(&wd->lock);
    wd->running = false;
    return wd->fired;
}

static void
format_duration(char *buf, size_t len, uint64_t ns)
{
    if (ns % 1000000000ull == 0) {
        snprintf(buf, len, "%llus", (unsigned long long)(ns / 1000000000ull));
    } else if (ns % 1000000ull == 0) {
        snprintf(buf, len, "%llums", (unsigned long long)(ns / 1000000ull));
    } else {
        snprintf(buf, len, "%lluns", (unsigned long long)ns);
    }
}

cap_status
cap_wasi_run(cap_store_t *store, const cap_module_t *module, cap_wasi_t *wasi, uint64_t timeout_ns,
             cap_error_t *err)
{
    cap_error_t local;
    cap_error_t *e = err ? err : &local;
    cap_error_clear(e);
    if (!store || !module || !wasi) {
        return cap_fail(e, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_run: NULL argument");
    }
    cap_linker_t *linker = NULL;
    cap_instance_t *inst = NULL;
    watchdog wd;
    wd.running = false;
    cap_status st = cap_linker_new(&linker, e);
    if (st != CAP_OK) {
        goto out;
    }
    if ((st = cap_wasi_link(wasi, linker, e)) != CAP_OK) {
        goto out;
    }
    if (timeout_ns > 0 && !watchdog_start(&wd, store, timeout_ns)) {
        st = cap_fail(e, CAP_ERR_NOMEM, UINT64_MAX, "cannot start the watchdog thread");
        goto out;
    }
    /* The start function runs inside cap_instance_new: the watchdog already covers it. */
    st = cap_instance_new(store, module, linker, &inst, e);
    if (st == CAP_OK) {
        cap_extern_t start;
        if (cap_instance_export(inst, "_start", &start, NULL) != CAP_OK ||
            start.kind != CAP_EXTERN_FUNC) {
            st = cap_fail(e, CAP_ERR_LINK, UINT64_MAX,
                          "not a WASI command: no exported function _start");
        } else {
            cap_functype_t ft = cap_func_type(start.of.func);
            if (ft.nparams != 0 || ft.nresults != 0) {
                st = cap_fail(e, CAP_ERR_LINK, UINT64_MAX, "_start must take and return nothing");
            } else {
                st = cap_func_call(store, start.of.func, NULL, 0, NULL, 0, e);
            }
        }
    }
out:
    if (watchdog_stop(&wd) && st == CAP_ERR_TRAP && e->trap == CAP_TRAP_TIMEOUT) {
        char d[32];
        format_duration(d, sizeof d, timeout_ns);
        snprintf(e->msg, sizeof e->msg, "timeout after %s", d);
    }
    if (st == CAP_ERR_TRAP && e->trap == CAP_TRAP_EXIT) {
        /* proc_exit is how a command ends, not a failure: the code is in the context. */
        if (!cap_wasi_exited(wasi)) {
            wasi->exited = true;
            wasi->exit_code = e->exit_code;
        }
        cap_error_clear(e);
        st = CAP_OK;
    }
    cap_linker_free(linker);
    return st;
}
