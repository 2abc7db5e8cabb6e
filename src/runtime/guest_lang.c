/* SPDX-License-Identifier: Apache-2.0 */
/* Guest runtimes: maps a Python or JavaScript/TypeScript source file to the runtime module and
 * code mounts that run it (see guest_lang.h and the guest READMEs). */
#include "runtime/guest_lang.h"
#include "runtime/rt.h"
#include "runtime/task.h"
#include "util/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

cap_guest_lang
cap_guest_lang_of(const char *file)
{
    if (ends_with(file, ".py")) {
        return CAP_GUEST_PYTHON;
    }
    static const char *const js[] = {".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", ".jsx"};
    for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
        if (ends_with(file, js[i])) {
            return CAP_GUEST_JS;
        }
    }
    return CAP_GUEST_WASM;
}

/* ---- the snapshot key: everything hashed goes into one byte string, then SHA-256 ---- */

typedef cap_sb keybuf;

static void
kb_put(keybuf *k, const void *data, size_t n)
{
    cap_sb_append(k, data, n);
}

static void
kb_str(keybuf *k, const char *s)
{
    kb_put(k, s, strlen(s) + 1);
}

/* A file's identity: enough to notice a rebuilt runtime without reading megabytes. */
static void
kb_identity(keybuf *k, const char *path)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    stat(path, &st);
    uint64_t v[5] = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                     (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec};
    kb_str(k, path);
    kb_put(k, v, sizeof v);
}

/* Bytes of file contents hashed per key at most; files beyond it count by identity only. */
#define KEY_CONTENT_MAX ((size_t)64 << 20)
#define KEY_MAX_FILES   5000

static void
kb_contents(keybuf *k, const char *path, size_t *budget)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || (uint64_t)st.st_size > *budget) {
        if (fd >= 0) {
            close(fd);
        }
        kb_identity(k, path);
        return;
    }
    kb_str(k, path);
    *budget -= (size_t)st.st_size;
    char chunk[16384];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof chunk)) > 0) {
        kb_put(k, chunk, (size_t)r);
    }
    close(fd);
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The files under dir, in name order (not hidden ones, __pycache__, node_modules): .py files by
 * content, others by identity. */
static void
kb_tree(keybuf *k, const char *dir, int depth, size_t *budget, unsigned *files)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[PATH_MAX];
        bool skip = name[0] == '.' || strcmp(name, "__pycache__") == 0 ||
                    strcmp(name, "node_modules") == 0 || *files >= KEY_MAX_FILES;
        if (!skip && snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path) {
            struct stat st;
            if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth < 8) {
                kb_tree(k, path, depth + 1, budget, files);
            } else if (S_ISREG(st.st_mode) && has_suffix(name, ".py")) {
                (*files)++;
                kb_contents(k, path, budget);
            } else if (S_ISREG(st.st_mode)) {
                /* Data files the code may read at import (a config.json): by identity, which
                 * is cheap for big ones. */
                (*files)++;
                kb_identity(k, path);
            }
        }
        free(names[i]);
    }
    free(names);
}

static void
hex(const uint8_t *h, int n, char *out)
{
    for (int i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
}

/* "<entry>-<digest>": the first 8 bytes of the entry path's hash, then the key's. */
static void
key_hex(keybuf *k, const char *entry, char *out)
{
    uint8_t h[32];
    cap_sha256((const uint8_t *)entry, strlen(entry), h);
    hex(h, 8, out);
    out[16] = '-';
    cap_sha256((const uint8_t *)(k->data ? k->data : ""), k->len, h);
    hex(h, 32, out + 17);
}

/* Adds the parts every runtime shares (format, module, mounts, environment) and hashes. */
static cap_status
finish_key(cap_guest_run *g, keybuf *k, const char *entry, cap_error_t *err)
{
    kb_str(k, "capsule-prepared-start-1");
    kb_identity(k, g->module);
    for (size_t i = 0; i < g->ncode_mounts; i++) {
        kb_str(k, g->code_mounts[i]);
    }
    for (size_t i = 0; i < g->nenv; i++) {
        kb_str(k, g->env_names[i]);
        kb_str(k, g->env_values[i]);
    }
    if (k->oom) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    key_hex(k, entry, g->snapshot_key);
    return CAP_OK;
}

static bool
is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory holding the running executable (build/<preset>/ for a build tree), or "" */
static void
exe_dir(char *out, size_t size)
{
    out[0] = '\0';
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash) {
        *slash = '\0';
        snprintf(out, size, "%s", buf);
    }
}

/* Finds the directory of a runtime: $ENV, else EXE_DIR/../SUB (build/<preset>/capsule ->
 * build/SUB), else EXE_DIR/../../build/SUB, else ./build/SUB. It must hold `probe`. The found
 * directory (absolute) goes to out. */
