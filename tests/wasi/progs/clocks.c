/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks, sleeps (relative and absolute: poll_oneoff's two clock flags), sched_yield, random. */
#include "check.h"
#include <sched.h>
#include <time.h>
#include <unistd.h>

/* wasi-libc no longer declares proc_raise: import it directly. */
extern int32_t raw_proc_raise(int32_t sig)
    __attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_raise")));

static long long
ns(clockid_t id)
{
    struct timespec t;
    CHECK(clock_gettime(id, &t) == 0);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int
main(void)
{
    struct timespec res;
    CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0);
    CHECK(clock_getres(CLOCK_REALTIME, &res) == 0);
    CHECK(ns(CLOCK_REALTIME) > 1600000000LL * 1000000000LL);
    CHECK(ns(CLOCK_PROCESS_CPUTIME_ID) >= 0);
    CHECK(ns(CLOCK_THREAD_CPUTIME_ID) >= 0);
    __wasi_timestamp_t t;
    CHECK_ERRNO(__wasi_clock_time_get(99, 1, &t), __WASI_ERRNO_INVAL);

    long long t0 = ns(CLOCK_MONOTONIC);
    struct timespec d = {0, 30000000};
    CHECK(nanosleep(&d, NULL) == 0);
    long long t1 = ns(CLOCK_MONOTONIC);
    CHECK(t1 - t0 >= 30000000LL);

    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 20000000;
    if (abs.tv_nsec >= 1000000000) {
        abs.tv_nsec -= 1000000000;
        abs.tv_sec++;
    }
    CHECK(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL) == 0);
    CHECK(ns(CLOCK_MONOTONIC) - t1 >= 20000000LL);
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 10000000;
    if (abs.tv_nsec >= 1000000000) {
        abs.tv_nsec -= 1000000000;
        abs.tv_sec++;
    }
    CHECK(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &abs, NULL) == 0);
    CHECK(usleep(1000) == 0);
    CHECK(sched_yield() == 0);

    /* poll_oneoff: two clocks, the shorter fires first. */
    __wasi_subscription_t s[2];
    memset(s, 0, sizeof s);
    s[0].userdata = 11;
    s[0].u.tag = __WASI_EVENTTYPE_CLOCK;
    s[0].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
    s[0].u.u.clock.timeout = 500000000;
    s[1] = s[0];
    s[1].userdata = 22;
    s[1].u.u.clock.timeout = 1000000;
    __wasi_event_t ev[2];
    __wasi_size_t nev = 0;
    CHECK_ERRNO(__wasi_poll_oneoff(s, ev, 2, &nev), 0);
    CHECK(nev == 1 && ev[0].userdata == 22 && ev[0].type == __WASI_EVENTTYPE_CLOCK);
    CHECK_ERRNO(__wasi_poll_oneoff(s, ev, 0, &nev), __WASI_ERRNO_INVAL);

    unsigned char r1[32] = {0}, r2[32] = {0};
    CHECK(getentropy(r1, sizeof r1) == 0 && getentropy(r2, sizeof r2) == 0);
    CHECK(memcmp(r1, r2, sizeof r1) != 0);
    CHECK_ERRNO(__wasi_random_get(r1, 0), 0);
    CHECK_ERRNO(raw_proc_raise(15), __WASI_ERRNO_NOSYS); // SIGTERM: no signals in the sandbox
    CHECK_ERRNO(__wasi_sched_yield(), 0);
    return check_done("clocks");
}
