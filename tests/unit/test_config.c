/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for capsule.toml and .env reading (src/runtime/config.c). */
#include "runtime/config.h"
#include "util/alloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static cap_status
parse(cap_config_t *cfg, const char *text, cap_error_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    return cap_config_parse_toml(cfg, text, strlen(text), "capsule.toml", err);
}

static void
expect_error(const char *text, const char *msg)
{
    cap_config_t cfg;
    cap_error_t err;
    cap_status st = parse(&cfg, text, &err);
    if (st != CAP_ERR_CONFIG || strcmp(err.msg, msg) != 0) {
        fprintf(stderr, "input:\n%s\ngot (%d): %s\nwant: %s\n", text, st, err.msg, msg);
    }
    assert_int_equal(st, CAP_ERR_CONFIG);
    assert_string_equal(err.msg, msg);
    cap_config_clear(&cfg);
}

static void
test_config_full_file(void **state)
{
    (void)state;
    cap_config_t cfg;
    cap_error_t err;
    cap_status st = parse(&cfg,
                          "[workflow]\n"
                          "name = \"agent\"\n"
                          "version = \"0.1.0\"\n"
                          "entrypoint = \"main.py\"\n"
                          "\n"
                          "[tasks]\n"
                          "default_compute = \"HIGH\"\n"
                          "default_ram = \"128MB\"\n"
                          "default_timeout = \"5m\"\n"
                          "default_max_retries = 3\n"
                          "default_allowed_files = [\"./data:ro\", \"./out:rw\"]\n"
                          "default_allowed_hosts = [\"api.openai.com\"]\n"
                          "default_env_variables = [\"OPENAI_API_KEY\"]\n",
                          &err);
    if (st != CAP_OK) {
        fprintf(stderr, "%s\n", err.msg);
    }
    assert_int_equal(st, CAP_OK);
    assert_string_equal(cap_config_workflow(&cfg, "name"), "agent");
    assert_string_equal(cap_config_workflow(&cfg, "version"), "0.1.0");
    assert_string_equal(cap_config_workflow(&cfg, "entrypoint"), "main.py");
    assert_null(cap_config_workflow(&cfg, "other"));
    const cap_policy_t *d = cap_config_defaults(&cfg);
    assert_int_equal(d->set, CAP_POL_ALL);
    assert_true(d->fuel == 50000000000ULL);
    assert_true(d->ram == 128ULL << 20);
    assert_true(d->timeout_ms == 300000);
    assert_int_equal(d->max_retries, 3);
    assert_int_equal(d->nfiles, 2);
    assert_true(d->files[1].writable);
    assert_string_equal(d->hosts[0], "api.openai.com");
    assert_string_equal(d->env[0], "OPENAI_API_KEY");
    cap_config_clear(&cfg);
    // Integers are accepted for compute (fuel) and ram (bytes); an empty file is fine.
    assert_int_equal(parse(&cfg, "[tasks]\ndefault_compute = 5_000\ndefault_ram = 65536\n", &err),
                     CAP_OK);
    assert_true(cfg.defaults.fuel == 5000);
    assert_true(cfg.defaults.ram == 65536);
    assert_int_equal(cfg.defaults.set, CAP_POL_COMPUTE | CAP_POL_RAM);
    cap_config_clear(&cfg);
    assert_int_equal(parse(&cfg, "", &err), CAP_OK);
    assert_int_equal(cfg.defaults.set, 0);
    assert_null(cfg.name);
    cap_config_clear(&cfg);
}

