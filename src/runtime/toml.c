/* SPDX-License-Identifier: Apache-2.0 */
/* A strict parser for the TOML subset of capsule.toml (TOML 1.0 rules for what it accepts).
 * Recursive descent over a byte cursor; every error carries the file, line and column. */
#include "runtime/toml.h"

#include "runtime/rt.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH     64 // nested arrays / inline tables
#define MAX_KEY_PARTS 32

/* How a table came to exist; TOML forbids defining a table twice, and these record enough to
 * tell a legal extension from a redefinition. */
enum {
    HOW_ROOT,
    HOW_IMPLICIT, // created as a parent by a [a.b.c] header
    HOW_HEADER,   // defined by its own [header]
    HOW_DOTTED,   // created by a dotted key a.b = 1
    HOW_INLINE,   // an inline table { ... }: sealed
};

typedef struct parser {
    const char *s;
    size_t n, pos;
    const char *file;
    cap_error_t *err;
    cap_status st; // first error; parsing stops there
    int depth;
    /* Cache for turning byte positions into line/column without tracking every newline. */
    size_t loc_pos, loc_line_start;
    uint32_t loc_line;
} parser;

typedef struct keypath {
    char *parts[MAX_KEY_PARTS];
    size_t n;
    uint32_t line, col;
} keypath;

