/* SPDX-License-Identifier: Apache-2.0 */
/* WASI contexts: configuration, creation (opening preopens and stdin), linking the import table
 * into a linker, the descriptor table, output capture and the shared guest-memory helpers. */
#include "platform/fs.h"
#include "util/alloc.h"
#include "wasi/wasi_int.h"
#include "wasm/module.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct preopen_cfg {
    char *host;
    char *guest;
    bool writable;
} preopen_cfg;

enum stdin_kind { STDIN_EMPTY, STDIN_FILE, STDIN_FD, STDIN_BYTES };

struct cap_wasi_config_t {
    char **args;
    size_t nargs;
    char **env; // "NAME=VALUE"
    size_t nenv;
    preopen_cfg *pre;
    size_t npre;
    enum stdin_kind stdin_kind;
    char *stdin_path;
    int stdin_fd;
    uint8_t *stdin_bytes;
    size_t stdin_len;
    size_t limit[2];
    bool capture;
    cap_wasi_output_fn stream_fn;
    void *stream_user;
};

/* ------------------------------------------------------------------ errnos */

int32_t
cap_wasi_errno(int host_errno)
{
    if (host_errno == CAP_FS_ESCAPE) {
        return WASI_ENOTCAPABLE;
    }
    if (host_errno < 0) {
        host_errno = -host_errno;
    }
    /* EWOULDBLOCK and ENOTSUP alias other codes on Linux; list the aliases the table cannot. */
    if (host_errno == EWOULDBLOCK) {
        return WASI_EAGAIN;
    }
    if (host_errno == ENOTSUP) {
        return WASI_ENOTSUP;
    }
    static const struct {
        int host;
        int32_t wasi;
    } table[] = {
#define CAP_X(name, val, host) {host, val},
        CAP_WASI_ERRNO_MAP(CAP_X)
#undef CAP_X
    };
    for (size_t i = 1; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].host != 0 && table[i].host == host_errno) {
            return table[i].wasi;
        }
    }
    return WASI_EIO;
}

const char *
cap_wasi_errno_name(int32_t e)
{
    switch (e) {
#define CAP_X(name, val, host)                                                                     \
    case val:                                                                                      \
        return #name;
        CAP_WASI_ERRNO_MAP(CAP_X)
#undef CAP_X
    default:
        return "?";
    }
}

/* ------------------------------------------------------------------ configuration */

cap_status
cap_wasi_config_new(cap_wasi_config_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_config_new: NULL out");
    }
    *out = NULL;
    cap_wasi_config_t *c = cap_calloc(1, sizeof *c);
    if (!c) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    c->stdin_fd = -1;
    c->limit[0] = c->limit[1] = CAP_WASI_DEFAULT_OUTPUT_LIMIT;
    c->capture = true;
    *out = c;
    return CAP_OK;
}

static void
free_strings(char **v, size_t n)
{
    if (!v) { // an allocation failed before the array existed; n may already be set
        return;
    }
    for (size_t i = 0; i < n; i++) {
        cap_free(v[i]);
    }
    cap_free(v);
}

void
cap_wasi_config_free(cap_wasi_config_t *config)
{
    if (!config) {
        return;
    }
    free_strings(config->args, config->nargs);
    free_strings(config->env, config->nenv);
    for (size_t i = 0; i < config->npre; i++) {
        cap_free(config->pre[i].host);
        cap_free(config->pre[i].guest);
    }
    cap_free(config->pre);
    cap_free(config->stdin_path);
    cap_free(config->stdin_bytes);
    cap_free(config);
}

