/* SPDX-License-Identifier: Apache-2.0 */
/* The task policy: limits (compute, ram, timeout, retries) and grants (files, hosts, env names),
 * their strict parsers, the precedence merge, and the rule bounding a sub-task by its parent. */
#ifndef CAP_RUNTIME_POLICY_H
#define CAP_RUNTIME_POLICY_H

#include "capsule.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Compute levels in fuel units (one unit per executed Wasm instruction), as in the reference
 * implementation. */
#define CAP_FUEL_LOW    100000000ULL
#define CAP_FUEL_MEDIUM 2000000000ULL
#define CAP_FUEL_HIGH   50000000000ULL

/* Built-in defaults, used when neither the task nor capsule.toml says otherwise. */
#define CAP_DEFAULT_FUEL        CAP_FUEL_MEDIUM
#define CAP_DEFAULT_RAM         (256ULL << 20) // 256 MiB
#define CAP_DEFAULT_TIMEOUT_MS  60000ULL       // 60 s
#define CAP_DEFAULT_MAX_RETRIES 0u

/* Hard ceilings on what a policy may say, whoever writes it. */
#define CAP_MAX_RETRIES_LIMIT 100u
#define CAP_MAX_LIST_ENTRIES  256u // per grant list
/* Sub-task structure limits the runtime enforces (depth of nesting, children per task). */
#define CAP_SUBTASK_MAX_DEPTH    16u
#define CAP_SUBTASK_MAX_CHILDREN 1024u

/* Policy fields, as bits of cap_policy_t.set / .explicit_. */
typedef enum cap_policy_field {
    CAP_POL_COMPUTE = 1u << 0,
    CAP_POL_RAM = 1u << 1,
    CAP_POL_TIMEOUT = 1u << 2,
    CAP_POL_MAX_RETRIES = 1u << 3,
    CAP_POL_FILES = 1u << 4,
    CAP_POL_HOSTS = 1u << 5,
    CAP_POL_ENV = 1u << 6,
    CAP_POL_ALL = (1u << 7) - 1,
} cap_policy_field;

/* One allowed_files grant. */
typedef struct cap_mount {
    char *host;     // host path, lexically normalised: "data", "a/b", ".", "/abs/path", "../x"
    char *guest;    // absolute guest path: the explicit "::/app" or the default (see below)
    bool writable;  // ":rw"; the default is read-only
    bool guest_set; // the entry named its guest path explicitly
} cap_mount;

/* A policy. Fields not in `set` hold no value (a partial policy: task options or capsule.toml
 * defaults); a resolved policy has every field set. `explicit_` records which fields the task
 * itself gave, as opposed to inheriting them from defaults: cap_policy_bound refuses an explicit
 * request it cannot grant but silently narrows an inherited one. */
struct cap_policy_t {
    unsigned set;
    unsigned explicit_;
    uint64_t fuel;
    uint64_t ram;        // bytes
    uint64_t timeout_ms; // wall-clock deadline per attempt
    uint32_t max_retries;
    cap_mount *files;
    size_t nfiles;
    char **hosts; // normalised (lowercase) patterns
    size_t nhosts;
    char **env; // variable names
    size_t nenv;
};

/* What a parent task has left when it schedules a sub-task. */
typedef struct cap_budget {
    uint64_t fuel;       // fuel the parent may still spend
    uint64_t ram;        // bytes of the parent's ram not in use
    uint64_t timeout_ms; // time until the parent's deadline
} cap_budget;

/* ---- value parsers. `field` names the field in messages ("ram", "default_ram", ...). All
 * return CAP_OK, or CAP_ERR_CONFIG with a message naming the field and the value. ---- */

/* "LOW" | "MEDIUM" | "HIGH" (any case) | a positive integer ("5000000", "5_000_000"). */
cap_status cap_policy_parse_compute(const char *field, const char *s, uint64_t *out,
                                    cap_error_t *err);
/* "512KB", "64MB", "2GB", "1TB", "100B", "64 MiB", or a byte count; 1024-based, positive. */
cap_status cap_policy_parse_ram(const char *field, const char *s, uint64_t *out, cap_error_t *err);
/* "500ms", "30s", "5m", "1h"; positive. */
cap_status cap_policy_parse_timeout(const char *field, const char *s, uint64_t *out_ms,
                                    cap_error_t *err);
