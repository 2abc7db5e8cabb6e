/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the strict TOML subset parser (src/runtime/toml.c): valid documents, and many
 * malformed ones, each of which must fail cleanly with a located message and no leak. */
#include "runtime/toml.h"
#include "util/alloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static cap_toml_value *
parse_ok(const char *text)
{
    cap_toml_value *root = NULL;
    cap_error_t err;
    cap_status st = cap_toml_parse(text, strlen(text), "capsule.toml", &root, &err);
    if (st != CAP_OK) {
        fprintf(stderr, "unexpected error: %s\n", err.msg);
    }
    assert_int_equal(st, CAP_OK);
    assert_non_null(root);
    return root;
}

/* Parses text expecting failure; checks the message contains `want` and starts with the file
 * location "capsule.toml:LINE:COL:". */
static void
parse_bad_len(const char *text, size_t len, const char *want)
{
    cap_toml_value *root = (cap_toml_value *)1;
    cap_error_t err;
    cap_status st = cap_toml_parse(text, len, "capsule.toml", &root, &err);
    if (st == CAP_OK || !strstr(err.msg, want)) {
        fprintf(stderr, "input: %.*s\nmessage: %s\nwanted: %s\n", (int)len, text,
                st == CAP_OK ? "(parsed)" : err.msg, want);
    }
    assert_int_equal(st, CAP_ERR_CONFIG);
    assert_null(root);
    assert_int_equal(err.status, CAP_ERR_CONFIG);
    assert_true(strncmp(err.msg, "capsule.toml:", 13) == 0);
    assert_non_null(strstr(err.msg, want));
}

static void
parse_bad(const char *text, const char *want)
{
    parse_bad_len(text, strlen(text), want);
}

static const cap_toml_value *
path(const cap_toml_value *root, const char *a, const char *b)
{
    const cap_toml_value *v = cap_toml_get(root, a);
    return b ? cap_toml_get(v, b) : v;
}

static void
test_toml_capsule_file(void **state)
{
    (void)state;
    cap_toml_value *root = parse_ok("# Capsule project\n"
                                    "[workflow]\n"
                                    "name = \"demo\"   # trailing comment\n"
                                    "version = '1.0.0'\n"
                                    "entrypoint = \"main.py\"\n"
                                    "\n"
                                    "[tasks]\n"
                                    "default_compute = \"LOW\"\n"
                                    "default_ram = \"64MB\"\n"
                                    "default_max_retries = 2\n"
                                    "default_allowed_files = [\"./data:ro\", './out:rw',]\n"
                                    "default_allowed_hosts = [\n"
                                    "  \"api.example.com\", # comment inside\n"
                                    "  \"*.example.org\"\n"
                                    "]\n"
                                    "default_env_variables = []\n");
    assert_string_equal(path(root, "workflow", "name")->u.str.s, "demo");
    assert_string_equal(path(root, "workflow", "version")->u.str.s, "1.0.0");
    const cap_toml_value *files = path(root, "tasks", "default_allowed_files");
    assert_int_equal(files->type, CAP_TOML_ARRAY);
    assert_int_equal(files->u.arr.n, 2);
    assert_string_equal(files->u.arr.items[1]->u.str.s, "./out:rw");
    const cap_toml_value *hosts = path(root, "tasks", "default_allowed_hosts");
    assert_int_equal(hosts->u.arr.n, 2);
    assert_int_equal(path(root, "tasks", "default_max_retries")->u.i, 2);
    assert_int_equal(path(root, "tasks", "default_env_variables")->u.arr.n, 0);
    // Positions: default_ram's value starts at line 9, column 15.
    const cap_toml_value *ram = path(root, "tasks", "default_ram");
    assert_int_equal(ram->line, 9);
    assert_int_equal(ram->col, 15);
    const cap_toml_kv *kv = cap_toml_entry(cap_toml_get(root, "tasks"), "default_ram");
    assert_int_equal(kv->line, 9);
    assert_int_equal(kv->col, 1);
    cap_toml_free(root);
}