static void
locate(parser *p, size_t pos, uint32_t *line, uint32_t *col)
{
    if (pos < p->loc_pos) {
        p->loc_pos = 0;
        p->loc_line = 1;
        p->loc_line_start = 0;
    }
    for (size_t i = p->loc_pos; i < pos && i < p->n; i++) {
        if (p->s[i] == '\n') {
            p->loc_line++;
            p->loc_line_start = i + 1;
        }
    }
    p->loc_pos = pos;
    uint32_t c = 1;
    // Columns count characters, not bytes: skip UTF-8 continuation bytes.
    for (size_t i = p->loc_line_start; i < pos && i < p->n; i++) {
        if (((unsigned char)p->s[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = p->loc_line;
    *col = c;
}

static cap_status perr(parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error as "FILE:LINE:COL: message". */
static cap_status
perr(parser *p, size_t pos, const char *fmt, ...)
{
    if (p->st != CAP_OK) {
        return p->st;
    }
    p->st = CAP_ERR_CONFIG;
    if (p->err) {
        uint32_t line, col;
        locate(p, pos, &line, &col);
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cap_rt_fail(p->err, CAP_ERR_CONFIG, "%s:%u:%u: %s", p->file, line, col, msg);
    }
    return p->st;
}

static cap_status
oom(parser *p)
{
    if (p->st == CAP_OK) {
        p->st = CAP_ERR_NOMEM;
        cap_rt_fail(p->err, CAP_ERR_NOMEM, "%s: out of memory", p->file);
    }
    return p->st;
}

static int
peek(const parser *p)
{
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

static int
peek_at(const parser *p, size_t k)
{
    return p->pos + k < p->n ? (unsigned char)p->s[p->pos + k] : -1;
}

static bool
is_ctrl(int c)
{
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

static void
skip_ws(parser *p)
{
    while (peek(p) == ' ' || peek(p) == '\t') {
        p->pos++;
    }
}

/* Skips a comment if one starts here. Control characters other than tab are not allowed in
 * comments (TOML 1.0). */
static cap_status
skip_comment(parser *p)
{
    if (peek(p) != '#') {
        return CAP_OK;
    }
    while (p->pos < p->n && p->s[p->pos] != '\n') {
        int c = peek(p);
        if (c == '\r' && peek_at(p, 1) == '\n') {
            break;
        }
        if (is_ctrl(c)) {
            return perr(p, p->pos, "control character 0x%02X in a comment", (unsigned)c);
        }
        p->pos++;
    }
    return CAP_OK;
}

/* Consumes one newline (LF or CRLF) if one starts here. */
static bool
eat_newline(parser *p)
{
    if (peek(p) == '\n') {
        p->pos++;
        return true;
    }
    if (peek(p) == '\r' && peek_at(p, 1) == '\n') {
        p->pos += 2;
        return true;
    }
    return false;
}

/* Skips whitespace, comments and newlines (inside arrays). */
static cap_status
skip_ws_nl(parser *p)
{
    for (;;) {
        skip_ws(p);
        if (skip_comment(p) != CAP_OK) {
            return p->st;
        }
        if (!eat_newline(p)) {
            return CAP_OK;
        }
    }
}

/* ---- values ---- */

static cap_toml_value *
new_value(parser *p, cap_toml_type type, size_t pos)
{
    cap_toml_value *v = cap_calloc(1, sizeof *v);
    if (!v) {
        oom(p);
        return NULL;
    }
    v->type = type;
    locate(p, pos, &v->line, &v->col);
    return v;
}

void
cap_toml_free(cap_toml_value *v)
{
    if (!v) {
        return;
    }
    switch (v->type) {
    case CAP_TOML_STRING:
        cap_free(v->u.str.s);
        break;
    case CAP_TOML_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++) {
            cap_toml_free(v->u.arr.items[i]);
        }
        cap_free(v->u.arr.items);
        break;
    case CAP_TOML_TABLE:
        for (size_t i = 0; i < v->u.tbl.n; i++) {
            cap_free(v->u.tbl.items[i].key);
            cap_toml_free(v->u.tbl.items[i].val);
        }
        cap_free(v->u.tbl.items);
        break;
    case CAP_TOML_INTEGER:
    case CAP_TOML_BOOLEAN:
        break;
    }
    cap_free(v);
}

const cap_toml_kv *
cap_toml_entry(const cap_toml_value *t, const char *key)
{
    if (!t || t->type != CAP_TOML_TABLE) {
        return NULL;
    }
    for (size_t i = 0; i < t->u.tbl.n; i++) {
        if (strcmp(t->u.tbl.items[i].key, key) == 0) {
            return &t->u.tbl.items[i];
        }
    }
    return NULL;
}

const cap_toml_value *
cap_toml_get(const cap_toml_value *t, const char *key)
{
    const cap_toml_kv *kv = cap_toml_entry(t, key);
    return kv ? kv->val : NULL;
}

const char *
cap_toml_type_name(cap_toml_type type)
{
    switch (type) {
    case CAP_TOML_STRING:
        return "string";
    case CAP_TOML_INTEGER:
        return "integer";
    case CAP_TOML_BOOLEAN:
        return "boolean";
    case CAP_TOML_ARRAY:
        return "array";
    case CAP_TOML_TABLE:
        return "table";
    }
    return "value";
}

static cap_toml_value *
table_find(cap_toml_value *t, const char *key)
{
    return (cap_toml_value *)cap_toml_get(t, key);
}

/* Adds key -> val to table t, taking ownership of val (freed on failure). */
static cap_status
table_add(parser *p, cap_toml_value *t, const char *key, cap_toml_value *val, uint32_t line,
          uint32_t col)
{
    if (t->u.tbl.n == t->u.tbl.cap) {
        size_t ncap = t->u.tbl.cap ? t->u.tbl.cap * 2 : 8;
        cap_toml_kv *items = cap_realloc(t->u.tbl.items, ncap * sizeof *items);
        if (!items) {
            cap_toml_free(val);
            return oom(p);
        }
        t->u.tbl.items = items;
        t->u.tbl.cap = ncap;
    }
    char *k = cap_strdup(key);
    if (!k) {
        cap_toml_free(val);
        return oom(p);
    }
    t->u.tbl.items[t->u.tbl.n++] = (cap_toml_kv){k, val, line, col};
    return CAP_OK;
}

static cap_status
array_add(parser *p, cap_toml_value *a, cap_toml_value *val)
{
    if (a->u.arr.n == a->u.arr.cap) {
        size_t ncap = a->u.arr.cap ? a->u.arr.cap * 2 : 8;
        cap_toml_value **items = cap_realloc(a->u.arr.items, ncap * sizeof *items);
        if (!items) {
            cap_toml_free(val);
            return oom(p);
        }
        a->u.arr.items = items;
        a->u.arr.cap = ncap;
    }
    a->u.arr.items[a->u.arr.n++] = val;
    return CAP_OK;
}

/* ---- strings ---- */

static void
put_utf8(cap_sb *sb, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    cap_sb_append(sb, b, n);
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Parses an escape sequence after the backslash (p->pos at the letter). */
static cap_status
parse_escape(parser *p, cap_sb *sb)
{
    size_t at = p->pos - 1;
    int c = peek(p);
    p->pos++;
    switch (c) {
    case 'b':
        cap_sb_append(sb, "\b", 1);
        return CAP_OK;
    case 't':
        cap_sb_append(sb, "\t", 1);
        return CAP_OK;
    case 'n':
        cap_sb_append(sb, "\n", 1);
        return CAP_OK;
    case 'f':
        cap_sb_append(sb, "\f", 1);
        return CAP_OK;
    case 'r':
        cap_sb_append(sb, "\r", 1);
        return CAP_OK;
    case '"':
        cap_sb_append(sb, "\"", 1);
        return CAP_OK;
    case '\\':
        cap_sb_append(sb, "\\", 1);
        return CAP_OK;
    case 'u':
    case 'U': {
        int digits = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int i = 0; i < digits; i++) {
            int h = hexval(peek(p));
            if (h < 0) {
                return perr(p, at, "invalid unicode escape: expected %d hex digits after \\%c",
                            digits, c);
            }
            cp = (cp << 4) | (uint32_t)h;
            p->pos++;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return perr(p, at, "invalid unicode escape: U+%X is not a Unicode scalar value", cp);
        }
        if (cp == 0) {
            return perr(p, at, "NUL characters in strings are not supported");
        }
        put_utf8(sb, cp);
        return CAP_OK;
    }
    default:
        if (c < 0 || is_ctrl(c) || c >= 0x80) {
            return perr(p, at, "invalid escape sequence");
        }
        return perr(p, at, "invalid escape sequence \\%c", c);
    }
}

/* Counts the run of `q` characters at the cursor (up to 6). */
static int
quote_run(const parser *p, int q)
{
    int k = 0;
    while (k < 6 && peek_at(p, (size_t)k) == q) {
        k++;
    }
    return k;
}

/* Parses a string of any of the four kinds at the cursor (on its opening quote) into sb. */
static cap_status
parse_string_into(parser *p, cap_sb *sb, bool allow_multiline)
{
    size_t start = p->pos;
    int q = peek(p);
    bool basic = q == '"';
    bool multi = quote_run(p, q) >= 3;
    if (multi && !allow_multiline) {
        return perr(p, start, "multi-line strings cannot be keys");
    }
    p->pos += multi ? 3 : 1;
    if (multi) {
        eat_newline(p); // a newline right after the opening delimiter is trimmed
    }
    for (;;) {
        int c = peek(p);
        if (c < 0) {
            return perr(p, start, "unterminated string");
        }
        if (c == q) {
            if (!multi) {
                p->pos++;
                break;
            }
            int k = quote_run(p, q);
            if (k >= 3) {
                if (k > 5) {
                    return perr(p, p->pos, "too many quotes at the end of a multi-line string");
                }
                cap_sb_append(sb, p->s + p->pos, (size_t)k - 3); // up to two quotes are content
                p->pos += (size_t)k;
                break;
            }
            cap_sb_append(sb, p->s + p->pos, (size_t)k);
            p->pos += (size_t)k;
            continue;
        }
        if (c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) {
            if (!multi) {
                return perr(p, start, "unterminated string (strings end on the same line)");
            }
            eat_newline(p);
            cap_sb_append(sb, "\n", 1);
            continue;
        }
        if (is_ctrl(c)) {
            return perr(p, p->pos, "control character 0x%02X in a string (use an escape)",
                        (unsigned)c);
        }
        if (basic && c == '\\') {
            p->pos++;
            if (multi) {
                // A line-ending backslash trims the newline and all whitespace after it.
                size_t save = p->pos;
                skip_ws(p);
                if (peek(p) == '\n' || (peek(p) == '\r' && peek_at(p, 1) == '\n')) {
                    while (peek(p) == ' ' || peek(p) == '\t' || eat_newline(p)) {
                        if (peek(p) == ' ' || peek(p) == '\t') {
                            p->pos++;
                        }
                    }
                    continue;
                }
                p->pos = save;
            }
            if (parse_escape(p, sb) != CAP_OK) {
                return p->st;
            }
            continue;
        }
        cap_sb_append(sb, p->s + p->pos, 1);
        p->pos++;
    }
    if (sb->oom) {
        return oom(p);
    }
    return CAP_OK;
}

static cap_toml_value *
parse_string(parser *p)
{
    size_t start = p->pos;
    cap_sb sb = {0};
    if (parse_string_into(p, &sb, true) != CAP_OK) {
        cap_sb_free(&sb);
        return NULL;
    }
    size_t len = sb.len;
    char *s = cap_sb_take(&sb);
    if (!s) {
        oom(p);
        return NULL;
    }
    if (strlen(s) != len) {
        cap_free(s);
        perr(p, start, "NUL characters in strings are not supported");
        return NULL;
    }
    cap_toml_value *v = new_value(p, CAP_TOML_STRING, start);
    if (!v) {
        cap_free(s);
        return NULL;
    }
    v->u.str.s = s;
    v->u.str.len = len;
    return v;
}

/* ---- keys ---- */

static bool
is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static void
keypath_free(keypath *k)
{
    for (size_t i = 0; i < k->n; i++) {
        cap_free(k->parts[i]);
    }
    k->n = 0;
}

/* Parses key ( '.' key )* at the cursor. */
static cap_status
parse_key(parser *p, keypath *k)
{
    k->n = 0;
    locate(p, p->pos, &k->line, &k->col);
    for (;;) {
        skip_ws(p);
        if (k->n == MAX_KEY_PARTS) {
            return perr(p, p->pos, "key has more than %d parts", MAX_KEY_PARTS);
        }
        int c = peek(p);
        char *part = NULL;
        if (c == '"' || c == '\'') {
            size_t start = p->pos;
            cap_sb sb = {0};
            if (parse_string_into(p, &sb, false) != CAP_OK) {
                cap_sb_free(&sb);
                return p->st;
            }
            size_t len = sb.len;
            part = cap_sb_take(&sb);
            if (!part) {
                return oom(p);
            }
            if (strlen(part) != len) {
                cap_free(part);
                return perr(p, start, "NUL characters in keys are not supported");
            }
        } else if (is_bare(c)) {
            size_t start = p->pos;
            while (is_bare(peek(p))) {
                p->pos++;
            }
            part = cap_strndup(p->s + start, p->pos - start);
            if (!part) {
                return oom(p);
            }
        } else if (c < 0 || strchr("\r\n[]{},.#", c)) {
            return perr(p, p->pos, "expected a key");
        } else if (c == '=') {
            return perr(p, p->pos, "expected a key before '='");
        } else {
            return perr(p, p->pos, "invalid character in key (bare keys use A-Z a-z 0-9 _ -)");
        }
        k->parts[k->n++] = part;
        skip_ws(p);
        if (peek(p) != '.') {
            return CAP_OK;
        }
        p->pos++;
    }
}

/* Writes a dotted key as text for messages. */
static void
key_text(const keypath *k, size_t upto, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < upto && i < k->n && off < size; i++) {
        int w = snprintf(buf + off, size - off, "%s%s", i ? "." : "", k->parts[i]);
        if (w < 0) {
            break;
        }
        off += (size_t)w;
    }
}

static cap_toml_value *new_table(parser *p, size_t pos, uint8_t how);

static cap_toml_value *
new_table(parser *p, size_t pos, uint8_t how)
{
    cap_toml_value *t = new_value(p, CAP_TOML_TABLE, pos);
    if (t) {
        t->u.tbl.how = how;
    }
    return t;
}

/* ---- numbers, booleans ---- */

static bool
is_value_end(int c)
{
    return c < 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '#' || c == ',' ||
           c == ']' || c == '}';
}

static cap_toml_value *
parse_number(parser *p)
{
    size_t start = p->pos;
    size_t end = start;
    while (end < p->n && !is_value_end((unsigned char)p->s[end])) {
        end++;
    }
    const char *t = p->s + start;
    size_t len = end - start;
    // Recognise what we refuse first, so the message says why.
    bool has_colon = memchr(t, ':', len) != NULL;
    bool date = len >= 5 && t[4] == '-' && t[0] >= '0' && t[0] <= '9';
    if (has_colon || date) {
        perr(p, start, "dates and times are not supported in capsule.toml");
        return NULL;
    }
    size_t i = 0;
    bool neg = false;
    if (t[0] == '+' || t[0] == '-') {
        neg = t[0] == '-';
        i = 1;
    }
    unsigned base = 10;
    if (i == 0 && len > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
        base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        i = 2;
    }
    if (base == 10) {
        bool is_float = false;
        for (size_t k = i; k < len; k++) {
            if (t[k] == '.' || t[k] == 'e' || t[k] == 'E') {
                is_float = true;
            }
        }
        if ((len - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0)) ||
            is_float) {
            perr(p, start, "floating-point numbers are not supported in capsule.toml");
            return NULL;
        }
        if (len - i > 1 && t[i] == '0') {
            perr(p, start, "invalid integer: leading zeros are not allowed");
            return NULL;
        }
    }
    if (i >= len) {
        perr(p, start, "invalid integer");
        return NULL;
    }
    uint64_t mag = 0;
    bool prev_digit = false;
    for (size_t k = i; k < len; k++) {
        char c = t[k];
        if (c == '_') {
            if (!prev_digit || k + 1 >= len || hexval((unsigned char)t[k + 1]) < 0 ||
                (unsigned)hexval((unsigned char)t[k + 1]) >= base) {
                perr(p, start + k, "invalid integer: '_' must be between digits");
                return NULL;
            }
            prev_digit = false;
            continue;
        }
        int d = hexval((unsigned char)c);
        if (d < 0 || (unsigned)d >= base) {
            perr(p, start + k, "invalid integer");
            return NULL;
        }
        if (mag > (UINT64_MAX - (unsigned)d) / base) {
            perr(p, start, "integer out of range (64-bit signed)");
            return NULL;
        }
        mag = mag * base + (unsigned)d;
        prev_digit = true;
    }
    int64_t val;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) {
            perr(p, start, "integer out of range (64-bit signed)");
            return NULL;
        }
        val = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) {
            perr(p, start, "integer out of range (64-bit signed)");
            return NULL;
        }
        val = (int64_t)mag;
    }
    cap_toml_value *v = new_value(p, CAP_TOML_INTEGER, start);
    if (v) {
        v->u.i = val;
        p->pos = end;
    }
    return v;
}

static cap_toml_value *parse_value(parser *p);
static cap_status insert_keyval(parser *p, cap_toml_value *table, keypath *k, cap_toml_value *v);

static cap_toml_value *
parse_array(parser *p)
{
    size_t start = p->pos;
    cap_toml_value *a = new_value(p, CAP_TOML_ARRAY, start);
    if (!a) {
        return NULL;
    }
    p->pos++; // '['
    for (;;) {
        if (skip_ws_nl(p) != CAP_OK) {
            goto fail;
        }
        if (peek(p) == ']') {
            p->pos++;
            return a;
        }
        cap_toml_value *v = parse_value(p);
        if (!v || array_add(p, a, v) != CAP_OK) {
            goto fail;
        }
        if (skip_ws_nl(p) != CAP_OK) {
            goto fail;
        }
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']') {
            p->pos++;
            return a;
        }
        if (peek(p) < 0) {
            perr(p, start, "unterminated array (missing ']')");
        } else {
            perr(p, p->pos, "expected ',' or ']' in array");
        }
        goto fail;
    }
fail:
    cap_toml_free(a);
    return NULL;
}

