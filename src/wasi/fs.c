/* SPDX-License-Identifier: Apache-2.0 */
/* WASI fd_* and path_* functions. Every descriptor is looked up with the rights its call needs,
 * every guest pointer is bounds-checked before anything happens, every path is resolved beneath
 * its directory descriptor (platform/fs.h), and read-only mounts refuse every write with ROFS. */
#include "platform/fs.h"
#include "util/alloc.h"
#include "wasi/wasi_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define U32(i) ((uint32_t)a[i])
#define U64(i) ((uint64_t)a[i])

/* Longest guest path accepted, as Linux's PATH_MAX. */
#define MAX_PATH 4096u
/* Host iovecs handed to one readv/writev call. */
#define IOV_BATCH 64

static void
le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void
le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void
le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t
host_err(void)
{
    return cap_wasi_errno(errno);
}

static uint8_t
filetype_of(mode_t m)
{
    if (S_ISDIR(m)) {
        return WASI_FILETYPE_DIRECTORY;
    }
    if (S_ISREG(m)) {
        return WASI_FILETYPE_REGULAR_FILE;
    }
    if (S_ISLNK(m)) {
        return WASI_FILETYPE_SYMBOLIC_LINK;
    }
    if (S_ISCHR(m)) {
        return WASI_FILETYPE_CHARACTER_DEVICE;
    }
    if (S_ISBLK(m)) {
        return WASI_FILETYPE_BLOCK_DEVICE;
    }
    if (S_ISSOCK(m)) {
        return WASI_FILETYPE_SOCKET_STREAM;
    }
    return WASI_FILETYPE_UNKNOWN;
}

static uint64_t
ts_ns(struct timespec t)
{
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* filestat: dev u64 @0, ino u64 @8, filetype u8 @16, nlink u64 @24, size u64 @32,
 * atim u64 @40, mtim u64 @48, ctim u64 @56. */
static void
put_filestat(uint8_t *p, const struct stat *st)
{
    memset(p, 0, 64);
    if (!st) {
        return;
    }
    le64(p, (uint64_t)st->st_dev);
    le64(p + 8, (uint64_t)st->st_ino);
    p[16] = filetype_of(st->st_mode);
    le64(p + 24, (uint64_t)st->st_nlink);
    le64(p + 32, (uint64_t)st->st_size);
    le64(p + 40, ts_ns(st->st_atim));
    le64(p + 48, ts_ns(st->st_mtim));
    le64(p + 56, ts_ns(st->st_ctim));
}

/* Copies a guest path into a new NUL-terminated host string. */
static int32_t
get_path(cap_caller_t *c, uint32_t ptr, uint32_t len, char **out)
{
    if (len > MAX_PATH) {
        return WASI_ENAMETOOLONG;
    }
    const uint8_t *p = cap_wasi_mem(c, ptr, len);
    if (!p) {
        return WASI_EFAULT;
    }
    if (memchr(p, '\0', len)) {
        return WASI_EINVAL;
    }
    char *s = cap_strndup((const char *)p, len);
    if (!s) {
        return WASI_ENOMEM;
    }
    *out = s;
    return WASI_ESUCCESS;
}

/* Looks up a directory descriptor for a path call: BADF, NOTCAPABLE (missing right), ROFS
 * (a write beneath a read-only mount), NOTDIR. */
static int32_t
get_dir(cap_wasi_t *w, uint32_t fd, uint64_t rights, bool writes, wasi_fd **out)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, fd, 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (writes && e->readonly) {
        return WASI_EROFS;
    }
    if ((e->rights_base & rights) != rights) {
        return WASI_ENOTCAPABLE;
    }
    if (e->kind != FD_HOST || e->filetype != WASI_FILETYPE_DIRECTORY) {
        return WASI_ENOTDIR;
    }
    *out = e;
    return WASI_ESUCCESS;
}

/* Looks up a descriptor for a call that writes to its file: ROFS beneath a read-only mount is
 * reported before a missing right. */
static int32_t
get_writable(cap_wasi_t *w, uint32_t fd, uint64_t rights, wasi_fd **out)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, fd, 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (e->readonly && e->kind == FD_HOST) {
        return WASI_EROFS;
    }
    if ((e->rights_base & rights) != rights) {
        return WASI_ENOTCAPABLE;
    }
    *out = e;
    return WASI_ESUCCESS;
}

/* A guest path resolved beneath a directory descriptor: parent directory + final name. */
typedef struct resolved {
    int dirfd;
    char *name;
    bool trailing;
} resolved;

static void
resolved_free(resolved *r)
{
    if (r->dirfd >= 0) {
        close(r->dirfd);
    }
    cap_free(r->name);
    r->dirfd = -1;
    r->name = NULL;
}

/* True when the guest path ends in '/': POSIX then resolves the final symlink, if any. */
static bool
ends_with_slash(cap_caller_t *c, uint32_t ptr, uint32_t len)
{
    const uint8_t *p = len ? cap_wasi_mem(c, ptr, len) : NULL;
    return p && p[len - 1] == '/';
}