static void
test_toml_strings_and_escapes(void **state)
{
    (void)state;
    cap_toml_value *root = parse_ok("a = \"tab\\there \\\"q\\\" \\\\ \\u00e9 \\U0001F600\"\n"
                                    "b = 'C:\\raw\\path'\n"
                                    "c = \"\"\"\nline1\nline2\"\"\"\n"
                                    "d = '''\nraw \\n '' '''\n"
                                    "e = \"\"\"one \\\n    two\"\"\"\n"
                                    "f = \"\"\"q\"\"\"\"\"\n"
                                    "g = \"\"\n"
                                    "h = \"caf\xc3\xa9\"\n");
    assert_string_equal(cap_toml_get(root, "a")->u.str.s,
                        "tab\there \"q\" \\ \xc3\xa9 \xf0\x9f\x98\x80");
    assert_string_equal(cap_toml_get(root, "b")->u.str.s, "C:\\raw\\path");
    assert_string_equal(cap_toml_get(root, "c")->u.str.s, "line1\nline2");
    assert_string_equal(cap_toml_get(root, "d")->u.str.s, "raw \\n '' ");
    assert_string_equal(cap_toml_get(root, "e")->u.str.s, "one two");
    assert_string_equal(cap_toml_get(root, "f")->u.str.s, "q\"\"");
    assert_string_equal(cap_toml_get(root, "g")->u.str.s, "");
    assert_int_equal(cap_toml_get(root, "g")->u.str.len, 0);
    assert_string_equal(cap_toml_get(root, "h")->u.str.s, "caf\xc3\xa9");
    cap_toml_free(root);
}

static void
test_toml_integers_and_booleans(void **state)
{
    (void)state;
    cap_toml_value *root = parse_ok("a = 1_000_000\nb = -17\nc = +5\nd = 0\ne = 0xFF\n"
                                    "f = 0o17\ng = 0b101\nh = 9223372036854775807\n"
                                    "i = -9223372036854775808\nj = true\nk = false\n"
                                    "l = 0xdead_beef\n");
    assert_int_equal(cap_toml_get(root, "a")->u.i, 1000000);
    assert_int_equal(cap_toml_get(root, "b")->u.i, -17);
    assert_int_equal(cap_toml_get(root, "c")->u.i, 5);
    assert_int_equal(cap_toml_get(root, "d")->u.i, 0);
    assert_int_equal(cap_toml_get(root, "e")->u.i, 255);
    assert_int_equal(cap_toml_get(root, "f")->u.i, 15);
    assert_int_equal(cap_toml_get(root, "g")->u.i, 5);
    assert_true(cap_toml_get(root, "h")->u.i == INT64_MAX);
    assert_true(cap_toml_get(root, "i")->u.i == INT64_MIN);
    assert_int_equal(cap_toml_get(root, "j")->type, CAP_TOML_BOOLEAN);
    assert_true(cap_toml_get(root, "j")->u.b);
    assert_false(cap_toml_get(root, "k")->u.b);
    assert_int_equal(cap_toml_get(root, "l")->u.i, 0xdeadbeef);
    cap_toml_free(root);
}

static void
test_toml_keys_and_tables(void **state)
{
    (void)state;
    cap_toml_value *root = parse_ok("site.\"google.com\" = true\n"
                                    "a . b . c = 1\n"
                                    "a.b.d = 2\n"
                                    "'quoted key' = 3\n"
                                    "\"\" = 4\n"
                                    "1234 = 5\n"
                                    "[x.y.z]\n"
                                    "k = 1\n"
                                    "[x]\n" // defining an implicitly created table is legal
                                    "m = 2\n"
                                    "[x.y.w]\n"
                                    "[ spaced . header ]\n"
                                    "inline = { p = 1, q.r = \"s\", nested = { t = [1, [2]] } }\n"
                                    "empty = {}\n");
    assert_true(cap_toml_get(cap_toml_get(root, "site"), "google.com")->u.b);
    const cap_toml_value *b = cap_toml_get(cap_toml_get(root, "a"), "b");
    assert_int_equal(cap_toml_get(b, "c")->u.i, 1);
    assert_int_equal(cap_toml_get(b, "d")->u.i, 2);
    assert_int_equal(cap_toml_get(root, "quoted key")->u.i, 3);
    assert_int_equal(cap_toml_get(root, "")->u.i, 4);
    assert_int_equal(cap_toml_get(root, "1234")->u.i, 5);
    const cap_toml_value *x = cap_toml_get(root, "x");
    assert_int_equal(cap_toml_get(x, "m")->u.i, 2);
    assert_int_equal(cap_toml_get(cap_toml_get(cap_toml_get(x, "y"), "z"), "k")->u.i, 1);
    const cap_toml_value *inl = path(cap_toml_get(root, "spaced"), "header", "inline");
    assert_int_equal(inl->type, CAP_TOML_TABLE);
    assert_string_equal(cap_toml_get(cap_toml_get(inl, "q"), "r")->u.str.s, "s");
    const cap_toml_value *t = cap_toml_get(cap_toml_get(inl, "nested"), "t");
    assert_int_equal(t->u.arr.n, 2);
    assert_int_equal(t->u.arr.items[1]->u.arr.items[0]->u.i, 2);
    cap_toml_free(root);
}