static void
test_config_invalid_values(void **state)
{
    (void)state;
    expect_error("[tasks]\ndefault_ram = \"64XB\"\n",
                 "capsule.toml:2:15: invalid default_ram \"64XB\": expected a size like 512KB, "
                 "64MB or 2GB");
    expect_error("[tasks]\ndefault_compute = \"EXTREME\"\n",
                 "capsule.toml:2:19: invalid default_compute \"EXTREME\": expected LOW, MEDIUM, "
                 "HIGH or a positive number of fuel units");
    expect_error("[tasks]\ndefault_timeout = \"30\"\n",
                 "capsule.toml:2:19: invalid default_timeout \"30\": expected a duration like "
                 "500ms, 30s, 5m or 1h");
    expect_error("[tasks]\ndefault_timeout = 30\n",
                 "capsule.toml:2:19: invalid default_timeout 30: expected a duration string like "
                 "\"500ms\", \"30s\", \"5m\" or \"1h\"");
    expect_error("[tasks]\ndefault_max_retries = -1\n",
                 "capsule.toml:2:23: invalid default_max_retries -1: expected a number from 0 to "
                 "100");
    expect_error("[tasks]\ndefault_max_retries = \"2\"\n",
                 "capsule.toml:2:23: default_max_retries must be an integer, not a string");
    expect_error("[tasks]\ndefault_ram = 0\n",
                 "capsule.toml:2:15: invalid default_ram 0: the size must be positive");
    expect_error("[tasks]\ndefault_compute = true\n",
                 "capsule.toml:2:19: default_compute must be a string, not a boolean");
    expect_error("[tasks]\ndefault_allowed_hosts = \"x.com\"\n",
                 "capsule.toml:2:25: default_allowed_hosts must be an array of strings, not a "
                 "string");
    expect_error("[tasks]\ndefault_allowed_hosts = [\"ok.com\",\n  \"https://x.com\"]\n",
                 "capsule.toml:3:3: invalid default_allowed_hosts entry \"https://x.com\": write "
                 "the host name only, without a scheme like https://");
    expect_error("[tasks]\ndefault_allowed_files = [1]\n",
                 "capsule.toml:2:26: default_allowed_files entries must be strings, not an "
                 "integer");
    expect_error("[tasks]\ndefault_env_variables = [\"BAD-NAME\"]\n",
                 "capsule.toml:2:26: invalid default_env_variables entry \"BAD-NAME\": expected "
                 "a variable name like API_KEY");
    expect_error("[workflow]\nname = 5\n",
                 "capsule.toml:2:8: workflow.name must be a string, not an integer");
    expect_error("[workflow]\nentrypoint = \"\"\n",
                 "capsule.toml:2:14: workflow.entrypoint must not be empty");
    expect_error("workflow = 1\n", "capsule.toml:1:12: workflow must be a table, not an integer");
}

static void
test_config_unknown_keys(void **state)
{
    (void)state;
    expect_error("[tasks]\ndefault_rma = \"1MB\"\n",
                 "capsule.toml:2:1: unknown key 'default_rma' in [tasks] (did you mean "
                 "default_ram?)");
    expect_error("[tasks]\nram = \"1MB\"\n",
                 "capsule.toml:2:1: unknown key 'ram' in [tasks] (did you mean default_ram?)");
    expect_error("[tasks]\ndefault_allowed_host = []\n",
                 "capsule.toml:2:1: unknown key 'default_allowed_host' in [tasks] (did you mean "
                 "default_allowed_hosts?)");
    expect_error("[tasks]\nfoo = 1\n", "capsule.toml:2:1: unknown key 'foo' in [tasks]");
    expect_error("[workflow]\nnmae = \"x\"\n",
                 "capsule.toml:2:1: unknown key 'nmae' in [workflow] (did you mean name?)");
    expect_error("[task]\n", "capsule.toml:1:2: unknown table or key 'task' (did you mean "
                             "[tasks]?)");
    expect_error("[other]\n", "capsule.toml:1:2: unknown table or key 'other' (capsule.toml has "
                              "[workflow] and [tasks])");
    expect_error("[tasks.sub]\n", "capsule.toml:1:2: unknown key 'sub' in [tasks]");
    expect_error("name = \"x\"\n", "capsule.toml:1:1: unknown table or key 'name' (capsule.toml "
                                   "has [workflow] and [tasks])");
    // Syntax errors come through with the same location format.
    expect_error("[tasks]\ndefault_ram = 64XB\n", "capsule.toml:2:17: invalid integer");
}