static int32_t
resolve_path(cap_caller_t *c, wasi_fd *dir, uint32_t ptr, uint32_t len, bool follow, resolved *out)
{
    out->dirfd = -1;
    out->name = NULL;
    char *path = NULL;
    int32_t r = get_path(c, ptr, len, &path);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    int hr = cap_fs_resolve(dir->host, path, follow, &out->dirfd, &out->name, &out->trailing);
    cap_free(path);
    if (hr != 0) {
        out->dirfd = -1;
        out->name = NULL;
        return cap_wasi_errno(hr);
    }
    return WASI_ESUCCESS;
}

/* The final name with its trailing slash restored, for calls that never follow the final
 * component (mkdir, unlink, rmdir, rename, link, symlink) and check "name/" themselves. */
static char *
slashed(const resolved *r)
{
    size_t n = strlen(r->name);
    char *s = cap_alloc(n + 2);
    if (s) {
        memcpy(s, r->name, n);
        s[n] = r->trailing ? '/' : '\0';
        s[n + 1] = '\0';
    }
    return s;
}

/* ------------------------------------------------------------------ reading and writing */

/* Reads iovec i of the guest's array: buf and len, both bounds-checked. */
static int32_t
iovec_at(cap_caller_t *c, uint32_t iovs, uint32_t i, uint8_t **out_p, uint32_t *out_len)
{
    const uint8_t *v = cap_wasi_mem(c, (uint64_t)iovs + (uint64_t)i * 8, 8);
    if (!v) {
        return WASI_EFAULT;
    }
    uint32_t buf = rd32(v), len = rd32(v + 4);
    uint8_t *p = cap_wasi_mem(c, buf, len);
    if (!p) {
        return WASI_EFAULT;
    }
    *out_p = p;
    *out_len = len;
    return WASI_ESUCCESS;
}

/* Validates a whole iovec array before any byte moves, so a bad pointer never leaves a partial
 * effect behind. */
static int32_t
check_iovs(cap_caller_t *c, uint32_t iovs, uint32_t n)
{
    if (!cap_wasi_mem(c, iovs, (uint64_t)n * 8)) {
        return WASI_EFAULT;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *p;
        uint32_t len;
        int32_t r = iovec_at(c, iovs, i, &p, &len);
        if (r != WASI_ESUCCESS) {
            return r;
        }
    }
    return WASI_ESUCCESS;
}

static bool
may_block(const wasi_fd *e)
{
    return e->filetype != WASI_FILETYPE_REGULAR_FILE && e->filetype != WASI_FILETYPE_DIRECTORY &&
           !e->nonblock;
}

/* Moves bytes between guest iovecs and a host descriptor, IOV_BATCH iovecs per system call,
 * stopping at the first short transfer. The total never exceeds UINT32_MAX (the result type). */
static int32_t
host_io(cap_wasi_t *w, cap_caller_t *c, wasi_fd *e, uint32_t iovs, uint32_t n, bool write,
        bool positional, uint64_t off, uint32_t *out_total)
{
    uint64_t total = 0;
    uint32_t i = 0;
    if (positional && off > (uint64_t)INT64_MAX) {
        return WASI_EINVAL;
    }
    if (!positional && may_block(e)) {
        int32_t r = cap_wasi_wait_fd(w, c, e->host, write ? POLLOUT : POLLIN);
        if (r != WASI_ESUCCESS) {
            return r;
        }
    }
    while (i < n) {
        struct iovec v[IOV_BATCH];
        int cnt = 0;
        uint64_t want = 0;
        while (i < n && cnt < IOV_BATCH) {
            uint8_t *p;
            uint32_t len;
            int32_t r = iovec_at(c, iovs, i, &p, &len);
            if (r != WASI_ESUCCESS) {
                return r;
            }
            if (total + want + len > UINT32_MAX) {
                len = (uint32_t)(UINT32_MAX - total - want);
            }
            i++;
            if (len == 0) {
                continue;
            }
            v[cnt].iov_base = p;
            v[cnt].iov_len = len;
            cnt++;
            want += len;
        }
        if (cnt == 0) {
            break;
        }
        ssize_t got;
        off_t pos = (off_t)(off + total);
        do {
            if (write) {
                got = positional ? pwritev(e->host, v, cnt, pos) : writev(e->host, v, cnt);
            } else {
                got = positional ? preadv(e->host, v, cnt, pos) : readv(e->host, v, cnt);
            }
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            if (total > 0) {
                break; // report what was transferred; the error shows on the next call
            }
            return host_err();
        }
        total += (uint64_t)got;
        if ((uint64_t)got < want || total >= UINT32_MAX) {
            break;
        }
        if (!write && may_block(e)) {
            break; // a stream gave what it had: do not block again for more
        }
    }
    *out_total = (uint32_t)total;
    return WASI_ESUCCESS;
}