static void
test_toml_whitespace_forms(void **state)
{
    (void)state;
    // CRLF line ends, a BOM, an empty document, comment-only and a missing final newline.
    cap_toml_value *root = parse_ok("\xEF\xBB\xBF"
                                    "a = 1\r\n# c\r\n\tb = 2");
    assert_int_equal(cap_toml_get(root, "b")->u.i, 2);
    cap_toml_free(root);
    root = parse_ok("");
    assert_int_equal(root->u.tbl.n, 0);
    cap_toml_free(root);
    root = parse_ok("# only a comment");
    cap_toml_free(root);
    root = parse_ok("\n\n   \n");
    cap_toml_free(root);
}

static void
test_toml_error_location(void **state)
{
    (void)state;
    cap_toml_value *root = NULL;
    cap_error_t err;
    const char *text = "[tasks]\ndefault_ram = \"64MB\"\nbad = 1.5\n";
    assert_int_equal(cap_toml_parse(text, strlen(text), "capsule.toml", &root, &err),
                     CAP_ERR_CONFIG);
    assert_string_equal(
        err.msg, "capsule.toml:3:7: floating-point numbers are not supported in capsule.toml");
    text = "a = \"h\xc3\xa9llo\" x\n";
    assert_int_equal(cap_toml_parse(text, strlen(text), "other.toml", &root, &err), CAP_ERR_CONFIG);
    // Columns count characters: the é is one column.
    assert_string_equal(
        err.msg, "other.toml:1:13: expected a newline after a value (one key = value per line)");
}

static void
test_toml_malformed_values(void **state)
{
    (void)state;
    parse_bad("a =\n", "expected a value");
    parse_bad("a = \n", "expected a value");
    parse_bad("a = # c\n", "expected a value");
    parse_bad("a = bare\n", "strings need quotes");
    parse_bad("a = tru\n", "strings need quotes");
    parse_bad("a = truex\n", "strings need quotes");
    parse_bad("a = 1.5\n", "floating-point");
    parse_bad("a = 1e3\n", "floating-point");
    parse_bad("a = inf\n", "floating-point");
    parse_bad("a = nan\n", "floating-point");
    parse_bad("a = -inf\n", "floating-point");
    parse_bad("a = 1979-05-27\n", "dates");
    parse_bad("a = 07:32:00\n", "dates");
    parse_bad("a = 012\n", "leading zeros");
    parse_bad("a = 1__0\n", "'_' must be between digits");
    parse_bad("a = _1\n", "strings need quotes");
    parse_bad("a = 1_\n", "'_' must be between digits");
    parse_bad("a = 0x\n", "invalid integer");
    parse_bad("a = 0xG1\n", "invalid integer");
    parse_bad("a = 0b102\n", "invalid integer");
    parse_bad("a = -0x1\n", "invalid integer");
    parse_bad("a = 12abc\n", "invalid integer");
    parse_bad("a = 9223372036854775808\n", "out of range");
    parse_bad("a = -9223372036854775809\n", "out of range");
    parse_bad("a = 0xFFFFFFFFFFFFFFFFF\n", "out of range");
    parse_bad("a = +\n", "invalid integer");
    parse_bad("a = -\n", "invalid integer");
    parse_bad("a = 1 2\n", "expected a newline");
    parse_bad("a = 1 b = 2\n", "expected a newline");
}

