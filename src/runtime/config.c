/* SPDX-License-Identifier: Apache-2.0 */
/* capsule.toml and .env: strict reading (unknown keys are errors with a suggestion, invalid
 * values name the key, the value and its position), and environment lookup that never lets a
 * .env file override the real environment. */
#include "runtime/config.h"

#include "runtime/rt.h"
#include "runtime/toml.h"
#include "util/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const top_keys[] = {"workflow", "tasks", NULL};
static const char *const workflow_keys[] = {"name", "version", "entrypoint", NULL};
/* [tasks] keys, each the policy field after "default_". */
static const char *const tasks_keys[] = {
    "default_compute",       "default_ram",
    "default_timeout",       "default_max_retries",
    "default_allowed_files", "default_allowed_hosts",
    "default_env_variables", NULL,
};

void
cap_config_clear(cap_config_t *cfg)
{
    cap_free(cfg->dir);
    cap_free(cfg->toml_path);
    cap_free(cfg->name);
    cap_free(cfg->version);
    cap_free(cfg->entrypoint);
    cap_policy_clear(&cfg->defaults);
    for (size_t i = 0; i < cfg->nenv; i++) {
        cap_free(cfg->env_names[i]);
        cap_free(cfg->env_values[i]);
    }
    cap_free(cfg->env_names);
    cap_free(cfg->env_values);
    memset(cfg, 0, sizeof *cfg);
}

