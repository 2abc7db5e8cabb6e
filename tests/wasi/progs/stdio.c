/* SPDX-License-Identifier: Apache-2.0 */
/* stdin, stdout, stderr: echo stdin, descriptor stats, streams do not seek, poll readiness. */
#include "check.h"
#include <poll.h>
#include <unistd.h>

int
main(void)
{
    char buf[256];
    size_t total = 0;
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        total += (size_t)n;
    }
    CHECK(n == 0);
    printf("read %zu bytes\n", total);
    fprintf(stderr, "to stderr\n");
    for (int fd = 0; fd < 3; fd++) {
        __wasi_fdstat_t st;
        CHECK_ERRNO(__wasi_fd_fdstat_get((__wasi_fd_t)fd, &st), 0);
        CHECK(!(st.fs_rights_base & __WASI_RIGHTS_FD_SEEK));
    }
    CHECK(!isatty(1));
    __wasi_filesize_t pos;
    CHECK_ERRNO(__wasi_fd_seek(1, 0, __WASI_WHENCE_CUR, &pos), __WASI_ERRNO_SPIPE);
    CHECK_ERRNO(__wasi_fd_tell(1, &pos), __WASI_ERRNO_SPIPE);
    struct pollfd p[2] = {{1, POLLOUT, 0}, {2, POLLOUT, 0}};
    CHECK(poll(p, 2, 1000) == 2);
    CHECK(p[0].revents & POLLOUT);
    fflush(stdout);
    return check_done("stdio");
}
