/* SPDX-License-Identifier: Apache-2.0 */
/* A small, strict TOML parser for the subset capsule.toml needs: tables, dotted/bare/quoted keys,
 * basic and literal strings (single- and multi-line), integers, booleans, arrays, inline tables
 * and comments. Floats, dates and arrays of tables are refused with a clear message. */
#ifndef CAP_RUNTIME_TOML_H
#define CAP_RUNTIME_TOML_H

#include "capsule.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cap_toml_type {
    CAP_TOML_STRING,
    CAP_TOML_INTEGER,
    CAP_TOML_BOOLEAN,
    CAP_TOML_ARRAY,
    CAP_TOML_TABLE,
} cap_toml_type;

typedef struct cap_toml_value cap_toml_value;

/* One key of a table, in source order. */
typedef struct cap_toml_kv {
    char *key;           // the unquoted key (may contain any UTF-8 except NUL)
    cap_toml_value *val; // owned
    uint32_t line, col;  // where the key was written (1-based)
} cap_toml_kv;

struct cap_toml_value {
    cap_toml_type type;
    uint32_t line, col; // where the value starts (1-based); for tables, their header or key
    union {
        struct {
            char *s; // NUL-terminated, valid UTF-8, without NUL bytes (refused by the parser)
            size_t len;
        } str;
        int64_t i;
        bool b;
        struct {
            cap_toml_value **items;
            size_t n, cap;
        } arr;
        struct {
            cap_toml_kv *items;
            size_t n, cap;
            uint8_t how; // internal: how the table was defined (redefinition rules)
        } tbl;
    } u;
};

/* Parses text (len bytes, need not be NUL-terminated) into a root table. Errors are
 * CAP_ERR_CONFIG with "FILENAME:LINE:COL: message" in err->msg (filename defaults to
 * "capsule.toml"); CAP_ERR_NOMEM when an allocation fails. Never crashes on any input; nesting is
 * bounded. On success *out is the root table (free with cap_toml_free); on failure NULL. */
cap_status cap_toml_parse(const char *text, size_t len, const char *filename, cap_toml_value **out,
                          cap_error_t *err);
/* Frees a value and everything under it. NULL is a no-op. */
void cap_toml_free(cap_toml_value *v);
/* The value of `key` in a table, or NULL (also when t is not a table). Borrowed. */
const cap_toml_value *cap_toml_get(const cap_toml_value *t, const char *key);
/* The key/value entry of `key`, or NULL. Borrowed. */
const cap_toml_kv *cap_toml_entry(const cap_toml_value *t, const char *key);
/* "string", "integer", "boolean", "array", "table". */
const char *cap_toml_type_name(cap_toml_type type);

#endif