/* Reports an error located at a TOML value or key. */
static cap_status at(cap_error_t *err, const char *file, uint32_t line, uint32_t col, cap_status st,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static cap_status
at(cap_error_t *err, const char *file, uint32_t line, uint32_t col, cap_status st, const char *fmt,
   ...)
{
    if (err) {
        char msg[220];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cap_rt_fail(err, st, "%s:%u:%u: %s", file, line, col, msg);
    }
    return st;
}

/* "unknown key 'x' in [tasks] (did you mean default_ram?)". A policy field written without its
 * default_ prefix gets the prefixed name suggested. */
static cap_status
unknown_key(cap_error_t *err, const char *file, const cap_toml_kv *kv, const char *table,
            const char *const *known)
{
    const char *near = cap_rt_suggest(kv->key, known);
    char prefixed[80];
    if (!near && strlen(kv->key) < 60) {
        snprintf(prefixed, sizeof prefixed, "default_%s", kv->key);
        for (size_t i = 0; known[i]; i++) {
            if (strcmp(known[i], prefixed) == 0) {
                near = known[i];
            }
        }
    }
    char shown[64];
    snprintf(shown, sizeof shown, "%s", kv->key);
    if (table) {
        if (near) {
            return at(err, file, kv->line, kv->col, CAP_ERR_CONFIG,
                      "unknown key '%s' in [%s] (did you mean %s?)", shown, table, near);
        }
        return at(err, file, kv->line, kv->col, CAP_ERR_CONFIG, "unknown key '%s' in [%s]", shown,
                  table);
    }
    if (near) {
        return at(err, file, kv->line, kv->col, CAP_ERR_CONFIG,
                  "unknown table or key '%s' (did you mean [%s]?)", shown, near);
    }
    return at(err, file, kv->line, kv->col, CAP_ERR_CONFIG,
              "unknown table or key '%s' (capsule.toml has [workflow] and [tasks])", shown);
}

static cap_status
expect_type(cap_error_t *err, const char *file, const cap_toml_value *v, const char *key,
            const char *what)
{
    return at(err, file, v->line, v->col, CAP_ERR_CONFIG, "%s must be %s, not %s %s", key, what,
              v->type == CAP_TOML_INTEGER ? "an" : "a", cap_toml_type_name(v->type));
}

/* Wraps a policy-parser error with the position of the value. */
static cap_status
located(cap_error_t *err, const char *file, const cap_toml_value *v, cap_status st,
        const cap_error_t *inner)
{
    if (st == CAP_ERR_NOMEM) {
        return cap_rt_fail(err, st, "out of memory");
    }
    return at(err, file, v->line, v->col, st, "%s", inner->msg);
}

static cap_status
read_workflow(cap_config_t *cfg, const cap_toml_value *t, const char *file, cap_error_t *err)
{
    for (size_t i = 0; i < t->u.tbl.n; i++) {
        const cap_toml_kv *kv = &t->u.tbl.items[i];
        char **slot = NULL;
        if (strcmp(kv->key, "name") == 0) {
            slot = &cfg->name;
        } else if (strcmp(kv->key, "version") == 0) {
            slot = &cfg->version;
        } else if (strcmp(kv->key, "entrypoint") == 0) {
            slot = &cfg->entrypoint;
        } else {
            return unknown_key(err, file, kv, "workflow", workflow_keys);
        }
        char qualified[40];
        snprintf(qualified, sizeof qualified, "workflow.%s", kv->key);
        if (kv->val->type != CAP_TOML_STRING) {
            return expect_type(err, file, kv->val, qualified, "a string");
        }
        if (kv->val->u.str.len == 0) {
            return at(err, file, kv->val->line, kv->val->col, CAP_ERR_CONFIG,
                      "%s must not be empty", qualified);
        }
        char *s = cap_strdup(kv->val->u.str.s);
        if (!s) {
            return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        }
        cap_free(*slot);
        *slot = s;
    }
    return CAP_OK;
}

static cap_status
read_tasks(cap_config_t *cfg, const cap_toml_value *t, const char *file, cap_error_t *err)
{
    cap_error_t inner;
    cap_status st;
    for (size_t i = 0; i < t->u.tbl.n; i++) {
        const cap_toml_kv *kv = &t->u.tbl.items[i];
        const cap_toml_value *v = kv->val;
        bool known = false;
        for (size_t k = 0; tasks_keys[k]; k++) {
            known = known || strcmp(tasks_keys[k], kv->key) == 0;
        }
        if (!known) {
            return unknown_key(err, file, kv, "tasks", tasks_keys);
        }
        const char *field = kv->key + strlen("default_");
        unsigned bit = cap_policy_field_bit(field);
        bool is_list = bit == CAP_POL_FILES || bit == CAP_POL_HOSTS || bit == CAP_POL_ENV;
        if (is_list) {
            if (v->type != CAP_TOML_ARRAY) {
                return expect_type(err, file, v, kv->key, "an array of strings");
            }
            st = cap_policy_set_field(&cfg->defaults, field, kv->key, NULL, &inner);
            if (st != CAP_OK) {
                return located(err, file, v, st, &inner);
            }
            for (size_t j = 0; j < v->u.arr.n; j++) {
                const cap_toml_value *item = v->u.arr.items[j];
                if (item->type != CAP_TOML_STRING) {
                    char what[64];
                    snprintf(what, sizeof what, "%s entries", kv->key);
                    return expect_type(err, file, item, what, "strings");
                }
                st = cap_policy_set_field(&cfg->defaults, field, kv->key, item->u.str.s, &inner);
                if (st != CAP_OK) {
                    return located(err, file, item, st, &inner);
                }
            }
        } else if (v->type == CAP_TOML_STRING) {
            if (bit == CAP_POL_MAX_RETRIES) {
                return expect_type(err, file, v, kv->key, "an integer");
            }
            st = cap_policy_set_field(&cfg->defaults, field, kv->key, v->u.str.s, &inner);
            if (st != CAP_OK) {
                return located(err, file, v, st, &inner);
            }
        } else if (v->type == CAP_TOML_INTEGER) {
            st = cap_policy_set_field_int(&cfg->defaults, field, kv->key, v->u.i, &inner);
            if (st != CAP_OK) {
                return located(err, file, v, st, &inner);
            }
        } else {
            return expect_type(err, file, v, kv->key,
                               bit == CAP_POL_MAX_RETRIES ? "an integer" : "a string");
        }
    }
    return CAP_OK;
}

cap_status
cap_config_parse_toml(cap_config_t *cfg, const char *text, size_t len, const char *filename,
                      cap_error_t *err)
{
    const char *file = filename ? filename : "capsule.toml";
    cap_toml_value *root = NULL;
    cap_status st = cap_toml_parse(text, len, file, &root, err);
    if (st != CAP_OK) {
        return st;
    }
    for (size_t i = 0; i < root->u.tbl.n && st == CAP_OK; i++) {
        const cap_toml_kv *kv = &root->u.tbl.items[i];
        bool wf = strcmp(kv->key, "workflow") == 0;
        if (!wf && strcmp(kv->key, "tasks") != 0) {
            st = unknown_key(err, file, kv, NULL, top_keys);
        } else if (kv->val->type != CAP_TOML_TABLE) {
            st = expect_type(err, file, kv->val, kv->key, "a table");
        } else if (wf) {
            st = read_workflow(cfg, kv->val, file, err);
        } else {
            st = read_tasks(cfg, kv->val, file, err);
        }
    }
    cap_toml_free(root);
    return st;
}

/* ---- .env ---- */

static cap_status
env_put(cap_config_t *cfg, char *name, char *value, cap_error_t *err)
{
    for (size_t i = 0; i < cfg->nenv; i++) {
        if (strcmp(cfg->env_names[i], name) == 0) {
            cap_free(cfg->env_values[i]);
            cfg->env_values[i] = value;
            cap_free(name);
            return CAP_OK;
        }
    }
    char **nn = cap_realloc(cfg->env_names, (cfg->nenv + 1) * sizeof *nn);
    if (nn) {
        cfg->env_names = nn;
    }
    char **nv = nn ? cap_realloc(cfg->env_values, (cfg->nenv + 1) * sizeof *nv) : NULL;
    if (!nv) {
        cap_free(name);
        cap_free(value);
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    cfg->env_values = nv;
    cfg->env_names[cfg->nenv] = name;
    cfg->env_values[cfg->nenv] = value;
    cfg->nenv++;
    return CAP_OK;
}

static bool
name_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool
name_char(int c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

cap_status
cap_config_parse_dotenv(cap_config_t *cfg, const char *text, size_t len, const char *filename,
                        cap_error_t *err)
{
    const char *file = filename ? filename : ".env";
    size_t i = 0;
    unsigned line = 1;
    if (memchr(text, '\0', len) || !cap_rt_utf8_valid(text, len)) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "%s: not a text file (NUL bytes or invalid UTF-8)",
                           file);
    }
#define PEEK() (i < len ? (unsigned char)text[i] : -1)
    while (i < len) {
        unsigned start_line = line;
        while (PEEK() == ' ' || PEEK() == '\t') {
            i++;
        }
        if (PEEK() == '\n' || PEEK() == '\r' || PEEK() == '#' || PEEK() < 0) {
            while (i < len && text[i] != '\n') {
                i++;
            }
            if (i < len) {
                i++;
                line++;
            }
            continue;
        }
        if (len - i > 7 && memcmp(text + i, "export", 6) == 0 &&
            (text[i + 6] == ' ' || text[i + 6] == '\t')) {
            i += 7;
            while (PEEK() == ' ' || PEEK() == '\t') {
                i++;
            }
        }
        size_t ns = i;
        if (!name_start(PEEK())) {
            return cap_rt_fail(err, CAP_ERR_CONFIG,
                               "%s:%u: expected NAME=VALUE (names use A-Z, a-z, 0-9 and _)", file,
                               start_line);
        }
        while (name_char(PEEK())) {
            i++;
        }
        size_t ne = i;
        while (PEEK() == ' ' || PEEK() == '\t') {
            i++;
        }
        if (PEEK() != '=') {
            return cap_rt_fail(err, CAP_ERR_CONFIG, "%s:%u: expected '=' after %.*s", file,
                               start_line, (int)(ne - ns > 40 ? 40 : ne - ns), text + ns);
        }
        i++;
        while (PEEK() == ' ' || PEEK() == '\t') {
            i++;
        }
        cap_sb val = {0};
        int q = PEEK();
        if (q == '"' || q == '\'') {
            i++;
            for (;;) {
                int c = PEEK();
                if (c < 0) {
                    cap_sb_free(&val);
                    return cap_rt_fail(err, CAP_ERR_CONFIG, "%s:%u: unterminated %s-quoted value",
                                       file, start_line, q == '"' ? "double" : "single");
                }
                i++;
                if (c == q) {
                    break;
                }
                if (c == '\n') {
                    line++;
                }
                if (q == '"' && c == '\\' && i < len) {
                    int e = (unsigned char)text[i++];
                    const char *rep = e == 'n' ? "\n" : e == 't' ? "\t" : e == 'r' ? "\r" : NULL;
                    if (rep) {
                        cap_sb_puts(&val, rep);
                    } else if (e == '"' || e == '\\' || e == '$') {
                        char ch = (char)e;
                        cap_sb_append(&val, &ch, 1);
                    } else {
                        // Unknown escapes are kept as written, as most dotenv readers do.
                        cap_sb_append(&val, text + i - 2, 2);
                    }
                    continue;
                }
                char ch = (char)c;
                cap_sb_append(&val, &ch, 1);
            }
            while (PEEK() == ' ' || PEEK() == '\t') {
                i++;
            }
            if (PEEK() == '#') {
                while (i < len && text[i] != '\n') {
                    i++;
                }
            }
            if (PEEK() == '\r' && i + 1 < len && text[i + 1] == '\n') {
                i++;
            }
            if (PEEK() >= 0 && PEEK() != '\n') {
                cap_sb_free(&val);
                return cap_rt_fail(err, CAP_ERR_CONFIG,
                                   "%s:%u: unexpected text after the closing quote", file, line);
            }
        } else {
            size_t vs = i;
            while (i < len && text[i] != '\n' &&
                   !(text[i] == '#' && i > vs && (text[i - 1] == ' ' || text[i - 1] == '\t'))) {
                i++;
            }
            size_t ve = i;
            while (ve > vs &&
                   (text[ve - 1] == ' ' || text[ve - 1] == '\t' || text[ve - 1] == '\r')) {
                ve--;
            }
            cap_sb_append(&val, text + vs, ve - vs);
            while (i < len && text[i] != '\n') {
                i++;
            }
        }
        if (i < len && text[i] == '\n') {
            i++;
            line++;
        }
        char *name = cap_strndup(text + ns, ne - ns);
        char *value = cap_sb_take(&val);
        if (!name || !value) {
            cap_free(name);
            cap_free(value);
            return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        }
        cap_status st = env_put(cfg, name, value, err);
        if (st != CAP_OK) {
            return st;
        }
    }
#undef PEEK
    return CAP_OK;
}

const char *
cap_config_dotenv(const cap_config_t *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nenv; i++) {
        if (strcmp(cfg->env_names[i], name) == 0) {
            return cfg->env_values[i];
        }
    }
    return NULL;
}

