/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the result envelope and the error-type mapping (src/runtime/result.c). */
#include "runtime/policy.h"
#include "runtime/result.h"
#include "util/alloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void
test_result_error_type_names(void **state)
{
    (void)state;
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_TASK_ERROR), "task_error");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_OUT_OF_FUEL), "out_of_fuel");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_TIMEOUT), "timeout");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_MEMORY_LIMIT), "memory_limit");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_TRAP), "trap");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_EXIT), "exit");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_DENIED), "denied");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_INVALID_CONFIG), "invalid_config");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_INVALID_MODULE), "invalid_module");
    assert_string_equal(cap_error_type_name(CAP_ERRTYPE_HOST_ERROR), "host_error");
    assert_string_equal(cap_error_type_name((cap_error_type)999), "host_error");
    cap_error_type t;
    assert_true(cap_error_type_parse("memory_limit", &t));
    assert_int_equal(t, CAP_ERRTYPE_MEMORY_LIMIT);
    assert_false(cap_error_type_parse("Memory_Limit", &t));
    assert_false(cap_error_type_parse(NULL, &t));
    assert_non_null(strstr(cap_error_type_description(CAP_ERRTYPE_DENIED), "grant"));
    // Every type round-trips through its name.
    for (int i = 0; i <= CAP_ERRTYPE_HOST_ERROR; i++) {
        assert_true(cap_error_type_parse(cap_error_type_name((cap_error_type)i), &t));
        assert_int_equal(t, i);
    }
}

static cap_error_t
mkerr(cap_status st, cap_trap trap, int32_t code, const char *msg)
{
    cap_error_t e;
    cap_error_clear(&e);
    e.status = st;
    e.trap = trap;
    e.exit_code = code;
    snprintf(e.msg, sizeof e.msg, "%s", msg);
    return e;
}

