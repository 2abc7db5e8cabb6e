/* SPDX-License-Identifier: Apache-2.0 */
/* The host-mediated HTTP client: the only way a guest reaches the network. URLs are parsed with
 * libcurl's URL API and matched against the task's allowed_hosts on their real host; every
 * address libcurl is about to connect to is classified (the SSRF guard); redirects are followed
 * by hand so that every hop is checked again. http_abi.c puts it behind the guest ABI. */
#ifndef CAP_RUNTIME_HTTP_H
#define CAP_RUNTIME_HTTP_H

#include "capsule.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of one request (the ABI may lower some per request, never raise them). */
#define CAP_HTTP_MAX_URL           8192u
#define CAP_HTTP_MAX_HEADERS       100u         // request headers, and response headers kept
#define CAP_HTTP_MAX_HEADER_BYTES  (256u << 10) // response headers of one hop
#define CAP_HTTP_MAX_BODY          (64u << 20)  // response body (decoded)
#define CAP_HTTP_DEFAULT_BODY      (16u << 20)
#define CAP_HTTP_MAX_REQUEST_BODY  (64u << 20)
#define CAP_HTTP_DEFAULT_TIMEOUT   30000u // ms, per request (all hops together)
#define CAP_HTTP_DEFAULT_REDIRECTS 10u
#define CAP_HTTP_MAX_REDIRECTS     20u
#define CAP_HTTP_MAX_REQUESTS      1000u // per task (every hop of every attempt counts)

/* How a request ended. The names are the stable error_type strings guests see. */
// clang-format off
#define CAP_HTTP_OUTCOME_MAP(X)                                                             \
    X(OK,            "ok")            /* a response arrived (any status code) */          \
    X(DENIED,        "denied")        /* the host or the address it resolves to is not granted */ \
    X(INVALID_URL,   "invalid_url")   /* not an absolute http(s) URL with a valid host */  \
    X(NETWORK_ERROR, "network_error") /* DNS, connect, TLS, protocol or redirect failure */ \
    X(TIMEOUT,       "timeout")       /* the request's own timeout passed */               \
    X(TOO_LARGE,     "too_large")     /* the response exceeded the body or header cap */   \
    X(INTERRUPTED,   "interrupted")   /* the task's deadline passed (or it was interrupted) */
// clang-format on

typedef enum cap_http_outcome {
#define CAP_X(name, str) CAP_HTTP_##name,
    CAP_HTTP_OUTCOME_MAP(CAP_X)
#undef CAP_X
} cap_http_outcome;

/* The stable name of an outcome ("denied", ...). */
const char *cap_http_outcome_name(cap_http_outcome o);

/* ---- URLs (http_match.c) ---- */

/* A parsed, normalised URL. */
typedef struct cap_http_url {
    char *url;      // the URL to request (normalised host, no fragment); cap_alloc'd
    char *shown;    // the URL for records and messages (no user or password); cap_alloc'd
    char host[256]; // lowercase ASCII (IDN as punycode), no trailing dot; IPv6 as "[canonical]"
    unsigned port;  // the effective port (the scheme's default when the URL names none)
    bool https;
    bool is_ip; // the host is an IP literal
    int family; // AF_INET or AF_INET6 when is_ip
    uint8_t addr[16];
} cap_http_url;

/* Parses an absolute http or https URL with libcurl's URL API (so the host is the one libcurl
 * will connect to: "0x7f.1" and "2130706433" are 127.0.0.1), folds case, converts an
 * internationalised name to punycode (IDNA 2008, non-transitional) and drops a trailing dot.
 * Returns CAP_OK; CAP_ERR_INVALID with a reason in `why` (shown to the guest) for a URL that is
 * not acceptable; CAP_ERR_NOMEM. Free with cap_http_url_clear. */
cap_status cap_http_url_parse(const char *url, cap_http_url *out, char *why, size_t why_size);
void cap_http_url_clear(cap_http_url *u);

/* ---- allowed_hosts (http_match.c) ----
 * Patterns are the normalised forms of cap_policy_parse_host: "*", "api.example.com",
 * "example.com" (also its subdomains), "*.example.com" (exactly one more label), "1.2.3.4",
 * "[::1]", each optionally with ":PORT". */

typedef enum cap_http_match {
    CAP_HTTP_MATCH_NONE = 0,
    CAP_HTTP_MATCH_COVERED,  // allowed, through "*", a parent domain or a "*." pattern
    CAP_HTTP_MATCH_EXPLICIT, // allowed, and the host itself (name or IP literal) is listed
} cap_http_match;

/* How one pattern matches a URL's host and effective port. "*" never matches an IP literal. */
cap_http_match cap_http_pattern_match(const char *pattern, const cap_http_url *u);
/* The best match over a list (an empty list matches nothing). */
cap_http_match cap_http_hosts_match(const char *const *patterns, size_t n, const cap_http_url *u);

/* ---- the SSRF guard (http_match.c) ---- */