static void
test_toml_malformed_strings(void **state)
{
    (void)state;
    parse_bad("a = \"abc\n", "unterminated string");
    parse_bad("a = \"abc", "unterminated string");
    parse_bad("a = 'abc\n", "unterminated string");
    parse_bad("a = \"\"\"abc", "unterminated string");
    parse_bad("a = '''abc''", "unterminated string");
    parse_bad("a = \"\\q\"\n", "invalid escape sequence \\q");
    parse_bad("a = \"\\x41\"\n", "invalid escape");
    parse_bad("a = \"\\u12\"\n", "4 hex digits");
    parse_bad("a = \"\\uD800\"\n", "not a Unicode scalar value");
    parse_bad("a = \"\\U00110000\"\n", "not a Unicode scalar value");
    parse_bad("a = \"\\u0000\"\n", "NUL");
    parse_bad("a = \"\\\"\n", "unterminated string");
    parse_bad("a = \"tab\x01\"\n", "control character 0x01");
    parse_bad("a = \"del\x7f\"\n", "control character 0x7F");
    parse_bad("a = '''x\x02'''\n", "control character");
    parse_bad("a = \"\"\"x\"\"\"\"\"\"\n", "too many quotes");
    parse_bad("a = \"\"\"a \\ b\"\"\"\n", "invalid escape");
    parse_bad_len("a = \"x\0y\"\n", 10, "control character 0x00");
    parse_bad("a = \"bad \xff utf8\"\n", "invalid UTF-8");
    parse_bad("a = \"\xed\xa0\x80\"\n", "invalid UTF-8"); // an encoded surrogate
    parse_bad("a = \"\xc0\xaf\"\n", "invalid UTF-8");     // overlong
    parse_bad("a = \"\xe2\x82\"\n", "invalid UTF-8");     // truncated
    parse_bad("# comment \x01\n", "control character 0x01 in a comment");
}

static void
test_toml_malformed_structure(void **state)
{
    (void)state;
    parse_bad("a = 1\na = 2\n", "duplicate key 'a'");
    parse_bad("a.b = 1\na.b = 2\n", "duplicate key 'a.b'");
    parse_bad("a = 1\na.b = 2\n", "cannot add keys to integer 'a'");
    parse_bad("[t]\n[t]\n", "table [t] is defined twice");
    parse_bad("[t]\nx = 1\n[t.x]\n", "already a integer");
    parse_bad("[a]\nb.c = 1\n[a.b]\n", "defined twice");
    parse_bad("[a.b.c]\n[a]\nb.d = 1\n", "cannot add keys to table 'b'");
    parse_bad("a = {b = 1}\n[a]\n", "cannot extend inline table 'a'");
    parse_bad("a = {b = 1}\n[a.c]\n", "cannot extend inline table 'a'");
    parse_bad("a = {b = 1}\na.c = 2\n", "cannot add keys to table 'a'");
    parse_bad("a = {b = 1, b = 2}\n", "duplicate key 'b'");
    parse_bad("a = {b = 1,}\n", "trailing comma");
    parse_bad("a = {b = 1\n}\n", "one line");
    parse_bad("a = {b = 1 c = 2}\n", "expected ',' or '}'");
    parse_bad("a = {b}\n", "expected '='");
    parse_bad("a = {", "expected a key");
    parse_bad("a = [1, 2\n", "unterminated array");
    parse_bad("a = [1 2]\n", "expected ',' or ']'");
    parse_bad("a = [,]\n", "expected a value");
    parse_bad("a = [1,,2]\n", "expected a value");
    parse_bad("[[t]]\n", "arrays of tables");
    parse_bad("[t\n", "expected ']'");
    parse_bad("[]\n", "expected a key");
    parse_bad("[t] x = 1\n", "expected a newline");
    parse_bad("[a.]\n", "expected a key");
    parse_bad("= 1\n", "expected a key before '='");
    parse_bad("a\n", "expected '='");
    parse_bad("a b = 1\n", "expected '='");
    parse_bad("a.b.\n", "expected a key");
    parse_bad("a.\"\"\"b\"\"\" = 1\n", "multi-line strings cannot be keys");
    parse_bad("ä = 1\n", "invalid character in key");
    parse_bad("a = 1\rb = 2\n", "carriage return");
    parse_bad("\"a\\u0000\" = 1\n", "NUL");
}