static cap_toml_value *
parse_inline_table(parser *p)
{
    size_t start = p->pos;
    cap_toml_value *t = new_table(p, start, HOW_INLINE);
    keypath k = {0};
    if (!t) {
        return NULL;
    }
    p->pos++; // '{'
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        return t;
    }
    for (;;) {
        if (parse_key(p, &k) != CAP_OK) {
            goto fail;
        }
        skip_ws(p);
        if (peek(p) != '=') {
            perr(p, p->pos, "expected '=' after a key");
            goto fail;
        }
        p->pos++;
        skip_ws(p);
        cap_toml_value *v = parse_value(p);
        if (!v || insert_keyval(p, t, &k, v) != CAP_OK) {
            goto fail;
        }
        keypath_free(&k);
        skip_ws(p);
        if (peek(p) == ',') {
            p->pos++;
            skip_ws(p);
            if (peek(p) == '}') {
                perr(p, p->pos, "trailing comma is not allowed in an inline table");
                goto fail;
            }
            continue;
        }
        if (peek(p) == '}') {
            p->pos++;
            return t;
        }
        if (peek(p) == '\n' || peek(p) == '\r') {
            perr(p, p->pos, "inline tables must be on one line (missing '}')");
        } else {
            perr(p, p->pos, "expected ',' or '}' in inline table");
        }
        goto fail;
    }
