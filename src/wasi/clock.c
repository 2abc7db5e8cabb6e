/* SPDX-License-Identifier: Apache-2.0 */
/* WASI clocks, poll_oneoff and sched_yield. Waiting happens in short slices (or poll() on
 * host descriptors with a short timeout) so that cap_store_interrupt stops a sleeping guest as
 * promptly as a computing one. */
#include "util/alloc.h"
#include "wasi/wasi_int.h"

#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define U32(i) ((uint32_t)a[i])
#define U64(i) ((uint64_t)a[i])

static int32_t
host_clock(uint32_t id, clockid_t *out)
{
    switch (id) {
    case WASI_CLOCK_REALTIME:
        *out = CLOCK_REALTIME;
        return WASI_ESUCCESS;
    case WASI_CLOCK_MONOTONIC:
        *out = CLOCK_MONOTONIC;
        return WASI_ESUCCESS;
    case WASI_CLOCK_PROCESS_CPUTIME:
        *out = CLOCK_PROCESS_CPUTIME_ID;
        return WASI_ESUCCESS;
    case WASI_CLOCK_THREAD_CPUTIME:
        *out = CLOCK_THREAD_CPUTIME_ID;
        return WASI_ESUCCESS;
    default:
        return WASI_EINVAL;
    }
}

static uint64_t
now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int32_t
cap_wasi_clock_res_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)w;
    clockid_t id;
    int32_t r = host_clock(U32(0), &id);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    struct timespec ts;
    if (clock_getres(id, &ts) != 0) {
        return cap_wasi_errno(errno);
    }
    return cap_wasi_put_u64(c, U32(1), (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
}

int32_t
cap_wasi_clock_time_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)w;
    clockid_t id;
    int32_t r = host_clock(U32(0), &id);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    return cap_wasi_put_u64(c, U32(2), now_ns(id));
}

int32_t
cap_wasi_sched_yield(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)w;
    (void)c;
    (void)a;
    sched_yield();
    return WASI_ESUCCESS;
}

/* subscription (48 bytes): userdata u64 @0, tag u8 @8, then at @16 either
 * clock {id u32 @16, timeout u64 @24, precision u64 @32, flags u16 @40} or fd u32 @16.
 * event (32 bytes): userdata u64 @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24. */
typedef struct sub {
    uint64_t userdata;
    uint8_t tag;
    uint16_t error;    // set when the subscription itself is bad: reported as a ready event
    uint64_t deadline; // clock: CLOCK_MONOTONIC ns
    int host;          // fd subscription on a host descriptor that may block, else -1
    bool ready;
    uint64_t nbytes;
    uint16_t flags;
} sub;

static uint64_t
ld64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Fills in an fd subscription: streams that never block are ready at once. */
static void
fd_sub(cap_wasi_t *w, sub *s, uint32_t fd)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, fd, WASI_RIGHT_POLL_FD_READWRITE, &e);
    s->host = -1;
    if (r == WASI_ENOTCAPABLE) {
        /* Stdio and files opened without the poll right still answer readiness questions. */
        r = cap_wasi_fd_get(w, fd, 0, &e);
    }
    if (r != WASI_ESUCCESS) {
        s->error = (uint16_t)r;
        s->ready = true;
        return;
    }
    bool reading = s->tag == WASI_EVENT_FD_READ;
    switch (e->kind) {
    case FD_OUT:
        s->ready = true;
        if (reading) {
            s->error = WASI_EBADF;
        }
        return;
    case FD_STDIN_MEM:
        s->ready = true;
        if (!reading) {
            s->error = WASI_EBADF;
            return;
        }
        s->nbytes = w->stdin_len - w->stdin_pos;
        if (s->nbytes == 0) {
            s->flags = WASI_EVENT_HANGUP;
        }
        return;
    default:
        break;
    }
    if (e->filetype == WASI_FILETYPE_REGULAR_FILE) {
        s->ready = true;
        if (reading) {
            struct stat st;
            off_t pos = lseek(e->host, 0, SEEK_CUR);
            if (fstat(e->host, &st) == 0 && pos >= 0 && st.st_size > pos) {
                s->nbytes = (uint64_t)(st.st_size - pos);
            }
        }
        return;
    }
    if (e->filetype == WASI_FILETYPE_DIRECTORY) {
        s->ready = true;
        s->error = WASI_EBADF;
        return;
    }
    s->host = e->host;
}