static bool
find_runtime_dir(const char *env, const char *sub, const char *probe, char *out, size_t size)
{
    char cand[4][PATH_MAX];
    size_t n = 0;
    const char *e = getenv(env);
    if (e && *e) {
        snprintf(cand[n++], PATH_MAX, "%s", e);
    } else {
        char dir[PATH_MAX];
        exe_dir(dir, sizeof dir);
        if (dir[0]) {
            snprintf(cand[n++], PATH_MAX, "%.3800s/../%s", dir, sub);
            snprintf(cand[n++], PATH_MAX, "%.3800s/../../build/%s", dir, sub);
        }
        snprintf(cand[n++], PATH_MAX, "build/%s", sub);
    }
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%.4000s/%s", cand[i], probe);
        char real[PATH_MAX];
        if (is_file(p) && realpath(cand[i], real)) {
            snprintf(out, size, "%s", real);
            return true;
        }
    }
    return false;
}

static char *
join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = cap_alloc(n);
    if (s) {
        snprintf(s, n, "%s%s", a, b);
    }
    return s;
}

static cap_status
add_mount(cap_guest_run *g, const char *host, const char *guest, cap_error_t *err)
{
    size_t n = strlen(host) + strlen(guest) + 3;
    char *m = cap_alloc(n);
    if (!m) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    snprintf(m, n, "%s::%s", host, guest);
    g->code_mounts[g->ncode_mounts++] = m;
    return CAP_OK;
}

static cap_status
prepare_python(const char *real, cap_guest_run *g, cap_error_t *err)
{
    char dir[PATH_MAX];
    if (!find_runtime_dir("CAPSULE_PYTHON_DIR", "python", "capsule-python.wasm", dir, sizeof dir)) {
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "the Python runtime is not built (no capsule-python.wasm in "
                           "$CAPSULE_PYTHON_DIR or build/python): run bash "
                           "scripts/build-python.sh");
    }
    /* The runner imports /app/main.py (guest/python/README.md): the script's directory is /app;
     * another name is passed in CAPSULE_PYTHON_MAIN. */
    const char *base = strrchr(real, '/') + 1;
    if (strcmp(base, "main.py") != 0) {
        size_t n = strlen(base) + 6;
        g->env_names[0] = cap_strdup("CAPSULE_PYTHON_MAIN");
        g->env_values[0] = cap_alloc(n);
        if (!g->env_names[0] || !g->env_values[0]) {
            cap_free(g->env_names[0]);
            cap_free(g->env_values[0]);
            return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        }
        snprintf(g->env_values[0], n, "/app/%s", base);
        g->nenv = 1;
    }
    char app[PATH_MAX];
    snprintf(app, sizeof app, "%.*s", (int)(base - real - 1), real);
    if (app[0] == '\0') {
        snprintf(app, sizeof app, "/");
    }
    char lib[PATH_MAX + 8];
    snprintf(lib, sizeof lib, "%s/lib", dir);
    g->module = join(dir, "/capsule-python.wasm");
    if (!g->module) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    cap_status st = add_mount(g, lib, "/usr/local/lib", err);
    if (st == CAP_OK) {
        st = add_mount(g, app, "/app", err);
    }
    if (st != CAP_OK) {
        return st;
    }
    /* The key: the runtime's capsule package (re-copied by every runtime build) and the .py
     * files of the user's directory, by content. */
    keybuf k = {0};
    size_t budget = KEY_CONTENT_MAX;
    unsigned files = 0;
    char pkg[PATH_MAX + 32];
    snprintf(pkg, sizeof pkg, "%s/python3.13/capsule", lib);
    kb_tree(&k, pkg, 0, &budget, &files);
    kb_str(&k, "app");
    files = 0;
    kb_tree(&k, app, 0, &budget, &files);
    st = finish_key(g, &k, real, err);
    cap_sb_free(&k);
    return st;
}