fail:
    keypath_free(&k);
    cap_toml_free(t);
    return NULL;
}

static bool
match_word(const parser *p, const char *w)
{
    size_t n = strlen(w);
    return p->n - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0 &&
           (p->pos + n == p->n || is_value_end((unsigned char)p->s[p->pos + n]));
}

static cap_toml_value *
parse_value(parser *p)
{
    int c = peek(p);
    size_t start = p->pos;
    if (p->depth >= MAX_DEPTH) {
        perr(p, start, "arrays and inline tables nested more than %d deep", MAX_DEPTH);
        return NULL;
    }
    cap_toml_value *v = NULL;
    p->depth++;
    if (c == '"' || c == '\'') {
        v = parse_string(p);
    } else if (c == '[') {
        v = parse_array(p);
    } else if (c == '{') {
        v = parse_inline_table(p);
    } else if (c == 't' || c == 'f') {
        bool is_true = match_word(p, "true");
        if (is_true || match_word(p, "false")) {
            v = new_value(p, CAP_TOML_BOOLEAN, start);
            if (v) {
                v->u.b = is_true;
                p->pos += is_true ? 4 : 5;
            }
        } else {
            perr(p, start, "expected a value (strings need quotes)");
        }
    } else if ((c >= '0' && c <= '9') || c == '+' || c == '-') {
        v = parse_number(p);
    } else if (c == 'i' || c == 'n') {
        if (match_word(p, "inf") || match_word(p, "nan")) {
            perr(p, start, "floating-point numbers are not supported in capsule.toml");
        } else {
            perr(p, start, "expected a value (strings need quotes)");
        }
    } else if (c < 0 || c == '\n' || c == '\r' || c == '#') {
        perr(p, start, "expected a value after '='");
    } else {
        perr(p, start, "expected a value (strings need quotes)");
    }
    p->depth--;
    return v;
}