static void
test_result_error_type_mapping(void **state)
{
    (void)state;
    struct {
        cap_status st;
        cap_trap trap;
        int32_t code;
        cap_error_type want;
    } cases[] = {
        {CAP_OK, CAP_TRAP_NONE, 0, CAP_ERRTYPE_NONE},
        {CAP_ERR_TRAP, CAP_TRAP_OUT_OF_FUEL, 0, CAP_ERRTYPE_OUT_OF_FUEL},
        {CAP_ERR_TRAP, CAP_TRAP_TIMEOUT, 0, CAP_ERRTYPE_TIMEOUT},
        {CAP_ERR_TRAP, CAP_TRAP_MEMORY_LIMIT, 0, CAP_ERRTYPE_MEMORY_LIMIT},
        {CAP_ERR_TRAP, CAP_TRAP_EXIT, 0, CAP_ERRTYPE_NONE},
        {CAP_ERR_TRAP, CAP_TRAP_EXIT, 3, CAP_ERRTYPE_EXIT},
        {CAP_ERR_TRAP, CAP_TRAP_HOST, 0, CAP_ERRTYPE_HOST_ERROR},
        {CAP_ERR_TRAP, CAP_TRAP_UNREACHABLE, 0, CAP_ERRTYPE_TRAP},
        {CAP_ERR_TRAP, CAP_TRAP_STACK_EXHAUSTED, 0, CAP_ERRTYPE_TRAP},
        {CAP_ERR_TRAP, CAP_TRAP_DIV_ZERO, 0, CAP_ERRTYPE_TRAP},
        {CAP_ERR_MALFORMED, CAP_TRAP_NONE, 0, CAP_ERRTYPE_INVALID_MODULE},
        {CAP_ERR_INVALID, CAP_TRAP_NONE, 0, CAP_ERRTYPE_INVALID_MODULE},
        {CAP_ERR_LINK, CAP_TRAP_NONE, 0, CAP_ERRTYPE_INVALID_MODULE},
        {CAP_ERR_DENIED, CAP_TRAP_NONE, 0, CAP_ERRTYPE_DENIED},
        {CAP_ERR_CONFIG, CAP_TRAP_NONE, 0, CAP_ERRTYPE_INVALID_CONFIG},
        {CAP_ERR_NOMEM, CAP_TRAP_NONE, 0, CAP_ERRTYPE_HOST_ERROR},
        {CAP_ERR_IO, CAP_TRAP_NONE, 0, CAP_ERRTYPE_HOST_ERROR},
        {CAP_ERR_USAGE, CAP_TRAP_NONE, 0, CAP_ERRTYPE_HOST_ERROR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cap_error_t e = mkerr(cases[i].st, cases[i].trap, cases[i].code, "x");
        assert_int_equal(cap_error_type_of(&e), cases[i].want);
    }
    assert_int_equal(cap_error_type_of(NULL), CAP_ERRTYPE_NONE);
}

static void
test_result_messages_from_limits(void **state)
{
    (void)state;
    cap_policy_t p = {0};
    assert_int_equal(cap_policy_resolve_into(&p, NULL, NULL, NULL), CAP_OK);
    p.fuel = 100000000;
    p.timeout_ms = 30000;
    p.ram = 64ULL << 20;
    cap_task_result r;
    cap_task_result_init(&r);
    cap_error_t e = mkerr(CAP_ERR_TRAP, CAP_TRAP_OUT_OF_FUEL, 0, "out of fuel in loop");
    assert_int_equal(cap_task_result_fail_from(&r, &e, &p), CAP_OK);
    assert_false(r.success);
    assert_string_equal(r.error_message, "out of fuel after 100000000 units");
    e = mkerr(CAP_ERR_TRAP, CAP_TRAP_TIMEOUT, 0, "interrupted");
    cap_task_result_fail_from(&r, &e, &p);
    assert_string_equal(r.error_message, "timeout after 30s");
    assert_int_equal(r.error_type, CAP_ERRTYPE_TIMEOUT);
    e = mkerr(CAP_ERR_TRAP, CAP_TRAP_MEMORY_LIMIT, 0, "memory limit exceeded");
    cap_task_result_fail_from(&r, &e, &p);
    assert_string_equal(r.error_message, "memory limit of 64MB exceeded");
    e = mkerr(CAP_ERR_TRAP, CAP_TRAP_EXIT, 7, "exit");
    cap_task_result_fail_from(&r, &e, &p);
    assert_string_equal(r.error_message, "exited with code 7");
    assert_true(r.has_exit_code);
    e = mkerr(CAP_ERR_TRAP, CAP_TRAP_DIV_ZERO, 0, "integer divide by zero in fib");
    cap_task_result_fail_from(&r, &e, NULL);
    assert_string_equal(r.error_message, "integer divide by zero in fib");
    assert_int_equal(r.error_type, CAP_ERRTYPE_TRAP);
    e = mkerr(CAP_ERR_TRAP, CAP_TRAP_OUT_OF_FUEL, 0, "");
    cap_task_result_fail_from(&r, &e, NULL);
    assert_string_equal(r.error_message, "out of fuel");
    e = mkerr(CAP_ERR_NOMEM, CAP_TRAP_NONE, 0, "");
    cap_task_result_fail_from(&r, &e, NULL);
    assert_string_equal(r.error_message, "out of memory");
    // exit(0) is success with a null result.
    e = mkerr(CAP_ERR_TRAP, CAP_TRAP_EXIT, 0, "exit");
    cap_task_result_fail_from(&r, &e, &p);
    assert_true(r.success);
    assert_null(r.error_message);
    cap_task_result_clear(&r);
    cap_policy_clear(&p);
}

static void
test_result_envelope_success(void **state)
{
    (void)state;
    cap_task_result r;
    cap_task_result_init(&r);
    assert_int_equal(cap_task_result_set_name(&r, "main"), CAP_OK);
    assert_int_equal(cap_task_result_from_guest(&r, "{\"result\": {\"double\": 42}}", 26, NULL),
                     CAP_OK);
    r.duration_ms = 12;
    r.fuel_consumed = 45000;
    r.ram_used = 1310720;
    r.task_id = 7;
    cap_task_result_set_output(&r, 1, cap_strdup("hi\n"), 3, false);
    char *s = cap_task_result_to_json(&r);
    assert_non_null(s);
    assert_string_equal(s, "{\"success\":true,\"result\":{\"double\":42},\"error\":null,"
                           "\"execution\":{\"task_name\":\"main\",\"duration_ms\":12,"
                           "\"retries\":0,\"fuel_consumed\":45000,\"ram_used\":1310720},"
                           "\"stdout\":\"hi\\n\",\"stderr\":\"\",\"stdout_truncated\":false,"
                           "\"stderr_truncated\":false,\"task_id\":7}");
    cap_string_free(s);
    cap_task_result_clear(&r);
}

static void
test_result_envelope_failure(void **state)
{
    (void)state;
    cap_task_result r;
    cap_task_result_init(&r);
    cap_task_result_set_name(&r, "main");
    const char *g = "{\"error_type\": \"out_of_fuel\", \"message\": \"boom\", "
                    "\"exception\": \"ValueError\", \"traceback\": \"line 3\"}";
    assert_int_equal(cap_task_result_from_guest(&r, g, strlen(g), NULL), CAP_OK);
    assert_false(r.success);
    assert_int_equal(r.error_type, CAP_ERRTYPE_TASK_ERROR); // a guest cannot claim out_of_fuel
    r.retries = 2;
    cap_task_result_set_output(&r, 2, cap_strndup("bad \xff\xfe byte", 11), 11, true);
    char *s = cap_task_result_to_json(&r);
    assert_string_equal(s, "{\"success\":false,\"result\":null,\"error\":{\"exception\":"
                           "\"ValueError\",\"traceback\":\"line 3\",\"error_type\":"
                           "\"task_error\",\"message\":\"boom\"},\"execution\":{\"task_name\":"
                           "\"main\",\"duration_ms\":0,\"retries\":2,\"fuel_consumed\":0,"
                           "\"ram_used\":0},\"stdout\":\"\",\"stderr\":\"bad \xef\xbf\xbd\xef"
                           "\xbf\xbd byte\",\"stdout_truncated\":false,\"stderr_truncated\":true,"
                           "\"task_id\":null}");
    cap_string_free(s);
    // A guest-provided error_type key cannot override the host's.
    g = "{\"message\": \"m\", \"error\": 1}";
    assert_int_equal(cap_task_result_from_guest(&r, g, strlen(g), NULL), CAP_OK);
    s = cap_task_result_to_json(&r);
    assert_non_null(strstr(s, "\"error_type\":\"task_error\""));
    cap_string_free(s);
    cap_task_result_clear(&r);
}

static void
test_result_guest_malformed(void **state)
{
    (void)state;
    cap_task_result r;
    cap_task_result_init(&r);
    cap_error_t err;
    const char *bad[] = {"",
                         "{",
                         "[1]",
                         "42",
                         "{\"result\": 1, \"message\": \"x\"}",
                         "{\"message\": 5}",
                         "{\"error_type\": 1, \"message\": \"x\"}",
                         "{\"other\": 1}",
                         "{\"result\": 1, \"result\": 2}",
                         "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cap_task_result_from_guest(&r, bad[i], strlen(bad[i]), &err),
                         CAP_ERR_CONFIG);
        assert_true(strncmp(err.msg, "the task", 8) == 0);
        assert_true(r.success); // unchanged
    }
    // null result and scalar results.
    assert_int_equal(cap_task_result_from_guest(&r, "{\"result\": null}", 16, NULL), CAP_OK);
    assert_null(r.result);
    assert_int_equal(cap_task_result_from_guest(&r, "{\"result\": \"s\"}", 15, NULL), CAP_OK);
    assert_string_equal(json_string_value(r.result), "s");
    cap_task_result_clear(&r);
}

static void
test_result_lossy_strings(void **state)
{
    (void)state;
    json_t *j = cap_json_string_lossy("a\xc3\xa9\xe2\x82", 5);
    assert_string_equal(json_string_value(j), "a\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
    j = cap_json_string_lossy("nul\0in", 6);
    assert_int_equal(json_string_length(j), 6);
    json_decref(j);
    j = cap_json_string_lossy(NULL, 0);
    assert_string_equal(json_string_value(j), "");
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_error_type_names),
        cmocka_unit_test(test_result_error_type_mapping),
        cmocka_unit_test(test_result_messages_from_limits),
        cmocka_unit_test(test_result_envelope_success),
        cmocka_unit_test(test_result_envelope_failure),
        cmocka_unit_test(test_result_guest_malformed),
        cmocka_unit_test(test_result_lossy_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