static int32_t
do_read(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a, bool positional)
{
    uint32_t fd = U32(0), iovs = U32(1), n = U32(2);
    uint64_t off = positional ? U64(3) : 0;
    uint32_t out_ptr = positional ? U32(4) : U32(3);
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, fd, 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (positional && e->kind != FD_HOST) {
        return WASI_ESPIPE;
    }
    uint64_t need = WASI_RIGHT_FD_READ | (positional ? WASI_RIGHT_FD_SEEK : 0);
    if ((e->rights_base & need) != need) {
        return e->filetype == WASI_FILETYPE_DIRECTORY ? WASI_EISDIR : WASI_ENOTCAPABLE;
    }
    if (!cap_wasi_mem(c, out_ptr, 4) || check_iovs(c, iovs, n) != WASI_ESUCCESS) {
        return WASI_EFAULT;
    }
    uint32_t total = 0;
    if (e->kind == FD_STDIN_MEM) {
        for (uint32_t i = 0; i < n && w->stdin_pos < w->stdin_len; i++) {
            uint8_t *p;
            uint32_t len;
            iovec_at(c, iovs, i, &p, &len);
            size_t left = w->stdin_len - w->stdin_pos;
            size_t take = len < left ? len : left;
            if ((uint64_t)total + take > UINT32_MAX) {
                take = UINT32_MAX - total;
            }
            memcpy(p, w->stdin_bytes + w->stdin_pos, take);
            w->stdin_pos += take;
            total += (uint32_t)take;
        }
    } else if (e->kind == FD_HOST) {
        r = host_io(w, c, e, iovs, n, false, positional, off, &total);
        if (r != WASI_ESUCCESS) {
            return r;
        }
    } else {
        return WASI_EBADF;
    }
    return cap_wasi_put_u32(c, out_ptr, total);
}

static int32_t
do_write(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a, bool positional)
{
    uint32_t fd = U32(0), iovs = U32(1), n = U32(2);
    uint64_t off = positional ? U64(3) : 0;
    uint32_t out_ptr = positional ? U32(4) : U32(3);
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, fd, 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (positional && e->kind != FD_HOST) {
        return WASI_ESPIPE;
    }
    uint64_t need = WASI_RIGHT_FD_WRITE | (positional ? WASI_RIGHT_FD_SEEK : 0);
    if ((e->rights_base & need) != need) {
        if (e->readonly && e->kind == FD_HOST && e->filetype != WASI_FILETYPE_DIRECTORY) {
            return WASI_EROFS;
        }
        return e->filetype == WASI_FILETYPE_DIRECTORY ? WASI_EISDIR : WASI_ENOTCAPABLE;
    }
    if (!cap_wasi_mem(c, out_ptr, 4) || check_iovs(c, iovs, n) != WASI_ESUCCESS) {
        return WASI_EFAULT;
    }
    uint32_t total = 0;
    if (e->kind == FD_OUT) {
        for (uint32_t i = 0; i < n; i++) {
            uint8_t *p;
            uint32_t len;
            iovec_at(c, iovs, i, &p, &len);
            if ((uint64_t)total + len > UINT32_MAX) {
                len = UINT32_MAX - total;
            }
            cap_wasi_output(w, e->stream, p, len);
            total += len;
        }
    } else if (e->kind == FD_HOST) {
        r = host_io(w, c, e, iovs, n, true, positional, off, &total);
        if (r != WASI_ESUCCESS) {
            return r;
        }
    } else {
        return WASI_EBADF;
    }
    return cap_wasi_put_u32(c, out_ptr, total);
}

int32_t
cap_wasi_fd_read(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    return do_read(w, c, a, false);
}

int32_t
cap_wasi_fd_pread(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    return do_read(w, c, a, true);
}

int32_t
cap_wasi_fd_write(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    return do_write(w, c, a, false);
}

int32_t
cap_wasi_fd_pwrite(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    return do_write(w, c, a, true);
}

/* ------------------------------------------------------------------ descriptor calls */

