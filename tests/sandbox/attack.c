/* SPDX-License-Identifier: Apache-2.0 */
/* The sandbox attack suite: each case (argv[1]) tries to reach something the guest was not
 * granted and checks the precise refusal. The runner (tests/wasi/run_case.py) also checks that
 * nothing outside the mounts and nothing in the read-only mount changed. Mounts: /ro = fd 3
 * (read-only), /rw = fd 4 (read-write); the fixture's symlinks are listed in run_case.py. */
#include "../wasi/progs/check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOTCAP __WASI_ERRNO_NOTCAPABLE
#define ROFS   __WASI_ERRNO_ROFS
#define BAD    0xFFFFFFF0u // a guest address beyond any memory the guest has
#define P(x)   ((void *)(uintptr_t)(x))

static __wasi_errno_t
open_ro(__wasi_fd_t dir, const char *path, int follow)
{
    __wasi_fd_t fd;
    __wasi_errno_t e =
        raw_open(dir, path, follow ? __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW : 0, 0, R_READ, &fd);
    if (e == 0) {
        printf("opened %s: fd %u\n", path, fd);
        (void)__wasi_fd_close(fd);
    }
    return e;
}

static __wasi_errno_t
stat_path(__wasi_fd_t dir, const char *path, int follow)
{
    __wasi_filestat_t st;
    return __wasi_path_filestat_get(dir, follow ? __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW : 0, path, &st);
}

static void
dotdot(void)
{
    CHECK_ERRNO(open_ro(RW_FD, "../outside/secret.txt", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "..", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "./../ro/hello.txt", 1), NOTCAP); // even back into itself
    CHECK_ERRNO(stat_path(RO_FD, "../outside/secret.txt", 0), NOTCAP);
}

static void
dotdot_deep(void)
{
    CHECK_ERRNO(open_ro(RO_FD, "sub/../../outside/secret.txt", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "sub/./../sub/../../outside", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "../../../../../../../../etc/passwd", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "sub/../hello.txt", 1), 0); // stays inside: allowed
}

static void
absolute(void)
{
    CHECK_ERRNO(open_ro(RO_FD, "/etc/passwd", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RW_FD, "/", 1), NOTCAP);
    CHECK_ERRNO(stat_path(RO_FD, "/etc", 1), NOTCAP);
    CHECK(fopen("/etc/passwd", "r") == NULL); // no preopen covers it
}

static void
etc_passwd(void)
{
    CHECK(open("/etc/passwd", O_RDONLY) < 0);
    CHECK(open("/ro/../../../etc/passwd", O_RDONLY) < 0);
    CHECK(open("/rw/../../../../etc/passwd", O_RDONLY) < 0);
    CHECK_ERRNO(open_ro(RW_FD, "../../../../../../etc/passwd", 1), NOTCAP);
}

static void
proc_self(void)
{
    CHECK(open("/proc/self/environ", O_RDONLY) < 0);
    CHECK(open("/proc/self/mem", O_RDWR) < 0);
    CHECK_ERRNO(open_ro(RO_FD, "../../../../../../proc/self/environ", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "../../../../../../proc/self/cwd/x", 1), NOTCAP);
}

static void
symlink_absolute(void)
{
    CHECK_ERRNO(open_ro(RO_FD, "abs_link", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "abs_dir_link/secret.txt", 0), NOTCAP);
    CHECK_ERRNO(stat_path(RO_FD, "abs_link", 1), NOTCAP);
    CHECK_ERRNO(stat_path(RO_FD, "abs_link", 0), 0); // the link itself is inside: lstat is fine
}

static void
symlink_relative(void)
{
    CHECK_ERRNO(open_ro(RO_FD, "rel_link", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "rel_dir_link/secret.txt", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "rel_dir_link/", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "deep_link", 1), NOTCAP);
}

