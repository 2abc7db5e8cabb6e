/* SPDX-License-Identifier: Apache-2.0 */
/* WASI preview1 internals: the errno and import tables (each written once, as X-macros), the
 * ABI constants of wasi_snapshot_preview1, and the per-instance context with its fd table. */
#ifndef CAP_WASI_INT_H
#define CAP_WASI_INT_H

#include "capsule.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Errnos: (WASI name, WASI value, host errno it is translated from; 0 = none) ---- */
// clang-format off
#define CAP_WASI_ERRNO_MAP(X) \
    X(SUCCESS,         0,  0)               /* no error */                       \
    X(2BIG,            1,  E2BIG)           /* argument list too long */         \
    X(ACCES,           2,  EACCES)          /* permission denied */              \
    X(ADDRINUSE,       3,  EADDRINUSE)                                           \
    X(ADDRNOTAVAIL,    4,  EADDRNOTAVAIL)                                        \
    X(AFNOSUPPORT,     5,  EAFNOSUPPORT)                                         \
    X(AGAIN,           6,  EAGAIN)          /* resource unavailable, try again */\
    X(ALREADY,         7,  EALREADY)                                             \
    X(BADF,            8,  EBADF)           /* bad file descriptor */            \
    X(BADMSG,          9,  EBADMSG)                                              \
    X(BUSY,            10, EBUSY)                                                \
    X(CANCELED,        11, ECANCELED)                                            \
    X(CHILD,           12, ECHILD)                                               \
    X(CONNABORTED,     13, ECONNABORTED)                                         \
    X(CONNREFUSED,     14, ECONNREFUSED)                                         \
    X(CONNRESET,       15, ECONNRESET)                                           \
    X(DEADLK,          16, EDEADLK)                                              \
    X(DESTADDRREQ,     17, EDESTADDRREQ)                                         \
    X(DOM,             18, EDOM)                                                 \
    X(DQUOT,           19, EDQUOT)                                               \
    X(EXIST,           20, EEXIST)          /* file exists */                    \
    X(FAULT,           21, EFAULT)          /* guest pointer out of bounds */    \
    X(FBIG,            22, EFBIG)                                                \
    X(HOSTUNREACH,     23, EHOSTUNREACH)                                         \
    X(IDRM,            24, EIDRM)                                                \
    X(ILSEQ,           25, EILSEQ)                                               \
    X(INPROGRESS,      26, EINPROGRESS)                                          \
    X(INTR,            27, EINTR)                                                \
    X(INVAL,           28, EINVAL)          /* invalid argument */               \
    X(IO,              29, EIO)                                                  \
    X(ISCONN,          30, EISCONN)                                              \
    X(ISDIR,           31, EISDIR)                                               \
    X(LOOP,            32, ELOOP)           /* too many symlinks */              \
    X(MFILE,           33, EMFILE)          /* too many open descriptors */      \
    X(MLINK,           34, EMLINK)                                               \
    X(MSGSIZE,         35, EMSGSIZE)                                             \
    X(MULTIHOP,        36, EMULTIHOP)                                            \
    X(NAMETOOLONG,     37, ENAMETOOLONG)                                         \
    X(NETDOWN,         38, ENETDOWN)                                             \
    X(NETRESET,        39, ENETRESET)                                            \
    X(NETUNREACH,      40, ENETUNREACH)                                          \
    X(NFILE,           41, ENFILE)                                               \
    X(NOBUFS,          42, ENOBUFS)                                              \
    X(NODEV,           43, ENODEV)                                               \
    X(NOENT,           44, ENOENT)          /* no such file or directory */      \
    X(NOEXEC,          45, ENOEXEC)                                              \
    X(NOLCK,           46, ENOLCK)                                               \
    X(NOLINK,          47, ENOLINK)                                              \
    X(NOMEM,           48, ENOMEM)                                               \
    X(NOMSG,           49, ENOMSG)                                               \
    X(NOPROTOOPT,      50, ENOPROTOOPT)                                          \
    X(NOSPC,           51, ENOSPC)                                               \
    X(NOSYS,           52, ENOSYS)          /* function not supported */         \
    X(NOTCONN,         53, ENOTCONN)                                             \
    X(NOTDIR,          54, ENOTDIR)                                              \
    X(NOTEMPTY,        55, ENOTEMPTY)                                            \
    X(NOTRECOVERABLE,  56, ENOTRECOVERABLE)                                      \
    X(NOTSOCK,         57, ENOTSOCK)                                             \
    X(NOTSUP,          58, EOPNOTSUPP)                                           \
    X(NOTTY,           59, ENOTTY)                                               \
    X(NXIO,            60, ENXIO)                                                \
    X(OVERFLOW,        61, EOVERFLOW)                                            \
    X(OWNERDEAD,       62, EOWNERDEAD)                                           \
    X(PERM,            63, EPERM)                                                \
    X(PIPE,            64, EPIPE)                                                \
    X(PROTO,           65, EPROTO)                                               \
    X(PROTONOSUPPORT,  66, EPROTONOSUPPORT)                                      \
    X(PROTOTYPE,       67, EPROTOTYPE)                                           \
    X(RANGE,           68, ERANGE)                                               \
    X(ROFS,            69, EROFS)           /* write through a read-only mount */\
    X(SPIPE,           70, ESPIPE)          /* seek on a stream */               \
    X(SRCH,            71, ESRCH)                                                \
    X(STALE,           72, ESTALE)                                               \
    X(TIMEDOUT,        73, ETIMEDOUT)                                            \
    X(TXTBSY,          74, ETXTBSY)                                              \
    X(XDEV,            75, EXDEV)                                                \
    X(NOTCAPABLE,      76, 0)               /* not granted: outside a preopen, missing right */