cap_status
cap_wasi_config_set_args(cap_wasi_config_t *config, size_t argc, const char *const *argv,
                         cap_error_t *err)
{
    cap_error_clear(err);
    if (!config || (argc > 0 && !argv)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_config_set_args: NULL argument");
    }
    char **v = cap_calloc(argc ? argc : 1, sizeof *v);
    if (!v) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    for (size_t i = 0; i < argc; i++) {
        v[i] = cap_strdup(argv[i] ? argv[i] : "");
        if (!v[i]) {
            free_strings(v, i);
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
    }
    free_strings(config->args, config->nargs);
    config->args = v;
    config->nargs = argc;
    return CAP_OK;
}

cap_status
cap_wasi_config_set_env(cap_wasi_config_t *config, const char *name, const char *value,
                        cap_error_t *err)
{
    cap_error_clear(err);
    if (!config || !name || !value) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_config_set_env: NULL argument");
    }
    size_t nlen = strlen(name);
    if (nlen == 0 || strchr(name, '=')) {
        return cap_fail(err, CAP_ERR_CONFIG, UINT64_MAX, "env: invalid variable name '%s'", name);
    }
    size_t vlen = strlen(value);
    char *kv = cap_alloc(nlen + 1 + vlen + 1);
    if (!kv) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    memcpy(kv, name, nlen);
    kv[nlen] = '=';
    memcpy(kv + nlen + 1, value, vlen + 1);
    for (size_t i = 0; i < config->nenv; i++) {
        if (strncmp(config->env[i], name, nlen) == 0 && config->env[i][nlen] == '=') {
            cap_free(config->env[i]);
            config->env[i] = kv;
            return CAP_OK;
        }
    }
    char **v = cap_realloc(config->env, (config->nenv + 1) * sizeof *v);
    if (!v) {
        cap_free(kv);
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    v[config->nenv++] = kv;
    config->env = v;
    return CAP_OK;
}

cap_status
cap_wasi_config_inherit_env(cap_wasi_config_t *config, const char *name, cap_error_t *err)
{
    cap_error_clear(err);
    if (!config || !name) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_config_inherit_env: NULL");
    }
    const char *value = getenv(name);
    if (!value) {
        if (name[0] == '\0' || strchr(name, '=')) {
            return cap_fail(err, CAP_ERR_CONFIG, UINT64_MAX, "env: invalid variable name '%s'",
                            name);
        }
        return CAP_OK;
    }
    return cap_wasi_config_set_env(config, name, value, err);
}

/* The guest path of a preopen: as given minus trailing slashes, or "/" + the host directory's
 * last component. */
static char *
guest_name(const char *host, const char *guest)
{
    if (guest) {
        size_t n = strlen(guest);
        while (n > 1 && guest[n - 1] == '/') {
            n--;
        }
        return cap_strndup(guest, n);
    }
    size_t n = strlen(host);
    while (n > 1 && host[n - 1] == '/') {
        n--;
    }
    size_t start = n;
    while (start > 0 && host[start - 1] != '/') {
        start--;
    }
    const char *base = host + start;
    size_t blen = n - start;
    if (blen == 0 || (blen == 1 && base[0] == '.') ||
        (blen == 2 && base[0] == '.' && base[1] == '.')) {
        /* "." or "/" say nothing about a name: use the real directory's name. */
        char *real = realpath(host, NULL);
        if (!real) {
            return NULL;
        }
        char *slash = strrchr(real, '/');
        const char *rb = slash ? slash + 1 : real;
        size_t rlen = strlen(rb);
        char *s = cap_alloc(rlen + 2);
        if (s) {
            s[0] = '/';
            memcpy(s + 1, rb, rlen + 1);
        }
        free(real);
        return s;
    }
    char *s = cap_alloc(blen + 2);
    if (!s) {
        return NULL;
    }
    s[0] = '/';
    memcpy(s + 1, base, blen);
    s[blen + 1] = '\0';
    return s;
}

