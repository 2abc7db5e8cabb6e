/* SPDX-License-Identifier: Apache-2.0 */
/* Tiny self-checking helpers shared by the WASI guest programs (compiled to wasm32-wasi). */
#ifndef CAPSULE_GUEST_CHECK_H
#define CAPSULE_GUEST_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

static int check_failures __attribute__((unused));

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: %s (errno %d %s)\n", __FILE__, __LINE__, #cond, errno,             \
                   strerror(errno));                                                               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* Expects a raw WASI call to return errno `want`. */
#define CHECK_ERRNO(call, want)                                                                    \
    do {                                                                                           \
        int got_ = (int)(call);                                                                    \
        if (got_ != (int)(want)) {                                                                 \
            printf("FAIL %s:%d: %s returned %d, expected %d\n", __FILE__, __LINE__, #call, got_,   \
                   (int)(want));                                                                   \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

static inline int
check_done(const char *name)
{
    fflush(stderr);
    printf("%s: %s\n", name, check_failures ? "FAILED" : "ok");
    return check_failures ? 1 : 0;
}

/* Rights wasi-libc asks for when it opens a file for reading and writing. */
#define ALL_RIGHTS ((__wasi_rights_t)0x1FFFFFFF)

/* path_open through the raw ABI: returns the WASI errno; *fd gets the descriptor. */
static inline __wasi_errno_t
raw_open(__wasi_fd_t dir, const char *path, __wasi_lookupflags_t follow, __wasi_oflags_t oflags,
         __wasi_rights_t rights, __wasi_fd_t *fd)
{
    return __wasi_path_open(dir, follow, path, oflags, rights, ALL_RIGHTS, 0, fd);
}

#define RO_FD 3
#define RW_FD 4
#define R_READ                                                                                     \
    (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL |                       \
     __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_READDIR)
#define R_WRITE (R_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE)

#endif
