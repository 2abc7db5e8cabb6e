/* SPDX-License-Identifier: Apache-2.0 */
/* POSIX (Linux) implementation of platform/fs.h: beneath-the-root path resolution with
 * openat2(RESOLVE_BENEATH) and a portable component-by-component fallback, and getrandom. */
#include "platform/fs.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/openat2.h>
#include <sys/random.h>
#define HAVE_OPENAT2 1
#else
#define HAVE_OPENAT2 0
#endif

/* 0 = not probed yet, 1 = openat2 works, 2 = unavailable (old kernel or seccomp). */
static atomic_int openat2_state;
static atomic_bool force_walk;

void
cap_fs_force_walk(bool on)
{
    atomic_store(&force_walk, on);
}

/* Joins a + "/" + b into a new allocation (a may be empty). NULL when out of memory. */
static char *
join(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    char *s = cap_alloc(alen + 1 + blen + 1);
    if (!s) {
        return NULL;
    }
    memcpy(s, a, alen);
    size_t n = alen;
    if (alen > 0) {
        s[n++] = '/';
    }
    memcpy(s + n, b, blen + 1);
    return s;
}

/* Reads the target of the symlink `name` in dirfd into a new allocation. A symlink whose target
 * is absolute or empty can only lead outside (or nowhere): CAP_FS_ESCAPE / -ENOENT. */
static int
read_link(int dirfd, const char *name, char **out)
{
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dirfd, name, buf, sizeof buf - 1);
    if (n < 0) {
        return -errno;
    }
    if ((size_t)n >= sizeof buf - 1) {
        return -ENAMETOOLONG;
    }
    if (n == 0) {
        return -ENOENT;
    }
    if (buf[0] == '/') {
        return CAP_FS_ESCAPE;
    }
    buf[n] = '\0';
    *out = cap_strdup(buf);
    return *out ? 0 : -ENOMEM;
}

/* The portable walk: one component at a time, each opened O_PATH|O_NOFOLLOW relative to the
 * directory before it, keeping a stack of the directories entered so that ".." pops instead of
 * asking the kernel (so ".." can never climb above `root`). Symlinks are read and their target
 * spliced in front of the rest of the path, then walked the same way. */
static int
walk_dir(int root, const char *path)
{
    int ret = 0;
    int links = 0;
    int *stack = NULL;
    size_t depth = 0, cap = 0;
    char *buf = cap_strdup(path);
    if (!buf) {
        return -ENOMEM;
    }
    size_t pos = 0;
    for (;;) {
        while (buf[pos] == '/') {
            pos++;
        }
        if (buf[pos] == '\0') {
            break;
        }
        size_t start = pos;
        while (buf[pos] != '\0' && buf[pos] != '/') {
            pos++;
        }
        size_t n = pos - start;
        if (n > NAME_MAX) {
            ret = -ENAMETOOLONG;
            goto out;
        }
        char comp[NAME_MAX + 1];
        memcpy(comp, buf + start, n);
        comp[n] = '\0';
        int cur = depth ? stack[depth - 1] : root;
        if (strcmp(comp, ".") == 0) {
            continue;
        }
        if (strcmp(comp, "..") == 0) {
            if (depth == 0) {
                ret = CAP_FS_ESCAPE;
                goto out;
            }
            close(stack[--depth]);
            continue;
        }
        int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            ret = -errno;
            goto out;
        }
        struct stat st;
        if (fstat(fd, &st) != 0) {
            ret = -errno;
            close(fd);
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            char *target = NULL;
            if (++links > CAP_FS_MAX_SYMLINKS) {
                ret = -ELOOP;
                close(fd);
                goto out;
            }
            ret = read_link(fd, "", &target);
            close(fd);
            if (ret != 0) {
                goto out;
            }
            char *next = join(target, strlen(target), buf + pos);
            cap_free(target);
            if (!next) {
                ret = -ENOMEM;
                goto out;
            }
            cap_free(buf);
            buf = next;
            pos = 0;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            close(fd);
            ret = -ENOTDIR;
            goto out;
        }
        if (depth == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            int *ns = cap_realloc(stack, ncap * sizeof *ns);
            if (!ns) {
                close(fd);
                ret = -ENOMEM;
                goto out;
            }
            stack = ns;
            cap = ncap;
        }
        stack[depth++] = fd;
    }
    if (depth > 0) {
        ret = stack[--depth];
    } else {
        ret = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (ret < 0) {
            ret = -errno;
        }
    }
out:
    while (depth > 0) {
        close(stack[--depth]);
    }
    cap_free(stack);
    cap_free(buf);
    return ret;
}