static void
symlink_chain(void)
{
    CHECK_ERRNO(open_ro(RO_FD, "chain1/secret.txt", 1), NOTCAP);
    CHECK_ERRNO(open_ro(RO_FD, "chain1", 1), NOTCAP);
    CHECK_ERRNO(stat_path(RO_FD, "chain1/dir", 1), NOTCAP);
}

static void
symlink_nofollow(void)
{
    /* Without SYMLINK_FOLLOW the final link is not followed: ELOOP, nothing read. */
    CHECK_ERRNO(open_ro(RO_FD, "abs_link", 0), __WASI_ERRNO_LOOP);
    CHECK_ERRNO(open_ro(RO_FD, "rel_link", 0), __WASI_ERRNO_LOOP);
}

static void
symlink_loop(void)
{
    CHECK_ERRNO(open_ro(RO_FD, "loop_a", 1), __WASI_ERRNO_LOOP);
    CHECK_ERRNO(open_ro(RO_FD, "loop_a/x", 1), __WASI_ERRNO_LOOP);
}

static void
guest_symlink_escape(void)
{
    /* The guest may create a relative link that points out; it can never follow it. */
    CHECK(symlink("../outside/secret.txt", "/rw/esc") == 0);
    CHECK_ERRNO(open_ro(RW_FD, "esc", 1), NOTCAP);
    __wasi_fd_t fd;
    CHECK_ERRNO(raw_open(RW_FD, "esc", __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, __WASI_OFLAGS_TRUNC,
                         R_WRITE, &fd),
                NOTCAP);
    CHECK(open("/rw/esc", O_WRONLY | O_TRUNC) < 0);
    CHECK(symlink("..", "/rw/up") == 0);
    CHECK_ERRNO(open_ro(RW_FD, "up/outside/secret.txt", 1), NOTCAP);
    CHECK(mkdir("/rw/up/evil", 0755) < 0);
}

static void
guest_symlink_absolute(void)
{
    CHECK_ERRNO(__wasi_path_symlink("/etc/passwd", RW_FD, "abs"), NOTCAP);
    CHECK(symlink("/etc/passwd", "/rw/abs2") < 0);
}

static void
guest_symlink_dangling(void)
{
    /* Creating a file through a dangling link that points outside must not create it. */
    CHECK(symlink("../outside/created.txt", "/rw/dangling") == 0);
    __wasi_fd_t fd;
    CHECK_ERRNO(raw_open(RW_FD, "dangling", __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, __WASI_OFLAGS_CREAT,
                         R_WRITE, &fd),
                NOTCAP);
    CHECK(open("/rw/dangling", O_CREAT | O_WRONLY, 0644) < 0);
    CHECK(symlink("../outside/newdir", "/rw/dangdir") == 0);
    CHECK(mkdir("/rw/dangdir", 0755) < 0 && errno == EEXIST); // mkdir never follows
}

static void
hardlink_out(void)
{
    CHECK_ERRNO(__wasi_path_link(RW_FD, 0, "../outside/secret.txt", RW_FD, "stolen"), NOTCAP);
    CHECK_ERRNO(
        __wasi_path_link(RW_FD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "abs_link", RW_FD, "stolen"),
        NOTCAP);
    CHECK_ERRNO(
        __wasi_path_link(RW_FD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "rel_link", RW_FD, "stolen"),
        NOTCAP);
    CHECK_ERRNO(__wasi_path_link(RO_FD, 0, "hello.txt", RW_FD, "../outside/linked"), ROFS);
    CHECK(access("/rw/stolen", F_OK) < 0);
}