/* ---- loading ---- */

/* Reads a whole file. *out is NULL (and CAP_OK) when the file does not exist. */
static cap_status
read_file(const char *path, const char *shown_name, char **out, size_t *out_len, cap_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    FILE *f = fopen(path, "rbe");
    if (!f) {
        if (errno == ENOENT) {
            return CAP_OK;
        }
        return cap_rt_fail(err, CAP_ERR_IO, "cannot open %s: %s", shown_name, strerror(errno));
    }
    cap_sb sb = {0};
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (sb.len + n > CAP_CONFIG_MAX_FILE) {
            fclose(f);
            cap_sb_free(&sb);
            return cap_rt_fail(err, CAP_ERR_CONFIG, "%s is larger than %u bytes", shown_name,
                               CAP_CONFIG_MAX_FILE);
        }
        cap_sb_append(&sb, buf, n);
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        cap_sb_free(&sb);
        return cap_rt_fail(err, CAP_ERR_IO, "cannot read %s", shown_name);
    }
    size_t len = sb.len;
    *out = cap_sb_take(&sb);
    if (!*out) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    *out_len = len;
    return CAP_OK;
}

static char *
join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    char *p = cap_alloc(dl + nl + 2);
    if (p) {
        memcpy(p, dir, dl);
        size_t off = dl;
        if (dl && dir[dl - 1] != '/') {
            p[off++] = '/';
        }
        memcpy(p + off, name, nl + 1);
    }
    return p;
}