cap_status
cap_wasi_config_preopen_dir(cap_wasi_config_t *config, const char *host_path,
                            const char *guest_path, bool writable, cap_error_t *err)
{
    cap_error_clear(err);
    if (!config || !host_path) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_config_preopen_dir: NULL");
    }
    struct stat st;
    if (host_path[0] == '\0' || stat(host_path, &st) != 0) {
        return cap_fail(err, CAP_ERR_CONFIG, UINT64_MAX, "mount: %s: %s", host_path,
                        host_path[0] ? strerror(errno) : "empty path");
    }
    if (!S_ISDIR(st.st_mode)) {
        return cap_fail(err, CAP_ERR_CONFIG, UINT64_MAX, "mount: %s: not a directory", host_path);
    }
    if (guest_path && guest_path[0] == '\0') {
        return cap_fail(err, CAP_ERR_CONFIG, UINT64_MAX, "mount: %s: empty guest path", host_path);
    }
    preopen_cfg p = {cap_strdup(host_path), guest_name(host_path, guest_path), writable};
    preopen_cfg *v = NULL;
    if (p.host && p.guest) {
        v = cap_realloc(config->pre, (config->npre + 1) * sizeof *v);
    }
    if (!v) {
        cap_free(p.host);
        cap_free(p.guest);
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    v[config->npre++] = p;
    config->pre = v;
    return CAP_OK;
}

static void
clear_stdin(cap_wasi_config_t *config)
{
    cap_free(config->stdin_path);
    cap_free(config->stdin_bytes);
    config->stdin_path = NULL;
    config->stdin_bytes = NULL;
    config->stdin_len = 0;
    config->stdin_fd = -1;
    config->stdin_kind = STDIN_EMPTY;
}

cap_status
cap_wasi_config_set_stdin_file(cap_wasi_config_t *config, const char *path, cap_error_t *err)
{
    cap_error_clear(err);
    if (!config || !path) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_config_set_stdin_file: NULL");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return cap_fail(err, CAP_ERR_CONFIG, UINT64_MAX, "stdin: %s: %s", path, strerror(errno));
    }
    close(fd);
    char *copy = cap_strdup(path);
    if (!copy) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    clear_stdin(config);
    config->stdin_kind = STDIN_FILE;
    config->stdin_path = copy;
    return CAP_OK;
}

cap_status
cap_wasi_config_set_stdin_fd(cap_wasi_config_t *config, int fd, cap_error_t *err)
{
    cap_error_clear(err);
    if (!config || fd < 0) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_config_set_stdin_fd: bad fd");
    }
    clear_stdin(config);
    config->stdin_kind = STDIN_FD;
    config->stdin_fd = fd;
    return CAP_OK;
}

cap_status
cap_wasi_config_set_stdin_bytes(cap_wasi_config_t *config, const uint8_t *data, size_t len,
                                cap_error_t *err)
{
    cap_error_clear(err);
    if (!config || (len > 0 && !data)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_config_set_stdin_bytes: NULL");
    }
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = cap_alloc(len);
        if (!copy) {
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
        memcpy(copy, data, len);
    }
    clear_stdin(config);
    config->stdin_kind = len ? STDIN_BYTES : STDIN_EMPTY;
    config->stdin_bytes = copy;
    config->stdin_len = len;
    return CAP_OK;
}

void
cap_wasi_config_set_output_limit(cap_wasi_config_t *config, size_t stdout_limit,
                                 size_t stderr_limit)
{
    if (config) {
        config->limit[0] = stdout_limit;
        config->limit[1] = stderr_limit;
    }
}

void
cap_wasi_config_set_capture(cap_wasi_config_t *config, bool capture)
{
    if (config) {
        config->capture = capture;
    }
}

void
cap_wasi_config_set_output_callback(cap_wasi_config_t *config, cap_wasi_output_fn fn, void *user)
{
    if (config) {
        config->stream_fn = fn;
        config->stream_user = user;
    }
}

/* ------------------------------------------------------------------ descriptor table */

void
cap_wasi_dircache_clear(wasi_dircache *d)
{
    for (size_t i = 0; i < d->n; i++) {
        cap_free(d->names[i]);
    }
    cap_free(d->names);
    cap_free(d->inos);
    cap_free(d->types);
    memset(d, 0, sizeof *d);
}