static void
rename_out(void)
{
    int fd = open("/rw/mine.txt", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
    CHECK_ERRNO(__wasi_path_rename(RW_FD, "mine.txt", RW_FD, "../outside/mine.txt"), NOTCAP);
    CHECK_ERRNO(__wasi_path_rename(RW_FD, "../outside/secret.txt", RW_FD, "stolen"), NOTCAP);
    CHECK_ERRNO(__wasi_path_rename(RW_FD, "rel_dir_link/secret.txt", RW_FD, "stolen"), NOTCAP);
    CHECK_ERRNO(__wasi_path_rename(RW_FD, "mine.txt", RW_FD, "rel_dir_link/mine.txt"), NOTCAP);
    /* Renaming the link itself is fine: it is an entry of the read-write mount. */
    CHECK_ERRNO(__wasi_path_rename(RW_FD, "rel_dir_link", RW_FD, "moved_link"), 0);
    CHECK_ERRNO(open_ro(RW_FD, "moved_link/secret.txt", 1), NOTCAP);
}

static void
unlink_out(void)
{
    CHECK_ERRNO(__wasi_path_unlink_file(RW_FD, "../outside/secret.txt"), NOTCAP);
    CHECK_ERRNO(__wasi_path_unlink_file(RW_FD, "rel_dir_link/secret.txt"), NOTCAP);
    CHECK_ERRNO(__wasi_path_remove_directory(RW_FD, "../outside/dir"), NOTCAP);
    CHECK_ERRNO(__wasi_path_remove_directory(RW_FD, "rel_dir_link/dir"), NOTCAP);
    CHECK_ERRNO(__wasi_path_create_directory(RW_FD, "rel_dir_link/newdir"), NOTCAP);
    CHECK_ERRNO(__wasi_path_create_directory(RW_FD, "../newdir"), NOTCAP);
    /* Unlinking the symlink itself removes only the link. */
    CHECK_ERRNO(__wasi_path_unlink_file(RW_FD, "abs_link"), 0);
}

static void
times_out(void)
{
    CHECK_ERRNO(__wasi_path_filestat_set_times(RW_FD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "abs_link",
                                               1, 1, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM),
                NOTCAP);
    CHECK_ERRNO(__wasi_path_filestat_set_times(RW_FD, 0, "rel_dir_link/secret.txt", 1, 1,
                                               __WASI_FSTFLAGS_MTIM),
                NOTCAP);
    CHECK_ERRNO(
        __wasi_path_filestat_set_times(RW_FD, 0, "rel_dir_link/", 1, 1, __WASI_FSTFLAGS_MTIM),
        NOTCAP);
    /* Without follow, the times of the link itself change (inside the mount). */
    CHECK_ERRNO(__wasi_path_filestat_set_times(RW_FD, 0, "abs_link", 1, 1, __WASI_FSTFLAGS_MTIM),
                0);
}

static void
ro_write(void)
{
    __wasi_fd_t fd;
    CHECK_ERRNO(raw_open(RO_FD, "hello.txt", 0, 0, R_WRITE, &fd), ROFS);
    CHECK(open("/ro/hello.txt", O_WRONLY) < 0 && errno == EROFS);
    CHECK(open("/ro/hello.txt", O_RDWR) < 0 && errno == EROFS);
    CHECK(open("/ro/hello.txt", O_WRONLY | O_APPEND) < 0 && errno == EROFS);
}

static void
ro_create(void)
{
    __wasi_fd_t fd;
    CHECK_ERRNO(raw_open(RO_FD, "new.txt", 0, __WASI_OFLAGS_CREAT, R_READ, &fd), ROFS);
    CHECK(open("/ro/new.txt", O_CREAT | O_WRONLY, 0644) < 0 && errno == EROFS);
    CHECK(open("/ro/sub/new.txt", O_CREAT | O_RDONLY, 0644) < 0 && errno == EROFS);
}

static void
ro_truncate(void)
{
    __wasi_fd_t fd;
    CHECK_ERRNO(raw_open(RO_FD, "hello.txt", 0, __WASI_OFLAGS_TRUNC, R_READ, &fd), ROFS);
    CHECK(truncate("/ro/hello.txt", 0) < 0 && errno == EROFS);
    int h = open("/ro/hello.txt", O_RDONLY);
    CHECK(h >= 0);
    CHECK(ftruncate(h, 0) < 0 && errno == EROFS);
    CHECK_ERRNO(__wasi_fd_filestat_set_size((__wasi_fd_t)h, 0), ROFS);
    CHECK_ERRNO(__wasi_fd_allocate((__wasi_fd_t)h, 0, 4096), ROFS);
    close(h);
}

static void
ro_fd_write(void)
{
    int h = open("/ro/hello.txt", O_RDONLY);
    CHECK(h >= 0);
    CHECK(write(h, "x", 1) < 0 && errno == EROFS);
    __wasi_ciovec_t v = {(const uint8_t *)"x", 1};
    __wasi_size_t n;
    CHECK_ERRNO(__wasi_fd_pwrite((__wasi_fd_t)h, &v, 1, 0, &n), ROFS);
    /* Rights only shrink: asking for fd_write back is refused. */
    CHECK_ERRNO(__wasi_fd_fdstat_set_rights((__wasi_fd_t)h, R_WRITE, 0), NOTCAP);
    CHECK_ERRNO(__wasi_fd_fdstat_set_rights(RO_FD, ALL_RIGHTS, ALL_RIGHTS), NOTCAP);
    close(h);
}

static void
ro_mkdir_rmdir(void)
{
    CHECK(mkdir("/ro/newdir", 0755) < 0 && errno == EROFS);
    CHECK(rmdir("/ro/sub") < 0 && errno == EROFS);
    CHECK_ERRNO(__wasi_path_create_directory(RO_FD, "x"), ROFS);
    CHECK_ERRNO(__wasi_path_remove_directory(RO_FD, "sub"), ROFS);
}

static void
ro_unlink_rename(void)
{
    CHECK(unlink("/ro/hello.txt") < 0 && errno == EROFS);
    CHECK(unlink("/ro/abs_link") < 0 && errno == EROFS);
    CHECK(rename("/ro/hello.txt", "/ro/bye.txt") < 0 && errno == EROFS);
    CHECK(rename("/ro/hello.txt", "/rw/taken.txt") < 0 && errno == EROFS);
    CHECK(rename("/rw/abs_link", "/ro/planted") < 0 && errno == EROFS);
}

static void
ro_links_times(void)
{
    CHECK(symlink("hello.txt", "/ro/l") < 0 && errno == EROFS);
    CHECK(link("/ro/hello.txt", "/ro/h") < 0 && errno == EROFS);
    CHECK(link("/ro/hello.txt", "/rw/h") < 0 && errno == EROFS);
    struct timespec ts[2] = {{1, 0}, {1, 0}};
    CHECK(utimensat(AT_FDCWD, "/ro/hello.txt", ts, 0) < 0 && errno == EROFS);
    int h = open("/ro/hello.txt", O_RDONLY);
    CHECK(h >= 0 && futimens(h, ts) < 0 && errno == EROFS);
    close(h);
    /* A directory opened beneath a read-only mount is read-only too. */
    __wasi_fd_t sub;
    __wasi_fdstat_t ro;
    CHECK_ERRNO(__wasi_fd_fdstat_get(RO_FD, &ro), 0);
    CHECK_ERRNO(raw_open(RO_FD, "sub", 0, __WASI_OFLAGS_DIRECTORY,
                         ro.fs_rights_inheriting &
                             ~(__wasi_rights_t)(__WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_ALLOCATE |
                                                __WASI_RIGHTS_FD_FILESTAT_SET_SIZE),
                         &sub),
                0);
    CHECK_ERRNO(__wasi_path_create_directory(sub, "x"), ROFS);
    CHECK_ERRNO(__wasi_path_unlink_file(sub, "inner.txt"), ROFS);
}

static void
fd_never_granted(void)
{
    char buf[4];
    __wasi_iovec_t v = {(uint8_t *)buf, sizeof buf};
    __wasi_size_t n;
    for (__wasi_fd_t fd = 5; fd < 200; fd++) {
        CHECK_ERRNO(__wasi_fd_read(fd, &v, 1, &n), __WASI_ERRNO_BADF);
    }
    CHECK_ERRNO(__wasi_fd_write(0xFFFFFFFF, (const __wasi_ciovec_t *)&v, 1, &n), __WASI_ERRNO_BADF);
    CHECK_ERRNO(open_ro(77, "x", 0), __WASI_ERRNO_BADF);
    CHECK_ERRNO(open_ro(1, "x", 0), NOTCAP); // stdout is not a directory
    CHECK_ERRNO(__wasi_fd_close(1000), __WASI_ERRNO_BADF);
    CHECK_ERRNO(__wasi_fd_renumber(RO_FD, 500), __WASI_ERRNO_BADF);
    __wasi_prestat_t pre;
    CHECK_ERRNO(__wasi_fd_prestat_get(5, &pre), __WASI_ERRNO_BADF);
}

static void
env_not_granted(void)
{
    CHECK(getenv("CAPSULE_TEST_HOST_ONLY") == NULL);
    CHECK(getenv("PATH") == NULL);
    CHECK(getenv("HOME") == NULL);
    CHECK(getenv("GRANTED") != NULL && strcmp(getenv("GRANTED"), "yes") == 0);
    __wasi_size_t count, size;
    CHECK_ERRNO(__wasi_environ_sizes_get(&count, &size), 0);
    CHECK(count == 1 && size == sizeof "GRANTED=yes");
}

static void
huge_output(void)
{
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    __wasi_ciovec_t v = {(const uint8_t *)block, sizeof block};
    __wasi_size_t n = 0;
    for (int i = 0; i < 1024; i++) { // 64 MiB
        CHECK_ERRNO(__wasi_fd_write(1, &v, 1, &n), 0);
        CHECK(n == sizeof block); // accepted (and dropped past the cap), never an error
    }
    /* Many iovecs pointing at the same block: the count is bounded by UINT32_MAX. */
    static __wasi_ciovec_t many[1 << 16];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++) {
        many[i] = v;
    }
    CHECK_ERRNO(__wasi_fd_write(2, many, 1 << 16, &n), 0);
    CHECK(n == 0xFFFFFFFFu);
}