/* One allowed_files entry: PATH, PATH:ro, PATH:rw, PATH::/GUEST, PATH::/GUEST:rw. On success
 * *out owns two strings: free with cap_mount_clear. */
cap_status cap_policy_parse_mount(const char *field, const char *s, cap_mount *out,
                                  cap_error_t *err);
void cap_mount_clear(cap_mount *m);
/* One allowed_hosts pattern: "*", "api.example.com", "*.example.com", "example.com:8443",
 * "10.0.0.1", "[::1]:8080". Writes the normalised form (lowercase, IPv6 canonical) to out. */
cap_status cap_policy_parse_host(const char *field, const char *s, char *out, size_t out_size,
                                 cap_error_t *err);
/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
cap_status cap_policy_check_env_name(const char *field, const char *s, cap_error_t *err);

/* Formats a duration exactly in the largest unit that divides it ("1h", "90s", "1500ms"). */
void cap_policy_format_duration(uint64_t ms, char *buf, size_t size);
/* Formats a byte size exactly in the largest unit that divides it ("64MB", "1536KB", "100B"). */
void cap_policy_format_size(uint64_t bytes, char *buf, size_t size);

/* ---- policies ---- */

/* Sets one field from its text form. Scalar fields are replaced; list fields
 * (allowed_files, allowed_hosts, env_variables) get one entry appended (duplicates merged), or
 * are emptied (and marked set: "no grants") when value is NULL. `label` names the field in messages
 * (NULL: the field's own name). CAP_ERR_CONFIG for an unknown field name (with a suggestion) or a
 * bad value. */
cap_status cap_policy_set_field(cap_policy_t *p, const char *field, const char *label,
                                const char *value, cap_error_t *err);
/* Sets compute, ram (bytes) or max_retries from an integer (TOML and JSON integers). */
cap_status cap_policy_set_field_int(cap_policy_t *p, const char *field, const char *label,
                                    int64_t value, cap_error_t *err);
/* Maps a field name ("compute", "ram", ...) to its bit, or 0. */
unsigned cap_policy_field_bit(const char *field);
/* The NULL-terminated list of field names, for suggestions. */
extern const char *const cap_policy_field_names[];

/* Frees everything a policy owns and zeroes it (for embedded policies). */
void cap_policy_clear(cap_policy_t *p);
/* Deep copy into *out (a zeroed or cleared policy). CAP_ERR_NOMEM. */
cap_status cap_policy_copy(cap_policy_t *out, const cap_policy_t *src, cap_error_t *err);

/* Precedence merge: each field from `task` if set there, else from `defaults` if set there, else
 * the built-in default. Either may be NULL. The result has every field set and
 * explicit_ = task->set. */
cap_status cap_policy_resolve_into(cap_policy_t *out, const cap_policy_t *task,
                                   const cap_policy_t *defaults, cap_error_t *err);

/* Bounds a sub-task's resolved `request` by its resolved `parent` and the parent's remaining
 * `budget`, writing the policy the child really gets into *out:
 * - fuel, ram and timeout are clipped to the budget; max_retries to the parent's;
 * - every file, host and env grant must be covered by one of the parent's (same or narrower
 *   path, never rw under ro; a host pattern matching no more than a parent pattern does; the same
 *   env name). A grant the task asked for explicitly that is not covered is refused with
 *   CAP_ERR_DENIED naming it; one it only inherited from defaults is dropped.
 * Host paths are compared lexically: the runtime must also check, on the real file system, that
 * the child's canonical path lies under the parent's (symlinks). */
cap_status cap_policy_bound(const cap_policy_t *parent, const cap_budget *budget,
                            const cap_policy_t *request, cap_policy_t *out, cap_error_t *err);

/* True when a parent grant covers a child grant (the rules of cap_policy_bound). */
bool cap_policy_mount_covers(const cap_mount *parent, const cap_mount *child);
bool cap_policy_host_covers(const char *parent, const char *child);

/* Builds the JSON form (only set fields; values in forms cap_policy_set_json accepts back:
 * compute and ram as integers, timeout as a duration string, lists as strings). */
struct json_t;
struct json_t *cap_policy_to_jansson(const cap_policy_t *p);
/* Sets fields from a JSON object (the SDK's decorator options, a sub-task's requested policy).
 * null values are skipped; unknown keys and wrongly typed values are CAP_ERR_CONFIG. */
cap_status cap_policy_set_jansson(cap_policy_t *p, const struct json_t *obj, cap_error_t *err);

#endif
