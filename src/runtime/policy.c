/* SPDX-License-Identifier: Apache-2.0 */
/* Task policies: strict parsers for every field (an invalid value is an error naming the field and
 * the value, never a silent default), the precedence merge, and sub-task bounding. */
#include "runtime/policy.h"

#include "runtime/rt.h"
#include "util/alloc.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cap_policy_field_names[] = {
    "compute",       "ram",           "timeout",       "max_retries",
    "allowed_files", "allowed_hosts", "env_variables", NULL,
};

unsigned
cap_policy_field_bit(const char *field)
{
    for (unsigned i = 0; cap_policy_field_names[i]; i++) {
        if (strcmp(field, cap_policy_field_names[i]) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

static bool
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Reads digits with optional single '_' separators between them into *out; returns the number
 * of characters read (0 when no digit or on overflow, with *overflow set). */
static size_t
read_uint(const char *s, uint64_t *out, bool *overflow)
{
    uint64_t v = 0;
    size_t i = 0;
    *overflow = false;
    if (!is_digit(s[0])) {
        return 0;
    }
    for (;;) {
        if (is_digit(s[i])) {
            unsigned d = (unsigned)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10) {
                *overflow = true;
                return 0;
            }
            v = v * 10 + d;
            i++;
        } else if (s[i] == '_' && i > 0 && is_digit(s[i - 1]) && is_digit(s[i + 1])) {
            i++;
        } else {
            break;
        }
    }
    *out = v;
    return i;
}

/* Values are quoted in messages; long or odd ones are shortened so the message stays one line. */
static const char *
shown(const char *s, char *buf, size_t size)
{
    size_t i = 0, j = 0;
    for (; s[i] && j + 4 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[j++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (s[i]) { // cut short: say so
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

#define SHOWN(s) shown((s), (char[72]){0}, 72)

cap_status
cap_policy_parse_compute(const char *field, const char *s, uint64_t *out, cap_error_t *err)
{
    if (cap_rt_ieq(s, "low")) {
        *out = CAP_FUEL_LOW;
        return CAP_OK;
    }
    if (cap_rt_ieq(s, "medium")) {
        *out = CAP_FUEL_MEDIUM;
        return CAP_OK;
    }
    if (cap_rt_ieq(s, "high")) {
        *out = CAP_FUEL_HIGH;
        return CAP_OK;
    }
    uint64_t v;
    bool overflow;
    size_t n = read_uint(s, &v, &overflow);
    if (overflow || (n > 0 && s[n] == '\0' && v == UINT64_MAX)) {
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "invalid %s \"%s\": the number is too large (at most %llu)", field,
                           SHOWN(s), (unsigned long long)(UINT64_MAX - 1));
    }
    if (n == 0 || s[n] != '\0') {
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "invalid %s \"%s\": expected LOW, MEDIUM, HIGH or a positive number "
                           "of fuel units",
                           field, SHOWN(s));
    }
    if (v == 0) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s \"%s\": the fuel must be positive",
                           field, SHOWN(s));
    }
    *out = v;
    return CAP_OK;
}

cap_status
cap_policy_parse_ram(const char *field, const char *s, uint64_t *out, cap_error_t *err)
{
    static const struct {
        const char *name;
        unsigned shift;
    } units[] = {{"b", 0},    {"kb", 10},  {"mb", 20}, {"gb", 30}, {"tb", 40},
                 {"k", 10},   {"m", 20},   {"g", 30},  {"t", 40},  {"kib", 10},
                 {"mib", 20}, {"gib", 30}, {"tib", 40}};
    uint64_t v;
    bool overflow;
    size_t n = read_uint(s, &v, &overflow);
    const char *u = s + n;
    if (n > 0 && *u == ' ') {
        u++;
    }
    bool ok = n > 0 && !(*u == '\0' && u != s + n); // a space must be followed by a unit
    unsigned shift = 0;
    if (ok && *u) {
        ok = false;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (cap_rt_ieq(u, units[i].name)) {
                shift = units[i].shift;
                ok = true;
                break;
            }
        }
    }
    if (overflow || (ok && shift && v > (UINT64_MAX >> shift))) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s \"%s\": the size is too large", field,
                           SHOWN(s));
    }
    if (!ok) {
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "invalid %s \"%s\": expected a size like 512KB, 64MB or 2GB", field,
                           SHOWN(s));
    }
    if (v == 0) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s \"%s\": the size must be positive",
                           field, SHOWN(s));
    }
    *out = v << shift;
    return CAP_OK;
}

cap_status
cap_policy_parse_timeout(const char *field, const char *s, uint64_t *out_ms, cap_error_t *err)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    uint64_t v;
    bool overflow;
    size_t n = read_uint(s, &v, &overflow);
    uint64_t mul = 0;
    if (n > 0 && s[n]) {
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (cap_rt_ieq(s + n, units[i].name)) {
                mul = units[i].ms;
            }
        }
    }
    if (overflow || (mul && v > UINT64_MAX / mul)) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s \"%s\": the duration is too long",
                           field, SHOWN(s));
    }
    if (mul == 0) {
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "invalid %s \"%s\": expected a duration like 500ms, 30s, 5m or 1h",
                           field, SHOWN(s));
    }
    if (v == 0) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s \"%s\": the duration must be positive",
                           field, SHOWN(s));
    }
    *out_ms = v * mul;
    return CAP_OK;
}