int32_t
cap_wasi_fd_close(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    cap_wasi_fd_release(e);
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_renumber(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    uint32_t from = U32(0), to = U32(1);
    wasi_fd *ef, *et;
    int32_t r = cap_wasi_fd_get(w, from, 0, &ef);
    if (r == WASI_ESUCCESS) {
        r = cap_wasi_fd_get(w, to, 0, &et);
    }
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (from == to) {
        return WASI_ESUCCESS;
    }
    cap_wasi_fd_release(et);
    *et = *ef;
    memset(ef, 0, sizeof *ef);
    ef->kind = FD_FREE;
    ef->host = -1;
    return WASI_ESUCCESS;
}

static int32_t
sync_common(cap_wasi_t *w, uint32_t fd, uint64_t right, bool data)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, fd, right, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (e->kind != FD_HOST) {
        return WASI_EINVAL;
    }
    if ((data ? fdatasync(e->host) : fsync(e->host)) != 0) {
        return host_err();
    }
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_sync(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    return sync_common(w, U32(0), WASI_RIGHT_FD_SYNC, false);
}

int32_t
cap_wasi_fd_datasync(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    return sync_common(w, U32(0), WASI_RIGHT_FD_DATASYNC, true);
}

static uint16_t
host_fdflags(const wasi_fd *e)
{
    if (e->kind != FD_HOST) {
        return e->nonblock ? WASI_FDFLAG_NONBLOCK : 0;
    }
    int fl = fcntl(e->host, F_GETFL);
    uint16_t f = 0;
    if (fl < 0) {
        return 0;
    }
    if (fl & O_APPEND) {
        f |= WASI_FDFLAG_APPEND;
    }
    if ((fl & O_SYNC) == O_SYNC) {
        f |= WASI_FDFLAG_SYNC;
    } else if (fl & O_DSYNC) {
        f |= WASI_FDFLAG_DSYNC;
    }
    if (e->nonblock) {
        f |= WASI_FDFLAG_NONBLOCK;
    }
    return f;
}

int32_t
cap_wasi_fd_fdstat_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    uint8_t *p = cap_wasi_mem(c, U32(1), 24);
    if (!p) {
        return WASI_EFAULT;
    }
    memset(p, 0, 24);
    p[0] = e->filetype;
    le16(p + 2, host_fdflags(e));
    le64(p + 8, e->rights_base);
    le64(p + 16, e->rights_inheriting);
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_fdstat_set_flags(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    uint32_t flags = U32(1);
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), WASI_RIGHT_FD_FDSTAT_SET_FLAGS, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (flags & ~(uint32_t)(WASI_FDFLAG_APPEND | WASI_FDFLAG_DSYNC | WASI_FDFLAG_NONBLOCK |
                            WASI_FDFLAG_RSYNC | WASI_FDFLAG_SYNC)) {
        return WASI_EINVAL;
    }
    if (flags & (WASI_FDFLAG_DSYNC | WASI_FDFLAG_RSYNC | WASI_FDFLAG_SYNC)) {
        return WASI_ENOTSUP; // Linux cannot change these on an open descriptor
    }
    if (e->kind == FD_HOST) {
        int fl = fcntl(e->host, F_GETFL);
        if (fl < 0) {
            return host_err();
        }
        fl &= ~(O_APPEND | O_NONBLOCK);
        if (flags & WASI_FDFLAG_APPEND) {
            fl |= O_APPEND;
        }
        if (flags & WASI_FDFLAG_NONBLOCK) {
            fl |= O_NONBLOCK;
        }
        if (fcntl(e->host, F_SETFL, fl) != 0) {
            return host_err();
        }
    }
    e->nonblock = (flags & WASI_FDFLAG_NONBLOCK) != 0;
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_fdstat_set_rights(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    uint64_t base = U64(1), inh = U64(2);
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    /* Rights can only shrink. */
    if ((base & ~e->rights_base) || (inh & ~e->rights_inheriting)) {
        return WASI_ENOTCAPABLE;
    }
    e->rights_base = base;
    e->rights_inheriting = inh;
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_filestat_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), WASI_RIGHT_FD_FILESTAT_GET, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    uint8_t *p = cap_wasi_mem(c, U32(1), 64);
    if (!p) {
        return WASI_EFAULT;
    }
    if (e->kind != FD_HOST) {
        put_filestat(p, NULL);
        p[16] = e->filetype;
        return WASI_ESUCCESS;
    }
    struct stat st;
    if (fstat(e->host, &st) != 0) {
        return host_err();
    }
    put_filestat(p, &st);
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_filestat_set_size(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    wasi_fd *e;
    int32_t r = get_writable(w, U32(0), WASI_RIGHT_FD_FILESTAT_SET_SIZE, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (e->kind != FD_HOST) {
        return WASI_EINVAL;
    }
    if (U64(1) > (uint64_t)INT64_MAX) {
        return WASI_EINVAL;
    }
    if (ftruncate(e->host, (off_t)U64(1)) != 0) {
        return host_err();
    }
    return WASI_ESUCCESS;
}

/* Builds utimensat's times from WASI's (atim, mtim, fstflags). */
static int32_t
make_times(uint64_t atim, uint64_t mtim, uint32_t fst, struct timespec ts[2])
{
    if (fst & ~(uint32_t)0xF) {
        return WASI_EINVAL;
    }
    if (((fst & WASI_FST_ATIM) && (fst & WASI_FST_ATIM_NOW)) ||
        ((fst & WASI_FST_MTIM) && (fst & WASI_FST_MTIM_NOW))) {
        return WASI_EINVAL;
    }
    uint64_t v[2] = {atim, mtim};
    uint32_t set[2] = {WASI_FST_ATIM, WASI_FST_MTIM},
             now[2] = {WASI_FST_ATIM_NOW, WASI_FST_MTIM_NOW};
    for (int i = 0; i < 2; i++) {
        ts[i].tv_sec = 0;
        if (fst & now[i]) {
            ts[i].tv_nsec = UTIME_NOW;
        } else if (fst & set[i]) {
            ts[i].tv_sec = (time_t)(v[i] / 1000000000ull);
            ts[i].tv_nsec = (long)(v[i] % 1000000000ull);
        } else {
            ts[i].tv_nsec = UTIME_OMIT;
        }
    }
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_filestat_set_times(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    wasi_fd *e;
    int32_t r = get_writable(w, U32(0), WASI_RIGHT_FD_FILESTAT_SET_TIMES, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    struct timespec ts[2];
    r = make_times(U64(1), U64(2), U32(3), ts);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (e->kind != FD_HOST) {
        return WASI_EINVAL;
    }
    if (futimens(e->host, ts) != 0) {
        return host_err();
    }
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_advise(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    static const int advice[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                                 POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE};
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), WASI_RIGHT_FD_ADVISE, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    uint32_t adv = U32(3);
    if (adv > 5 || U64(1) > (uint64_t)INT64_MAX || U64(2) > (uint64_t)INT64_MAX) {
        return WASI_EINVAL;
    }
    if (e->kind != FD_HOST) {
        return WASI_ESPIPE;
    }
    if (e->filetype == WASI_FILETYPE_DIRECTORY) {
        return WASI_EBADF;
    }
    int hr = posix_fadvise(e->host, (off_t)U64(1), (off_t)U64(2), advice[adv]);
    return hr == 0 ? WASI_ESUCCESS : cap_wasi_errno(hr);
}

int32_t
cap_wasi_fd_allocate(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    wasi_fd *e;
    int32_t r = get_writable(w, U32(0), WASI_RIGHT_FD_ALLOCATE, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    uint64_t off = U64(1), len = U64(2);
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off) {
        return WASI_EFBIG;
    }
    if (e->kind != FD_HOST || e->filetype != WASI_FILETYPE_REGULAR_FILE) {
        return WASI_EBADF;
    }
    if (len == 0) {
        return WASI_EINVAL;
    }
    int hr = posix_fallocate(e->host, (off_t)off, (off_t)len);
    return hr == 0 ? WASI_ESUCCESS : cap_wasi_errno(hr);
}

int32_t
cap_wasi_fd_seek(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    int64_t off = (int64_t)U64(1);
    uint32_t whence = U32(2), out = U32(3);
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (e->kind != FD_HOST) {
        return WASI_ESPIPE;
    }
    uint64_t need =
        (whence == WASI_WHENCE_CUR && off == 0) ? WASI_RIGHT_FD_TELL : WASI_RIGHT_FD_SEEK;
    if (!(e->rights_base & (need | WASI_RIGHT_FD_SEEK))) {
        return e->filetype == WASI_FILETYPE_DIRECTORY ? WASI_EBADF : WASI_ENOTCAPABLE;
    }
    if (!cap_wasi_mem(c, out, 8)) {
        return WASI_EFAULT;
    }
    int hw;
    switch (whence) {
    case WASI_WHENCE_SET:
        hw = SEEK_SET;
        break;
    case WASI_WHENCE_CUR:
        hw = SEEK_CUR;
        break;
    case WASI_WHENCE_END:
        hw = SEEK_END;
        break;
    default:
        return WASI_EINVAL;
    }
    off_t pos = lseek(e->host, (off_t)off, hw);
    if (pos < 0) {
        return host_err();
    }
    return cap_wasi_put_u64(c, out, (uint64_t)pos);
}

int32_t
cap_wasi_fd_tell(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (e->kind != FD_HOST) {
        return WASI_ESPIPE;
    }
    if (!(e->rights_base & (WASI_RIGHT_FD_TELL | WASI_RIGHT_FD_SEEK))) {
        return WASI_ENOTCAPABLE;
    }
    if (!cap_wasi_mem(c, U32(1), 8)) {
        return WASI_EFAULT;
    }
    off_t pos = lseek(e->host, 0, SEEK_CUR);
    if (pos < 0) {
        return host_err();
    }
    return cap_wasi_put_u64(c, U32(1), (uint64_t)pos);
}

int32_t
cap_wasi_fd_prestat_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (!e->preopen_name) {
        return WASI_EBADF;
    }
    uint8_t *p = cap_wasi_mem(c, U32(1), 8);
    if (!p) {
        return WASI_EFAULT;
    }
    memset(p, 0, 8); // tag 0 = directory
    le32(p + 4, (uint32_t)strlen(e->preopen_name));
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_prestat_dir_name(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), 0, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (!e->preopen_name) {
        return WASI_EBADF;
    }
    size_t n = strlen(e->preopen_name);
    if (U32(2) < n) {
        return WASI_ENAMETOOLONG;
    }
    uint8_t *p = cap_wasi_mem(c, U32(1), n);
    if (!p) {
        return WASI_EFAULT;
    }
    memcpy(p, e->preopen_name, n);
    return WASI_ESUCCESS;
}

/* ------------------------------------------------------------------ directories */

static uint8_t
dtype_of(unsigned char t)
{
    switch (t) {
    case DT_DIR:
        return WASI_FILETYPE_DIRECTORY;
    case DT_REG:
        return WASI_FILETYPE_REGULAR_FILE;
    case DT_LNK:
        return WASI_FILETYPE_SYMBOLIC_LINK;
    case DT_CHR:
        return WASI_FILETYPE_CHARACTER_DEVICE;
    case DT_BLK:
        return WASI_FILETYPE_BLOCK_DEVICE;
    case DT_SOCK:
        return WASI_FILETYPE_SOCKET_STREAM;
    default:
        return WASI_FILETYPE_UNKNOWN;
    }
}

/* Reads the whole listing of a directory descriptor into its cache; fd_readdir's cookies are
 * positions in it (a cookie of 0 reloads it, so rewinddir sees new entries). */
static int32_t
load_dir(wasi_fd *e)
{
    cap_wasi_dircache_clear(&e->dir);
    int dfd = openat(e->host, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return host_err();
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        int32_t r = host_err();
        close(dfd);
        return r;
    }
    size_t cap = 0;
    int32_t r = WASI_ESUCCESS;
    struct dirent *de;
    wasi_dircache *dc = &e->dir;
    while ((de = readdir(d)) != NULL) {
        if (dc->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = cap_realloc(dc->names, ncap * sizeof *nn);
            if (nn) {
                dc->names = nn;
            }
            uint64_t *ni = nn ? cap_realloc(dc->inos, ncap * sizeof *ni) : NULL;
            if (ni) {
                dc->inos = ni;
            }
            uint8_t *nt = ni ? cap_realloc(dc->types, ncap) : NULL;
            if (!nt) {
                r = WASI_ENOMEM;
                break;
            }
            dc->types = nt;
            cap = ncap;
        }
        char *name = cap_strdup(de->d_name);
        if (!name) {
            r = WASI_ENOMEM;
            break;
        }
        uint8_t t = dtype_of(de->d_type);
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                t = filetype_of(st.st_mode);
            }
        }
        dc->names[dc->n] = name;
        dc->inos[dc->n] = (uint64_t)de->d_ino;
        dc->types[dc->n] = t;
        dc->n++;
    }
    closedir(d);
    if (r != WASI_ESUCCESS) {
        cap_wasi_dircache_clear(&e->dir);
    }
    return r;
}

int32_t
cap_wasi_fd_readdir(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    uint32_t buf = U32(1), len = U32(2), used_ptr = U32(4);
    uint64_t cookie = U64(3);
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, U32(0), WASI_RIGHT_FD_READDIR, &e);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (e->kind != FD_HOST || e->filetype != WASI_FILETYPE_DIRECTORY) {
        return WASI_ENOTDIR;
    }
    uint8_t *out = cap_wasi_mem(c, buf, len);
    if (!out || !cap_wasi_mem(c, used_ptr, 4)) {
        return WASI_EFAULT;
    }
    if (cookie == 0 || !e->dir.names) {
        r = load_dir(e);
        if (r != WASI_ESUCCESS) {
            return r;
        }
    }
    uint32_t used = 0;
    for (uint64_t i = cookie; i < e->dir.n && used < len; i++) {
        uint8_t hdr[24];
        size_t nlen = strlen(e->dir.names[i]);
        memset(hdr, 0, sizeof hdr);
        le64(hdr, i + 1);
        le64(hdr + 8, e->dir.inos[i]);
        le32(hdr + 16, (uint32_t)nlen);
        hdr[20] = e->dir.types[i];
        uint32_t take = len - used < 24 ? len - used : 24;
        memcpy(out + used, hdr, take);
        used += take;
        take = (uint64_t)(len - used) < nlen ? len - used : (uint32_t)nlen;
        memcpy(out + used, e->dir.names[i], take);
        used += take;
    }
    return cap_wasi_put_u32(c, used_ptr, used);
}