// clang-format on

enum {
#define CAP_X(name, val, host) WASI_E##name = val,
    CAP_WASI_ERRNO_MAP(CAP_X)
#undef CAP_X
};

/* Translates a host errno (positive) or CAP_FS_ESCAPE (negative) to a WASI errno. */
int32_t cap_wasi_errno(int host_errno);
/* The WASI errno's symbolic name ("NOTCAPABLE"), for diagnostics. */
const char *cap_wasi_errno_name(int32_t e);

/* ---- Rights (wasi_snapshot_preview1 `rights`, bit numbers) ---- */
#define WASI_R(n)                          ((uint64_t)1 << (n))
#define WASI_RIGHT_FD_DATASYNC             WASI_R(0)
#define WASI_RIGHT_FD_READ                 WASI_R(1)
#define WASI_RIGHT_FD_SEEK                 WASI_R(2)
#define WASI_RIGHT_FD_FDSTAT_SET_FLAGS     WASI_R(3)
#define WASI_RIGHT_FD_SYNC                 WASI_R(4)
#define WASI_RIGHT_FD_TELL                 WASI_R(5)
#define WASI_RIGHT_FD_WRITE                WASI_R(6)
#define WASI_RIGHT_FD_ADVISE               WASI_R(7)
#define WASI_RIGHT_FD_ALLOCATE             WASI_R(8)
#define WASI_RIGHT_PATH_CREATE_DIRECTORY   WASI_R(9)
#define WASI_RIGHT_PATH_CREATE_FILE        WASI_R(10)
#define WASI_RIGHT_PATH_LINK_SOURCE        WASI_R(11)
#define WASI_RIGHT_PATH_LINK_TARGET        WASI_R(12)
#define WASI_RIGHT_PATH_OPEN               WASI_R(13)
#define WASI_RIGHT_FD_READDIR              WASI_R(14)
#define WASI_RIGHT_PATH_READLINK           WASI_R(15)
#define WASI_RIGHT_PATH_RENAME_SOURCE      WASI_R(16)
#define WASI_RIGHT_PATH_RENAME_TARGET      WASI_R(17)
#define WASI_RIGHT_PATH_FILESTAT_GET       WASI_R(18)
#define WASI_RIGHT_PATH_FILESTAT_SET_SIZE  WASI_R(19)
#define WASI_RIGHT_PATH_FILESTAT_SET_TIMES WASI_R(20)
#define WASI_RIGHT_FD_FILESTAT_GET         WASI_R(21)
#define WASI_RIGHT_FD_FILESTAT_SET_SIZE    WASI_R(22)
#define WASI_RIGHT_FD_FILESTAT_SET_TIMES   WASI_R(23)
#define WASI_RIGHT_PATH_SYMLINK            WASI_R(24)
#define WASI_RIGHT_PATH_REMOVE_DIRECTORY   WASI_R(25)
#define WASI_RIGHT_PATH_UNLINK_FILE        WASI_R(26)
#define WASI_RIGHT_POLL_FD_READWRITE       WASI_R(27)
#define WASI_RIGHT_SOCK_SHUTDOWN           WASI_R(28)
#define WASI_RIGHT_SOCK_ACCEPT             WASI_R(29)
#define WASI_RIGHTS_ALL                    (WASI_R(30) - 1)