void
cap_policy_format_duration(uint64_t ms, char *buf, size_t size)
{
    if (ms && ms % 3600000 == 0) {
        snprintf(buf, size, "%lluh", (unsigned long long)(ms / 3600000));
    } else if (ms && ms % 60000 == 0) {
        snprintf(buf, size, "%llum", (unsigned long long)(ms / 60000));
    } else if (ms && ms % 1000 == 0) {
        snprintf(buf, size, "%llus", (unsigned long long)(ms / 1000));
    } else {
        snprintf(buf, size, "%llums", (unsigned long long)ms);
    }
}

void
cap_policy_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const names[] = {"B", "KB", "MB", "GB", "TB"};
    unsigned i = 0;
    while (i < 4 && bytes && bytes % 1024 == 0) {
        bytes /= 1024;
        i++;
    }
    snprintf(buf, size, "%llu%s", (unsigned long long)bytes, names[i]);
}

/* ---- paths ---- */

/* Lexically normalises a path: collapses '/' runs, drops '.' components, resolves '..' against a
 * preceding normal component (leading '..' of a relative path are kept; '..' at '/' stays '/').
 * The result is "." for an empty relative path. Returns NULL on allocation failure. */
static char *
normalise_path(const char *in)
{
    size_t n = strlen(in);
    char *out = cap_alloc(n + 2);
    if (!out) {
        return NULL;
    }
    bool abs = in[0] == '/';
    size_t len = 0;   // bytes written
    size_t fixed = 0; // prefix of leading ".." components that cannot be popped
    if (abs) {
        out[len++] = '/';
        fixed = 1;
    }
    const char *p = in;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        const char *start = p;
        while (*p && *p != '/') {
            p++;
        }
        size_t clen = (size_t)(p - start);
        if (clen == 0 || (clen == 1 && start[0] == '.')) {
            continue;
        }
        if (clen == 2 && start[0] == '.' && start[1] == '.') {
            if (len > fixed) {
                // Pop the last component.
                while (len > fixed && out[len - 1] != '/') {
                    len--;
                }
                if (len > fixed) {
                    len--; // the separator
                } else if (len > 0 && !abs) {
                    // popped to the fixed prefix of a relative path: drop its trailing '/'
                }
                if (abs && len == 0) {
                    len = 1;
                }
                continue;
            }
            if (abs) {
                continue; // "/.." is "/"
            }
            if (len > 0) {
                out[len++] = '/';
            }
            memcpy(out + len, "..", 2);
            len += 2;
            fixed = len;
            continue;
        }
        if (len > 0 && out[len - 1] != '/') {
            out[len++] = '/';
        }
        memcpy(out + len, start, clen);
        len += clen;
    }
    if (len == 0) {
        out[len++] = '.';
    }
    out[len] = '\0';
    return out;
}

void
cap_mount_clear(cap_mount *m)
{
    cap_free(m->host);
    cap_free(m->guest);
    memset(m, 0, sizeof *m);
}

cap_status
cap_policy_parse_mount(const char *field, const char *s, cap_mount *out, cap_error_t *err)
{
    size_t n = strlen(s);
    bool writable = false;
    char *host = NULL, *guest = NULL, *tmp = NULL;
    memset(out, 0, sizeof *out);
    if (n >= 3 && s[n - 3] == ':' &&
        (strcmp(s + n - 2, "ro") == 0 || strcmp(s + n - 2, "rw") == 0)) {
        writable = s[n - 1] == 'w';
        n -= 3;
    }
    tmp = cap_strndup(s, n);
    if (!tmp) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    char *sep = strstr(tmp, "::");
    const char *guest_text = NULL;
    if (sep) {
        *sep = '\0';
        guest_text = sep + 2;
    }
    const char *why = NULL;
    if (tmp[0] == '\0') {
        why = "the host path is empty";
    } else if (strchr(tmp, ':') || (guest_text && strchr(guest_text, ':'))) {
        why = "expected PATH, PATH:ro, PATH:rw or PATH::/GUEST_PATH[:ro|:rw]";
    } else if (guest_text && guest_text[0] != '/') {
        why = "the guest path after '::' must be absolute, like ./src::/app";
    }
    if (!why && guest_text) {
        // A guest path is where the guest sees the files: it must be a plain absolute path.
        for (const char *c = guest_text; *c; c++) {
            if ((c[0] == '/' && c[1] == '.' && (c[2] == '/' || c[2] == '\0')) ||
                (c[0] == '/' && c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == '\0'))) {
                why = "the guest path must not contain '.' or '..' components";
                break;
            }
        }
    }
    if (why) {
        cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s entry \"%s\": %s", field, SHOWN(s), why);
        cap_free(tmp);
        return CAP_ERR_CONFIG;
    }
    host = normalise_path(tmp);
    if (host) {
        if (guest_text) {
            guest = normalise_path(guest_text);
        } else if (host[0] == '/') {
            guest = cap_strdup(host);
        } else {
            // The default guest path: the relative host path under '/', so that the guest's
            // relative paths ("data/x.csv" from cwd /) and absolute ones ("/data/x.csv") agree.
            size_t hl = strlen(host);
            guest = cap_alloc(hl + 2);
            if (guest) {
                guest[0] = '/';
                if (strcmp(host, ".") == 0) {
                    guest[1] = '\0';
                } else {
                    memcpy(guest + 1, host, hl + 1);
                }
            }
        }
    }
    cap_free(tmp);
    if (!host || !guest) {
        cap_free(host);
        cap_free(guest);
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    out->host = host;
    out->guest = guest;
    out->writable = writable;
    out->guest_set = guest_text != NULL;
    return CAP_OK;
}

