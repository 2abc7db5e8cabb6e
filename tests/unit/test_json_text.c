/* SPDX-License-Identifier: Apache-2.0 */
/* cap_json_text: reals in their shortest round-tripping form, strings escaped, order kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/json_text.h"
#include "util/alloc.h"

static void
expect(const char *json_in, bool spaced, const char *want)
{
    json_error_t e;
    json_t *v = json_loads(json_in, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    char *s = cap_json_text(v, spaced);
    assert_non_null(s);
    assert_string_equal(s, want);
    cap_free(s);
    json_decref(v);
}

static void
test_json_text_reals_shortest(void **state)
{
    (void)state;
    expect("[0.663, 0.1, 1.0, -0.0, 1e300, 5e-324, 0.30000000000000004, 123456.789]", false,
           "[0.663,0.1,1.0,-0.0,1e+300,5e-324,0.30000000000000004,"
           "123456.789]");
    expect("2.5", false, "2.5");
}

static void
test_json_text_reals_round_trip(void **state)
{
    (void)state;
    /* Every printed real parses back to the same double. */
    double vals[] = {1.0 / 3, 2.0 / 3, 1e-7, 123456789.123456789, 9007199254740993.0, 1e22, 0.3};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        json_t *r = json_real(vals[i]);
        char *s = cap_json_text(r, false);
        assert_non_null(s);
        assert_true(strtod(s, NULL) == vals[i]);
        cap_free(s);
        json_decref(r);
    }
}

static void
test_json_text_strings_and_layout(void **state)
{
    (void)state;
    expect("{\"b\": [1, true, null], \"a\": \"x\\\"\\n\\u00e9\\u0001\\\\\"}", true,
           "{\"b\": [1, true, null], \"a\": \"x\\\"\\n\xc3\xa9\\u0001\\\\\"}");
    expect("{\"k\": {\"z\": 1, \"y\": 2}}", false, "{\"k\":{\"z\":1,\"y\":2}}");
    expect("-9223372036854775808", false, "-9223372036854775808");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_text_reals_shortest),
        cmocka_unit_test(test_json_text_reals_round_trip),
        cmocka_unit_test(test_json_text_strings_and_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
