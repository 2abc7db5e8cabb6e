/* SPDX-License-Identifier: Apache-2.0 */
/* A project's configuration: capsule.toml ([workflow] and the [tasks] defaults) and .env. */
#ifndef CAP_RUNTIME_CONFIG_H
#define CAP_RUNTIME_CONFIG_H

#include "capsule.h"
#include "runtime/policy.h"

#include <stddef.h>

#define CAP_CONFIG_MAX_FILE (1u << 20) // capsule.toml and .env are refused above 1 MiB

struct cap_config_t {
    char *dir;       // the project directory (as given)
    char *toml_path; // path of capsule.toml when one was read, else NULL
    char *name;      // [workflow] values, NULL when absent
    char *version;
    char *entrypoint;
    cap_policy_t defaults; // [tasks] default_* values, only the fields given are set
    char **env_names;      // .env variables, in file order (a later duplicate replaces)
    char **env_values;
    size_t nenv;
};

/* Parses capsule.toml text into cfg (which must be zeroed or from an earlier parse of .env).
 * Errors: CAP_ERR_CONFIG "FILENAME:LINE:COL: message"; CAP_ERR_NOMEM. */
cap_status cap_config_parse_toml(cap_config_t *cfg, const char *text, size_t len,
                                 const char *filename, cap_error_t *err);
/* Parses .env text (KEY=VALUE lines, `export` prefixes, '#' comments, "double" quotes with
 * escapes, 'single' quotes literal, unquoted values trimmed and cut at " #").
 * Errors: CAP_ERR_CONFIG "FILENAME:LINE: message"; CAP_ERR_NOMEM. */
cap_status cap_config_parse_dotenv(cap_config_t *cfg, const char *text, size_t len,
                                   const char *filename, cap_error_t *err);
/* The .env value of name, or NULL (ignores the real environment; see cap_config_env). */
const char *cap_config_dotenv(const cap_config_t *cfg, const char *name);
/* Frees what cfg owns and zeroes it. */
void cap_config_clear(cap_config_t *cfg);

#endif