/* ---- hosts ---- */

typedef struct host_pat {
    enum { PAT_ANY, PAT_NAME, PAT_SUBDOMAIN, PAT_IP } kind;
    char name[256]; // the domain (without "*."), or the canonical IP text
    unsigned port;  // 0 = any port
} host_pat;

static bool
valid_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-')) {
            return false;
        }
    }
    return true;
}

/* Parses a normalised-or-not pattern into its parts; returns a reason on failure, else NULL. */
static const char *
parse_host_pat(const char *s, host_pat *out)
{
    char buf[300];
    size_t n = strlen(s);
    memset(out, 0, sizeof *out);
    if (n == 0) {
        return "the pattern is empty";
    }
    if (n >= sizeof buf) {
        return "the pattern is too long";
    }
    if (strstr(s, "://")) {
        return "write the host name only, without a scheme like https://";
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            return "write internationalised names in their ASCII form (xn--...)";
        }
        buf[i] = lower((char)c);
    }
    buf[n] = '\0';
    if (strcmp(buf, "*") == 0) {
        out->kind = PAT_ANY;
        return NULL;
    }
    if (strchr(buf, '/') || strchr(buf, '?') || strchr(buf, '@')) {
        return "write the host name only, without a path or user";
    }
    // Split off the port: after "]" for IPv6, else after the only ':'.
    char *host = buf;
    char *port = NULL;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close) {
            return "an IPv6 address needs a closing ']'";
        }
        *close = '\0';
        host = buf + 1;
        if (close[1] == ':') {
            port = close + 2;
        } else if (close[1] != '\0') {
            return "unexpected text after ']'";
        }
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            return "not a valid IPv6 address";
        }
        char canon[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a6, canon, sizeof canon);
        out->kind = PAT_IP;
        snprintf(out->name, sizeof out->name, "[%s]", canon);
    } else {
        char *colon = strchr(buf, ':');
        if (colon) {
            if (strchr(colon + 1, ':')) {
                return "write IPv6 addresses in brackets, like [::1]";
            }
            *colon = '\0';
            port = colon + 1;
        }
        struct in_addr a4;
        bool wild = strncmp(host, "*.", 2) == 0;
        const char *dom = wild ? host + 2 : host;
        if (inet_pton(AF_INET, dom, &a4) == 1) {
            if (wild) {
                return "'*.' cannot precede an IP address";
            }
            out->kind = PAT_IP;
            inet_ntop(AF_INET, &a4, out->name, sizeof out->name);
        } else {
            size_t dl = strlen(dom);
            if (dl == 0 || dl > 253) {
                return "not a valid host name";
            }
            const char *label = dom;
            const char *last_label = dom;
            for (;;) {
                const char *dot = strchr(label, '.');
                size_t ll = dot ? (size_t)(dot - label) : strlen(label);
                if (memchr(label, '*', ll)) {
                    return "'*' is allowed only alone or as a leading '*.'";
                }
                if (!valid_label(label, ll)) {
                    return "not a valid host name (labels use a-z, 0-9 and '-')";
                }
                last_label = label;
                if (!dot) {
                    break;
                }
                label = dot + 1;
            }
            bool numeric = true;
            for (const char *c = last_label; *c; c++) {
                numeric = numeric && is_digit(*c);
            }
            if (numeric) {
                return "not a valid host name or IPv4 address";
            }
            out->kind = wild ? PAT_SUBDOMAIN : PAT_NAME;
            memcpy(out->name, dom, dl + 1); // dl <= 253 < sizeof out->name
        }
    }
    if (port) {
        uint64_t v;
        bool overflow;
        size_t pn = read_uint(port, &v, &overflow);
        if (pn == 0 || port[pn] != '\0' || strchr(port, '_') || v == 0 || v > 65535) {
            return "the port must be a number from 1 to 65535";
        }
        out->port = (unsigned)v;
    }
    return NULL;
}

static void
format_host_pat(const host_pat *h, char *out, size_t size)
{
    const char *prefix = h->kind == PAT_SUBDOMAIN ? "*." : "";
    if (h->kind == PAT_ANY) {
        snprintf(out, size, "*");
    } else if (h->port) {
        snprintf(out, size, "%s%s:%u", prefix, h->name, h->port);
    } else {
        snprintf(out, size, "%s%s", prefix, h->name);
    }
}