void
cap_wasi_fd_release(wasi_fd *e)
{
    if (e->kind == FD_HOST && e->host >= 0) {
        close(e->host);
    }
    cap_free(e->preopen_name);
    cap_wasi_dircache_clear(&e->dir);
    memset(e, 0, sizeof *e);
    e->kind = FD_FREE;
    e->host = -1;
}

int32_t
cap_wasi_fd_get(cap_wasi_t *w, uint32_t fd, uint64_t rights, wasi_fd **out)
{
    if (fd >= w->nfds || w->fds[fd].kind == FD_FREE) {
        return WASI_EBADF;
    }
    wasi_fd *e = &w->fds[fd];
    if ((e->rights_base & rights) != rights) {
        return WASI_ENOTCAPABLE;
    }
    *out = e;
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_fd_alloc(cap_wasi_t *w, uint32_t *out)
{
    for (uint32_t i = 0; i < w->nfds; i++) {
        if (w->fds[i].kind == FD_FREE) {
            *out = i;
            return WASI_ESUCCESS;
        }
    }
    if (w->nfds >= CAP_WASI_MAX_FDS) {
        return WASI_EMFILE;
    }
    uint32_t n = w->nfds ? w->nfds * 2 : 8;
    if (n > CAP_WASI_MAX_FDS) {
        n = CAP_WASI_MAX_FDS;
    }
    wasi_fd *v = cap_realloc(w->fds, (size_t)n * sizeof *v);
    if (!v) {
        return WASI_ENOMEM;
    }
    for (uint32_t i = w->nfds; i < n; i++) {
        memset(&v[i], 0, sizeof v[i]);
        v[i].host = -1;
    }
    w->fds = v;
    *out = w->nfds;
    w->nfds = n;
    return WASI_ESUCCESS;
}

/* ------------------------------------------------------------------ output */

void
cap_wasi_output(cap_wasi_t *w, unsigned stream, const uint8_t *data, size_t len)
{
    wasi_out *o = &w->out[stream];
    o->total += len;
    if (o->truncated || len == 0) {
        return;
    }
    uint64_t accepted = o->total - len; // bytes accepted before this write
    size_t room = accepted >= o->limit ? 0 : (size_t)(o->limit - accepted);
    size_t take = len < room ? len : room;
    char marker[80];
    size_t mlen = 0;
    if (take < len) {
        o->truncated = true;
        int m = snprintf(marker, sizeof marker, "\n[capsule: output truncated after %zu bytes]\n",
                         o->limit);
        mlen = m > 0 ? (size_t)m : 0;
    }
    if (w->capture && take + mlen > 0) {
        size_t need = o->len + take + mlen;
        if (need > o->alloc) {
            size_t na = o->alloc ? o->alloc : 4096;
            while (na < need) {
                na *= 2;
            }
            uint8_t *nb = cap_realloc(o->buf, na);
            if (nb) {
                o->buf = nb;
                o->alloc = na;
            }
        }
        if (need <= o->alloc) {
            memcpy(o->buf + o->len, data, take);
            memcpy(o->buf + o->len + take, marker, mlen);
            o->len = need;
        } else {
            o->truncated = true; // the host ran out of memory: say so rather than hide it
        }
    }
    if (w->stream_fn) {
        if (take > 0) {
            w->stream_fn(w->stream_user, (int)stream + 1, data, take);
        }
        if (mlen > 0) {
            w->stream_fn(w->stream_user, (int)stream + 1, (const uint8_t *)marker, mlen);
        }
    }
}

bool
cap_wasi_exited(const cap_wasi_t *wasi)
{
    return wasi && wasi->exited;
}

int32_t
cap_wasi_exit_code(const cap_wasi_t *wasi)
{
    return wasi && wasi->exited ? wasi->exit_code : 0;
}

static const uint8_t *
captured(const cap_wasi_t *wasi, unsigned stream, size_t *out_len, bool *out_truncated)
{
    const wasi_out *o = wasi ? &wasi->out[stream] : NULL;
    if (out_len) {
        *out_len = o ? o->len : 0;
    }
    if (out_truncated) {
        *out_truncated = o ? o->truncated : false;
    }
    return o && o->len ? o->buf : NULL;
}

const uint8_t *
cap_wasi_stdout(const cap_wasi_t *wasi, size_t *out_len, bool *out_truncated)
{
    return captured(wasi, 0, out_len, out_truncated);
}

const uint8_t *
cap_wasi_stderr(const cap_wasi_t *wasi, size_t *out_len, bool *out_truncated)
{
    return captured(wasi, 1, out_len, out_truncated);
}

/* ------------------------------------------------------------------ guest memory, waiting */

uint8_t *
cap_wasi_mem(cap_caller_t *c, uint64_t ptr, uint64_t len)
{
    return cap_caller_mem(c, ptr, len);
}

int32_t
cap_wasi_put_u32(cap_caller_t *c, uint64_t ptr, uint32_t v)
{
    uint8_t *p = cap_caller_mem(c, ptr, 4);
    if (!p) {
        return WASI_EFAULT;
    }
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
    return WASI_ESUCCESS;
}

int32_t
cap_wasi_put_u64(cap_caller_t *c, uint64_t ptr, uint64_t v)
{
    uint8_t *p = cap_caller_mem(c, ptr, 8);
    if (!p) {
        return WASI_EFAULT;
    }
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
    return WASI_ESUCCESS;
}

/* Blocking waits are cut into slices this long so that an interrupt stops them promptly. */
#define NAP_SLICE_NS 5000000ull

bool
cap_wasi_nap(cap_wasi_t *w, uint64_t ns)
{
    while (ns > 0) {
        if (cap_store_interrupted(w->store)) {
            return true;
        }
        uint64_t slice = ns < NAP_SLICE_NS ? ns : NAP_SLICE_NS;
        struct timespec ts = {(time_t)(slice / 1000000000ull), (long)(slice % 1000000000ull)};
        nanosleep(&ts, NULL);
        ns -= slice;
    }
    return cap_store_interrupted(w->store);
}

int32_t
cap_wasi_wait_fd(cap_wasi_t *w, cap_caller_t *c, int fd, short events)
{
    for (;;) {
        if (cap_store_interrupted(w->store)) {
            cap_caller_trap(c, CAP_TRAP_TIMEOUT, "interrupted");
            return CAP_WASI_TRAPPED;
        }
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)(NAP_SLICE_NS / 1000000ull));
        if (r > 0) {
            return WASI_ESUCCESS;
        }
        if (r < 0 && errno != EINTR) {
            return WASI_ESUCCESS; // let the read or write report the error itself
        }
    }
}