static cap_status keyerr(parser *p, const keypath *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records an error located at a key already parsed (the cursor has moved past it). */
static cap_status
keyerr(parser *p, const keypath *k, const char *fmt, ...)
{
    if (p->st != CAP_OK) {
        return p->st;
    }
    p->st = CAP_ERR_CONFIG;
    if (p->err) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cap_rt_fail(p->err, CAP_ERR_CONFIG, "%s:%u:%u: %s", p->file, k->line, k->col, msg);
    }
    return p->st;
}

/* Inserts v under the dotted key k relative to table (TOML's rules: dotted keys create or
 * extend only tables created by dotted keys; no key is defined twice). Takes ownership of v. */
static cap_status
insert_keyval(parser *p, cap_toml_value *table, keypath *k, cap_toml_value *v)
{
    char name[160];
    cap_toml_value *t = table;
    for (size_t i = 0; i + 1 < k->n; i++) {
        cap_toml_value *sub = table_find(t, k->parts[i]);
        if (!sub) {
            sub = new_table(p, 0, HOW_DOTTED);
            if (!sub) {
                cap_toml_free(v);
                return p->st;
            }
            sub->line = k->line;
            sub->col = k->col;
            if (table_add(p, t, k->parts[i], sub, k->line, k->col) != CAP_OK) {
                cap_toml_free(v);
                return p->st;
            }
        } else if (sub->type != CAP_TOML_TABLE || sub->u.tbl.how != HOW_DOTTED) {
            cap_toml_free(v);
            key_text(k, i + 1, name, sizeof name);
            keyerr(p, k, "cannot add keys to %s '%s' here (it was defined elsewhere)",
                   cap_toml_type_name(sub->type), name);
            return p->st;
        }
        t = sub;
    }
    const char *last = k->parts[k->n - 1];
    if (table_find(t, last)) {
        cap_toml_free(v);
        key_text(k, k->n, name, sizeof name);
        return keyerr(p, k, "duplicate key '%s'", name);
    }
    return table_add(p, t, last, v, k->line, k->col);
}