cap_status
cap_policy_parse_host(const char *field, const char *s, char *out, size_t out_size,
                      cap_error_t *err)
{
    host_pat h;
    const char *why = parse_host_pat(s, &h);
    if (why) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s entry \"%s\": %s", field, SHOWN(s),
                           why);
    }
    format_host_pat(&h, out, out_size);
    return CAP_OK;
}

/* True when name equals dom or is a subdomain of it (at a label boundary). */
static bool
name_within(const char *name, const char *dom)
{
    size_t n = strlen(name), d = strlen(dom);
    if (n == d) {
        return strcmp(name, dom) == 0;
    }
    return n > d && name[n - d - 1] == '.' && strcmp(name + n - d, dom) == 0;
}

bool
cap_policy_host_covers(const char *parent, const char *child)
{
    host_pat p, c;
    if (parse_host_pat(parent, &p) || parse_host_pat(child, &c)) {
        return false;
    }
    if (p.port && c.port != p.port) {
        return false;
    }
    switch (p.kind) {
    case PAT_ANY:
        // "*" never includes IP literals (they are listed explicitly) nor another "*" with a
        // port restriction check already done above.
        return c.kind != PAT_IP;
    case PAT_IP:
        return c.kind == PAT_IP && strcmp(p.name, c.name) == 0;
    case PAT_NAME:
        // A bare domain also allows its subdomains.
        return (c.kind == PAT_NAME || c.kind == PAT_SUBDOMAIN) && name_within(c.name, p.name);
    case PAT_SUBDOMAIN: {
        // "*.example.com" is exactly one extra label.
        if (c.kind == PAT_SUBDOMAIN) {
            return strcmp(c.name, p.name) == 0;
        }
        if (c.kind != PAT_NAME) {
            return false;
        }
        const char *dot = strchr(c.name, '.');
        return dot && strcmp(dot + 1, p.name) == 0;
    }
    }
    return false;
}

bool
cap_policy_mount_covers(const cap_mount *parent, const cap_mount *child)
{
    if (child->writable && !parent->writable) {
        return false;
    }
    const char *p = parent->host, *c = child->host;
    if ((p[0] == '/') != (c[0] == '/')) {
        return false;
    }
    if (strcmp(p, ".") == 0) {
        // The project directory covers every relative path that stays inside it.
        return !(c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'));
    }
    size_t pl = strlen(p);
    if (strcmp(p, "/") == 0) {
        return true;
    }
    return strncmp(p, c, pl) == 0 && (c[pl] == '\0' || c[pl] == '/');
}

cap_status
cap_policy_check_env_name(const char *field, const char *s, cap_error_t *err)
{
    bool ok = (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_';
    for (size_t i = 1; ok && s[i]; i++) {
        char c = s[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
    }
    if (!ok || strlen(s) > 255) {
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "invalid %s entry \"%s\": expected a variable name like API_KEY", field,
                           SHOWN(s));
    }
    return CAP_OK;
}

/* ---- policies ---- */

void
cap_policy_clear(cap_policy_t *p)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        cap_mount_clear(&p->files[i]);
    }
    cap_free(p->files);
    for (size_t i = 0; i < p->nhosts; i++) {
        cap_free(p->hosts[i]);
    }
    cap_free(p->hosts);
    for (size_t i = 0; i < p->nenv; i++) {
        cap_free(p->env[i]);
    }
    cap_free(p->env);
    memset(p, 0, sizeof *p);
}

static cap_status
nomem(cap_error_t *err)
{
    return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
}

/* Appends a string to a list unless already present (taking ownership of s). */
static cap_status
list_add(char ***list, size_t *n, char *s, const char *label, cap_error_t *err)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*list)[i], s) == 0) {
            cap_free(s);
            return CAP_OK;
        }
    }
    if (*n >= CAP_MAX_LIST_ENTRIES) {
        cap_free(s);
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s: more than %u entries", label,
                           CAP_MAX_LIST_ENTRIES);
    }
    char **nl = cap_realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl) {
        cap_free(s);
        return nomem(err);
    }
    nl[(*n)++] = s;
    *list = nl;
    return CAP_OK;
}

/* Appends a mount (taking ownership); an identical entry is merged, two different host paths at
 * one guest path are an error. */
static cap_status
mount_add(cap_policy_t *p, cap_mount *m, const char *label, cap_error_t *err)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        cap_mount *o = &p->files[i];
        if (strcmp(o->guest, m->guest) == 0) {
            if (strcmp(o->host, m->host) == 0) {
                o->writable = o->writable || m->writable;
                cap_mount_clear(m);
                return CAP_OK;
            }
            cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s: \"%s\" and \"%s\" are both mounted at %s",
                        label, o->host, m->host, m->guest);
            cap_mount_clear(m);
            return CAP_ERR_CONFIG;
        }
    }
    if (p->nfiles >= CAP_MAX_LIST_ENTRIES) {
        cap_mount_clear(m);
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s: more than %u entries", label,
                           CAP_MAX_LIST_ENTRIES);
    }
    cap_mount *nf = cap_realloc(p->files, (p->nfiles + 1) * sizeof *nf);
    if (!nf) {
        cap_mount_clear(m);
        return nomem(err);
    }
    nf[p->nfiles++] = *m;
    p->files = nf;
    memset(m, 0, sizeof *m);
    return CAP_OK;
}

