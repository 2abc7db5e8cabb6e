/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for task policies (src/runtime/policy.c): every parser's accepted forms and its
 * error messages, precedence, JSON round trips, and the sub-task bounding rule. */
#include "runtime/policy.h"
#include "util/alloc.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void
expect_msg(cap_status st, cap_status want, const cap_error_t *err, const char *msg)
{
    if (st != want || (msg && strcmp(err->msg, msg) != 0)) {
        fprintf(stderr, "status %d (want %d), message: %s\nwanted: %s\n", st, want, err->msg,
                msg ? msg : "(any)");
    }
    assert_int_equal(st, want);
    if (msg) {
        assert_string_equal(err->msg, msg);
    }
}

static void
test_policy_compute_levels(void **state)
{
    (void)state;
    uint64_t v;
    cap_error_t err;
    assert_int_equal(cap_policy_parse_compute("compute", "LOW", &v, &err), CAP_OK);
    assert_true(v == 100000000ULL);
    assert_int_equal(cap_policy_parse_compute("compute", "medium", &v, &err), CAP_OK);
    assert_true(v == 2000000000ULL);
    assert_int_equal(cap_policy_parse_compute("compute", "High", &v, &err), CAP_OK);
    assert_true(v == 50000000000ULL);
    assert_int_equal(cap_policy_parse_compute("compute", "12345", &v, &err), CAP_OK);
    assert_true(v == 12345);
    assert_int_equal(cap_policy_parse_compute("compute", "5_000_000", &v, &err), CAP_OK);
    assert_true(v == 5000000);
    assert_int_equal(cap_policy_parse_compute("compute", "18446744073709551614", &v, &err), CAP_OK);
    expect_msg(cap_policy_parse_compute("compute", "XL", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid compute \"XL\": expected LOW, MEDIUM, HIGH or a positive number of fuel "
               "units");
    expect_msg(cap_policy_parse_compute("default_compute", "0", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid default_compute \"0\": the fuel must be positive");
    expect_msg(cap_policy_parse_compute("compute", "99999999999999999999", &v, &err),
               CAP_ERR_CONFIG, &err,
               "invalid compute \"99999999999999999999\": the number is too large (at most "
               "18446744073709551614)");
    const char *bad[] = {"",     "-5",   "+5",   " 5", "5 ", "1e9",  "1.5",
                         "LOWW", "0x10", "5__0", "_5", "5_", "l o w"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cap_policy_parse_compute("compute", bad[i], &v, &err), CAP_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "invalid compute"));
    }
}

