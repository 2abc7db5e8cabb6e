/* SPDX-License-Identifier: Apache-2.0 */
/* Files and directories beneath a read-write mount: every fd_* and path_* function through
 * wasi-libc and, where libc hides a call, through the raw ABI. Prints a deterministic log. */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int
cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
list(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) {
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 64) {
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp);
    printf("ls %s:", dir);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

int
main(void)
{
    /* Reading from the read-only mount. */
    FILE *f = fopen("/ro/hello.txt", "r");
    char line[64] = {0};
    CHECK(f && fgets(line, sizeof line, f));
    printf("ro: %s", line);
    if (f) {
        fclose(f);
    }
    f = fopen("/ro/sub/inner.txt", "r");
    CHECK(f && fgets(line, sizeof line, f));
    printf("ro/sub: %s", line);
    if (f) {
        fclose(f);
    }
    f = fopen("/ro/inside_link", "r"); // a symlink that stays inside
    CHECK(f && fgets(line, sizeof line, f));
    printf("inside_link: %s", line);
    if (f) {
        fclose(f);
    }

    /* Create, write, seek, tell, pread, pwrite, read back. */
    int fd = open("/rw/a.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "0123456789", 10) == 10);
    CHECK(lseek(fd, 0, SEEK_CUR) == 10);
    CHECK(lseek(fd, 2, SEEK_SET) == 2);
    char b[16] = {0};
    CHECK(read(fd, b, 3) == 3 && memcmp(b, "234", 3) == 0);
    CHECK(pwrite(fd, "AB", 2, 4) == 2);
    CHECK(pread(fd, b, 10, 0) == 10);
    printf("pread: %.10s\n", b);
    CHECK(lseek(fd, -1, SEEK_END) == 9);
    struct iovec iov[2] = {{b, 1}, {b + 1, 1}};
    CHECK(lseek(fd, 0, SEEK_SET) == 0 && readv(fd, iov, 2) == 2 && b[0] == '0' && b[1] == '1');
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 10 && S_ISREG(st.st_mode));
    CHECK(ftruncate(fd, 4) == 0 && fstat(fd, &st) == 0 && st.st_size == 4);
    CHECK(posix_fallocate(fd, 0, 100) == 0 && fstat(fd, &st) == 0 && st.st_size == 100);
    CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0);
    CHECK(fsync(fd) == 0);
    CHECK(fdatasync(fd) == 0);
    struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
    CHECK(futimens(fd, ts) == 0 && fstat(fd, &st) == 0 && st.st_mtim.tv_sec == 1200000000);
    printf("size after fallocate: %lld\n", (long long)st.st_size);
    CHECK(close(fd) == 0);

    /* Append mode and fcntl flags. */
    fd = open("/rw/log.txt", O_CREAT | O_WRONLY | O_APPEND, 0644);
    CHECK(fd >= 0 && write(fd, "one\n", 4) == 4);
    CHECK((fcntl(fd, F_GETFL) & O_APPEND) != 0);
    CHECK(fcntl(fd, F_SETFL, 0) == 0 && (fcntl(fd, F_GETFL) & O_APPEND) == 0);
    CHECK(fcntl(fd, F_SETFL, O_APPEND) == 0);
    CHECK(lseek(fd, 0, SEEK_SET) == 0 && write(fd, "two\n", 4) == 4);
    close(fd);
    f = fopen("/rw/log.txt", "r");
    char all[32] = {0};
    CHECK(f && fread(all, 1, sizeof all - 1, f) == 8);
    printf("append: %s", all);
    if (f) {
        fclose(f);
    }

    /* Directories, links, renames, symlinks. */
    CHECK(mkdir("/rw/d", 0755) == 0);
    CHECK(mkdir("/rw/d", 0755) == -1 && errno == EEXIST);
    CHECK(mkdir("/rw/d/e", 0755) == 0);
    CHECK(rename("/rw/a.txt", "/rw/d/b.txt") == 0);
    CHECK(access("/rw/a.txt", F_OK) == -1 && errno == ENOENT);
    CHECK(link("/rw/d/b.txt", "/rw/d/hard.txt") == 0);
    CHECK(stat("/rw/d/hard.txt", &st) == 0 && st.st_nlink == 2);
    CHECK(symlink("b.txt", "/rw/d/soft") == 0);
    char target[64] = {0};
    CHECK(readlink("/rw/d/soft", target, sizeof target) == 5);
    printf("readlink: %s\n", target);
    CHECK(lstat("/rw/d/soft", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(stat("/rw/d/soft", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 100);
    CHECK(symlink("../d/e", "/rw/d/dirlink") == 0);
    CHECK(open("/rw/d/dirlink/new.txt", O_CREAT | O_WRONLY, 0644) >= 0);
    CHECK(access("/rw/d/e/new.txt", F_OK) == 0);
    CHECK(utimensat(AT_FDCWD, "/rw/d/e/new.txt", ts, 0) == 0);
    CHECK(stat("/rw/d/e/new.txt", &st) == 0 && st.st_atim.tv_sec == 1000000000);
    list("/rw/d");
    list("/ro");
    CHECK(rmdir("/rw/d/e") == -1 && errno == ENOTEMPTY);
    CHECK(unlink("/rw/d/e/new.txt") == 0);
    CHECK(rmdir("/rw/d/e") == 0);
    CHECK(unlink("/rw/d") == -1);
    CHECK(unlink("/rw/d/soft") == 0 && unlink("/rw/d/dirlink") == 0);
    CHECK(unlink("/rw/d/hard.txt") == 0 && unlink("/rw/d/b.txt") == 0);
    CHECK(rmdir("/rw/d") == 0);
    CHECK(open("/rw/missing", O_RDONLY) == -1 && errno == ENOENT);
    CHECK(open("/rw/log.txt", O_CREAT | O_EXCL | O_WRONLY, 0644) == -1 && errno == EEXIST);
    CHECK(open("/rw/log.txt/", O_RDONLY) == -1 && errno == ENOTDIR);
    CHECK(open("/rw/log.txt", O_RDONLY | O_DIRECTORY) == -1 && errno == ENOTDIR);

    /* Raw calls that libc hides: prestat, fdstat rights, renumber. */
    __wasi_prestat_t pre;
    CHECK_ERRNO(__wasi_fd_prestat_get(RW_FD, &pre), 0);
    char pname[16] = {0};
    CHECK_ERRNO(__wasi_fd_prestat_dir_name(RW_FD, (uint8_t *)pname, pre.u.dir.pr_name_len), 0);
    printf("preopen %d: %s\n", RW_FD, pname);
    CHECK_ERRNO(__wasi_fd_prestat_get(1, &pre), __WASI_ERRNO_BADF);
    __wasi_fd_t a, c2;
    CHECK_ERRNO(raw_open(RW_FD, "log.txt", 0, 0, R_READ, &a), 0);
    CHECK_ERRNO(raw_open(RW_FD, "log.txt", 0, 0, R_READ, &c2), 0);
    __wasi_fdstat_t fst;
    CHECK_ERRNO(__wasi_fd_fdstat_get(a, &fst), 0);
    CHECK(fst.fs_filetype == __WASI_FILETYPE_REGULAR_FILE);
    CHECK(!(fst.fs_rights_base & __WASI_RIGHTS_FD_WRITE));
    CHECK_ERRNO(__wasi_fd_fdstat_set_rights(a, __WASI_RIGHTS_FD_READ, 0), 0);
    __wasi_filesize_t pos;
    CHECK_ERRNO(__wasi_fd_seek(a, 0, __WASI_WHENCE_SET, &pos), __WASI_ERRNO_NOTCAPABLE);
    CHECK_ERRNO(__wasi_fd_fdstat_set_rights(a, R_READ, 0), __WASI_ERRNO_NOTCAPABLE);
    CHECK_ERRNO(__wasi_fd_renumber(a, c2), 0);
    CHECK_ERRNO(__wasi_fd_close(a), __WASI_ERRNO_BADF);
    CHECK_ERRNO(__wasi_fd_fdstat_get(c2, &fst), 0);
    CHECK(fst.fs_rights_base == __WASI_RIGHTS_FD_READ);
    CHECK_ERRNO(__wasi_fd_close(c2), 0);
    CHECK_ERRNO(__wasi_fd_close(c2), __WASI_ERRNO_BADF);
    CHECK(unlink("/rw/log.txt") == 0);
    list("/rw");
    return check_done("files");
}