static cap_status
unknown_field(const char *field, cap_error_t *err)
{
    const char *near = cap_rt_suggest(field, cap_policy_field_names);
    if (near) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "unknown policy option \"%s\" (did you mean %s?)",
                           SHOWN(field), near);
    }
    return cap_rt_fail(err, CAP_ERR_CONFIG,
                       "unknown policy option \"%s\" (expected compute, ram, timeout, "
                       "max_retries, allowed_files, allowed_hosts or env_variables)",
                       SHOWN(field));
}

cap_status
cap_policy_set_field(cap_policy_t *p, const char *field, const char *label, const char *value,
                     cap_error_t *err)
{
    unsigned bit = cap_policy_field_bit(field);
    if (!bit) {
        return unknown_field(field, err);
    }
    if (!label) {
        label = field;
    }
    cap_status st = CAP_OK;
    bool is_list = bit == CAP_POL_FILES || bit == CAP_POL_HOSTS || bit == CAP_POL_ENV;
    if (!value && !is_list) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s: a value is required", label);
    }
    if (value && strlen(value) > 4096) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s: the value is too long", label);
    }
    switch (bit) {
    case CAP_POL_COMPUTE:
        st = cap_policy_parse_compute(label, value, &p->fuel, err);
        break;
    case CAP_POL_RAM:
        st = cap_policy_parse_ram(label, value, &p->ram, err);
        break;
    case CAP_POL_TIMEOUT:
        st = cap_policy_parse_timeout(label, value, &p->timeout_ms, err);
        break;
    case CAP_POL_MAX_RETRIES: {
        uint64_t v;
        bool overflow;
        size_t n = read_uint(value, &v, &overflow);
        if (n == 0 || value[n] != '\0' || v > CAP_MAX_RETRIES_LIMIT) {
            return cap_rt_fail(err, CAP_ERR_CONFIG,
                               "invalid %s \"%s\": expected a number from 0 to %u", label,
                               SHOWN(value), CAP_MAX_RETRIES_LIMIT);
        }
        p->max_retries = (uint32_t)v;
        break;
    }
    case CAP_POL_FILES:
        if (!value) {
            for (size_t i = 0; i < p->nfiles; i++) {
                cap_mount_clear(&p->files[i]);
            }
            p->nfiles = 0;
        } else {
            cap_mount m;
            st = cap_policy_parse_mount(label, value, &m, err);
            if (st == CAP_OK) {
                st = mount_add(p, &m, label, err);
            }
        }
        break;
    case CAP_POL_HOSTS:
        if (!value) {
            for (size_t i = 0; i < p->nhosts; i++) {
                cap_free(p->hosts[i]);
            }
            p->nhosts = 0;
        } else {
            char buf[300];
            st = cap_policy_parse_host(label, value, buf, sizeof buf, err);
            if (st == CAP_OK) {
                char *s = cap_strdup(buf);
                st = s ? list_add(&p->hosts, &p->nhosts, s, label, err) : nomem(err);
            }
        }
        break;
    case CAP_POL_ENV:
        if (!value) {
            for (size_t i = 0; i < p->nenv; i++) {
                cap_free(p->env[i]);
            }
            p->nenv = 0;
        } else {
            st = cap_policy_check_env_name(label, value, err);
            if (st == CAP_OK) {
                char *s = cap_strdup(value);
                st = s ? list_add(&p->env, &p->nenv, s, label, err) : nomem(err);
            }
        }
        break;
    default:
        break;
    }
    if (st == CAP_OK) {
        p->set |= bit;
    }
    return st;
}

cap_status
cap_policy_set_field_int(cap_policy_t *p, const char *field, const char *label, int64_t value,
                         cap_error_t *err)
{
    unsigned bit = cap_policy_field_bit(field);
    if (!bit) {
        return unknown_field(field, err);
    }
    if (!label) {
        label = field;
    }
    switch (bit) {
    case CAP_POL_COMPUTE:
    case CAP_POL_RAM:
        if (value <= 0) {
            return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s %lld: the %s must be positive",
                               label, (long long)value, bit == CAP_POL_RAM ? "size" : "fuel");
        }
        if (bit == CAP_POL_COMPUTE) {
            p->fuel = (uint64_t)value;
        } else {
            p->ram = (uint64_t)value;
        }
        break;
    case CAP_POL_MAX_RETRIES:
        if (value < 0 || value > (int64_t)CAP_MAX_RETRIES_LIMIT) {
            return cap_rt_fail(err, CAP_ERR_CONFIG,
                               "invalid %s %lld: expected a number from 0 to %u", label,
                               (long long)value, CAP_MAX_RETRIES_LIMIT);
        }
        p->max_retries = (uint32_t)value;
        break;
    case CAP_POL_TIMEOUT:
        return cap_rt_fail(err, CAP_ERR_CONFIG,
                           "invalid %s %lld: expected a duration string like \"500ms\", \"30s\", "
                           "\"5m\" or \"1h\"",
                           label, (long long)value);
    default:
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s %lld: expected a list of strings",
                           label, (long long)value);
    }
    p->set |= bit;
    return CAP_OK;
}

