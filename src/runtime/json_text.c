/* SPDX-License-Identifier: Apache-2.0 */
/* JSON text for what users read (results, envelopes, worker responses): like json_dumps, but a
 * real number is written in its shortest form that reads back as the same double (0.1, not
 * jansson's 0.10000000000000001), as Python's json and JavaScript's JSON.stringify do. */
#include "runtime/json_text.h"
#include "runtime/rt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The shortest %.Ng (N = 1..17) that parses back to v, with ".0" when it would read as an
 * integer. */
static void
put_real(cap_sb *o, double v)
{
    char buf[40];
    if (!isfinite(v)) {
        cap_sb_puts(o, "null"); // JSON has no NaN or infinity (jansson refuses to hold them anyway)
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    if (!strpbrk(buf, ".eEn")) {
        strcat(buf, ".0");
    }
    cap_sb_puts(o, buf);
}

static void
put_string(cap_sb *o, const char *s, size_t n)
{
    cap_sb_append(o, "\"", 1);
    size_t run = 0; // bytes copied as they are
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char ubuf[8];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
                esc = ubuf;
            }
        }
        if (esc) {
            cap_sb_append(o, s + i - run, run);
            run = 0;
            cap_sb_puts(o, esc);
        } else {
            run++;
        }
    }
    cap_sb_append(o, s + n - run, run);
    cap_sb_append(o, "\"", 1);
}

static void
put_value(cap_sb *o, const json_t *v, bool spaced)
{
    char buf[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        cap_sb_append(o, "{", 1);
        const char *key;
        json_t *item;
        bool first = true;
        json_object_foreach((json_t *)v, key, item)
        {
            if (!first) {
                cap_sb_puts(o, spaced ? ", " : ",");
            }
            first = false;
            put_string(o, key, strlen(key));
            cap_sb_puts(o, spaced ? ": " : ":");
            put_value(o, item, spaced);
        }
        cap_sb_append(o, "}", 1);
        break;
    }
    case JSON_ARRAY:
        cap_sb_append(o, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) {
                cap_sb_puts(o, spaced ? ", " : ",");
            }
            put_value(o, json_array_get(v, i), spaced);
        }
        cap_sb_append(o, "]", 1);
        break;
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        cap_sb_puts(o, buf);
        break;
    case JSON_REAL:
        put_real(o, json_real_value(v));
        break;
    case JSON_TRUE:
        cap_sb_puts(o, "true");
        break;
    case JSON_FALSE:
        cap_sb_puts(o, "false");
        break;
    case JSON_NULL:
        cap_sb_puts(o, "null");
        break;
    }
}

char *
cap_json_text(const json_t *v, bool spaced)
{
    if (!v) {
        return NULL;
    }
    cap_sb o = {0};
    put_value(&o, v, spaced);
    return cap_sb_take(&o);
}