/* Rights that make sense on a regular file, and on a directory. */
#define WASI_RIGHTS_FILE                                                                           \
    (WASI_RIGHT_FD_DATASYNC | WASI_RIGHT_FD_READ | WASI_RIGHT_FD_SEEK |                            \
     WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_SYNC | WASI_RIGHT_FD_TELL |                    \
     WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_ADVISE | WASI_RIGHT_FD_ALLOCATE |                         \
     WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_FD_FILESTAT_SET_SIZE |                                \
     WASI_RIGHT_FD_FILESTAT_SET_TIMES | WASI_RIGHT_POLL_FD_READWRITE)
#define WASI_RIGHTS_DIR                                                                            \
    (WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_SYNC | WASI_RIGHT_FD_ADVISE |                  \
     WASI_RIGHT_PATH_CREATE_DIRECTORY | WASI_RIGHT_PATH_CREATE_FILE |                              \
     WASI_RIGHT_PATH_LINK_SOURCE | WASI_RIGHT_PATH_LINK_TARGET | WASI_RIGHT_PATH_OPEN |            \
     WASI_RIGHT_FD_READDIR | WASI_RIGHT_PATH_READLINK | WASI_RIGHT_PATH_RENAME_SOURCE |            \
     WASI_RIGHT_PATH_RENAME_TARGET | WASI_RIGHT_PATH_FILESTAT_GET |                                \
     WASI_RIGHT_PATH_FILESTAT_SET_SIZE | WASI_RIGHT_PATH_FILESTAT_SET_TIMES |                      \
     WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_FD_FILESTAT_SET_TIMES | WASI_RIGHT_PATH_SYMLINK |     \
     WASI_RIGHT_PATH_REMOVE_DIRECTORY | WASI_RIGHT_PATH_UNLINK_FILE |                              \
     WASI_RIGHT_POLL_FD_READWRITE)
/* Rights that change the file system beneath a directory: never granted on read-only mounts. */
#define WASI_RIGHTS_DIR_WRITE                                                                      \
    (WASI_RIGHT_PATH_CREATE_DIRECTORY | WASI_RIGHT_PATH_CREATE_FILE |                              \
     WASI_RIGHT_PATH_LINK_SOURCE | WASI_RIGHT_PATH_LINK_TARGET | WASI_RIGHT_PATH_RENAME_SOURCE |   \
     WASI_RIGHT_PATH_RENAME_TARGET | WASI_RIGHT_PATH_FILESTAT_SET_SIZE |                           \
     WASI_RIGHT_PATH_FILESTAT_SET_TIMES | WASI_RIGHT_FD_FILESTAT_SET_TIMES |                       \
     WASI_RIGHT_PATH_SYMLINK | WASI_RIGHT_PATH_REMOVE_DIRECTORY | WASI_RIGHT_PATH_UNLINK_FILE)
