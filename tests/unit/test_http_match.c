/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the HTTP client's decisions: URL parsing and normalisation, allowed_hosts
 * matching, request header and method checks (src/runtime/http_match.c, http.c). */
#include "runtime/http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>
#include <sys/socket.h>

/* Parses url and returns the match of `pattern` against it (the URL must parse). */
static cap_http_match
match(const char *pattern, const char *url)
{
    cap_http_url u;
    char why[200];
    cap_status st = cap_http_url_parse(url, &u, why, sizeof why);
    if (st != CAP_OK) {
        fail_msg("%s: %s", url, why);
    }
    cap_http_match m = cap_http_pattern_match(pattern, &u);
    cap_http_url_clear(&u);
    return m;
}

#define NONE     CAP_HTTP_MATCH_NONE
#define COVERED  CAP_HTTP_MATCH_COVERED
#define EXPLICIT CAP_HTTP_MATCH_EXPLICIT

static void
test_http_url_normalises_host(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host;
        unsigned port;
        int is_ip;
        const char *shown;
    } cases[] = {
        {"http://ExAmPle.COM/a?b#frag", "example.com", 80, 0, "http://example.com/a?b"},
        {"https://example.com./", "example.com", 443, 0, "https://example.com/"},
        {"HTTPS://example.com:8443/x", "example.com", 8443, 0, "https://example.com:8443/x"},
        {"http://user:pw@example.com/", "example.com", 80, 0, "http://example.com/"},
        {"http://a%2eb.example.com/", "a.b.example.com", 80, 0, NULL},
        {"http://0x7f.1/", "127.0.0.1", 80, 1, "http://127.0.0.1/"},
        {"http://2130706433/", "127.0.0.1", 80, 1, NULL},
        {"http://127.1/", "127.0.0.1", 80, 1, NULL},
        {"http://0177.0.0.1/", "127.0.0.1", 80, 1, NULL},
        {"http://[::1]:8080/", "[::1]", 8080, 1, "http://[::1]:8080/"},
        {"http://[0:0:0:0:0:0:0:1]/", "[::1]", 80, 1, NULL},
        {"http://[::FFFF:127.0.0.1]/", "[::ffff:127.0.0.1]", 80, 1, NULL},
        {"http://b\xc3\xbc"
         "cher.de/",
         "xn--bcher-kva.de", 80, 0, "http://xn--bcher-kva.de/"},
        {"http://B\xc3\x9c"
         "CHER.de/",
         "xn--bcher-kva.de", 80, 0, NULL},
        {"http://under_score.example/", "under_score.example", 80, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cap_http_url u;
        char why[200] = "";
        cap_status st = cap_http_url_parse(cases[i].url, &u, why, sizeof why);
        if (st != CAP_OK) {
            fail_msg("%s: %s", cases[i].url, why);
        }
        assert_string_equal(u.host, cases[i].host);
        assert_int_equal(u.port, cases[i].port);
        assert_int_equal(u.is_ip, cases[i].is_ip);
        if (cases[i].shown) {
            assert_string_equal(u.shown, cases[i].shown);
        }
        cap_http_url_clear(&u);
    }
    /* The URL requested keeps the credentials (libcurl sends them) but not the fragment. */
    cap_http_url u;
    assert_int_equal(cap_http_url_parse("http://u:p@Example.com/x#f", &u, NULL, 0), CAP_OK);
    assert_string_equal(u.url, "http://u:p@example.com/x");
    cap_http_url_clear(&u);
}

static void
test_http_url_rejects_bad_urls(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "ftp://example.com/",
        "file:///etc/passwd",
        "example.com/x",
        "http://",
        "not a url",
        "http://[fe80::1%25eth0]/",
        "http://exa mple.com/",
        "http://a..b.com/",
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://1.2.3.4.5/",
        "http://foo.123/",
        "gopher://example.com/",
        "",
        "http://\xff\xfe.com/",
        "http://[::1/",
        "http://exa%00mple.com/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cap_http_url u;
        char why[200] = "";
        cap_status st = cap_http_url_parse(bad[i], &u, why, sizeof why);
        if (st != CAP_ERR_INVALID) {
            fail_msg("accepted %s (host %s)", bad[i], st == CAP_OK ? u.host : "?");
        }
        assert_true(why[0] != '\0');
        assert_null(u.url);
    }
}

static void
test_http_match_star(void **state)
{
    (void)state;
    assert_int_equal(match("*", "https://api.example.com/"), COVERED);
    assert_int_equal(match("*", "http://localhost:8080/"), COVERED);
    // "*" never covers IP literals, however they are spelled.
    assert_int_equal(match("*", "http://10.0.0.1/"), NONE);
    assert_int_equal(match("*", "http://2130706433/"), NONE);
    assert_int_equal(match("*", "http://[::1]/"), NONE);
    assert_int_equal(match("*", "http://[::ffff:127.0.0.1]/"), NONE);
}

static void
test_http_match_exact_and_bare_domain(void **state)
{
    (void)state;
    assert_int_equal(match("api.example.com", "https://api.example.com/x"), EXPLICIT);
    assert_int_equal(match("api.example.com", "https://API.Example.COM./x"), EXPLICIT);
    assert_int_equal(match("api.example.com", "https://example.com/"), NONE);
    assert_int_equal(match("api.example.com", "https://evilapi.example.com/"), NONE);
    assert_int_equal(match("api.example.com", "https://api.example.com.evil.com/"), NONE);
    // A bare domain covers its subdomains, at a label boundary only.
    assert_int_equal(match("example.com", "https://example.com/"), EXPLICIT);
    assert_int_equal(match("example.com", "https://a.example.com/"), COVERED);
    assert_int_equal(match("example.com", "https://a.b.example.com/"), COVERED);
    assert_int_equal(match("example.com", "https://notexample.com/"), NONE);
    assert_int_equal(match("example.com", "https://example.com.evil.com/"), NONE);
    assert_int_equal(match("example.com", "https://user@evil.com/"), NONE);
    assert_int_equal(match("example.com", "https://example.com@evil.com/"), NONE);
    // Patterns tolerate case (policies store them normalised anyway).
    assert_int_equal(match("Example.COM", "https://example.com/"), EXPLICIT);
}