/* ------------------------------------------------------------------ context */

static int32_t
open_host_fd(cap_wasi_t *w, uint32_t num, int host, uint64_t base, uint64_t inh, bool readonly)
{
    (void)w;
    struct stat st;
    wasi_fd *e = &w->fds[num];
    e->kind = FD_HOST;
    e->host = host;
    e->rights_base = base;
    e->rights_inheriting = inh;
    e->readonly = readonly;
    e->filetype = WASI_FILETYPE_UNKNOWN;
    if (fstat(host, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            e->filetype = WASI_FILETYPE_DIRECTORY;
        } else if (S_ISREG(st.st_mode)) {
            e->filetype = WASI_FILETYPE_REGULAR_FILE;
        } else if (S_ISCHR(st.st_mode)) {
            e->filetype = WASI_FILETYPE_CHARACTER_DEVICE;
        } else if (S_ISBLK(st.st_mode)) {
            e->filetype = WASI_FILETYPE_BLOCK_DEVICE;
        } else if (S_ISSOCK(st.st_mode)) {
            e->filetype = WASI_FILETYPE_SOCKET_STREAM;
        }
    }
    return WASI_ESUCCESS;
}

/* Rights of stdin, stdout and stderr: streams that neither seek nor tell, so wasi-libc's isatty
 * decides by file type alone. */