static void
test_config_dotenv(void **state)
{
    (void)state;
    cap_config_t cfg = {0};
    cap_error_t err;
    const char *text = "# comment\n"
                       "\n"
                       "PLAIN=value\n"
                       "SPACED = spaced value   \n"
                       "export EXPORTED=yes\n"
                       "DQ=\"line\\nnext \\\"q\\\" # not a comment\"\n"
                       "SQ='raw \\n $x'\n"
                       "TRAIL=abc # a comment\n"
                       "HASH=a#b\n"
                       "EMPTY=\n"
                       "MULTI=\"one\ntwo\"\n"
                       "CRLF=crlf\r\n"
                       "PLAIN=override\n";
    cap_status st = cap_config_parse_dotenv(&cfg, text, strlen(text), ".env", &err);
    if (st != CAP_OK) {
        fprintf(stderr, "%s\n", err.msg);
    }
    assert_int_equal(st, CAP_OK);
    assert_string_equal(cap_config_dotenv(&cfg, "PLAIN"), "override");
    assert_string_equal(cap_config_dotenv(&cfg, "SPACED"), "spaced value");
    assert_string_equal(cap_config_dotenv(&cfg, "EXPORTED"), "yes");
    assert_string_equal(cap_config_dotenv(&cfg, "DQ"), "line\nnext \"q\" # not a comment");
    assert_string_equal(cap_config_dotenv(&cfg, "SQ"), "raw \\n $x");
    assert_string_equal(cap_config_dotenv(&cfg, "TRAIL"), "abc");
    assert_string_equal(cap_config_dotenv(&cfg, "HASH"), "a#b");
    assert_string_equal(cap_config_dotenv(&cfg, "EMPTY"), "");
    assert_string_equal(cap_config_dotenv(&cfg, "MULTI"), "one\ntwo");
    assert_string_equal(cap_config_dotenv(&cfg, "CRLF"), "crlf");
    assert_null(cap_config_dotenv(&cfg, "MISSING"));
    assert_int_equal(cfg.nenv, 10);
    cap_config_clear(&cfg);

    struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"A=1\n1BAD=x\n", ".env:2: expected NAME=VALUE (names use A-Z, a-z, 0-9 and _)"},
        {"NOEQUALS\n", ".env:1: expected '=' after NOEQUALS"},
        {"A=\"open\n", ".env:1: unterminated double-quoted value"},
        {"A='open\n", ".env:1: unterminated single-quoted value"},
        {"A=\"x\" y\n", ".env:1: unexpected text after the closing quote"},
        {"A-B=1\n", ".env:1: expected '=' after A"},
        {"A=\xff\n", ".env: not a text file (NUL bytes or invalid UTF-8)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&cfg, 0, sizeof cfg);
        st = cap_config_parse_dotenv(&cfg, bad[i].text, strlen(bad[i].text), ".env", &err);
        if (st != CAP_ERR_CONFIG || strcmp(err.msg, bad[i].msg) != 0) {
            fprintf(stderr, "%s -> %s\n", bad[i].text, err.msg);
        }
        assert_int_equal(st, CAP_ERR_CONFIG);
        assert_string_equal(err.msg, bad[i].msg);
        cap_config_clear(&cfg);
    }
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static void
test_config_load_project(void **state)
{
    (void)state;
    char dir[] = "/tmp/capsule-test-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cap_config_t *cfg = NULL;
    cap_error_t err;
    // No files at all: an empty configuration.
    assert_int_equal(cap_config_load(dir, &cfg, &err), CAP_OK);
    assert_null(cfg->toml_path);
    assert_int_equal(cap_config_defaults(cfg)->set, 0);
    cap_config_free(cfg);

    write_file(dir, "capsule.toml",
               "[workflow]\nentrypoint = \"main.py\"\n"
               "[tasks]\ndefault_env_variables = [\"CAP_TEST_A\"]\n");
    write_file(dir, ".env", "CAP_TEST_A=from-dotenv\nCAP_TEST_B=only-dotenv\n");
    setenv("CAP_TEST_A", "from-environment", 1);
    unsetenv("CAP_TEST_B");
    assert_int_equal(cap_config_load(dir, &cfg, &err), CAP_OK);
    assert_string_equal(cap_config_workflow(cfg, "entrypoint"), "main.py");
    // The real environment wins over .env, and .env never changes the environment.
    assert_string_equal(cap_config_env(cfg, "CAP_TEST_A"), "from-environment");
    assert_string_equal(cap_config_env(cfg, "CAP_TEST_B"), "only-dotenv");
    assert_null(getenv("CAP_TEST_B"));
    assert_null(cap_config_env(cfg, "CAP_TEST_NOT_SET_ANYWHERE"));
    cap_config_free(cfg);
    unsetenv("CAP_TEST_A");

    write_file(dir, "capsule.toml", "[tasks]\ndefault_ram = \"lots\"\n");
    cfg = (cap_config_t *)1;
    assert_int_equal(cap_config_load(dir, &cfg, &err), CAP_ERR_CONFIG);
    assert_null(cfg);
    assert_string_equal(err.msg, "capsule.toml:2:15: invalid default_ram \"lots\": expected a "
                                 "size like 512KB, 64MB or 2GB");
    write_file(dir, "capsule.toml", "");
    write_file(dir, ".env", "BROKEN\n");
    assert_int_equal(cap_config_load(dir, &cfg, &err), CAP_ERR_CONFIG);
    assert_string_equal(err.msg, ".env:1: expected '=' after BROKEN");
    remove_file(dir, ".env");
    // An unreadable capsule.toml (a directory) is an i/o error.
    remove_file(dir, "capsule.toml");
    char sub[600];
    snprintf(sub, sizeof sub, "%s/capsule.toml", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(cap_config_load(dir, &cfg, &err), CAP_ERR_IO);
    rmdir(sub);
    rmdir(dir);
    assert_int_equal(cap_config_load(dir, NULL, &err), CAP_ERR_USAGE);
}

static void
test_config_oom_walk(void **state)
{
    (void)state;
    const char *text = "[workflow]\nname = \"n\"\n[tasks]\ndefault_allowed_files = [\"./a\"]\n"
                       "default_ram = \"1MB\"\n";
    const char *env = "A=1\nB=\"two\"\n";
    for (uint64_t n = 1; n < 200; n++) {
        cap_config_t cfg = {0};
        cap_alloc_fail_after(n);
        cap_status st = cap_config_parse_toml(&cfg, text, strlen(text), NULL, NULL);
        if (st == CAP_OK) {
            st = cap_config_parse_dotenv(&cfg, env, strlen(env), NULL, NULL);
        }
        cap_alloc_fail_after(0);
        cap_config_clear(&cfg);
        if (st == CAP_OK) {
            return;
        }
        assert_int_equal(st, CAP_ERR_NOMEM);
    }
    fail_msg("never succeeded");
}

/* Byte substitutions over a full capsule.toml and .env never crash nor leak: each either loads
 * or fails with CAP_ERR_CONFIG and a located message. */
static void
test_config_mutations(void **state)
{
    (void)state;
    const char *doc = "[workflow]\nname = \"n\"\n[tasks]\ndefault_ram = \"64MB\"\n"
                      "default_allowed_files = [\"./a::/x:rw\"]\ndefault_allowed_hosts = "
                      "[\"*.b.io:80\"]\ndefault_compute = 5\n";
    const char *env = "A=1\nexport B=\"x\\n\" # c\nC='y'\n";
    const char subst[] = {'"', '\'', '[', ']', '=', ':', '.', '\n', '0', 'x', '*', '\\', '#', ' '};
    char buf[256];
    const char *docs[] = {doc, env};
    for (int which = 0; which < 2; which++) {
        size_t len = strlen(docs[which]);
        for (size_t i = 0; i < len; i++) {
            for (size_t k = 0; k < sizeof subst; k++) {
                memcpy(buf, docs[which], len);
                buf[i] = subst[k];
                cap_config_t cfg = {0};
                cap_error_t err;
                cap_status st = which == 0 ? cap_config_parse_toml(&cfg, buf, len, NULL, &err)
                                           : cap_config_parse_dotenv(&cfg, buf, len, NULL, &err);
                assert_true(st == CAP_OK || st == CAP_ERR_CONFIG);
                if (st == CAP_ERR_CONFIG) {
                    assert_true(strncmp(err.msg, which == 0 ? "capsule.toml:" : ".env:",
                                        which == 0 ? 13 : 5) == 0);
                }
                cap_config_clear(&cfg);
            }
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_full_file),    cmocka_unit_test(test_config_invalid_values),
        cmocka_unit_test(test_config_unknown_keys), cmocka_unit_test(test_config_dotenv),
        cmocka_unit_test(test_config_load_project), cmocka_unit_test(test_config_oom_walk),
        cmocka_unit_test(test_config_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