#if HAVE_OPENAT2
/* openat2 with RESOLVE_BENEATH: the kernel refuses ".." above root, absolute paths and
 * absolute symlinks (EXDEV), and we also refuse /proc-style magic links. Returns the fd, or
 * -errno, or CAP_FS_ESCAPE, or INT_MIN when openat2 cannot be used (caller falls back). */
static int
beneath_openat2(int root, const char *path)
{
    int state = atomic_load(&openat2_state);
    if (state == 0 && getenv("CAPSULE_FORCE_PATH_WALK")) {
        /* Test knob: the sandbox suite runs once more through the portable walk, which must
         * refuse exactly what openat2 refuses. Either way the guest stays beneath its root. */
        atomic_store(&openat2_state, 2);
        return INT_MIN;
    }
    if (state == 2 || atomic_load(&force_walk)) {
        return INT_MIN;
    }
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 8; attempt++) {
        long fd = syscall(SYS_openat2, root, path[0] ? path : ".", &how, sizeof how);
        if (fd >= 0) {
            atomic_store(&openat2_state, 1);
            return (int)fd;
        }
        int e = errno;
        if (e == EAGAIN) {
            continue; // a concurrent rename raced the lookup: the kernel asks us to retry
        }
        if (e == ENOSYS || (state == 0 && (e == EPERM || e == EINVAL))) {
            atomic_store(&openat2_state, 2);
            return INT_MIN;
        }
        return e == EXDEV ? CAP_FS_ESCAPE : -e;
    }
    return INT_MIN;
}
#endif

int
cap_fs_open_dir_beneath(int root, const char *path)
{
    if (path[0] == '/') {
        return CAP_FS_ESCAPE;
    }
#if HAVE_OPENAT2
    int fd = beneath_openat2(root, path);
    if (fd != INT_MIN) {
        return fd;
    }
#endif
    return walk_dir(root, path);
}

int
cap_fs_resolve(int root, const char *path, bool follow_final, int *out_dirfd, char **out_name,
               bool *out_trailing)
{
    int ret = 0;
    int links = 0;
    bool trailing = false;
    char *p = cap_strdup(path);
    if (!p) {
        return -ENOMEM;
    }
    for (;;) {
        size_t len = strlen(p);
        if (len == 0) {
            ret = -ENOENT;
            goto fail;
        }
        if (p[0] == '/') {
            ret = CAP_FS_ESCAPE;
            goto fail;
        }
        while (len > 0 && p[len - 1] == '/') {
            p[--len] = '\0';
            trailing = true;
        }
        char *slash = strrchr(p, '/');
        const char *base = slash ? slash + 1 : p;
        size_t dirlen = slash ? (size_t)(slash - p) : 0;
        if (strlen(base) > NAME_MAX) {
            ret = -ENAMETOOLONG;
            goto fail;
        }
        if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
            int fd = cap_fs_open_dir_beneath(root, p);
            if (fd < 0) {
                ret = fd;
                goto fail;
            }
            char *name = cap_strdup(".");
            if (!name) {
                close(fd);
                ret = -ENOMEM;
                goto fail;
            }
            *out_dirfd = fd;
            *out_name = name;
            *out_trailing = trailing;
            cap_free(p);
            return 0;
        }
        char *dir = cap_strndup(p, dirlen);
        if (!dir) {
            ret = -ENOMEM;
            goto fail;
        }
        int dfd = cap_fs_open_dir_beneath(root, dir);
        if (dfd < 0) {
            cap_free(dir);
            ret = dfd;
            goto fail;
        }
        struct stat st;
        if (follow_final && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode)) {
            char *target = NULL;
            if (++links > CAP_FS_MAX_SYMLINKS) {
                ret = -ELOOP;
            } else {
                ret = read_link(dfd, base, &target);
            }
            close(dfd);
            if (ret != 0) {
                cap_free(dir);
                goto fail;
            }
            char *next = join(dir, dirlen, target);
            cap_free(dir);
            cap_free(target);
            if (!next) {
                ret = -ENOMEM;
                goto fail;
            }
            cap_free(p);
            p = next;
            continue;
        }
        cap_free(dir);
        char *name = cap_strdup(base);
        if (!name) {
            close(dfd);
            ret = -ENOMEM;
            goto fail;
        }
        *out_dirfd = dfd;
        *out_name = name;
        *out_trailing = trailing;
        cap_free(p);
        return 0;
    }
fail:
    cap_free(p);
    return ret;
}

int
cap_fs_random(void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len > 0) {
#if defined(__linux__)
        ssize_t n = getrandom(b, len > 65536 ? 65536 : len, 0);
#else
        ssize_t n =
            getentropy(b, len > 256 ? 256 : len) == 0 ? (ssize_t)(len > 256 ? 256 : len) : -1;
#endif
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}