/* ------------------------------------------------------------------ path calls */

int32_t
cap_wasi_path_open(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    uint32_t dirflags = U32(1), oflags = U32(4) & 0xFFFF, fdflags = U32(7) & 0xFFFF,
             out_ptr = U32(8);
    uint64_t base = U64(5), inh = U64(6);
    bool wants_write =
        (base & (WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_ALLOCATE | WASI_RIGHT_FD_FILESTAT_SET_SIZE)) !=
        0;
    bool changes = (oflags & (WASI_O_CREAT | WASI_O_TRUNC)) != 0 || wants_write;
    uint64_t need = WASI_RIGHT_PATH_OPEN;
    if (oflags & WASI_O_CREAT) {
        need |= WASI_RIGHT_PATH_CREATE_FILE;
    }
    if (oflags & WASI_O_TRUNC) {
        need |= WASI_RIGHT_PATH_FILESTAT_SET_SIZE;
    }
    wasi_fd *d;
    int32_t r = get_dir(w, U32(0), need, changes, &d);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (oflags & ~(uint32_t)(WASI_O_CREAT | WASI_O_DIRECTORY | WASI_O_EXCL | WASI_O_TRUNC)) {
        return WASI_EINVAL;
    }
    if (base & ~d->rights_inheriting) {
        return WASI_ENOTCAPABLE;
    }
    if (!cap_wasi_mem(c, out_ptr, 4)) {
        return WASI_EFAULT;
    }
    bool follow = (dirflags & WASI_LOOKUP_SYMLINK_FOLLOW) || ends_with_slash(c, U32(2), U32(3));
    resolved rp;
    r = resolve_path(c, d, U32(2), U32(3), follow, &rp);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    int flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    bool rd = (base & (WASI_RIGHT_FD_READ | WASI_RIGHT_FD_READDIR)) != 0;
    if (wants_write) {
        flags |= rd ? O_RDWR : O_WRONLY;
    } else {
        flags |= O_RDONLY;
    }
    if (oflags & WASI_O_CREAT) {
        flags |= O_CREAT;
    }
    if (oflags & WASI_O_EXCL) {
        flags |= O_EXCL;
    }
    if (oflags & WASI_O_TRUNC) {
        flags |= O_TRUNC;
    }
    if ((oflags & WASI_O_DIRECTORY) || rp.trailing) {
        flags |= O_DIRECTORY;
    }
    if (fdflags & WASI_FDFLAG_APPEND) {
        flags |= O_APPEND;
    }
    if (fdflags & WASI_FDFLAG_DSYNC) {
        flags |= O_DSYNC;
    }
    if (fdflags & (WASI_FDFLAG_SYNC | WASI_FDFLAG_RSYNC)) {
        flags |= O_SYNC;
    }
    uint32_t num;
    r = cap_wasi_fd_alloc(w, &num);
    if (r != WASI_ESUCCESS) {
        resolved_free(&rp);
        return r;
    }
    int h = openat(rp.dirfd, rp.name, flags, 0666);
    if (h < 0) {
        r = host_err();
        resolved_free(&rp);
        return r;
    }
    resolved_free(&rp);
    if (!(fdflags & WASI_FDFLAG_NONBLOCK)) {
        int fl = fcntl(h, F_GETFL);
        if (fl >= 0) {
            fcntl(h, F_SETFL, fl & ~O_NONBLOCK);
        }
    }
    struct stat st;
    if (fstat(h, &st) != 0) {
        r = host_err();
        close(h);
        return r;
    }
    /* cap_wasi_fd_alloc may have moved the table: take both entries afresh. */
    wasi_fd *e = &w->fds[num];
    wasi_fd *parent = &w->fds[U32(0)];
    e->kind = FD_HOST;
    e->host = h;
    e->filetype = filetype_of(st.st_mode);
    e->readonly = parent->readonly;
    e->nonblock = (fdflags & WASI_FDFLAG_NONBLOCK) != 0;
    uint64_t mask = S_ISDIR(st.st_mode) ? WASI_RIGHTS_DIR : WASI_RIGHTS_FILE;
    e->rights_base = base & parent->rights_inheriting & mask;
    e->rights_inheriting = inh & parent->rights_inheriting;
    if (e->readonly) {
        e->rights_base &= ~(WASI_RIGHTS_FILE_WRITE | WASI_RIGHTS_DIR_WRITE);
        e->rights_inheriting &= ~WASI_RIGHTS_DIR_WRITE;
    }
    if (!wants_write) {
        e->rights_base &=
            ~(WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_ALLOCATE | WASI_RIGHT_FD_FILESTAT_SET_SIZE);
    }
    if (!rd) {
        e->rights_base &= ~(WASI_RIGHT_FD_READ | WASI_RIGHT_FD_READDIR);
    }
    return cap_wasi_put_u32(c, out_ptr, num);
}

