/* SPDX-License-Identifier: Apache-2.0 */
/* WASI arguments, environment, proc_exit/proc_raise, random_get, and the socket functions,
 * which refuse: a guest reaches the network only through the host's mediated HTTP. */
#include "platform/fs.h"
#include "wasi/wasi_int.h"

#include <string.h>

#define U32(i) ((uint32_t)a[i])

/* Writes a string vector the C way: an array of n u32 pointers at vec_ptr and the
 * NUL-terminated strings back to back at buf_ptr. Both ranges are checked first. */
static int32_t
put_strings(cap_caller_t *c, char *const *v, uint32_t n, uint32_t vec_ptr, uint32_t buf_ptr)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        total += strlen(v[i]) + 1;
    }
    uint8_t *vec = cap_wasi_mem(c, vec_ptr, (uint64_t)n * 4);
    uint8_t *buf = cap_wasi_mem(c, buf_ptr, total);
    if (!vec || !buf) {
        return WASI_EFAULT;
    }
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        uint32_t at = (uint32_t)(buf_ptr + off);
        for (int b = 0; b < 4; b++) {
            vec[(size_t)i * 4 + (size_t)b] = (uint8_t)(at >> (8 * b));
        }
        memcpy(buf + off, v[i], len);
        off += len;
    }
    return WASI_ESUCCESS;
}

static int32_t
put_sizes(cap_caller_t *c, char *const *v, uint32_t n, uint32_t count_ptr, uint32_t size_ptr)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        total += strlen(v[i]) + 1;
    }
    if (total > UINT32_MAX) {
        return WASI_E2BIG;
    }
    if (!cap_wasi_mem(c, count_ptr, 4) || !cap_wasi_mem(c, size_ptr, 4)) {
        return WASI_EFAULT;
    }
    cap_wasi_put_u32(c, count_ptr, n);
    return cap_wasi_put_u32(c, size_ptr, (uint32_t)total);
}

int32_t
cap_wasi_args_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    return put_strings(c, w->argv, w->argc, U32(0), U32(1));
}

int32_t
cap_wasi_args_sizes_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    return put_sizes(c, w->argv, w->argc, U32(0), U32(1));
}

int32_t
cap_wasi_environ_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    return put_strings(c, w->envp, w->envc, U32(0), U32(1));
}

int32_t
cap_wasi_environ_sizes_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    return put_sizes(c, w->envp, w->envc, U32(0), U32(1));
}

int32_t
cap_wasi_proc_exit(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    w->exited = true;
    w->exit_code = (int32_t)U32(0);
    cap_caller_exit(c, w->exit_code);
    return CAP_WASI_TRAPPED;
}

int32_t
cap_wasi_proc_raise(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)w;
    (void)c;
    (void)a;
    return WASI_ENOSYS; // signals do not exist in the sandbox
}

int32_t
cap_wasi_random_get(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)w;
    uint8_t *p = cap_wasi_mem(c, U32(0), U32(1));
    if (!p) {
        return WASI_EFAULT;
    }
    int r = cap_fs_random(p, U32(1));
    return r == 0 ? WASI_ESUCCESS : cap_wasi_errno(r);
}

/* No descriptor in a Capsule guest is ever a socket. */
static int32_t
no_socket(cap_wasi_t *w, uint32_t fd)
{
    wasi_fd *e;
    int32_t r = cap_wasi_fd_get(w, fd, 0, &e);
    return r != WASI_ESUCCESS ? r : WASI_ENOTSOCK;
}

int32_t
cap_wasi_sock_accept(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    return no_socket(w, U32(0));
}

int32_t
cap_wasi_sock_recv(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    return no_socket(w, U32(0));
}

int32_t
cap_wasi_sock_send(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    return no_socket(w, U32(0));
}

int32_t
cap_wasi_sock_shutdown(cap_wasi_t *w, cap_caller_t *c, const cap_slot_t *a)
{
    (void)c;
    return no_socket(w, U32(0));
}