int32_t
cap_wasi_poll_oneoff(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    uint32_t in = U32(0), out = U32(1), n = U32(2), nev_ptr = U32(3);
    if (n == 0) {
        return WASI_EINVAL;
    }
    const uint8_t *ip = cap_wasi_mem(c, in, (uint64_t)n * 48);
    uint8_t *op = cap_wasi_mem(c, out, (uint64_t)n * 32);
    if (!ip || !op || !cap_wasi_mem(c, nev_ptr, 4)) {
        return WASI_EFAULT;
    }
    sub *subs = cap_calloc(n, sizeof *subs);
    struct pollfd *pfds = cap_calloc(n, sizeof *pfds);
    if (!subs || !pfds) {
        cap_free(subs);
        cap_free(pfds);
        return WASI_ENOMEM;
    }
    int32_t result = WASI_ESUCCESS;
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = ip + (size_t)i * 48;
        sub *s = &subs[i];
        s->userdata = ld64(p);
        s->tag = p[8];
        s->host = -1;
        if (s->tag == WASI_EVENT_CLOCK) {
            uint32_t id = (uint32_t)p[16] | (uint32_t)p[17] << 8 | (uint32_t)p[18] << 16 |
                          (uint32_t)p[19] << 24;
            uint64_t timeout = ld64(p + 24);
            uint16_t flags = (uint16_t)(p[40] | p[41] << 8);
            if (flags & WASI_SUBCLOCK_ABSTIME) {
                if (id == WASI_CLOCK_REALTIME) {
                    /* Convert to the monotonic clock so a wall-clock jump cannot stretch it. */
                    uint64_t real = now_ns(CLOCK_REALTIME);
                    uint64_t wait = timeout > real ? timeout - real : 0;
                    s->deadline = UINT64_MAX - now < wait ? UINT64_MAX : now + wait;
                } else if (id == WASI_CLOCK_MONOTONIC) {
                    s->deadline = timeout;
                } else {
                    s->error = WASI_ENOTSUP;
                    s->ready = true;
                }
            } else if (id <= WASI_CLOCK_THREAD_CPUTIME) {
                s->deadline = UINT64_MAX - now < timeout ? UINT64_MAX : now + timeout;
            } else {
                s->error = WASI_EINVAL;
                s->ready = true;
            }
        } else if (s->tag == WASI_EVENT_FD_READ || s->tag == WASI_EVENT_FD_WRITE) {
            uint32_t fd = (uint32_t)p[16] | (uint32_t)p[17] << 8 | (uint32_t)p[18] << 16 |
                          (uint32_t)p[19] << 24;
            fd_sub(w, s, fd);
        } else {
            result = WASI_EINVAL;
            goto done;
        }
    }
    for (;;) {
        /* Host descriptors: ask without waiting. */
        nfds_t np = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (subs[i].tag != WASI_EVENT_CLOCK && subs[i].host >= 0 && !subs[i].ready) {
                pfds[np].fd = subs[i].host;
                pfds[np].events = subs[i].tag == WASI_EVENT_FD_READ ? POLLIN : POLLOUT;
                pfds[np].revents = 0;
                np++;
            }
        }
        if (np > 0 && poll(pfds, np, 0) > 0) {
            nfds_t k = 0;
            for (uint32_t i = 0; i < n; i++) {
                if (subs[i].tag != WASI_EVENT_CLOCK && subs[i].host >= 0 && !subs[i].ready) {
                    short re = pfds[k++].revents;
                    if (re) {
                        subs[i].ready = true;
                        if (re & POLLHUP) {
                            subs[i].flags = WASI_EVENT_HANGUP;
                        }
                        if (re & POLLNVAL) {
                            subs[i].error = WASI_EBADF;
                        }
                    }
                }
            }
        }
        now = now_ns(CLOCK_MONOTONIC);
        uint64_t next = UINT64_MAX;
        bool any = false;
        for (uint32_t i = 0; i < n; i++) {
            sub *s = &subs[i];
            if (s->tag == WASI_EVENT_CLOCK && !s->ready) {
                if (s->deadline <= now) {
                    s->ready = true;
                } else if (s->deadline < next) {
                    next = s->deadline;
                }
            }
            any = any || s->ready;
        }
        if (any) {
            break;
        }
        if (cap_store_interrupted(w->store)) {
            cap_caller_trap(c, CAP_TRAP_TIMEOUT, "interrupted");
            result = CAP_WASI_TRAPPED;
            goto done;
        }
        uint64_t slice = 5000000ull; // 5 ms
        if (next != UINT64_MAX && next - now < slice) {
            slice = next - now;
        }
        if (np > 0) {
            struct timespec ts = {0, (long)slice};
            ppoll(pfds, np, &ts, NULL);
        } else {
            struct timespec ts = {0, (long)slice};
            nanosleep(&ts, NULL);
        }
    }
    uint32_t nev = 0;
    for (uint32_t i = 0; i < n; i++) {
        const sub *s = &subs[i];
        if (!s->ready) {
            continue;
        }
        uint8_t *e = op + (size_t)nev * 32;
        memset(e, 0, 32);
        for (int b = 0; b < 8; b++) {
            e[b] = (uint8_t)(s->userdata >> (8 * b));
            e[16 + b] = (uint8_t)(s->nbytes >> (8 * b));
        }
        e[8] = (uint8_t)s->error;
        e[9] = (uint8_t)(s->error >> 8);
        e[10] = s->tag;
        e[24] = (uint8_t)s->flags;
        e[25] = (uint8_t)(s->flags >> 8);
        nev++;
    }
    result = cap_wasi_put_u32(c, nev_ptr, nev);
done:
    cap_free(subs);
    cap_free(pfds);
    return result;
}