cap_status
cap_policy_copy(cap_policy_t *out, const cap_policy_t *src, cap_error_t *err)
{
    memset(out, 0, sizeof *out);
    out->set = src->set;
    out->explicit_ = src->explicit_;
    out->fuel = src->fuel;
    out->ram = src->ram;
    out->timeout_ms = src->timeout_ms;
    out->max_retries = src->max_retries;
    if (src->nfiles) {
        out->files = cap_calloc(src->nfiles, sizeof *out->files);
        if (!out->files) {
            goto oom;
        }
        for (size_t i = 0; i < src->nfiles; i++) {
            out->files[i] = src->files[i];
            out->files[i].host = cap_strdup(src->files[i].host);
            out->files[i].guest = cap_strdup(src->files[i].guest);
            out->nfiles = i + 1;
            if (!out->files[i].host || !out->files[i].guest) {
                goto oom;
            }
        }
    }
    for (size_t i = 0; i < src->nhosts; i++) {
        char *s = cap_strdup(src->hosts[i]);
        if (!s || list_add(&out->hosts, &out->nhosts, s, "allowed_hosts", err) != CAP_OK) {
            goto oom;
        }
    }
    for (size_t i = 0; i < src->nenv; i++) {
        char *s = cap_strdup(src->env[i]);
        if (!s || list_add(&out->env, &out->nenv, s, "env_variables", err) != CAP_OK) {
            goto oom;
        }
    }
    return CAP_OK;
oom:
    cap_policy_clear(out);
    return nomem(err);
}

/* Copies the list fields selected by `bits` from src into out (whose lists are empty). */
static cap_status
copy_lists(cap_policy_t *out, const cap_policy_t *src, unsigned bits, cap_error_t *err)
{
    cap_policy_t tmp;
    if (cap_policy_copy(&tmp, src, err) != CAP_OK) {
        return CAP_ERR_NOMEM;
    }
    if (bits & CAP_POL_FILES) {
        out->files = tmp.files;
        out->nfiles = tmp.nfiles;
        tmp.files = NULL;
        tmp.nfiles = 0;
    }
    if (bits & CAP_POL_HOSTS) {
        out->hosts = tmp.hosts;
        out->nhosts = tmp.nhosts;
        tmp.hosts = NULL;
        tmp.nhosts = 0;
    }
    if (bits & CAP_POL_ENV) {
        out->env = tmp.env;
        out->nenv = tmp.nenv;
        tmp.env = NULL;
        tmp.nenv = 0;
    }
    cap_policy_clear(&tmp);
    return CAP_OK;
}