static void
huge_iovec_count(void)
{
    __wasi_size_t n;
    static __wasi_ciovec_t v[4] = {{(const uint8_t *)"ab", 2}};
    CHECK_ERRNO(__wasi_fd_write(1, v, 0x7FFFFFFF, &n), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_write(1, v, 0xFFFFFFFF, &n), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_read(0, (const __wasi_iovec_t *)v, 0x20000000, &n), __WASI_ERRNO_FAULT);
    static __wasi_ciovec_t zeros[100000];
    CHECK_ERRNO(__wasi_fd_write(1, zeros, 100000, &n), 0);
    CHECK(n == 0);
    __wasi_subscription_t s;
    __wasi_event_t e;
    CHECK_ERRNO(__wasi_poll_oneoff(&s, &e, 0x7FFFFFFF, &n), __WASI_ERRNO_FAULT);
}

static void
oob_args_env_clock(void)
{
    CHECK_ERRNO(__wasi_args_sizes_get(P(BAD), P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_args_get(P(BAD), P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_environ_sizes_get(P(BAD), P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_environ_get(P(BAD), P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_clock_time_get(0, 1, P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_clock_res_get(0, P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_random_get(P(BAD), 64), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_random_get(P(0xFFFFFFFF), 2), __WASI_ERRNO_FAULT); // wraps in 32 bits
    CHECK_ERRNO(__wasi_poll_oneoff(P(BAD), P(BAD), 1, P(BAD)), __WASI_ERRNO_FAULT);
}

static void
oob_fd_calls(void)
{
    __wasi_size_t n;
    __wasi_ciovec_t bad = {P(BAD), 100};
    CHECK_ERRNO(__wasi_fd_write(1, P(BAD), 1, &n), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_write(1, &bad, 1, &n), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_write(1, (const __wasi_ciovec_t *)&bad, 0, P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_read(0, (const __wasi_iovec_t *)&bad, 1, &n), __WASI_ERRNO_FAULT);
    int h = open("/ro/hello.txt", O_RDONLY);
    CHECK_ERRNO(__wasi_fd_pread((__wasi_fd_t)h, (const __wasi_iovec_t *)&bad, 1, 0, &n),
                __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_seek((__wasi_fd_t)h, 0, 0, P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_tell((__wasi_fd_t)h, P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_fdstat_get((__wasi_fd_t)h, P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_filestat_get((__wasi_fd_t)h, P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_prestat_get(RO_FD, P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_prestat_dir_name(RO_FD, P(BAD), 3), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_readdir(RO_FD, P(BAD), 100, 0, &n), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_fd_readdir(RO_FD, P(0), 100, 0, P(BAD)), __WASI_ERRNO_FAULT);
    __wasi_ciovec_t v = {(const uint8_t *)"x", 1};
    CHECK_ERRNO(__wasi_fd_pwrite(1, &v, 1, 0, &n), __WASI_ERRNO_SPIPE);
    close(h);
}

static void
oob_path_calls(void)
{
    __wasi_fd_t fd;
    __wasi_size_t n;
    /* The generated wrappers take C strings; call the imports with raw pointer + length. */
    extern int32_t __imported_wasi_snapshot_preview1_path_open(
        int32_t, int32_t, int32_t, int32_t, int32_t, int64_t, int64_t, int32_t, int32_t)
        __attribute__((import_module("wasi_snapshot_preview1"), import_name("path_open")));
    extern int32_t __imported_wasi_snapshot_preview1_path_create_directory(
        int32_t, int32_t, int32_t) __attribute__((import_module("wasi_snapshot_preview1"),
                                                  import_name("path_create_directory")));
    extern int32_t __imported_wasi_snapshot_preview1_path_symlink(int32_t, int32_t, int32_t,
                                                                  int32_t, int32_t)
        __attribute__((import_module("wasi_snapshot_preview1"), import_name("path_symlink")));
    CHECK_ERRNO(__imported_wasi_snapshot_preview1_path_open(RW_FD, 0, (int32_t)BAD, 8, 0, 0, 0, 0,
                                                            (int32_t)(uintptr_t)&fd),
                __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__imported_wasi_snapshot_preview1_path_open(RW_FD, 0, (int32_t)(uintptr_t) "x", 1,
                                                            __WASI_OFLAGS_CREAT, 0, 0, 0,
                                                            (int32_t)BAD),
                __WASI_ERRNO_FAULT);
    CHECK(access("/rw/x", F_OK) < 0); // refused before anything was created
    CHECK_ERRNO(__imported_wasi_snapshot_preview1_path_create_directory(RW_FD, (int32_t)BAD, 4),
                __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__imported_wasi_snapshot_preview1_path_symlink((int32_t)BAD, 4, RW_FD,
                                                               (int32_t)(uintptr_t) "s", 1),
                __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_path_filestat_get(RO_FD, 0, "hello.txt", P(BAD)), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_path_readlink(RO_FD, "inside_link", P(BAD), 10, &n), __WASI_ERRNO_FAULT);
    CHECK_ERRNO(__wasi_path_readlink(RO_FD, "inside_link", P(0x100), 10, P(BAD)),
                __WASI_ERRNO_FAULT);
    /* Path lengths past the end of memory. */
    CHECK_ERRNO(__imported_wasi_snapshot_preview1_path_create_directory(RW_FD, 16, 0x7FFFFFFF),
                __WASI_ERRNO_NAMETOOLONG);
    CHECK_ERRNO(__imported_wasi_snapshot_preview1_path_create_directory(RW_FD, 0xFFFFFFFF, 2),
                __WASI_ERRNO_FAULT);
}

static void
path_garbage(void)
{
    char long_path[6000];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    CHECK_ERRNO(open_ro(RW_FD, long_path, 0), __WASI_ERRNO_NAMETOOLONG);
    extern int32_t __imported_wasi_snapshot_preview1_path_create_directory(
        int32_t, int32_t, int32_t) __attribute__((import_module("wasi_snapshot_preview1"),
                                                  import_name("path_create_directory")));
    CHECK_ERRNO(__imported_wasi_snapshot_preview1_path_create_directory(
                    RW_FD, (int32_t)(uintptr_t) "ok\0../../x", 11),
                __WASI_ERRNO_INVAL);
    CHECK_ERRNO(open_ro(RW_FD, "", 0), __WASI_ERRNO_NOENT);
    char name[300];
    memset(name, 'b', 299);
    name[299] = '\0';
    CHECK_ERRNO(open_ro(RW_FD, name, 0), __WASI_ERRNO_NAMETOOLONG);
}

static void
readdir_outside(void)
{
    __wasi_fd_t fd;
    CHECK_ERRNO(raw_open(RO_FD, "..", 0, __WASI_OFLAGS_DIRECTORY, R_READ, &fd), NOTCAP);
    CHECK_ERRNO(raw_open(RO_FD, "rel_dir_link", __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
                         __WASI_OFLAGS_DIRECTORY, R_READ, &fd),
                NOTCAP);
    /* A subdirectory's descriptor is a new root: ".." from it stays refused past the mount. */
    CHECK_ERRNO(raw_open(RO_FD, "sub", 0, __WASI_OFLAGS_DIRECTORY,
                         R_READ | __WASI_RIGHTS_PATH_OPEN | __WASI_RIGHTS_PATH_FILESTAT_GET, &fd),
                0);
    CHECK_ERRNO(open_ro(fd, "inner.txt", 0), 0);         // the descriptor works...
    CHECK_ERRNO(open_ro(fd, "../hello.txt", 0), NOTCAP); // ...but only beneath itself
    CHECK_ERRNO(stat_path(fd, "..", 0), NOTCAP);
}

static void
sockets(void)
{
    __wasi_fd_t fd;
    __wasi_size_t n;
    __wasi_roflags_t rf;
    char buf[4];
    __wasi_iovec_t v = {(uint8_t *)buf, 4};
    CHECK_ERRNO(__wasi_sock_accept(RO_FD, 0, &fd), __WASI_ERRNO_NOTSOCK);
    CHECK_ERRNO(__wasi_sock_recv(0, &v, 1, 0, &n, &rf), __WASI_ERRNO_NOTSOCK);
    CHECK_ERRNO(__wasi_sock_send(1, (const __wasi_ciovec_t *)&v, 1, 0, &n), __WASI_ERRNO_NOTSOCK);
    CHECK_ERRNO(__wasi_sock_shutdown(2, __WASI_SDFLAGS_WR), __WASI_ERRNO_NOTSOCK);
    CHECK_ERRNO(__wasi_sock_shutdown(99, __WASI_SDFLAGS_WR), __WASI_ERRNO_BADF);
}

static void
close_preopen_reopen(void)
{
    /* Closing a preopen leaves no way back to it; a new open gets a fresh number, no rights. */
    CHECK_ERRNO(__wasi_fd_close(RO_FD), 0);
    CHECK_ERRNO(open_ro(RO_FD, "hello.txt", 0), __WASI_ERRNO_BADF);
    __wasi_fd_t fd;
    CHECK_ERRNO(raw_open(RW_FD, "..", 0, 0, R_READ, &fd), NOTCAP);
    CHECK_ERRNO(__wasi_fd_renumber(RW_FD, 1), 0); // stdout replaced by the rw directory
    CHECK_ERRNO(raw_open(1, "../outside", 0, 0, R_READ, &fd), NOTCAP);
    CHECK_ERRNO(__wasi_fd_prestat_get(RW_FD, 0), __WASI_ERRNO_BADF);
}

static void
too_many_fds(void)
{
    /* The descriptor table is bounded: past it the guest gets MFILE, the host keeps going. */
    int opened = 0;
    __wasi_errno_t e = 0;
    for (int i = 0; i < 5000; i++) {
        __wasi_fd_t fd;
        e = raw_open(RO_FD, "hello.txt", 0, 0, R_READ, &fd);
        if (e != 0) {
            break;
        }
        opened++;
    }
    CHECK(e == __WASI_ERRNO_MFILE);
    CHECK(opened > 100 && opened < 1024);
    printf("opened %s\n", opened > 100 ? "many" : "few");
}

static char *volatile bomb_keep;

static void
memory_bomb(void)
{
    /* Grow until refused: the cap turns into an allocation failure, never a host crash. */
    size_t total = 0;
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p) {
            break;
        }
        memset(p, 1, 1 << 20);
        bomb_keep = p; // a visible use, so the compiler cannot elide the allocation
        total += 1 << 20;
    }
    printf("allocated %s\n", total < (64u << 20) ? "under the cap" : "TOO MUCH");
    CHECK(total < (64u << 20));
}

static int
recurse(int n)
{
    volatile char pad[64];
    pad[0] = (char)n;
    return n == 0 ? pad[0] : recurse(n + 1) + pad[0];
}

static void
deep_recursion(void)
{
    printf("recursing\n");
    fflush(stdout);
    recurse(1);
}

static void
spin(void)
{
    printf("spinning\n");
    fflush(stdout);
    for (volatile unsigned long i = 0;; i++) {
    }
}

static void
sleep_forever(void)
{
    printf("sleeping\n");
    fflush(stdout);
    sleep(3600);
}

static void
read_stdin_forever(void)
{
    /* stdin is the CLI's own stdin (a pipe kept open): a timeout must still stop the read. */
    printf("reading\n");
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
}

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"dotdot", dotdot},
    {"dotdot_deep", dotdot_deep},
    {"absolute", absolute},
    {"etc_passwd", etc_passwd},
    {"proc_self", proc_self},
    {"symlink_absolute", symlink_absolute},
    {"symlink_relative", symlink_relative},
    {"symlink_chain", symlink_chain},
    {"symlink_nofollow", symlink_nofollow},
    {"symlink_loop", symlink_loop},
    {"guest_symlink_escape", guest_symlink_escape},
    {"guest_symlink_absolute", guest_symlink_absolute},
    {"guest_symlink_dangling", guest_symlink_dangling},
    {"hardlink_out", hardlink_out},
    {"rename_out", rename_out},
    {"unlink_out", unlink_out},
    {"times_out", times_out},
    {"ro_write", ro_write},
    {"ro_create", ro_create},
    {"ro_truncate", ro_truncate},
    {"ro_fd_write", ro_fd_write},
    {"ro_mkdir_rmdir", ro_mkdir_rmdir},
    {"ro_unlink_rename", ro_unlink_rename},
    {"ro_links_times", ro_links_times},
    {"fd_never_granted", fd_never_granted},
    {"env_not_granted", env_not_granted},
    {"huge_output", huge_output},
    {"huge_iovec_count", huge_iovec_count},
    {"oob_args_env_clock", oob_args_env_clock},
    {"oob_fd_calls", oob_fd_calls},
    {"oob_path_calls", oob_path_calls},
    {"path_garbage", path_garbage},
    {"readdir_outside", readdir_outside},
    {"sockets", sockets},
    {"close_preopen_reopen", close_preopen_reopen},
    {"too_many_fds", too_many_fds},
    {"memory_bomb", memory_bomb},
    {"deep_recursion", deep_recursion},
    {"spin", spin},
    {"sleep_forever", sleep_forever},
    {"read_stdin_forever", read_stdin_forever},
};

int
main(int argc, char **argv)
{
    if (argc < 2) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            printf("%s\n", cases[i].name);
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            cases[i].fn();
            return check_done(argv[1]);
        }
    }
    printf("unknown case %s\n", argv[1]);
    return 2;
}