#define STDIO_RIGHTS                                                                               \
    (WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_POLL_FD_READWRITE)

static char **
copy_strings(char *const *v, size_t n)
{
    char **c = cap_calloc(n ? n : 1, sizeof *c);
    if (!c) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        c[i] = cap_strdup(v[i]);
        if (!c[i]) {
            free_strings(c, i);
            return NULL;
        }
    }
    return c;
}

cap_status
cap_wasi_new(cap_store_t *store, const cap_wasi_config_t *config, cap_wasi_t **out,
             cap_error_t *err)
{
    cap_error_clear(err);
    cap_status st = CAP_OK;
    if (!store || !out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_new: NULL argument");
    }
    *out = NULL;
    cap_wasi_config_t defaults;
    if (!config) {
        memset(&defaults, 0, sizeof defaults);
        defaults.stdin_fd = -1;
        defaults.limit[0] = defaults.limit[1] = CAP_WASI_DEFAULT_OUTPUT_LIMIT;
        defaults.capture = true;
        config = &defaults;
    }
    if (config->nargs > UINT32_MAX / 2 || config->nenv > UINT32_MAX / 2 ||
        config->npre + 3 > CAP_WASI_MAX_FDS) {
        return cap_fail(err, CAP_ERR_CONFIG, UINT64_MAX, "wasi: too many args, env or mounts");
    }
    cap_wasi_t *w = cap_calloc(1, sizeof *w);
    if (!w) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    w->store = store;
    w->capture = config->capture;
    w->stream_fn = config->stream_fn;
    w->stream_user = config->stream_user;
    w->out[0].limit = config->limit[0];
    w->out[1].limit = config->limit[1];
    w->argv = copy_strings(config->args, config->nargs);
    w->argc = (uint32_t)config->nargs;
    w->envp = copy_strings(config->env, config->nenv);
    w->envc = (uint32_t)config->nenv;
    if (!w->argv || !w->envp) {
        st = cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < 3 + config->npre; i++) {
        uint32_t num;
        if (cap_wasi_fd_alloc(w, &num) != WASI_ESUCCESS) {
            st = cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
            goto fail;
        }
        w->fds[num].kind = FD_OUT; // reserve it; filled in below
    }
    /* stdin */
    wasi_fd *in = &w->fds[0];
    if (config->stdin_kind == STDIN_FILE || config->stdin_kind == STDIN_FD) {
        int h = config->stdin_kind == STDIN_FILE ? open(config->stdin_path, O_RDONLY | O_CLOEXEC)
                                                 : fcntl(config->stdin_fd, F_DUPFD_CLOEXEC, 0);
        if (h < 0) {
            st = cap_fail(err, CAP_ERR_IO, UINT64_MAX, "stdin: %s: %s",
                          config->stdin_path ? config->stdin_path : "descriptor", strerror(errno));
            in->kind = FD_FREE;
            goto fail;
        }
        open_host_fd(w, 0, h, STDIO_RIGHTS | WASI_RIGHT_FD_READ, 0, true);
    } else {
        in->kind = FD_STDIN_MEM;
        in->host = -1;
        in->filetype = WASI_FILETYPE_UNKNOWN;
        in->rights_base = STDIO_RIGHTS | WASI_RIGHT_FD_READ;
        if (config->stdin_len > 0) {
            w->stdin_bytes = cap_alloc(config->stdin_len);
            if (!w->stdin_bytes) {
                st = cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
                goto fail;
            }
            memcpy(w->stdin_bytes, config->stdin_bytes, config->stdin_len);
            w->stdin_len = config->stdin_len;
        }
    }
    for (unsigned s = 0; s < 2; s++) {
        wasi_fd *o = &w->fds[1 + s];
        o->kind = FD_OUT;
        o->stream = (uint8_t)s;
        o->host = -1;
        o->filetype = WASI_FILETYPE_UNKNOWN;
        o->rights_base = STDIO_RIGHTS | WASI_RIGHT_FD_WRITE;
    }
    for (size_t i = 0; i < config->npre; i++) {
        const preopen_cfg *p = &config->pre[i];
        uint32_t num = (uint32_t)(3 + i);
        w->fds[num].kind = FD_FREE;
        int h = open(p->host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (h < 0) {
            st = cap_fail(err, CAP_ERR_CONFIG, UINT64_MAX, "mount: %s: %s", p->host,
                          strerror(errno));
            goto fail;
        }
        uint64_t base = WASI_RIGHTS_DIR, inh = WASI_RIGHTS_DIR | WASI_RIGHTS_FILE;
        if (!p->writable) {
            /* Path-changing rights are withheld; fd_write stays in the inheriting set so that
             * an open for writing reaches path_open and is refused there with ROFS. */
            base &= ~WASI_RIGHTS_DIR_WRITE;
            inh &= ~WASI_RIGHTS_DIR_WRITE;
        }
        open_host_fd(w, num, h, base, inh, !p->writable);
        w->fds[num].preopen_name = cap_strdup(p->guest);
        if (!w->fds[num].preopen_name) {
            st = cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
            goto fail;
        }
    }
    *out = w;
    return CAP_OK;
fail:
    cap_wasi_free(w);
    return st;
}

void
cap_wasi_free(cap_wasi_t *wasi)
{
    if (!wasi) {
        return;
    }
    for (uint32_t i = 0; i < wasi->nfds; i++) {
        cap_wasi_fd_release(&wasi->fds[i]);
    }
    cap_free(wasi->fds);
    free_strings(wasi->argv, wasi->argc);
    free_strings(wasi->envp, wasi->envc);
    cap_free(wasi->out[0].buf);
    cap_free(wasi->out[1].buf);
    cap_free(wasi->stdin_bytes);
    cap_free(wasi->bindings);
    cap_free(wasi);
}

/* ------------------------------------------------------------------ linking */

static cap_status
dispatch(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    const wasi_binding *b = env;
    int32_t r = b->fn(b->wasi, caller, args);
    if (r < 0) {
        return CAP_ERR_TRAP;
    }
    if (b->has_result) {
        results[0] = (uint32_t)r;
    }
    return CAP_OK;
}

static const struct {
    const char *name;
    const char *params;
    const char *results;
    cap_wasi_handler *fn;
} imports[] = {
#define CAP_X(name, params, results, handler) {#name, params, results, handler},
    CAP_WASI_IMPORT_MAP(CAP_X)
#undef CAP_X
};

#define NIMPORTS (sizeof imports / sizeof imports[0])

cap_status
cap_wasi_link(cap_wasi_t *wasi, cap_linker_t *linker, cap_error_t *err)
{
    cap_error_clear(err);
    if (!wasi || !linker) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_wasi_link: NULL argument");
    }
    if (!wasi->bindings) {
        wasi->bindings = cap_calloc(NIMPORTS, sizeof *wasi->bindings);
        if (!wasi->bindings) {
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
    }
    for (size_t i = 0; i < NIMPORTS; i++) {
        cap_valtype params[12], results[1];
        size_t np = strlen(imports[i].params), nr = strlen(imports[i].results);
        for (size_t k = 0; k < np; k++) {
            params[k] = imports[i].params[k] == 'I' ? CAP_I64 : CAP_I32;
        }
        if (nr) {
            results[0] = CAP_I32;
        }
        cap_functype_t type = {(uint32_t)np, (uint32_t)nr, params, results};
        wasi_binding *b = &wasi->bindings[i];
        b->wasi = wasi;
        b->fn = imports[i].fn;
        b->has_result = nr > 0;
        cap_status st = cap_linker_define_host(linker, wasi->store, "wasi_snapshot_preview1",
                                               imports[i].name, &type, dispatch, b, err);
        if (st != CAP_OK) {
            return st;
        }
    }
    wasi->linked = true;
    return CAP_OK;
}