/* Rights on a file descriptor that let it change the file. */
#define WASI_RIGHTS_FILE_WRITE                                                                     \
    (WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_ALLOCATE | WASI_RIGHT_FD_FILESTAT_SET_SIZE |              \
     WASI_RIGHT_FD_FILESTAT_SET_TIMES | WASI_RIGHT_FD_DATASYNC)

/* ---- Other ABI constants ---- */
enum {
    WASI_FILETYPE_UNKNOWN = 0,
    WASI_FILETYPE_BLOCK_DEVICE = 1,
    WASI_FILETYPE_CHARACTER_DEVICE = 2,
    WASI_FILETYPE_DIRECTORY = 3,
    WASI_FILETYPE_REGULAR_FILE = 4,
    WASI_FILETYPE_SOCKET_DGRAM = 5,
    WASI_FILETYPE_SOCKET_STREAM = 6,
    WASI_FILETYPE_SYMBOLIC_LINK = 7,
};
enum {
    WASI_FDFLAG_APPEND = 1,
    WASI_FDFLAG_DSYNC = 2,
    WASI_FDFLAG_NONBLOCK = 4,
    WASI_FDFLAG_RSYNC = 8,
    WASI_FDFLAG_SYNC = 16,
};
enum { WASI_O_CREAT = 1, WASI_O_DIRECTORY = 2, WASI_O_EXCL = 4, WASI_O_TRUNC = 8 };
enum { WASI_LOOKUP_SYMLINK_FOLLOW = 1 };
enum { WASI_FST_ATIM = 1, WASI_FST_ATIM_NOW = 2, WASI_FST_MTIM = 4, WASI_FST_MTIM_NOW = 8 };
enum { WASI_WHENCE_SET = 0, WASI_WHENCE_CUR = 1, WASI_WHENCE_END = 2 };
enum {
    WASI_CLOCK_REALTIME = 0,
    WASI_CLOCK_MONOTONIC = 1,
    WASI_CLOCK_PROCESS_CPUTIME = 2,
    WASI_CLOCK_THREAD_CPUTIME = 3,
};
enum { WASI_EVENT_CLOCK = 0, WASI_EVENT_FD_READ = 1, WASI_EVENT_FD_WRITE = 2 };
enum { WASI_SUBCLOCK_ABSTIME = 1 };
enum { WASI_EVENT_HANGUP = 1 };