cap_status
cap_policy_resolve_into(cap_policy_t *out, const cap_policy_t *task, const cap_policy_t *defaults,
                        cap_error_t *err)
{
    static const cap_policy_t none = {0};
    if (!task) {
        task = &none;
    }
    if (!defaults) {
        defaults = &none;
    }
    memset(out, 0, sizeof *out);
    out->fuel = CAP_DEFAULT_FUEL;
    out->ram = CAP_DEFAULT_RAM;
    out->timeout_ms = CAP_DEFAULT_TIMEOUT_MS;
    out->max_retries = CAP_DEFAULT_MAX_RETRIES;
    const cap_policy_t *srcs[2] = {defaults, task}; // later wins
    unsigned from_task = 0, from_defaults = 0;
    for (int k = 0; k < 2; k++) {
        const cap_policy_t *s = srcs[k];
        if (s->set & CAP_POL_COMPUTE) {
            out->fuel = s->fuel;
        }
        if (s->set & CAP_POL_RAM) {
            out->ram = s->ram;
        }
        if (s->set & CAP_POL_TIMEOUT) {
            out->timeout_ms = s->timeout_ms;
        }
        if (s->set & CAP_POL_MAX_RETRIES) {
            out->max_retries = s->max_retries;
        }
    }
    from_task = task->set & (CAP_POL_FILES | CAP_POL_HOSTS | CAP_POL_ENV);
    from_defaults = defaults->set & (CAP_POL_FILES | CAP_POL_HOSTS | CAP_POL_ENV) & ~from_task;
    if ((from_task && copy_lists(out, task, from_task, err) != CAP_OK) ||
        (from_defaults && copy_lists(out, defaults, from_defaults, err) != CAP_OK)) {
        cap_policy_clear(out);
        return CAP_ERR_NOMEM;
    }
    out->set = CAP_POL_ALL;
    out->explicit_ = task->set;
    return CAP_OK;
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

cap_status
cap_policy_bound(const cap_policy_t *parent, const cap_budget *budget, const cap_policy_t *request,
                 cap_policy_t *out, cap_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (parent->set != CAP_POL_ALL || request->set != CAP_POL_ALL) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_policy_bound needs resolved policies");
    }
    out->set = CAP_POL_ALL;
    out->explicit_ = request->explicit_;
    out->fuel = min_u64(request->fuel, budget->fuel);
    out->ram = min_u64(request->ram, budget->ram);
    out->timeout_ms = min_u64(request->timeout_ms, budget->timeout_ms);
    out->max_retries =
        request->max_retries < parent->max_retries ? request->max_retries : parent->max_retries;
    cap_status st = CAP_OK;
    for (size_t i = 0; i < request->nfiles && st == CAP_OK; i++) {
        const cap_mount *m = &request->files[i];
        bool covered = false;
        for (size_t j = 0; j < parent->nfiles && !covered; j++) {
            covered = cap_policy_mount_covers(&parent->files[j], m);
        }
        if (!covered) {
            if (request->explicit_ & CAP_POL_FILES) {
                st = cap_rt_fail(err, CAP_ERR_DENIED,
                                 "denied: the sub-task asks for allowed_files \"%s%s\", which "
                                 "its parent was not granted",
                                 m->host, m->writable ? ":rw" : ":ro");
            }
            continue;
        }
        cap_mount c = *m;
        c.host = cap_strdup(m->host);
        c.guest = cap_strdup(m->guest);
        if (!c.host || !c.guest) {
            cap_mount_clear(&c);
            st = nomem(err);
        } else {
            st = mount_add(out, &c, "allowed_files", err);
        }
    }
    for (size_t i = 0; i < request->nhosts && st == CAP_OK; i++) {
        bool covered = false;
        for (size_t j = 0; j < parent->nhosts && !covered; j++) {
            covered = cap_policy_host_covers(parent->hosts[j], request->hosts[i]);
        }
        if (!covered) {
            if (request->explicit_ & CAP_POL_HOSTS) {
                st = cap_rt_fail(err, CAP_ERR_DENIED,
                                 "denied: the sub-task asks for allowed_hosts \"%s\", which its "
                                 "parent was not granted",
                                 request->hosts[i]);
            }
            continue;
        }
        char *s = cap_strdup(request->hosts[i]);
        st = s ? list_add(&out->hosts, &out->nhosts, s, "allowed_hosts", err) : nomem(err);
    }
    for (size_t i = 0; i < request->nenv && st == CAP_OK; i++) {
        bool covered = false;
        for (size_t j = 0; j < parent->nenv && !covered; j++) {
            covered = strcmp(parent->env[j], request->env[i]) == 0;
        }
        if (!covered) {
            if (request->explicit_ & CAP_POL_ENV) {
                st = cap_rt_fail(err, CAP_ERR_DENIED,
                                 "denied: the sub-task asks for env_variables \"%s\", which its "
                                 "parent was not granted",
                                 request->env[i]);
            }
            continue;
        }
        char *s = cap_strdup(request->env[i]);
        st = s ? list_add(&out->env, &out->nenv, s, "env_variables", err) : nomem(err);
    }
    if (st != CAP_OK) {
        cap_policy_clear(out);
    }
    return st;
}

/* ---- JSON ---- */