/* Handles a [a.b.c] header: finds or creates the table and makes it current. */
static cap_status
parse_header(parser *p, cap_toml_value *root, cap_toml_value **cur)
{
    size_t start = p->pos;
    keypath k = {0};
    char name[160];
    p->pos++; // '['
    if (peek(p) == '[') {
        return perr(p, start, "arrays of tables ([[...]]) are not supported in capsule.toml");
    }
    if (parse_key(p, &k) != CAP_OK) {
        goto fail;
    }
    skip_ws(p);
    if (peek(p) != ']') {
        perr(p, p->pos, "expected ']' at the end of a table header");
        goto fail;
    }
    p->pos++;
    cap_toml_value *t = root;
    for (size_t i = 0; i < k.n; i++) {
        bool last = i + 1 == k.n;
        cap_toml_value *sub = table_find(t, k.parts[i]);
        key_text(&k, i + 1, name, sizeof name);
        if (!sub) {
            sub = new_table(p, start, last ? HOW_HEADER : HOW_IMPLICIT);
            if (!sub || table_add(p, t, k.parts[i], sub, k.line, k.col) != CAP_OK) {
                goto fail;
            }
        } else if (sub->type != CAP_TOML_TABLE) {
            perr(p, start, "'%s' is already a %s, not a table", name,
                 cap_toml_type_name(sub->type));
            goto fail;
        } else if (sub->u.tbl.how == HOW_INLINE) {
            perr(p, start, "cannot extend inline table '%s'", name);
            goto fail;
        } else if (last) {
            if (sub->u.tbl.how != HOW_IMPLICIT) {
                perr(p, start, "table [%s] is defined twice", name);
                goto fail;
            }
            sub->u.tbl.how = HOW_HEADER;
            locate(p, start, &sub->line, &sub->col);
        }
        t = sub;
    }
    keypath_free(&k);
    *cur = t;
    return CAP_OK;
fail:
    keypath_free(&k);
    return p->st;
}