static void
test_toml_nesting_bounded(void **state)
{
    (void)state;
    char buf[4096];
    size_t n = 0;
    n += (size_t)snprintf(buf, sizeof buf, "a = ");
    for (int i = 0; i < 1000; i++) {
        buf[n++] = '[';
    }
    buf[n] = '\0';
    parse_bad(buf, "nested more than 64 deep");
    n = (size_t)snprintf(buf, sizeof buf, "a = ");
    for (int i = 0; i < 500; i++) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{b=");
    }
    parse_bad(buf, "nested more than 64 deep");
    // 64 levels are fine.
    n = (size_t)snprintf(buf, sizeof buf, "a = ");
    for (int i = 0; i < 63; i++) {
        buf[n++] = '[';
    }
    for (int i = 0; i < 63; i++) {
        buf[n++] = ']';
    }
    buf[n] = '\0';
    cap_toml_value *root = parse_ok(buf);
    cap_toml_free(root);
}

/* Every prefix of a valid document must either parse or fail cleanly (no crash, no leak):
 * truncation is the commonest malformed input. */
static void
test_toml_every_prefix(void **state)
{
    (void)state;
    const char *doc = "[workflow]\nname = \"x\" # c\n[tasks]\n"
                      "default_allowed_files = [\"./a:ro\", '''b''', \"\"\"c\\\n d\"\"\"]\n"
                      "t = { x = 1, y.z = [0x1F, -2_000] }\n'q k'.\"r\" = true\n";
    size_t len = strlen(doc);
    for (size_t i = 0; i <= len; i++) {
        cap_toml_value *root = NULL;
        cap_error_t err;
        cap_status st = cap_toml_parse(doc, i, NULL, &root, &err);
        assert_true(st == CAP_OK || st == CAP_ERR_CONFIG);
        if (st == CAP_OK) {
            cap_toml_free(root);
        } else {
            assert_null(root);
            assert_true(strncmp(err.msg, "capsule.toml:", 13) == 0);
        }
    }
}

/* Flipping each byte to a set of interesting characters must never crash. */
static void
test_toml_mutations(void **state)
{
    (void)state;
    const char *doc = "[a.b]\nk = \"v\\u00e9\" # c\nl = [1, {m = 'n'}]\n\"o\".p = 0x1_0\n";
    size_t len = strlen(doc);
    const char subst[] = {'[', ']',  '{',  '}', '"', '\'', '\\', '=', ',',        '.',       '\n',
                          '#', '\0', '\r', ' ', 'x', '1',  '_',  '-', (char)0xC3, (char)0x80};
    char buf[128];
    for (size_t i = 0; i < len; i++) {
        for (size_t j = 0; j < sizeof subst; j++) {
            memcpy(buf, doc, len);
            buf[i] = subst[j];
            cap_toml_value *root = NULL;
            cap_status st = cap_toml_parse(buf, len, NULL, &root, NULL);
            assert_true(st == CAP_OK || st == CAP_ERR_CONFIG);
            cap_toml_free(root);
        }
    }
}

/* Failing each allocation in turn yields CAP_ERR_NOMEM (or success), never a leak or crash. */
static void
test_toml_oom_walk(void **state)
{
    (void)state;
    const char *doc = "[workflow]\nname = \"demo\"\n[tasks]\ndefault_allowed_files = "
                      "[\"./a\", \"./b\"]\nt = {x.y = 1}\n";
    for (uint64_t n = 1; n < 200; n++) {
        cap_toml_value *root = NULL;
        cap_error_t err;
        cap_alloc_fail_after(n);
        cap_status st = cap_toml_parse(doc, strlen(doc), NULL, &root, &err);
        cap_alloc_fail_after(0);
        if (st == CAP_OK) {
            cap_toml_free(root);
            return;
        }
        assert_int_equal(st, CAP_ERR_NOMEM);
        assert_null(root);
    }
    fail_msg("the document never parsed");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_toml_capsule_file),
        cmocka_unit_test(test_toml_strings_and_escapes),
        cmocka_unit_test(test_toml_integers_and_booleans),
        cmocka_unit_test(test_toml_keys_and_tables),
        cmocka_unit_test(test_toml_whitespace_forms),
        cmocka_unit_test(test_toml_error_location),
        cmocka_unit_test(test_toml_malformed_values),
        cmocka_unit_test(test_toml_malformed_strings),
        cmocka_unit_test(test_toml_malformed_structure),
        cmocka_unit_test(test_toml_nesting_bounded),
        cmocka_unit_test(test_toml_every_prefix),
        cmocka_unit_test(test_toml_mutations),
        cmocka_unit_test(test_toml_oom_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