json_t *
cap_policy_to_jansson(const cap_policy_t *p)
{
    json_t *o = json_object();
    json_t *files = NULL, *hosts = NULL, *env = NULL;
    char buf[600];
    if (!o) {
        return NULL;
    }
    int bad = 0;
    if (p->set & CAP_POL_COMPUTE) {
        bad |= json_object_set_new(o, "compute", json_integer((json_int_t)p->fuel));
    }
    if (p->set & CAP_POL_RAM) {
        bad |= json_object_set_new(o, "ram", json_integer((json_int_t)p->ram));
    }
    if (p->set & CAP_POL_TIMEOUT) {
        cap_policy_format_duration(p->timeout_ms, buf, sizeof buf);
        bad |= json_object_set_new(o, "timeout", json_string(buf));
    }
    if (p->set & CAP_POL_MAX_RETRIES) {
        bad |= json_object_set_new(o, "max_retries", json_integer(p->max_retries));
    }
    if (p->set & CAP_POL_FILES) {
        bad |= json_object_set_new(o, "allowed_files", files = json_array());
        for (size_t i = 0; files && i < p->nfiles; i++) {
            const cap_mount *m = &p->files[i];
            if (m->guest_set) {
                snprintf(buf, sizeof buf, "%s::%s:%s", m->host, m->guest,
                         m->writable ? "rw" : "ro");
            } else {
                snprintf(buf, sizeof buf, "%s:%s", m->host, m->writable ? "rw" : "ro");
            }
            bad |= json_array_append_new(files, json_string(buf));
        }
    }
    if (p->set & CAP_POL_HOSTS) {
        bad |= json_object_set_new(o, "allowed_hosts", hosts = json_array());
        for (size_t i = 0; hosts && i < p->nhosts; i++) {
            bad |= json_array_append_new(hosts, json_string(p->hosts[i]));
        }
    }
    if (p->set & CAP_POL_ENV) {
        bad |= json_object_set_new(o, "env_variables", env = json_array());
        for (size_t i = 0; env && i < p->nenv; i++) {
            bad |= json_array_append_new(env, json_string(p->env[i]));
        }
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *
json_type_word(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

cap_status
cap_policy_set_jansson(cap_policy_t *p, const json_t *obj, cap_error_t *err)
{
    if (!json_is_object(obj)) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid policy: expected a JSON object, not %s",
                           json_type_word(obj));
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        unsigned bit = cap_policy_field_bit(key);
        cap_status st;
        if (!bit) {
            return unknown_field(key, err);
        }
        if (json_is_null(v)) {
            continue;
        }
        bool is_list = bit == CAP_POL_FILES || bit == CAP_POL_HOSTS || bit == CAP_POL_ENV;
        if (is_list) {
            if (!json_is_array(v)) {
                return cap_rt_fail(err, CAP_ERR_CONFIG,
                                   "invalid %s: expected a list of strings, not %s", key,
                                   json_type_word(v));
            }
            // The JSON list replaces any earlier one; an empty list is a value too: "no grants".
            if ((st = cap_policy_set_field(p, key, NULL, NULL, err)) != CAP_OK) {
                return st;
            }
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                if (!json_is_string(item)) {
                    return cap_rt_fail(err, CAP_ERR_CONFIG,
                                       "invalid %s: entry %zu is %s, expected a string", key, i,
                                       json_type_word(item));
                }
                if (strlen(json_string_value(item)) != json_string_length(item)) {
                    return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s: entry %zu contains NUL",
                                       key, i);
                }
                if ((st = cap_policy_set_field(p, key, NULL, json_string_value(item), err)) !=
                    CAP_OK) {
                    return st;
                }
            }
        } else if (json_is_string(v)) {
            if (strlen(json_string_value(v)) != json_string_length(v)) {
                return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s: the value contains NUL", key);
            }
            if ((st = cap_policy_set_field(p, key, NULL, json_string_value(v), err)) != CAP_OK) {
                return st;
            }
        } else if (json_is_integer(v)) {
            if ((st = cap_policy_set_field_int(p, key, NULL, json_integer_value(v), err)) !=
                CAP_OK) {
                return st;
            }
        } else {
            return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid %s: expected a %s, not %s", key,
                               bit == CAP_POL_MAX_RETRIES ? "number" : "string", json_type_word(v));
        }
    }
    return CAP_OK;
}

/* ---- public API ---- */

void
cap_string_free(char *s)
{
    cap_free(s);
}

cap_status
cap_policy_new(cap_policy_t **out, cap_error_t *err)
{
    if (!out) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_policy_new: out is NULL");
    }
    *out = cap_calloc(1, sizeof **out);
    return *out ? CAP_OK : nomem(err);
}

void
cap_policy_free(cap_policy_t *policy)
{
    if (policy) {
        cap_policy_clear(policy);
        cap_free(policy);
    }
}

/* Runs `apply` on a copy and swaps it in only on success, so a failed call leaves the policy
 * exactly as it was. */
cap_status
cap_policy_set(cap_policy_t *policy, const char *field, const char *value, cap_error_t *err)
{
    if (!policy || !field) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_policy_set: policy and field are required");
    }
    cap_policy_t tmp;
    cap_status st = cap_policy_copy(&tmp, policy, err);
    if (st != CAP_OK) {
        return st;
    }
    st = cap_policy_set_field(&tmp, field, NULL, value, err);
    if (st != CAP_OK) {
        cap_policy_clear(&tmp);
        return st;
    }
    cap_policy_clear(policy);
    *policy = tmp;
    return CAP_OK;
}

cap_status
cap_policy_set_json(cap_policy_t *policy, const char *json, cap_error_t *err)
{
    if (!policy || !json) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_policy_set_json: policy and json are required");
    }
    json_error_t jerr;
    json_t *obj = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "invalid policy JSON at line %d, column %d: %s",
                           jerr.line, jerr.column, jerr.text);
    }
    cap_policy_t tmp;
    cap_status st = cap_policy_copy(&tmp, policy, err);
    if (st == CAP_OK) {
        st = cap_policy_set_jansson(&tmp, obj, err);
        if (st == CAP_OK) {
            cap_policy_clear(policy);
            *policy = tmp;
        } else {
            cap_policy_clear(&tmp);
        }
    }
    json_decref(obj);
    return st;
}

cap_status
cap_policy_to_json(const cap_policy_t *policy, char **out, cap_error_t *err)
{
    if (!policy || !out) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_policy_to_json: policy and out are required");
    }
    *out = NULL;
    json_t *o = cap_policy_to_jansson(policy);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        return nomem(err);
    }
    // jansson allocates with malloc; hand out a cap_alloc copy so cap_string_free is right.
    *out = cap_strdup(s);
    free(s);
    return *out ? CAP_OK : nomem(err);
}
