/* SPDX-License-Identifier: Apache-2.0 */
/* Prints the guest's view of its grants: argv, each preopen's guest path and whether a file can
 * be created in it (rw) or not (ro). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

int
main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        printf("arg %s\n", argv[i]);
    }
    for (__wasi_fd_t fd = 3; fd < 16; fd++) {
        __wasi_prestat_t pre;
        if (__wasi_fd_prestat_get(fd, &pre) != 0) {
            break;
        }
        char name[256] = {0};
        if (pre.u.dir.pr_name_len >= sizeof name ||
            __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, pre.u.dir.pr_name_len) != 0) {
            return 1;
        }
        __wasi_fd_t f;
        __wasi_errno_t e = __wasi_path_open(fd, 0, "capsule-cli-probe", __WASI_OFLAGS_CREAT,
                                            __WASI_RIGHTS_FD_WRITE, 0, 0, &f);
        if (e == 0) {
            (void)__wasi_path_unlink_file(fd, "capsule-cli-probe");
        }
        printf("mount %s %s\n", name, e == 0 ? "rw" : e == __WASI_ERRNO_ROFS ? "ro" : "error");
    }
    return 0;
}