int32_t
cap_wasi_path_create_directory(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *d;
    int32_t r = get_dir(w, U32(0), WASI_RIGHT_PATH_CREATE_DIRECTORY, true, &d);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    resolved rp;
    r = resolve_path(c, d, U32(1), U32(2), false, &rp);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    if (mkdirat(rp.dirfd, rp.name, 0777) != 0) {
        r = host_err();
    }
    resolved_free(&rp);
    return r;
}

int32_t
cap_wasi_path_filestat_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *d;
    int32_t r = get_dir(w, U32(0), WASI_RIGHT_PATH_FILESTAT_GET, false, &d);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    uint8_t *p = cap_wasi_mem(c, U32(4), 64);
    if (!p) {
        return WASI_EFAULT;
    }
    resolved rp;
    bool follow = (U32(1) & WASI_LOOKUP_SYMLINK_FOLLOW) || ends_with_slash(c, U32(2), U32(3));
    r = resolve_path(c, d, U32(2), U32(3), follow, &rp);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    struct stat st;
    if (fstatat(rp.dirfd, rp.name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        r = host_err();
    } else if (rp.trailing && !S_ISDIR(st.st_mode)) {
        r = WASI_ENOTDIR;
    } else {
        put_filestat(p, &st);
    }
    resolved_free(&rp);
    return r;
}