static void
test_policy_ram_sizes(void **state)
{
    (void)state;
    uint64_t v;
    cap_error_t err;
    struct {
        const char *s;
        uint64_t want;
    } ok[] = {
        {"512KB", 512ULL << 10}, {"64MB", 64ULL << 20}, {"2GB", 2ULL << 30},
        {"1TB", 1ULL << 40},     {"64mb", 64ULL << 20}, {"64 MiB", 64ULL << 20},
        {"100B", 100},           {"1048576", 1048576},  {"64M", 64ULL << 20},
        {"1_024KB", 1ULL << 20}, {"3gib", 3ULL << 30},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(cap_policy_parse_ram("ram", ok[i].s, &v, &err), CAP_OK);
        assert_true(v == ok[i].want);
    }
    expect_msg(cap_policy_parse_ram("ram", "64XB", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid ram \"64XB\": expected a size like 512KB, 64MB or 2GB");
    expect_msg(cap_policy_parse_ram("ram", "0MB", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid ram \"0MB\": the size must be positive");
    expect_msg(cap_policy_parse_ram("ram", "0", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid ram \"0\": the size must be positive");
    expect_msg(cap_policy_parse_ram("ram", "20000000TB", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid ram \"20000000TB\": the size is too large");
    expect_msg(cap_policy_parse_ram("ram", "99999999999999999999", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid ram \"99999999999999999999\": the size is too large");
    const char *bad[] = {"",      "-64MB", "64",  "MB",    "1.5GB", "64  MB", "64MB ",
                         " 64MB", "64PB",  "64 ", "6 4MB", "64Mb!", "0x40MB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cap_status st = cap_policy_parse_ram("ram", bad[i], &v, &err);
        if (strcmp(bad[i], "64") == 0) {
            assert_int_equal(st, CAP_OK); // a plain byte count is valid
            continue;
        }
        assert_int_equal(st, CAP_ERR_CONFIG);
    }
}

static void
test_policy_timeouts(void **state)
{
    (void)state;
    uint64_t v;
    cap_error_t err;
    struct {
        const char *s;
        uint64_t want;
    } ok[] = {{"500ms", 500},  {"30s", 30000}, {"5m", 300000},
              {"1h", 3600000}, {"30S", 30000}, {"1_000ms", 1000}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(cap_policy_parse_timeout("timeout", ok[i].s, &v, &err), CAP_OK);
        assert_true(v == ok[i].want);
    }
    expect_msg(cap_policy_parse_timeout("timeout", "30", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid timeout \"30\": expected a duration like 500ms, 30s, 5m or 1h");
    expect_msg(cap_policy_parse_timeout("timeout", "0s", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid timeout \"0s\": the duration must be positive");
    expect_msg(cap_policy_parse_timeout("timeout", "9999999999999999h", &v, &err), CAP_ERR_CONFIG,
               &err, "invalid timeout \"9999999999999999h\": the duration is too long");
    // Long and control-character values are shown shortened and sanitised.
    char longv[200];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    assert_int_equal(cap_policy_parse_timeout("timeout", longv, &v, &err), CAP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "xxx...\": expected a duration"));
    assert_true(strlen(err.msg) < 140);
    expect_msg(cap_policy_parse_timeout("timeout", "1\nh", &v, &err), CAP_ERR_CONFIG, &err,
               "invalid timeout \"1?h\": expected a duration like 500ms, 30s, 5m or 1h");
    const char *bad[] = {"", "s", "-1s", "1.5s", "1d", "30 s", "30sec", "1m30s", "ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cap_policy_parse_timeout("timeout", bad[i], &v, &err), CAP_ERR_CONFIG);
    }
}

static void
test_policy_format_roundtrip(void **state)
{
    (void)state;
    char buf[32];
    cap_policy_format_duration(3600000, buf, sizeof buf);
    assert_string_equal(buf, "1h");
    cap_policy_format_duration(90000, buf, sizeof buf);
    assert_string_equal(buf, "90s");
    cap_policy_format_duration(1500, buf, sizeof buf);
    assert_string_equal(buf, "1500ms");
    cap_policy_format_duration(300000, buf, sizeof buf);
    assert_string_equal(buf, "5m");
    cap_policy_format_size(64ULL << 20, buf, sizeof buf);
    assert_string_equal(buf, "64MB");
    cap_policy_format_size(1536ULL << 10, buf, sizeof buf);
    assert_string_equal(buf, "1536KB");
    cap_policy_format_size(100, buf, sizeof buf);
    assert_string_equal(buf, "100B");
    cap_policy_format_size(2ULL << 40, buf, sizeof buf);
    assert_string_equal(buf, "2TB");
}

static void
check_mount(const char *s, const char *host, const char *guest, bool rw)
{
    cap_mount m;
    cap_error_t err;
    cap_status st = cap_policy_parse_mount("allowed_files", s, &m, &err);
    if (st != CAP_OK) {
        fprintf(stderr, "%s: %s\n", s, err.msg);
    }
    assert_int_equal(st, CAP_OK);
    assert_string_equal(m.host, host);
    assert_string_equal(m.guest, guest);
    assert_int_equal(m.writable, rw);
    cap_mount_clear(&m);
}

static void
test_policy_mounts(void **state)
{
    (void)state;
    check_mount("./data", "data", "/data", false);
    check_mount("./data:ro", "data", "/data", false);
    check_mount("./out:rw", "out", "/out", true);
    check_mount("./src::/app", "src", "/app", false);
    check_mount("./src::/app:rw", "src", "/app", true);
    check_mount("data/../x", "x", "/x", false);
    check_mount("../x", "../x", "/../x", false);
    check_mount("a/../../x", "../x", "/../x", false);
    check_mount("./", ".", "/", false);
    check_mount(".", ".", "/", false);
    check_mount("a/b/../..", ".", "/", false);
    check_mount("/abs//p/", "/abs/p", "/abs/p", false);
    check_mount("/a/../..", "/", "/", false);
    check_mount("x::/app/sub/", "x", "/app/sub", true == false);
    cap_mount m;
    cap_error_t err;
    expect_msg(cap_policy_parse_mount("allowed_files", "./data:rx", &m, &err), CAP_ERR_CONFIG, &err,
               "invalid allowed_files entry \"./data:rx\": expected PATH, PATH:ro, PATH:rw or "
               "PATH::/GUEST_PATH[:ro|:rw]");
    expect_msg(cap_policy_parse_mount("allowed_files", "", &m, &err), CAP_ERR_CONFIG, &err,
               "invalid allowed_files entry \"\": the host path is empty");
    expect_msg(cap_policy_parse_mount("allowed_files", ":rw", &m, &err), CAP_ERR_CONFIG, &err,
               "invalid allowed_files entry \":rw\": the host path is empty");
    expect_msg(cap_policy_parse_mount("allowed_files", "./src::app", &m, &err), CAP_ERR_CONFIG,
               &err,
               "invalid allowed_files entry \"./src::app\": the guest path after '::' must be "
               "absolute, like ./src::/app");
    expect_msg(cap_policy_parse_mount("allowed_files", "./src::/app/../etc", &m, &err),
               CAP_ERR_CONFIG, &err,
               "invalid allowed_files entry \"./src::/app/../etc\": the guest path must not "
               "contain '.' or '..' components");
    assert_int_equal(cap_policy_parse_mount("allowed_files", "./src::", &m, &err), CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_parse_mount("allowed_files", "a:b:c", &m, &err), CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_parse_mount("allowed_files", "a:::/x", &m, &err), CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_parse_mount("allowed_files", "./x::ro", &m, &err), CAP_ERR_CONFIG);
}

static void
check_host(const char *s, const char *want)
{
    char buf[300];
    cap_error_t err;
    cap_status st = cap_policy_parse_host("allowed_hosts", s, buf, sizeof buf, &err);
    if (want == NULL) {
        if (st == CAP_OK) {
            fprintf(stderr, "accepted %s as %s\n", s, buf);
        }
        assert_int_equal(st, CAP_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "invalid allowed_hosts entry"));
        return;
    }
    if (st != CAP_OK) {
        fprintf(stderr, "%s: %s\n", s, err.msg);
    }
    assert_int_equal(st, CAP_OK);
    assert_string_equal(buf, want);
}

static void
test_policy_hosts(void **state)
{
    (void)state;
    check_host("*", "*");
    check_host("api.example.com", "api.example.com");
    check_host("API.Example.COM", "api.example.com");
    check_host("*.example.com", "*.example.com");
    check_host("example.com:8443", "example.com:8443");
    check_host("localhost", "localhost");
    check_host("xn--bcher-kva.example", "xn--bcher-kva.example");
    check_host("10.0.0.1", "10.0.0.1");
    check_host("127.0.0.1:8080", "127.0.0.1:8080");
    check_host("[::1]", "[::1]");
    check_host("[0:0:0:0:0:0:0:1]:80", "[::1]:80");
    check_host("[::FFFF:127.0.0.1]", "[::ffff:127.0.0.1]");
    check_host("a-b.c-d.io", "a-b.c-d.io");
    check_host("", NULL);
    check_host("https://api.example.com", NULL);
    check_host("api.example.com/path", NULL);
    check_host("user@host", NULL);
    check_host("*.*.example.com", NULL);
    check_host("api.*.com", NULL);
    check_host("*example.com", NULL);
    check_host("-bad.com", NULL);
    check_host("bad-.com", NULL);
    check_host("a..b", NULL);
    check_host("trailing.dot.", NULL);
    check_host("under_score.com", NULL);
    check_host("b\xc3\xbc"
               "cher.example",
               NULL);
    check_host("host:0", NULL);
    check_host("host:65536", NULL);
    check_host("host:", NULL);
    check_host("host:8_0", NULL);
    check_host("::1", NULL);
    check_host("[::1", NULL);
    check_host("[zz::1]", NULL);
    check_host("*.10.0.0.1", NULL);
    check_host("0x7f.1", NULL);
    check_host("2130706433", NULL);
    check_host("1.2.3", NULL);
    check_host("256.1.1.1", NULL);
    char longname[300];
    memset(longname, 'a', 64);
    strcpy(longname + 64, ".com");
    check_host(longname, NULL); // a 64-character label
    cap_error_t err;
    char buf[300];
    expect_msg(cap_policy_parse_host("allowed_hosts", "https://x.com", buf, sizeof buf, &err),
               CAP_ERR_CONFIG, &err,
               "invalid allowed_hosts entry \"https://x.com\": write the host name only, without "
               "a scheme like https://");
}

static void
test_policy_env_names(void **state)
{
    (void)state;
    cap_error_t err;
    assert_int_equal(cap_policy_check_env_name("env_variables", "API_KEY", &err), CAP_OK);
    assert_int_equal(cap_policy_check_env_name("env_variables", "_x1", &err), CAP_OK);
    expect_msg(cap_policy_check_env_name("env_variables", "A-B", &err), CAP_ERR_CONFIG, &err,
               "invalid env_variables entry \"A-B\": expected a variable name like API_KEY");
    assert_int_equal(cap_policy_check_env_name("env_variables", "", &err), CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_check_env_name("env_variables", "1A", &err), CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_check_env_name("env_variables", "A=B", &err), CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_check_env_name("env_variables", "A B", &err), CAP_ERR_CONFIG);
}

static void
test_policy_set_public(void **state)
{
    (void)state;
    cap_policy_t *p = NULL;
    cap_error_t err;
    assert_int_equal(cap_policy_new(&p, &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "compute", "LOW", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "ram", "64MB", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "timeout", "30s", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "max_retries", "2", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "allowed_files", "./data:ro", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "allowed_files", "./data", &err), CAP_OK); // merged
    assert_int_equal(cap_policy_set(p, "allowed_hosts", "API.example.com", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "allowed_hosts", "api.example.com", &err), CAP_OK);
    assert_int_equal(cap_policy_set(p, "env_variables", "API_KEY", &err), CAP_OK);
    assert_int_equal(p->nfiles, 1);
    assert_int_equal(p->nhosts, 1);
    assert_int_equal(p->set, CAP_POL_ALL);
    // A failed set leaves the policy unchanged.
    expect_msg(cap_policy_set(p, "ram", "64XB", &err), CAP_ERR_CONFIG, &err,
               "invalid ram \"64XB\": expected a size like 512KB, 64MB or 2GB");
    assert_true(p->ram == 64ULL << 20);
    expect_msg(cap_policy_set(p, "rma", "1MB", &err), CAP_ERR_CONFIG, &err,
               "unknown policy option \"rma\" (did you mean ram?)");
    expect_msg(cap_policy_set(p, "allowed_host", "x.com", &err), CAP_ERR_CONFIG, &err,
               "unknown policy option \"allowed_host\" (did you mean allowed_hosts?)");
    expect_msg(cap_policy_set(p, "max_retries", "101", &err), CAP_ERR_CONFIG, &err,
               "invalid max_retries \"101\": expected a number from 0 to 100");
    expect_msg(cap_policy_set(p, "allowed_files", "./other::/data", &err), CAP_ERR_CONFIG, &err,
               "invalid allowed_files: \"data\" and \"other\" are both mounted at /data");
    assert_int_equal(cap_policy_set(p, "compute", NULL, &err), CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_set(NULL, "compute", "LOW", &err), CAP_ERR_USAGE);
    char *json = NULL;
    assert_int_equal(cap_policy_to_json(p, &json, &err), CAP_OK);
    assert_string_equal(json, "{\"compute\":100000000,\"ram\":67108864,\"timeout\":\"30s\","
                              "\"max_retries\":2,\"allowed_files\":[\"data:ro\"],"
                              "\"allowed_hosts\":[\"api.example.com\"],"
                              "\"env_variables\":[\"API_KEY\"]}");
    // The JSON form reads back to the same policy.
    cap_policy_t *q = NULL;
    assert_int_equal(cap_policy_new(&q, &err), CAP_OK);
    assert_int_equal(cap_policy_set_json(q, json, &err), CAP_OK);
    char *json2 = NULL;
    assert_int_equal(cap_policy_to_json(q, &json2, &err), CAP_OK);
    assert_string_equal(json, json2);
    cap_string_free(json);
    cap_string_free(json2);
    // NULL empties a list and keeps it set; a JSON list replaces the earlier one.
    assert_int_equal(cap_policy_set(q, "env_variables", NULL, &err), CAP_OK);
    assert_int_equal(q->nenv, 0);
    assert_true(q->set & CAP_POL_ENV);
    assert_int_equal(cap_policy_set_json(q, "{\"allowed_hosts\": [\"b.com\"]}", &err), CAP_OK);
    assert_int_equal(q->nhosts, 1);
    assert_string_equal(q->hosts[0], "b.com");
    cap_policy_free(q);
    cap_policy_free(p);
    cap_policy_free(NULL);
}

static void
test_policy_set_json_errors(void **state)
{
    (void)state;
    cap_policy_t *p = NULL;
    cap_error_t err;
    assert_int_equal(cap_policy_new(&p, &err), CAP_OK);
    assert_int_equal(cap_policy_set_json(p,
                                         "{\"compute\": \"high\", \"ram\": 1048576, \"timeout\": "
                                         "null, \"allowed_hosts\": [], \"max_retries\": 0}",
                                         &err),
                     CAP_OK);
    assert_int_equal(p->set, CAP_POL_COMPUTE | CAP_POL_RAM | CAP_POL_HOSTS | CAP_POL_MAX_RETRIES);
    assert_int_equal(p->nhosts, 0);
    expect_msg(cap_policy_set_json(p, "[1]", &err), CAP_ERR_CONFIG, &err,
               "invalid policy: expected a JSON object, not an array");
    expect_msg(cap_policy_set_json(p, "{\"ram\": \"1XB\"}", &err), CAP_ERR_CONFIG, &err,
               "invalid ram \"1XB\": expected a size like 512KB, 64MB or 2GB");
    expect_msg(cap_policy_set_json(p, "{\"ram\": -5}", &err), CAP_ERR_CONFIG, &err,
               "invalid ram -5: the size must be positive");
    expect_msg(cap_policy_set_json(p, "{\"ram\": 1.5}", &err), CAP_ERR_CONFIG, &err,
               "invalid ram: expected a string, not a number with a fraction");
    expect_msg(cap_policy_set_json(p, "{\"timeout\": 30}", &err), CAP_ERR_CONFIG, &err,
               "invalid timeout 30: expected a duration string like \"500ms\", \"30s\", \"5m\" "
               "or \"1h\"");
    expect_msg(cap_policy_set_json(p, "{\"allowed_files\": \"./data\"}", &err), CAP_ERR_CONFIG,
               &err, "invalid allowed_files: expected a list of strings, not a string");
    expect_msg(cap_policy_set_json(p, "{\"allowed_files\": [1]}", &err), CAP_ERR_CONFIG, &err,
               "invalid allowed_files: entry 0 is an integer, expected a string");
    expect_msg(cap_policy_set_json(p, "{\"computee\": 1}", &err), CAP_ERR_CONFIG, &err,
               "unknown policy option \"computee\" (did you mean compute?)");
    expect_msg(cap_policy_set_json(p, "{\"zzz\": 1}", &err), CAP_ERR_CONFIG, &err,
               "unknown policy option \"zzz\" (expected compute, ram, timeout, max_retries, "
               "allowed_files, allowed_hosts or env_variables)");
    assert_int_equal(cap_policy_set_json(p, "{\"ram\": \"1MB\", \"ram\": \"2MB\"}", &err),
                     CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_set_json(p, "{", &err), CAP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "invalid policy JSON"));
    assert_int_equal(cap_policy_set_json(p, "{\"env_variables\": [\"A\\u0000B\"]}", &err),
                     CAP_ERR_CONFIG);
    assert_int_equal(cap_policy_set_json(p, "{\"max_retries\": true}", &err), CAP_ERR_CONFIG);
    // Failures left the earlier values in place.
    assert_true(p->fuel == CAP_FUEL_HIGH);
    assert_true(p->ram == 1048576);
    cap_policy_free(p);
}

static void
test_policy_resolve_precedence(void **state)
{
    (void)state;
    cap_policy_t task = {0}, defaults = {0}, out;
    cap_error_t err;
    // Built-ins only.
    assert_int_equal(cap_policy_resolve_into(&out, NULL, NULL, &err), CAP_OK);
    assert_true(out.fuel == CAP_FUEL_MEDIUM);
    assert_true(out.ram == CAP_DEFAULT_RAM);
    assert_true(out.timeout_ms == CAP_DEFAULT_TIMEOUT_MS);
    assert_int_equal(out.max_retries, 0);
    assert_int_equal(out.nfiles + out.nhosts + out.nenv, 0);
    assert_int_equal(out.set, CAP_POL_ALL);
    assert_int_equal(out.explicit_, 0);
    cap_policy_clear(&out);
    // capsule.toml defaults over built-ins, task over defaults, lists replaced not merged.
    assert_int_equal(cap_policy_set_field(&defaults, "compute", NULL, "LOW", &err), CAP_OK);
    assert_int_equal(cap_policy_set_field(&defaults, "ram", NULL, "64MB", &err), CAP_OK);
    assert_int_equal(cap_policy_set_field(&defaults, "allowed_hosts", NULL, "a.com", &err), CAP_OK);
    assert_int_equal(cap_policy_set_field(&defaults, "env_variables", NULL, "A", &err), CAP_OK);
    assert_int_equal(cap_policy_set_field(&task, "compute", NULL, "HIGH", &err), CAP_OK);
    assert_int_equal(cap_policy_set_field(&task, "allowed_hosts", NULL, "b.com", &err), CAP_OK);
    assert_int_equal(cap_policy_set_field(&task, "env_variables", NULL, NULL, &err), CAP_OK);
    assert_int_equal(cap_policy_resolve_into(&out, &task, &defaults, &err), CAP_OK);
    assert_true(out.fuel == CAP_FUEL_HIGH);
    assert_true(out.ram == 64ULL << 20);
    assert_true(out.timeout_ms == CAP_DEFAULT_TIMEOUT_MS);
    assert_int_equal(out.nhosts, 1);
    assert_string_equal(out.hosts[0], "b.com");
    assert_int_equal(out.nenv, 0); // the task's explicit empty list wins
    assert_int_equal(out.explicit_, CAP_POL_COMPUTE | CAP_POL_HOSTS | CAP_POL_ENV);
    cap_policy_clear(&out);
    cap_policy_clear(&task);
    assert_int_equal(cap_policy_resolve_into(&out, &task, &defaults, &err), CAP_OK);
    assert_int_equal(out.nenv, 1);
    assert_string_equal(out.env[0], "A");
    cap_policy_clear(&out);
    cap_policy_clear(&defaults);
}

static void
test_policy_host_coverage(void **state)
{
    (void)state;
    assert_true(cap_policy_host_covers("*", "api.example.com"));
    assert_true(cap_policy_host_covers("*", "*.example.com"));
    assert_true(cap_policy_host_covers("*", "*"));
    assert_false(cap_policy_host_covers("*", "127.0.0.1")); // IP literals only when listed
    assert_false(cap_policy_host_covers("*", "[::1]"));
    assert_false(cap_policy_host_covers("example.com", "*"));
    assert_true(cap_policy_host_covers("example.com", "example.com"));
    assert_true(cap_policy_host_covers("example.com", "api.example.com"));
    assert_true(cap_policy_host_covers("example.com", "a.b.example.com"));
    assert_true(cap_policy_host_covers("example.com", "*.example.com"));
    assert_false(cap_policy_host_covers("example.com", "badexample.com"));
    assert_false(cap_policy_host_covers("example.com", "example.com.evil.org"));
    assert_true(cap_policy_host_covers("*.example.com", "api.example.com"));
    assert_true(cap_policy_host_covers("*.example.com", "*.example.com"));
    assert_false(cap_policy_host_covers("*.example.com", "example.com"));
    assert_false(cap_policy_host_covers("*.example.com", "a.b.example.com"));
    assert_false(cap_policy_host_covers("api.example.com", "example.com"));
    assert_true(cap_policy_host_covers("example.com:8443", "example.com:8443"));
    assert_false(cap_policy_host_covers("example.com:8443", "example.com"));
    assert_false(cap_policy_host_covers("example.com:8443", "example.com:80"));
    assert_true(cap_policy_host_covers("example.com", "example.com:80"));
    assert_true(cap_policy_host_covers("10.0.0.1", "10.0.0.1"));
    assert_true(cap_policy_host_covers("10.0.0.1", "10.0.0.1:80"));
    assert_false(cap_policy_host_covers("10.0.0.1", "10.0.0.2"));
    assert_true(cap_policy_host_covers("[::1]", "[::1]"));
    assert_false(cap_policy_host_covers("garbage/", "x.com"));
}

static cap_mount
mk(const char *s)
{
    cap_mount m;
    assert_int_equal(cap_policy_parse_mount("allowed_files", s, &m, NULL), CAP_OK);
    return m;
}

static bool
covers(const char *parent, const char *child)
{
    cap_mount p = mk(parent), c = mk(child);
    bool r = cap_policy_mount_covers(&p, &c);
    cap_mount_clear(&p);
    cap_mount_clear(&c);
    return r;
}

static void
test_policy_mount_coverage(void **state)
{
    (void)state;
    assert_true(covers("./data", "./data"));
    assert_true(covers("./data", "./data/sub"));
    assert_true(covers("./data", "data/sub/../x:ro"));
    assert_true(covers("./data::/x", "./data::/elsewhere"));
    assert_false(covers("./data", "./data:rw")); // never rw under ro
    assert_true(covers("./data:rw", "./data:ro"));
    assert_true(covers("./data:rw", "./data/x:rw"));
    assert_false(covers("./data", "./database"));
    assert_false(covers("./data", "./data/../secret"));
    assert_false(covers("./data", "."));
    assert_false(covers("./data", "/data"));
    assert_true(covers(".", "./anything/deep"));
    assert_false(covers(".", "../outside"));
    assert_false(covers(".", ".."));
    assert_true(covers("/srv", "/srv/x"));
    assert_false(covers("/srv", "/srvx"));
    assert_true(covers("/", "/etc"));
    assert_false(covers("../x", "../y"));
}

static void
resolved(cap_policy_t *out, const char *json)
{
    cap_policy_t task = {0};
    cap_error_t err;
    json_t *o = json_loads(json, 0, NULL);
    assert_non_null(o);
    cap_status st = cap_policy_set_jansson(&task, o, &err);
    if (st != CAP_OK) {
        fprintf(stderr, "%s\n", err.msg);
    }
    assert_int_equal(st, CAP_OK);
    json_decref(o);
    assert_int_equal(cap_policy_resolve_into(out, &task, NULL, &err), CAP_OK);
    cap_policy_clear(&task);
}

static void
test_policy_bound_clips_limits(void **state)
{
    (void)state;
    cap_policy_t parent, req, out;
    cap_error_t err;
    resolved(&parent, "{\"compute\": \"LOW\", \"ram\": \"64MB\", \"timeout\": \"10s\", "
                      "\"max_retries\": 1}");
    resolved(&req, "{\"compute\": \"HIGH\", \"ram\": \"2GB\", \"timeout\": \"1h\", "
                   "\"max_retries\": 5}");
    cap_budget b = {.fuel = 40000000, .ram = 32ULL << 20, .timeout_ms = 2500};
    assert_int_equal(cap_policy_bound(&parent, &b, &req, &out, &err), CAP_OK);
    assert_true(out.fuel == 40000000);
    assert_true(out.ram == 32ULL << 20);
    assert_true(out.timeout_ms == 2500);
    assert_int_equal(out.max_retries, 1);
    cap_policy_clear(&out);
    // A smaller request is kept as it is.
    cap_budget big = {.fuel = UINT64_MAX, .ram = UINT64_MAX, .timeout_ms = UINT64_MAX};
    cap_policy_t small;
    resolved(&small, "{\"compute\": 1000, \"ram\": \"1MB\", \"timeout\": \"5ms\"}");
    assert_int_equal(cap_policy_bound(&parent, &big, &small, &out, &err), CAP_OK);
    assert_true(out.fuel == 1000);
    assert_true(out.ram == 1ULL << 20);
    assert_true(out.timeout_ms == 5);
    assert_int_equal(out.max_retries, 0);
    cap_policy_clear(&out);
    cap_policy_clear(&small);
    // Unresolved policies are API misuse.
    cap_policy_t partial = {0};
    assert_int_equal(cap_policy_bound(&parent, &b, &partial, &out, &err), CAP_ERR_USAGE);
    cap_policy_clear(&parent);
    cap_policy_clear(&req);
}

static void
test_policy_bound_denies_escalation(void **state)
{
    (void)state;
    cap_policy_t parent, req, out;
    cap_error_t err;
    cap_budget b = {.fuel = UINT64_MAX, .ram = UINT64_MAX, .timeout_ms = UINT64_MAX};
    resolved(&parent, "{\"allowed_files\": [\"./data:ro\", \"./out:rw\"], "
                      "\"allowed_hosts\": [\"example.com\", \"*.api.io\"], "
                      "\"env_variables\": [\"API_KEY\"]}");
    // Everything within the parent's grants is allowed.
    resolved(&req, "{\"allowed_files\": [\"./data/sub\", \"./out/x:rw\"], "
                   "\"allowed_hosts\": [\"a.example.com\", \"v1.api.io\"], "
                   "\"env_variables\": [\"API_KEY\"]}");
    assert_int_equal(cap_policy_bound(&parent, &b, &req, &out, &err), CAP_OK);
    assert_int_equal(out.nfiles, 2);
    assert_int_equal(out.nhosts, 2);
    assert_int_equal(out.nenv, 1);
    cap_policy_clear(&out);
    cap_policy_clear(&req);
    struct {
        const char *json;
        const char *msg;
    } cases[] = {
        {"{\"allowed_files\": [\"./data:rw\"]}",
         "denied: the sub-task asks for allowed_files \"data:rw\", which its parent was not "
         "granted"},
        {"{\"allowed_files\": [\"./secret\"]}",
         "denied: the sub-task asks for allowed_files \"secret:ro\", which its parent was not "
         "granted"},
        {"{\"allowed_files\": [\"./data/../secret\"]}",
         "denied: the sub-task asks for allowed_files \"secret:ro\", which its parent was not "
         "granted"},
        {"{\"allowed_files\": [\".\"]}", NULL},
        {"{\"allowed_files\": [\"/etc\"]}", NULL},
        {"{\"allowed_hosts\": [\"*\"]}",
         "denied: the sub-task asks for allowed_hosts \"*\", which its parent was not granted"},
        {"{\"allowed_hosts\": [\"evil.com\"]}", NULL},
        {"{\"allowed_hosts\": [\"a.b.api.io\"]}", NULL},
        {"{\"allowed_hosts\": [\"127.0.0.1\"]}", NULL},
        {"{\"env_variables\": [\"HOME\"]}",
         "denied: the sub-task asks for env_variables \"HOME\", which its parent was not "
         "granted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resolved(&req, cases[i].json);
        cap_status st = cap_policy_bound(&parent, &b, &req, &out, &err);
        if (st != CAP_ERR_DENIED) {
            fprintf(stderr, "case %zu not denied\n", i);
        }
        assert_int_equal(st, CAP_ERR_DENIED);
        assert_true(strncmp(err.msg, "denied: ", 8) == 0);
        if (cases[i].msg) {
            assert_string_equal(err.msg, cases[i].msg);
        }
        assert_int_equal(out.nfiles + out.nhosts + out.nenv, 0);
        cap_policy_clear(&req);
    }
    cap_policy_clear(&parent);
}

/* Grants a sub-task only inherits from capsule.toml defaults are narrowed silently; only the
 * ones it asked for itself are refused. */
static void
test_policy_bound_narrows_inherited(void **state)
{
    (void)state;
    cap_policy_t parent, defaults = {0}, req, out;
    cap_error_t err;
    cap_budget b = {.fuel = UINT64_MAX, .ram = UINT64_MAX, .timeout_ms = UINT64_MAX};
    resolved(&parent, "{\"allowed_hosts\": [\"a.com\"]}");
    assert_int_equal(cap_policy_set_field(&defaults, "allowed_hosts", NULL, "a.com", &err), CAP_OK);
    assert_int_equal(cap_policy_set_field(&defaults, "allowed_hosts", NULL, "b.com", &err), CAP_OK);
    assert_int_equal(cap_policy_set_field(&defaults, "env_variables", NULL, "X", &err), CAP_OK);
    assert_int_equal(cap_policy_resolve_into(&req, NULL, &defaults, &err), CAP_OK);
    assert_int_equal(cap_policy_bound(&parent, &b, &req, &out, &err), CAP_OK);
    assert_int_equal(out.nhosts, 1);
    assert_string_equal(out.hosts[0], "a.com");
    assert_int_equal(out.nenv, 0);
    cap_policy_clear(&out);
    cap_policy_clear(&req);
    cap_policy_clear(&defaults);
    cap_policy_clear(&parent);
}

static void
test_policy_oom_walk(void **state)
{
    (void)state;
    for (uint64_t n = 1; n < 100; n++) {
        cap_policy_t *p = NULL;
        cap_error_t err;
        cap_alloc_fail_after(n);
        cap_status st = cap_policy_new(&p, &err);
        if (st == CAP_OK) {
            st = cap_policy_set_json(p,
                                     "{\"allowed_files\": [\"./a\", \"./b::/x:rw\"], "
                                     "\"allowed_hosts\": [\"x.com\"], \"env_variables\": [\"K\"]}",
                                     &err);
        }
        cap_policy_t out = {0};
        if (st == CAP_OK) {
            st = cap_policy_resolve_into(&out, p, NULL, &err);
        }
        cap_policy_t bounded = {0};
        if (st == CAP_OK) {
            cap_budget b = {1, 1, 1};
            st = cap_policy_bound(&out, &b, &out, &bounded, &err);
        }
        cap_alloc_fail_after(0);
        cap_policy_clear(&bounded);
        cap_policy_clear(&out);
        cap_policy_free(p);
        if (st == CAP_OK) {
            return;
        }
        assert_int_equal(st, CAP_ERR_NOMEM);
    }
    fail_msg("never succeeded");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_compute_levels),
        cmocka_unit_test(test_policy_ram_sizes),
        cmocka_unit_test(test_policy_timeouts),
        cmocka_unit_test(test_policy_format_roundtrip),
        cmocka_unit_test(test_policy_mounts),
        cmocka_unit_test(test_policy_hosts),
        cmocka_unit_test(test_policy_env_names),
        cmocka_unit_test(test_policy_set_public),
        cmocka_unit_test(test_policy_set_json_errors),
        cmocka_unit_test(test_policy_resolve_precedence),
        cmocka_unit_test(test_policy_host_coverage),
        cmocka_unit_test(test_policy_mount_coverage),
        cmocka_unit_test(test_policy_bound_clips_limits),
        cmocka_unit_test(test_policy_bound_denies_escalation),
        cmocka_unit_test(test_policy_bound_narrows_inherited),
        cmocka_unit_test(test_policy_oom_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