/* ---- Imports: (name, wasm signature as params/results letters i=i32 I=i64, handler) ---- */
// clang-format off
#define CAP_WASI_IMPORT_MAP(X) \
    X(args_get,                "ii",        "i", cap_wasi_args_get)                \
    X(args_sizes_get,          "ii",        "i", cap_wasi_args_sizes_get)          \
    X(environ_get,             "ii",        "i", cap_wasi_environ_get)             \
    X(environ_sizes_get,       "ii",        "i", cap_wasi_environ_sizes_get)       \
    X(clock_res_get,           "ii",        "i", cap_wasi_clock_res_get)           \
    X(clock_time_get,          "iIi",       "i", cap_wasi_clock_time_get)          \
    X(fd_advise,               "iIIi",      "i", cap_wasi_fd_advise)               \
    X(fd_allocate,             "iII",       "i", cap_wasi_fd_allocate)             \
    X(fd_close,                "i",         "i", cap_wasi_fd_close)                \
    X(fd_datasync,             "i",         "i", cap_wasi_fd_datasync)             \
    X(fd_fdstat_get,           "ii",        "i", cap_wasi_fd_fdstat_get)           \
    X(fd_fdstat_set_flags,     "ii",        "i", cap_wasi_fd_fdstat_set_flags)     \
    X(fd_fdstat_set_rights,    "iII",       "i", cap_wasi_fd_fdstat_set_rights)    \
    X(fd_filestat_get,         "ii",        "i", cap_wasi_fd_filestat_get)         \
    X(fd_filestat_set_size,    "iI",        "i", cap_wasi_fd_filestat_set_size)    \
    X(fd_filestat_set_times,   "iIIi",      "i", cap_wasi_fd_filestat_set_times)   \
    X(fd_pread,                "iiiIi",     "i", cap_wasi_fd_pread)                \
    X(fd_prestat_get,          "ii",        "i", cap_wasi_fd_prestat_get)          \
    X(fd_prestat_dir_name,     "iii",       "i", cap_wasi_fd_prestat_dir_name)     \
    X(fd_pwrite,               "iiiIi",     "i", cap_wasi_fd_pwrite)               \
    X(fd_read,                 "iiii",      "i", cap_wasi_fd_read)                 \
    X(fd_readdir,              "iiiIi",     "i", cap_wasi_fd_readdir)              \
    X(fd_renumber,             "ii",        "i", cap_wasi_fd_renumber)             \
    X(fd_seek,                 "iIii",      "i", cap_wasi_fd_seek)                 \
    X(fd_sync,                 "i",         "i", cap_wasi_fd_sync)                 \
    X(fd_tell,                 "ii",        "i", cap_wasi_fd_tell)                 \
    X(fd_write,                "iiii",      "i", cap_wasi_fd_write)                \
    X(path_create_directory,   "iii",       "i", cap_wasi_path_create_directory)   \
    X(path_filestat_get,       "iiiii",     "i", cap_wasi_path_filestat_get)       \
    X(path_filestat_set_times, "iiiiIIi",   "i", cap_wasi_path_filestat_set_times) \
    X(path_link,               "iiiiiii",   "i", cap_wasi_path_link)               \
    X(path_open,               "iiiiiIIii", "i", cap_wasi_path_open)               \
    X(path_readlink,           "iiiiii",    "i", cap_wasi_path_readlink)           \
    X(path_remove_directory,   "iii",       "i", cap_wasi_path_remove_directory)   \
    X(path_rename,             "iiiiii",    "i", cap_wasi_path_rename)             \
    X(path_symlink,            "iiiii",     "i", cap_wasi_path_symlink)            \
    X(path_unlink_file,        "iii",       "i", cap_wasi_path_unlink_file)        \
    X(poll_oneoff,             "iiii",      "i", cap_wasi_poll_oneoff)             \
    X(proc_exit,               "i",         "",  cap_wasi_proc_exit)               \
    X(proc_raise,              "i",         "i", cap_wasi_proc_raise)              \
    X(sched_yield,             "",          "i", cap_wasi_sched_yield)             \
    X(random_get,              "ii",        "i", cap_wasi_random_get)              \
    X(sock_accept,             "iii",       "i", cap_wasi_sock_accept)             \
    X(sock_recv,               "iiiiii",    "i", cap_wasi_sock_recv)               \
    X(sock_send,               "iiiii",     "i", cap_wasi_sock_send)               \
    X(sock_shutdown,           "ii",        "i", cap_wasi_sock_shutdown)
// clang-format on

/* A handler returns a WASI errno (>= 0), or CAP_WASI_TRAPPED after it recorded a trap or an
 * exit through cap_caller_trap / cap_caller_exit. Arguments arrive as raw slots. */
#define CAP_WASI_TRAPPED (-1)
typedef int32_t cap_wasi_handler(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a);
#define CAP_X(name, params, results, handler) cap_wasi_handler handler;
CAP_WASI_IMPORT_MAP(CAP_X)
#undef CAP_X

/* ---- The context ---- */

enum wasi_fd_kind {
    FD_FREE = 0,
    FD_HOST,      // a host descriptor: file, directory (preopen or opened beneath one), stdin
    FD_OUT,       // captured stdout (stream 0) or stderr (stream 1)
    FD_STDIN_MEM, // stdin served from bytes given in the config (empty when len == 0)
};