cap_status
cap_toml_parse(const char *text, size_t len, const char *filename, cap_toml_value **out,
               cap_error_t *err)
{
    parser p = {.s = text, .n = len, .file = filename ? filename : "capsule.toml", .err = err};
    p.loc_line = 1;
    keypath k = {0};
    *out = NULL;
    cap_toml_value *root = new_table(&p, 0, HOW_ROOT);
    if (!root) {
        return p.st;
    }
    if (!cap_rt_utf8_valid(text, len)) {
        size_t bad = 0;
        while (bad < len) { // the first character that does not decode
            size_t step = 1;
            while ((unsigned char)text[bad] >= 0xC0 && step < 4 && bad + step < len &&
                   ((unsigned char)text[bad + step] & 0xC0) == 0x80) {
                step++;
            }
            if (!cap_rt_utf8_valid(text + bad, step)) {
                break;
            }
            bad += step;
        }
        perr(&p, bad, "invalid UTF-8");
        goto fail;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        p.pos = 3; // a UTF-8 byte-order mark is tolerated
    }
    cap_toml_value *cur = root;
    while (p.pos < p.n) {
        skip_ws(&p);
        int c = peek(&p);
        if (c == '[') {
            if (parse_header(&p, root, &cur) != CAP_OK) {
                goto fail;
            }
        } else if (c >= 0 && c != '#' && c != '\n' && c != '\r') {
            if (parse_key(&p, &k) != CAP_OK) {
                goto fail;
            }
            skip_ws(&p);
            if (peek(&p) != '=') {
                perr(&p, p.pos, "expected '=' after a key");
                goto fail;
            }
            p.pos++;
            skip_ws(&p);
            cap_toml_value *v = parse_value(&p);
            if (!v || insert_keyval(&p, cur, &k, v) != CAP_OK) {
                goto fail;
            }
            keypath_free(&k);
        }
        skip_ws(&p);
        if (skip_comment(&p) != CAP_OK) {
            goto fail;
        }
        if (p.pos < p.n && !eat_newline(&p)) {
            if (peek(&p) == '\r') {
                perr(&p, p.pos, "a carriage return must be followed by a newline");
            } else {
                perr(&p, p.pos, "expected a newline after a value (one key = value per line)");
            }
            goto fail;
        }
    }
    *out = root;
    return CAP_OK;
fail:
    keypath_free(&k);
    cap_toml_free(root);
    return p.st;
}
