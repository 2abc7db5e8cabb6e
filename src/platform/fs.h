/* SPDX-License-Identifier: Apache-2.0 */
/* Host file-system primitives for the WASI layer: resolving a guest path beneath a directory
 * descriptor without ever leaving it, and the few non-libc calls WASI needs (getrandom). */
#ifndef CAP_PLATFORM_FS_H
#define CAP_PLATFORM_FS_H

#include <stdbool.h>
#include <stddef.h>

/* Returned (negated errno style) when a path would leave the directory it is resolved beneath:
 * `..` above it, an absolute path, or a symlink leading outside. Not a host errno value. */
#define CAP_FS_ESCAPE (-100000)

/* Symlinks expanded while resolving one path before ELOOP (Linux's own limit). */
#define CAP_FS_MAX_SYMLINKS 40

/*
 * Opens the directory at `path` (relative; "" means `root` itself) beneath the directory
 * `root`, following symlinks only while they stay beneath it. Uses openat2(RESOLVE_BENEATH)
 * when the kernel has it, else an equivalent component-by-component walk.
 * Returns an O_PATH|O_CLOEXEC descriptor, or -errno, or CAP_FS_ESCAPE.
 */
int cap_fs_open_dir_beneath(int root, const char *path);

/*
 * Resolves `path` beneath `root` to its parent directory and final component, so that the
 * caller can apply one *at() call (with AT_SYMLINK_NOFOLLOW semantics) to a name that cannot
 * lead outside. When follow_final is set, a final component that is a symlink is expanded
 * (beneath root) until it is not one. "." and ".." as the final component resolve to the
 * directory itself, returned as name ".". Trailing slashes are removed from the name and
 * reported in *out_trailing.
 * On success returns 0 with *out_dirfd (O_PATH, caller closes) and *out_name (cap_alloc'd,
 * caller frees); else -errno or CAP_FS_ESCAPE and nothing to free.
 */
int cap_fs_resolve(int root, const char *path, bool follow_final, int *out_dirfd, char **out_name,
                   bool *out_trailing);

/* Test hook: force the portable walk even where openat2 exists (both must behave alike). */
void cap_fs_force_walk(bool on);

/* Fills buf with len cryptographically secure random bytes. Returns 0 or -errno. */
int cap_fs_random(void *buf, size_t len);

#endif