int32_t
cap_wasi_path_filestat_set_times(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *d;
    int32_t r = get_dir(w, U32(0), WASI_RIGHT_PATH_FILESTAT_SET_TIMES, true, &d);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    struct timespec ts[2];
    r = make_times(U64(4), U64(5), U32(6), ts);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    resolved rp;
    bool follow = (U32(1) & WASI_LOOKUP_SYMLINK_FOLLOW) || ends_with_slash(c, U32(2), U32(3));
    r = resolve_path(c, d, U32(2), U32(3), follow, &rp);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    struct stat st;
    if (rp.trailing && fstatat(rp.dirfd, rp.name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        !S_ISDIR(st.st_mode)) {
        r = WASI_ENOTDIR;
    } else if (utimensat(rp.dirfd, rp.name, ts, AT_SYMLINK_NOFOLLOW) != 0) {
        r = host_err();
    }
    resolved_free(&rp);
    return r;
}

int32_t
cap_wasi_path_link(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *od, *nd;
    int32_t r = get_dir(w, U32(0), WASI_RIGHT_PATH_LINK_SOURCE, true, &od);
    if (r == WASI_ESUCCESS) {
        r = get_dir(w, U32(4), WASI_RIGHT_PATH_LINK_TARGET, true, &nd);
    }
    if (r != WASI_ESUCCESS) {
        return r;
    }
    resolved ro, rn;
    r = resolve_path(c, od, U32(2), U32(3), (U32(1) & WASI_LOOKUP_SYMLINK_FOLLOW) != 0, &ro);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    r = resolve_path(c, nd, U32(5), U32(6), false, &rn);
    if (r != WASI_ESUCCESS) {
        resolved_free(&ro);
        return r;
    }
    char *on = slashed(&ro), *nn = slashed(&rn);
    if (!on || !nn) {
        r = WASI_ENOMEM;
    } else if (linkat(ro.dirfd, on, rn.dirfd, nn, 0) != 0) {
        r = host_err();
    }
    cap_free(on);
    cap_free(nn);
    resolved_free(&ro);
    resolved_free(&rn);
    return r;
}

int32_t
cap_wasi_path_readlink(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    uint32_t buf = U32(3), len = U32(4), used_ptr = U32(5);
    wasi_fd *d;
    int32_t r = get_dir(w, U32(0), WASI_RIGHT_PATH_READLINK, false, &d);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    uint8_t *out = cap_wasi_mem(c, buf, len);
    if (!out || !cap_wasi_mem(c, used_ptr, 4)) {
        return WASI_EFAULT;
    }
    resolved rp;
    r = resolve_path(c, d, U32(1), U32(2), false, &rp);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    char tmp[PATH_MAX];
    ssize_t n =
        rp.trailing ? (errno = ENOTDIR, -1) : readlinkat(rp.dirfd, rp.name, tmp, sizeof tmp);
    if (n < 0) {
        r = host_err();
    } else {
        uint32_t take = (uint64_t)n < len ? (uint32_t)n : len;
        memcpy(out, tmp, take);
        r = cap_wasi_put_u32(c, used_ptr, take);
    }
    resolved_free(&rp);
    return r;
}

int32_t
cap_wasi_path_remove_directory(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *d;
    int32_t r = get_dir(w, U32(0), WASI_RIGHT_PATH_REMOVE_DIRECTORY, true, &d);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    resolved rp;
    r = resolve_path(c, d, U32(1), U32(2), false, &rp);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    char *n = slashed(&rp);
    if (!n) {
        r = WASI_ENOMEM;
    } else if (unlinkat(rp.dirfd, n, AT_REMOVEDIR) != 0) {
        r = host_err();
    }
    cap_free(n);
    resolved_free(&rp);
    return r;
}

int32_t
cap_wasi_path_unlink_file(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *d;
    int32_t r = get_dir(w, U32(0), WASI_RIGHT_PATH_UNLINK_FILE, true, &d);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    resolved rp;
    r = resolve_path(c, d, U32(1), U32(2), false, &rp);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    char *n = slashed(&rp);
    if (!n) {
        r = WASI_ENOMEM;
    } else if (unlinkat(rp.dirfd, n, 0) != 0) {
        r = host_err();
    }
    cap_free(n);
    resolved_free(&rp);
    return r;
}

int32_t
cap_wasi_path_rename(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *od, *nd;
    int32_t r = get_dir(w, U32(0), WASI_RIGHT_PATH_RENAME_SOURCE, true, &od);
    if (r == WASI_ESUCCESS) {
        r = get_dir(w, U32(3), WASI_RIGHT_PATH_RENAME_TARGET, true, &nd);
    }
    if (r != WASI_ESUCCESS) {
        return r;
    }
    resolved ro, rn;
    r = resolve_path(c, od, U32(1), U32(2), false, &ro);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    r = resolve_path(c, nd, U32(4), U32(5), false, &rn);
    if (r != WASI_ESUCCESS) {
        resolved_free(&ro);
        return r;
    }
    char *on = slashed(&ro), *nn = slashed(&rn);
    if (!on || !nn) {
        r = WASI_ENOMEM;
    } else if (renameat(ro.dirfd, on, rn.dirfd, nn) != 0) {
        r = host_err();
    }
    cap_free(on);
    cap_free(nn);
    resolved_free(&ro);
    resolved_free(&rn);
    return r;
}

int32_t
cap_wasi_path_symlink(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    wasi_fd *d;
    int32_t r = get_dir(w, U32(2), WASI_RIGHT_PATH_SYMLINK, true, &d);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    char *target = NULL;
    r = get_path(c, U32(0), U32(1), &target);
    if (r != WASI_ESUCCESS) {
        return r;
    }
    /* An absolute target could only ever point outside the sandbox (the guest never follows
     * one), and a host tool following it later would be misled: refuse it. */
    if (target[0] == '/') {
        cap_free(target);
        return WASI_ENOTCAPABLE;
    }
    resolved rp;
    r = resolve_path(c, d, U32(3), U32(4), false, &rp);
    if (r != WASI_ESUCCESS) {
        cap_free(target);
        return r;
    }
    char *n = slashed(&rp);
    if (!n) {
        r = WASI_ENOMEM;
    } else if (symlinkat(target, rp.dirfd, n) != 0) {
        r = host_err();
    }
    cap_free(n);
    cap_free(target);
    resolved_free(&rp);
    return r;
}