static void
test_http_match_one_label_wildcard(void **state)
{
    (void)state;
    assert_int_equal(match("*.example.com", "https://api.example.com/"), COVERED);
    assert_int_equal(match("*.example.com", "https://example.com/"), NONE);
    assert_int_equal(match("*.example.com", "https://a.b.example.com/"), NONE);
    assert_int_equal(match("*.example.com", "https://xexample.com/"), NONE);
}

static void
test_http_match_ports(void **state)
{
    (void)state;
    assert_int_equal(match("example.com", "https://example.com:8443/"), EXPLICIT);
    assert_int_equal(match("example.com:8443", "https://example.com:8443/"), EXPLICIT);
    assert_int_equal(match("example.com:8443", "https://example.com/"), NONE);
    assert_int_equal(match("example.com:443", "https://example.com/"), EXPLICIT);
    assert_int_equal(match("example.com:443", "http://example.com/"), NONE);
    assert_int_equal(match("*.example.com:80", "http://a.example.com/"), COVERED);
    assert_int_equal(match("[::1]:8080", "http://[::1]:8080/"), EXPLICIT);
    assert_int_equal(match("[::1]:8080", "http://[::1]/"), NONE);
    assert_int_equal(match("127.0.0.1:80", "http://127.0.0.1/"), EXPLICIT);
}

static void
test_http_match_ip_literals(void **state)
{
    (void)state;
    assert_int_equal(match("127.0.0.1", "http://127.0.0.1/"), EXPLICIT);
    assert_int_equal(match("127.0.0.1", "http://0x7f.1/"), EXPLICIT);
    assert_int_equal(match("127.0.0.1", "http://2130706433/"), EXPLICIT);
    assert_int_equal(match("127.0.0.1", "http://localhost/"), NONE);
    assert_int_equal(match("127.0.0.1", "http://[::ffff:127.0.0.1]/"), NONE);
    assert_int_equal(match("[::1]", "http://[0::1]/"), EXPLICIT);
    assert_int_equal(match("[::1]", "http://127.0.0.1/"), NONE);
    assert_int_equal(match("localhost", "http://127.0.0.1/"), NONE);
    // A name pattern never matches an IP literal, even one that looks like its suffix.
    assert_int_equal(match("0.1", "http://127.0.0.1/"), NONE);
}

static void
test_http_match_lists(void **state)
{
    (void)state;
    cap_http_url u;
    assert_int_equal(cap_http_url_parse("https://api.example.com/", &u, NULL, 0), CAP_OK);
    const char *none[] = {NULL};
    assert_int_equal(cap_http_hosts_match(none, 0, &u), NONE); // empty list: no network
    const char *some[] = {"*", "other.com", "api.example.com"};
    assert_int_equal(cap_http_hosts_match(some, 3, &u), EXPLICIT);
    const char *star[] = {"*", "other.com"};
    assert_int_equal(cap_http_hosts_match(star, 2, &u), COVERED);
    const char *bad[] = {"", "*.", "[::1", "a:b:c", "x:0", "x:99999"};
    assert_int_equal(cap_http_hosts_match(bad, 6, &u), NONE);
    cap_http_url_clear(&u);
}

static void
test_http_header_checks(void **state)
{
    (void)state;
    assert_null(cap_http_header_ok("Content-Type", "text/plain", 10));
    assert_null(cap_http_header_ok("x-empty", "", 0));
    assert_null(cap_http_header_ok("Authorization", "Bearer x", 8));
    assert_non_null(cap_http_header_ok("Host", "evil", 4));
    assert_non_null(cap_http_header_ok("HOST", "evil", 4));
    assert_non_null(cap_http_header_ok("content-length", "1", 1));
    assert_non_null(cap_http_header_ok("Transfer-Encoding", "chunked", 7));
    assert_non_null(cap_http_header_ok("bad name", "v", 1));
    assert_non_null(cap_http_header_ok("", "v", 1));
    assert_non_null(cap_http_header_ok("x-a", "b\r\nInjected: 1", 15));
    assert_non_null(cap_http_header_ok("x-a", "b\0c", 3));
    assert_null(cap_http_method_ok("GET"));
    assert_null(cap_http_method_ok("PROPFIND"));
    assert_non_null(cap_http_method_ok("CONNECT"));
    assert_non_null(cap_http_method_ok("connect"));
    assert_non_null(cap_http_method_ok("GE T"));
    assert_non_null(cap_http_method_ok(""));
    assert_non_null(cap_http_method_ok("G\r\nX"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_url_normalises_host),
        cmocka_unit_test(test_http_url_rejects_bad_urls),
        cmocka_unit_test(test_http_match_star),
        cmocka_unit_test(test_http_match_exact_and_bare_domain),
        cmocka_unit_test(test_http_match_one_label_wildcard),
        cmocka_unit_test(test_http_match_ports),
        cmocka_unit_test(test_http_match_ip_literals),
        cmocka_unit_test(test_http_match_lists),
        cmocka_unit_test(test_http_header_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