// clang-format off
#define CAP_ADDR_CLASS_MAP(X)                                                             \
    X(PUBLIC,      "public")      /* a global unicast address */                          \
    X(LOOPBACK,    "loopback")    /* 127.0.0.0/8, ::1 */                                  \
    X(PRIVATE,     "private")     /* 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10 */ \
    X(LINK_LOCAL,  "link-local")  /* 169.254/16 (cloud metadata), fe80::/10 */            \
    X(MULTICAST,   "multicast")   /* 224/4, ff00::/8 */                                   \
    X(UNSPECIFIED, "unspecified") /* 0.0.0.0/8, :: */                                     \
    X(RESERVED,    "reserved")    /* documentation, benchmarking, 240/4, broadcast, ... */
// clang-format on

typedef enum cap_addr_class {
#define CAP_X(name, str) CAP_ADDR_##name,
    CAP_ADDR_CLASS_MAP(CAP_X)
#undef CAP_X
} cap_addr_class;

const char *cap_addr_class_name(cap_addr_class c);

/* Classifies an address: family AF_INET (4 bytes) or AF_INET6 (16 bytes). IPv4-mapped
 * (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
 * addresses are classified by the IPv4 address they carry; Teredo (2001::/32) is reserved. */
cap_addr_class cap_addr_classify(int family, const uint8_t *addr);

/* True for addresses a host name can never grant, only a listing of the address itself:
 * link-local (169.254.169.254, the cloud metadata service), multicast, unspecified, and the
 * other metadata addresses (fd00:ec2::254, 100.100.100.200). */
bool cap_addr_needs_listing(int family, const uint8_t *addr, cap_addr_class c);

/* True when the address, in either of its forms (an IPv4-mapped IPv6 address also as IPv4),
 * is listed as an IP pattern whose port (if any) is `port`. */
bool cap_http_addr_listed(const char *const *patterns, size_t n, int family, const uint8_t *addr,
                          unsigned port);

/* ---- the client (http.c) ---- */

/* One hop (one request really sent, or refused before it was sent), for the records. */
typedef struct cap_http_hop {
    const char *method;
    const char *url;    // shown form
    long status;        // 0 when no response
    uint64_t bytes_in;  // response body bytes received (decoded)
    uint64_t bytes_out; // request body bytes sent
    uint64_t duration_ms;
    cap_http_outcome outcome;
    const char *message; // why it failed ("" when it did not)
} cap_http_hop;

typedef struct cap_http_request {
    const char *method; // a token ("GET", "POST", ...); NULL: GET
    const char *url;
    const char *const *header_names; // validated by the caller (cap_http_header_ok)
    const char *const *header_values;
    size_t nheaders;
    const uint8_t *body; // may be NULL when body_len is 0
    size_t body_len;
    bool has_body;
    uint64_t timeout_ms;        // for the whole request; the caller clips it to the task's deadline
    uint32_t max_redirects;     // 0: redirects are returned, not followed
    size_t max_body;            // response body cap (decoded bytes)
    const char *const *allowed; // allowed_hosts patterns (normalised)
    size_t nallowed;
    /* Polled during transfers: true stops the request with CAP_HTTP_INTERRUPTED. */
    bool (*interrupted)(void *user);
    /* Called once per hop, after it ended. */
    void (*on_hop)(void *user, const cap_http_hop *hop);
    void *user;
} cap_http_request;

typedef struct cap_http_response {
    cap_http_outcome outcome;
    char message[512]; // why, when outcome != OK
    long status;
    char **header_names; // lowercase; cap_alloc'd, as are the values
    char **header_values;
    size_t nheaders;
    uint8_t *body; // cap_alloc'd (NULL when empty)
    size_t body_len;
    char *url; // the final URL (shown form), cap_alloc'd
    uint32_t redirects;
    int http_version; // 10, 11, 20, 30; 0 unknown
} cap_http_response;

/* Performs a request: checks the URL against the allowed hosts, refuses connections to
 * non-public addresses unless listed explicitly, follows redirects (re-checking every hop),
 * decodes compressed bodies and caps them. Every failure of the request itself is described by
 * out->outcome and out->message, and the return value is CAP_OK; CAP_ERR_NOMEM when the host ran
 * out of memory, CAP_ERR_USAGE for a malformed cap_http_request. Clear out with
 * cap_http_response_clear in every case. Thread-safe. */
cap_status cap_http_perform(const cap_http_request *req, cap_http_response *out, cap_error_t *err);
void cap_http_response_clear(cap_http_response *r);

/* Checks a request header from a guest: a token name (not one the host controls, such as Host,
 * Content-Length or Transfer-Encoding) and a value without CR, LF or NUL. Returns NULL when it
 * is acceptable, else the reason. */
const char *cap_http_header_ok(const char *name, const char *value, size_t value_len);
/* Checks a method: a token of at most 32 characters, not CONNECT. NULL or the reason. */
const char *cap_http_method_ok(const char *method);

#endif
