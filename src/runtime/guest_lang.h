/* SPDX-License-Identifier: Apache-2.0 */
/* Guest runtimes: how `capsule run main.py` / `main.ts` becomes a WebAssembly task. Maps a
 * source file, by its extension, to the runtime module to run (build/python/capsule-python.wasm
 * or build/js/qjs-capsule.wasm) and the read-only code mounts it needs (guest/python/README.md
 * and guest/js/README.md, "How the host runs a ... task"). JavaScript and TypeScript entries are
 * bundled first with guest/js/bundle.sh into .capsule/js/<key>/. */
#ifndef CAP_RUNTIME_GUEST_LANG_H
#define CAP_RUNTIME_GUEST_LANG_H

#include "capsule.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum cap_guest_lang {
    CAP_GUEST_WASM = 0, // not a guest-language source: run the file itself as a module
    CAP_GUEST_PYTHON,
    CAP_GUEST_JS,
} cap_guest_lang;

#define CAP_GUEST_MAX_CODE_MOUNTS 2

/* What to run for a source file. Strings are cap_alloc'd; clear with cap_guest_run_clear. */
#define CAP_GUEST_MAX_ENV 2

typedef struct cap_guest_run {
    cap_guest_lang lang;
    char *module;                                   // the runtime module's path
    char *code_mounts[CAP_GUEST_MAX_CODE_MOUNTS];   // "HOST::/GUEST", read-only for all tasks
    size_t ncode_mounts;
    /* Environment the runtime needs (CAPSULE_PYTHON_MAIN for an entry not named main.py). */
    char *env_names[CAP_GUEST_MAX_ENV];
    char *env_values[CAP_GUEST_MAX_ENV];
    size_t nenv;
    /* The prepared start's key: a SHA-256 (hex) over the snapshot format, the runtime module's
     * identity (path, inode, size, mtime), the runtime's own package files, the user's code
     * (the contents of the .py files under the entry's directory, or the JavaScript bundle),
     * the code mounts and the environment above; prefixed with 16 hex digits naming the entry
     * file ("<entry>-<digest>"), so that a new snapshot of an entry replaces its old ones. */
    char snapshot_key[16 + 1 + 64 + 1];
    /* Where snapshots live: PROJECT/.capsule/snapshots. */
    char *snapshot_dir;
} cap_guest_run;

/* The language of a file by its extension (.py; .ts, .mts, .tsx, .js, .mjs, .cjs, .jsx). */
cap_guest_lang cap_guest_lang_of(const char *file);

/* Prepares `file` to run: finds the runtime (env CAPSULE_PYTHON_DIR / CAPSULE_JS_DIR, else
 * build/python or build/js next to the capsule executable's build directory, else under the
 * current directory), bundles JavaScript into project_dir/.capsule/js/<key>/ (project_dir NULL:
 * the current directory). A file that is not a guest-language source gives lang CAP_GUEST_WASM
 * and nothing else. Outcomes: CAP_OK; CAP_ERR_CONFIG (runtime not built: the message names the
 * build script; the bundle failed: esbuild's messages were written to stderr); CAP_ERR_IO;
 * CAP_ERR_NOMEM. */
cap_status cap_guest_run_prepare(const char *file, const char *project_dir, cap_guest_run *out,
                                 cap_error_t *err);
void cap_guest_run_clear(cap_guest_run *g);

#endif
