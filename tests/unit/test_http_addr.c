/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the SSRF guard's address classifier and of explicit address listings
 * (src/runtime/http_match.c). */
#include "runtime/http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <string.h>
#include <sys/socket.h>

static cap_addr_class
classify(const char *text)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, text, a) == 1) {
        return cap_addr_classify(AF_INET, a);
    }
    if (inet_pton(AF_INET6, text, a) == 1) {
        return cap_addr_classify(AF_INET6, a);
    }
    fail_msg("not an address: %s", text);
    return CAP_ADDR_PUBLIC;
}

static void
expect(const char *text, cap_addr_class want)
{
    cap_addr_class got = classify(text);
    if (got != want) {
        fail_msg("%s: %s, expected %s", text, cap_addr_class_name(got), cap_addr_class_name(want));
    }
}

static void
test_http_addr_ipv4_classes(void **state)
{
    (void)state;
    expect("8.8.8.8", CAP_ADDR_PUBLIC);
    expect("93.184.216.34", CAP_ADDR_PUBLIC);
    expect("1.1.1.1", CAP_ADDR_PUBLIC);
    expect("127.0.0.1", CAP_ADDR_LOOPBACK);
    expect("127.255.255.254", CAP_ADDR_LOOPBACK);
    expect("10.0.0.1", CAP_ADDR_PRIVATE);
    expect("172.16.0.1", CAP_ADDR_PRIVATE);
    expect("172.31.255.255", CAP_ADDR_PRIVATE);
    expect("172.32.0.1", CAP_ADDR_PUBLIC);
    expect("172.15.255.255", CAP_ADDR_PUBLIC);
    expect("192.168.1.1", CAP_ADDR_PRIVATE);
    expect("100.64.0.1", CAP_ADDR_PRIVATE);
    expect("100.100.100.200", CAP_ADDR_PRIVATE); // Alibaba Cloud metadata
    expect("100.128.0.1", CAP_ADDR_PUBLIC);
    expect("169.254.169.254", CAP_ADDR_LINK_LOCAL); // AWS, GCP, Azure metadata
    expect("169.254.0.1", CAP_ADDR_LINK_LOCAL);
    expect("0.0.0.0", CAP_ADDR_UNSPECIFIED);
    expect("0.1.2.3", CAP_ADDR_UNSPECIFIED);
    expect("224.0.0.1", CAP_ADDR_MULTICAST);
    expect("239.255.255.250", CAP_ADDR_MULTICAST);
    expect("255.255.255.255", CAP_ADDR_RESERVED);
    expect("240.0.0.1", CAP_ADDR_RESERVED);
    expect("192.0.2.1", CAP_ADDR_RESERVED);
    expect("198.51.100.1", CAP_ADDR_RESERVED);
    expect("203.0.113.1", CAP_ADDR_RESERVED);
    expect("198.18.0.1", CAP_ADDR_RESERVED);
    expect("192.0.0.170", CAP_ADDR_RESERVED);
}

static void
test_http_addr_ipv6_classes(void **state)
{
    (void)state;
    expect("2606:4700:4700::1111", CAP_ADDR_PUBLIC);
    expect("2001:4860:4860::8888", CAP_ADDR_PUBLIC);
    expect("::1", CAP_ADDR_LOOPBACK);
    expect("::", CAP_ADDR_UNSPECIFIED);
    expect("fe80::1", CAP_ADDR_LINK_LOCAL);
    expect("febf::1", CAP_ADDR_LINK_LOCAL);
    expect("fc00::1", CAP_ADDR_PRIVATE);
    expect("fd00:ec2::254", CAP_ADDR_PRIVATE); // AWS metadata over IPv6
    expect("fec0::1", CAP_ADDR_PRIVATE);
    expect("ff02::1", CAP_ADDR_MULTICAST);
    expect("2001:db8::1", CAP_ADDR_RESERVED);
    expect("2001::1", CAP_ADDR_RESERVED); // Teredo
    expect("100::1", CAP_ADDR_RESERVED);
    expect("64:ff9b:1::1", CAP_ADDR_RESERVED);
    expect("4000::1", CAP_ADDR_RESERVED);
}

