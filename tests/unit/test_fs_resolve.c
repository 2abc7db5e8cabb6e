/* SPDX-License-Identifier: Apache-2.0 */
/* Beneath-the-root path resolution (platform/fs.h), run twice: with openat2(RESOLVE_BENEATH)
 * where the kernel has it, and with the portable component walk. Both must agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "platform/fs.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[256];
static int root = -1;

static void
mk(const char *rel, bool dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    if (dir) {
        assert_int_equal(mkdir(p, 0755), 0);
    } else {
        int fd = open(p, O_CREAT | O_WRONLY, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
}

static void
ln(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(base, sizeof base, "/tmp/capsule-fs-XXXXXX");
    assert_non_null(mkdtemp(base));
    mk("outside", true);
    mk("outside/secret", false);
    mk("root", true);
    mk("root/a", true);
    mk("root/a/b", true);
    mk("root/a/f", false);
    ln("a/b", "root/inlink");
    ln("../outside", "root/out_rel");
    ln("/etc", "root/out_abs");
    ln("a/../../outside/secret", "root/out_deep");
    ln("loop2", "root/loop1");
    ln("loop1", "root/loop2");
    ln("../../a", "root/a/b/up");
    char p[512];
    snprintf(p, sizeof p, "%s/root", base);
    root = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    close(root);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

/* Opens dir `path` beneath root and returns the result code (0 when it opened). */
static int
open_dir(const char *path)
{
    int fd = cap_fs_open_dir_beneath(root, path);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return fd;
}

static int
resolve(const char *path, bool follow, char *name_out)
{
    int dfd;
    char *name;
    bool trailing;
    int r = cap_fs_resolve(root, path, follow, &dfd, &name, &trailing);
    if (r == 0) {
        if (name_out) {
            snprintf(name_out, 64, "%s", name);
        }
        close(dfd);
        cap_free(name);
    }
    return r;
}

static void
check_all(void)
{
    char name[64];
    assert_int_equal(open_dir(""), 0);
    assert_int_equal(open_dir("a/b"), 0);
    assert_int_equal(open_dir("a/b/../b/./"), 0);
    assert_int_equal(open_dir("inlink"), 0);
    assert_int_equal(open_dir("a/b/up/b"), 0);
    assert_int_equal(open_dir(".."), CAP_FS_ESCAPE);
    assert_int_equal(open_dir("a/../.."), CAP_FS_ESCAPE);
    assert_int_equal(open_dir("/etc"), CAP_FS_ESCAPE);
    assert_int_equal(open_dir("out_rel"), CAP_FS_ESCAPE);
    assert_int_equal(open_dir("out_abs"), CAP_FS_ESCAPE);
    assert_int_equal(open_dir("loop1"), -ELOOP);
    assert_int_equal(open_dir("a/f"), -ENOTDIR);
    assert_int_equal(open_dir("missing"), -ENOENT);

    assert_int_equal(resolve("a/f", false, name), 0);
    assert_string_equal(name, "f");
    assert_int_equal(resolve("a/b/", false, name), 0);
    assert_string_equal(name, "b");
    assert_int_equal(resolve("a/..", false, name), 0);
    assert_string_equal(name, ".");
    assert_int_equal(resolve("..", false, NULL), CAP_FS_ESCAPE);
    assert_int_equal(resolve("out_rel", false, name), 0); // the link itself
    assert_string_equal(name, "out_rel");
    assert_int_equal(resolve("out_rel", true, NULL), CAP_FS_ESCAPE);
    assert_int_equal(resolve("out_abs", true, NULL), CAP_FS_ESCAPE);
    assert_int_equal(resolve("out_deep", true, NULL), CAP_FS_ESCAPE);
    assert_int_equal(resolve("out_rel/secret", false, NULL), CAP_FS_ESCAPE);
    assert_int_equal(resolve("loop1", true, NULL), -ELOOP);
    assert_int_equal(resolve("inlink", true, name), 0);
    assert_string_equal(name, "b");
    assert_int_equal(resolve("", false, NULL), -ENOENT);
    assert_int_equal(resolve("/x", false, NULL), CAP_FS_ESCAPE);
}

static void
test_fs_resolve_openat2(void **state)
{
    (void)state;
    cap_fs_force_walk(false);
    check_all();
}

static void
test_fs_resolve_walk(void **state)
{
    (void)state;
    cap_fs_force_walk(true);
    check_all();
    cap_fs_force_walk(false);
}

static void
test_fs_resolve_random(void **state)
{
    (void)state;
    unsigned char b[4096];
    assert_int_equal(cap_fs_random(b, sizeof b), 0);
    int zeros = 0;
    for (size_t i = 0; i < sizeof b; i++) {
        zeros += b[i] == 0;
    }
    assert_true(zeros < 100);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fs_resolve_openat2),
        cmocka_unit_test(test_fs_resolve_walk),
        cmocka_unit_test(test_fs_resolve_random),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