typedef struct wasi_dircache {
    char **names;
    uint64_t *inos;
    uint8_t *types;
    size_t n;
} wasi_dircache;

typedef struct wasi_fd {
    uint8_t kind;     // enum wasi_fd_kind
    uint8_t filetype; // WASI_FILETYPE_*
    uint8_t stream;   // FD_OUT: 0 = stdout, 1 = stderr
    bool readonly;    // beneath a read-only mount: every write is refused with ROFS
    bool nonblock;    // the guest asked for NONBLOCK (host fds are polled, never blocking)
    int host;         // FD_HOST: the host descriptor (O_CLOEXEC), else -1
    uint64_t rights_base;
    uint64_t rights_inheriting;
    char *preopen_name; // guest path of a preopened directory, else NULL
    wasi_dircache dir;  // FD_HOST directories: the listing fd_readdir serves cookies from
} wasi_fd;

typedef struct wasi_out {
    uint8_t *buf; // captured bytes (when capturing)
    size_t len;
    size_t alloc;
    size_t limit;   // bytes accepted before truncation
    uint64_t total; // bytes the guest wrote, accepted or not
    bool truncated;
} wasi_out;

typedef struct wasi_binding {
    cap_wasi_t *wasi;
    cap_wasi_handler *fn;
    bool has_result;
} wasi_binding;

#define CAP_WASI_MAX_FDS 1024u

struct cap_wasi_t {
    cap_store_t *store;
    char **argv;
    uint32_t argc;
    char **envp; // "NAME=VALUE"
    uint32_t envc;
    wasi_fd *fds;
    uint32_t nfds; // entries allocated (free ones have kind FD_FREE)
    wasi_out out[2];
    bool capture;
    cap_wasi_output_fn stream_fn;
    void *stream_user;
    uint8_t *stdin_bytes;
    size_t stdin_len;
    size_t stdin_pos;
    bool exited;
    int32_t exit_code;
    wasi_binding *bindings;
    bool linked;
};

/* Looks up an open descriptor holding all of `rights`. Returns 0 with *out set, BADF when the
 * number is not open, NOTCAPABLE when a right is missing. */
int32_t cap_wasi_fd_get(cap_wasi_t *w, uint32_t fd, uint64_t rights, wasi_fd **out);
/* Allocates the lowest free descriptor number. MFILE when the table is full, NOMEM. */
int32_t cap_wasi_fd_alloc(cap_wasi_t *w, uint32_t *out);
/* Closes and frees a descriptor's host resources; the entry becomes FD_FREE. */
void cap_wasi_fd_release(wasi_fd *e);
void cap_wasi_dircache_clear(wasi_dircache *d);

/* Appends guest output to stream 0 (stdout) or 1 (stderr): bounded capture, streaming. */
void cap_wasi_output(cap_wasi_t *w, unsigned stream, const uint8_t *data, size_t len);

/* Bounds-checked guest memory helpers: NULL / FAULT when out of range. */
uint8_t *cap_wasi_mem(cap_caller_t *c, uint64_t ptr, uint64_t len);
int32_t cap_wasi_put_u32(cap_caller_t *c, uint64_t ptr, uint32_t v);
int32_t cap_wasi_put_u64(cap_caller_t *c, uint64_t ptr, uint64_t v);

/* Sleeps up to ns nanoseconds in short slices, returning early (true) once the store is
 * interrupted. */
bool cap_wasi_nap(cap_wasi_t *w, uint64_t ns);
/* Waits until host fd is readable (events = POLLIN) or writable (POLLOUT), honouring the
 * interrupt. Returns 0, or CAP_WASI_TRAPPED after recording a TIMEOUT trap on c. */
int32_t cap_wasi_wait_fd(cap_wasi_t *w, cap_caller_t *c, int fd, short events);

#endif