static void
test_http_addr_embedded_ipv4(void **state)
{
    (void)state;
    // Forms that carry an IPv4 address are judged by it.
    expect("::ffff:127.0.0.1", CAP_ADDR_LOOPBACK);
    expect("::ffff:7f00:1", CAP_ADDR_LOOPBACK);
    expect("::ffff:169.254.169.254", CAP_ADDR_LINK_LOCAL);
    expect("::ffff:10.1.2.3", CAP_ADDR_PRIVATE);
    expect("::ffff:8.8.8.8", CAP_ADDR_PUBLIC);
    expect("::127.0.0.1", CAP_ADDR_LOOPBACK);
    expect("::10.0.0.1", CAP_ADDR_PRIVATE);
    expect("64:ff9b::127.0.0.1", CAP_ADDR_LOOPBACK);
    expect("64:ff9b::a9fe:a9fe", CAP_ADDR_LINK_LOCAL);
    expect("64:ff9b::8.8.8.8", CAP_ADDR_PUBLIC);
    expect("2002:7f00:1::1", CAP_ADDR_LOOPBACK);
    expect("2002:c0a8:101::1", CAP_ADDR_PRIVATE);
    expect("2002:808:808::1", CAP_ADDR_PUBLIC);
    expect("::ffff:0.0.0.0", CAP_ADDR_UNSPECIFIED);
}

static void
test_http_addr_listed(void **state)
{
    (void)state;
    uint8_t v4[4], v6[16], mapped[16];
    inet_pton(AF_INET, "127.0.0.1", v4);
    inet_pton(AF_INET6, "::1", v6);
    inet_pton(AF_INET6, "::ffff:127.0.0.1", mapped);
    const char *pats[] = {"localhost", "*", "127.0.0.1", "[::1]:8080"};
    assert_true(cap_http_addr_listed(pats, 4, AF_INET, v4, 80));
    assert_true(cap_http_addr_listed(pats, 4, AF_INET6, mapped, 80)); // same IPv4 address
    assert_true(cap_http_addr_listed(pats, 4, AF_INET6, v6, 8080));
    assert_false(cap_http_addr_listed(pats, 4, AF_INET6, v6, 80)); // port restricted
    assert_false(cap_http_addr_listed(pats, 2, AF_INET, v4, 80));  // names and "*" list no address
    const char *port[] = {"127.0.0.1:9000"};
    assert_false(cap_http_addr_listed(port, 1, AF_INET, v4, 80));
    assert_true(cap_http_addr_listed(port, 1, AF_INET, v4, 9000));
    uint8_t other[4];
    inet_pton(AF_INET, "127.0.0.2", other);
    assert_false(cap_http_addr_listed(pats, 4, AF_INET, other, 80));
}

static int
needs(const char *text)
{
    uint8_t a[16];
    int family = inet_pton(AF_INET, text, a) == 1 ? AF_INET : AF_INET6;
    if (family == AF_INET6 && inet_pton(AF_INET6, text, a) != 1) {
        fail_msg("not an address: %s", text);
    }
    return cap_addr_needs_listing(family, a, cap_addr_classify(family, a));
}

static void
test_http_addr_metadata_needs_listing(void **state)
{
    (void)state;
    // A listed host name never grants the metadata services or link-local addresses.
    assert_true(needs("169.254.169.254"));
    assert_true(needs("::ffff:169.254.169.254"));
    assert_true(needs("fd00:ec2::254"));
    assert_true(needs("100.100.100.200"));
    assert_true(needs("::ffff:100.100.100.200"));
    assert_true(needs("fe80::1"));
    assert_true(needs("0.0.0.0"));
    assert_true(needs("ff02::1"));
    // Loopback and private addresses may be granted by naming the host exactly.
    assert_false(needs("127.0.0.1"));
    assert_false(needs("::1"));
    assert_false(needs("10.1.2.3"));
    assert_false(needs("fd00::1"));
    assert_false(needs("100.100.100.201"));
}

static void
test_http_addr_names(void **state)
{
    (void)state;
    assert_string_equal(cap_addr_class_name(CAP_ADDR_LOOPBACK), "loopback");
    assert_string_equal(cap_addr_class_name(CAP_ADDR_LINK_LOCAL), "link-local");
    assert_string_equal(cap_http_outcome_name(CAP_HTTP_DENIED), "denied");
    assert_string_equal(cap_http_outcome_name(CAP_HTTP_INVALID_URL), "invalid_url");
    assert_string_equal(cap_http_outcome_name(CAP_HTTP_NETWORK_ERROR), "network_error");
    assert_string_equal(cap_http_outcome_name(CAP_HTTP_TIMEOUT), "timeout");
    assert_string_equal(cap_http_outcome_name(CAP_HTTP_TOO_LARGE), "too_large");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_addr_ipv4_classes),
        cmocka_unit_test(test_http_addr_ipv6_classes),
        cmocka_unit_test(test_http_addr_embedded_ipv4),
        cmocka_unit_test(test_http_addr_listed),
        cmocka_unit_test(test_http_addr_metadata_needs_listing),
        cmocka_unit_test(test_http_addr_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