cap_status
cap_config_load(const char *project_dir, cap_config_t **out, cap_error_t *err)
{
    if (!out) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_config_load: out is NULL");
    }
    *out = NULL;
    const char *dir = project_dir && project_dir[0] ? project_dir : ".";
    cap_config_t *cfg = cap_calloc(1, sizeof *cfg);
    char *toml_path = NULL, *env_path = NULL, *text = NULL;
    size_t len = 0;
    cap_status st = CAP_ERR_NOMEM;
    if (!cfg || !(cfg->dir = cap_strdup(dir)) || !(toml_path = join(dir, "capsule.toml")) ||
        !(env_path = join(dir, ".env"))) {
        cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = read_file(toml_path, "capsule.toml", &text, &len, err)) != CAP_OK) {
        goto fail;
    }
    if (text) {
        if ((st = cap_config_parse_toml(cfg, text, len, "capsule.toml", err)) != CAP_OK) {
            goto fail;
        }
        cfg->toml_path = toml_path;
        toml_path = NULL;
    }
    cap_free(text);
    text = NULL;
    if ((st = read_file(env_path, ".env", &text, &len, err)) != CAP_OK) {
        goto fail;
    }
    if (text && (st = cap_config_parse_dotenv(cfg, text, len, ".env", err)) != CAP_OK) {
        goto fail;
    }
    cap_free(text);
    cap_free(toml_path);
    cap_free(env_path);
    *out = cfg;
    return CAP_OK;
fail:
    cap_free(text);
    cap_free(toml_path);
    cap_free(env_path);
    if (cfg) {
        cap_config_clear(cfg);
        cap_free(cfg);
    }
    return st;
}

void
cap_config_free(cap_config_t *config)
{
    if (config) {
        cap_config_clear(config);
        cap_free(config);
    }
}

const char *
cap_config_workflow(const cap_config_t *config, const char *key)
{
    if (!config || !key) {
        return NULL;
    }
    if (strcmp(key, "name") == 0) {
        return config->name;
    }
    if (strcmp(key, "version") == 0) {
        return config->version;
    }
    if (strcmp(key, "entrypoint") == 0) {
        return config->entrypoint;
    }
    return NULL;
}

const cap_policy_t *
cap_config_defaults(const cap_config_t *config)
{
    return config ? &config->defaults : NULL;
}

const char *
cap_config_env(const cap_config_t *config, const char *name)
{
    if (!name) {
        return NULL;
    }
    // The real environment wins: .env fills gaps, it never overrides.
    const char *v = getenv(name);
    return v ? v : cap_config_dotenv(config, name);
}