static bool
newer(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* Whether the bundle in outdir is up to date: its main.mjs is no older than bundle.sh and than
 * every input esbuild listed in meta.json (paths relative to the current directory, the project
 * whose .capsule holds the bundle), the entry among them. Bundling costs a few hundred ms of
 * esbuild; this check, a few stat calls. */
static bool
bundle_fresh(const char *outdir, const char *entry, const char *script)
{
    char path[PATH_MAX + 32];
    struct stat out, st;
    snprintf(path, sizeof path, "%s/main.mjs", outdir);
    if (stat(path, &out) != 0 || stat(script, &st) != 0 || newer(&st.st_mtim, &out.st_mtim)) {
        return false;
    }
    snprintf(path, sizeof path, "%s/meta.json", outdir);
    json_t *meta = json_load_file(path, 0, NULL);
    json_t *inputs = json_object_get(meta, "inputs");
    bool fresh = json_object_size(inputs) > 0;
    bool has_entry = false;
    const char *name;
    json_t *v;
    json_object_foreach(inputs, name, v)
    {
        char real[PATH_MAX];
        if (!fresh) {
            break;
        }
        fresh = stat(name, &st) == 0 && !newer(&st.st_mtim, &out.st_mtim);
        if (fresh && !has_entry && realpath(name, real) && strcmp(real, entry) == 0) {
            has_entry = true;
        }
    }
    json_decref(meta);
    return fresh && has_entry;
}

/* Runs `sh bundle.sh entry outdir`, its output on our stderr. */
static cap_status
run_bundle(const char *script, const char *entry, const char *outdir, cap_error_t *err)
{
    pid_t pid = fork();
    if (pid < 0) {
        return cap_rt_fail(err, CAP_ERR_IO, "cannot start %s: %s", script, strerror(errno));
    }
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO); // keep our stdout for the result or the envelope
        execl("/bin/sh", "sh", script, entry, outdir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return cap_rt_fail(err, CAP_ERR_IO, "waiting for %s: %s", script, strerror(errno));
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "%s: the bundle failed (%s exited with %d)",
                           entry, script, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return CAP_OK;
}

static cap_status
prepare_js(const char *real, const char *project_dir, cap_guest_run *g, cap_error_t *err)
{
    char dir[PATH_MAX];
    if (!find_runtime_dir("CAPSULE_JS_DIR", "js", "qjs-capsule.wasm", dir, sizeof dir)) {
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "the JavaScript runtime is not built (no qjs-capsule.wasm in "
                           "$CAPSULE_JS_DIR or build/js): run bash scripts/build-quickjs.sh");
    }
    /* bundle.sh lives in the source tree the runtime was built in: build/js -> guest/js. */
    char script[PATH_MAX + 32];
    snprintf(script, sizeof script, "%s/../../guest/js/bundle.sh", dir);
    if (!is_file(script)) {
        snprintf(script, sizeof script, "guest/js/bundle.sh");
        if (!is_file(script)) {
            return cap_rt_fail(err, CAP_ERR_CONFIG,
                               "guest/js/bundle.sh not found next to the JavaScript runtime %s",
                               dir);
        }
    }
    /* One bundle directory per entry file (the SHA-256 of its absolute path). */
    uint8_t h[32];
    cap_sha256((const uint8_t *)real, strlen(real), h);
    char out[PATH_MAX];
    int n = snprintf(out, sizeof out, "%s/.capsule/js/", project_dir ? project_dir : ".");
    for (int i = 0; i < 8 && n > 0 && (size_t)n + 2 < sizeof out; i++) {
        n += snprintf(out + n, sizeof out - (size_t)n, "%02x", h[i]);
    }
    if (!cap_rt_mkdirs(out)) {
        return cap_rt_fail(err, CAP_ERR_IO, "cannot create %s: %s", out, strerror(errno));
    }
    cap_status st = bundle_fresh(out, real, script) ? CAP_OK : run_bundle(script, real, out, err);
    if (st != CAP_OK) {
        return st;
    }
    char outreal[PATH_MAX];
    if (!realpath(out, outreal)) {
        return cap_rt_fail(err, CAP_ERR_IO, "%s: %s", out, strerror(errno));
    }
    g->module = join(dir, "/qjs-capsule.wasm");
    if (!g->module) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    st = add_mount(g, outreal, "/app", err);
    if (st != CAP_OK) {
        return st;
    }
    /* The key: the bundle (the user's code and its packages, one file) and its source map. */
    keybuf k = {0};
    size_t budget = KEY_CONTENT_MAX;
    char file[PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/main.mjs", outreal);
    kb_contents(&k, file, &budget);
    snprintf(file, sizeof file, "%s/main.mjs.map", outreal);
    kb_contents(&k, file, &budget);
    st = finish_key(g, &k, real, err);
    cap_sb_free(&k);
    return st;
}

cap_status
cap_guest_run_prepare(const char *file, const char *project_dir, cap_guest_run *out,
                      cap_error_t *err)
{
    memset(out, 0, sizeof *out);
    out->lang = cap_guest_lang_of(file);
    if (out->lang == CAP_GUEST_WASM) {
        return CAP_OK;
    }
    char real[PATH_MAX];
    if (!realpath(file, real)) {
        return cap_rt_fail(err, CAP_ERR_IO, "%s: %s", file, strerror(errno));
    }
    cap_status st = out->lang == CAP_GUEST_PYTHON ? prepare_python(real, out, err)
                                                  : prepare_js(real, project_dir, out, err);
    if (st == CAP_OK) {
        const char *pd = project_dir ? project_dir : ".";
        size_t n = strlen(pd) + 32;
        out->snapshot_dir = cap_alloc(n);
        if (out->snapshot_dir) {
            snprintf(out->snapshot_dir, n, "%s/.capsule/snapshots", pd);
        } else {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        }
    }
    if (st != CAP_OK) {
        cap_guest_run_clear(out);
    }
    return st;
}

void
cap_guest_run_clear(cap_guest_run *g)
{
    cap_free(g->module);
    for (size_t i = 0; i < g->ncode_mounts; i++) {
        cap_free(g->code_mounts[i]);
    }
    for (size_t i = 0; i < g->nenv; i++) {
        cap_free(g->env_names[i]);
        cap_free(g->env_values[i]);
    }
    cap_free(g->snapshot_dir);
    memset(g, 0, sizeof *g);
}
