/* SPDX-License-Identifier: Apache-2.0 */
/* The decisions of the HTTP client, kept free of I/O so they can be tested alone: URL parsing
 * and normalisation (libcurl's URL API, libidn2), allowed_hosts matching and the address
 * classifier of the SSRF guard. */
#include "runtime/http.h"

#include "util/alloc.h"

#include <arpa/inet.h>
#include "runtime/curl_dl.h"
#include <idn2.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
cap_http_outcome_name(cap_http_outcome o)
{
    switch (o) {
#define CAP_X(name, str)                                                                           \
    case CAP_HTTP_##name:                                                                          \
        return str;
        CAP_HTTP_OUTCOME_MAP(CAP_X)
#undef CAP_X
    }
    return "network_error";
}

const char *
cap_addr_class_name(cap_addr_class c)
{
    switch (c) {
#define CAP_X(name, str)                                                                           \
    case CAP_ADDR_##name:                                                                          \
        return str;
        CAP_ADDR_CLASS_MAP(CAP_X)
#undef CAP_X
    }
    return "reserved";
}

/* ---- URLs ---- */

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

void
cap_http_url_clear(cap_http_url *u)
{
    cap_free(u->url);
    cap_free(u->shown);
    memset(u, 0, sizeof *u);
}

/* Copies a libcurl string into cap_alloc'd memory (libcurl's own is freed). */
static char *
take_curl_str(char *s)
{
    char *copy = s ? cap_strdup(s) : NULL;
    curl_free(s);
    return copy;
}

/* Normalises a host name as libcurl returned it (percent-decoded, maybe non-ASCII) into
 * lowercase ASCII without a trailing dot. Returns a reason on failure, else NULL. */
static const char *
normalise_name(const char *raw, char *out, size_t out_size)
{
    bool ascii = true;
    for (const char *p = raw; *p; p++) {
        ascii = ascii && (unsigned char)*p < 0x80;
    }
    char *conv = NULL;
    const char *name = raw;
    if (!ascii) {
        /* IDNA 2008 with the UTS #46 mapping (case folding, NFC), in UTF-8 whatever the
         * process locale: libcurl's own conversion depends on the locale. */
        int rc = idn2_to_ascii_8z(raw, &conv, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
        if (rc != IDN2_OK) {
            rc = idn2_to_ascii_8z(raw, &conv, IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
        }
        if (rc != IDN2_OK || !conv) {
            return "the host is not a valid internationalised domain name";
        }
        name = conv;
    }
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.') {
        n--; // "example.com." is example.com
    }
    const char *why = NULL;
    if (n == 0) {
        why = "the URL has no host";
    } else if (n >= out_size || n > 253) {
        why = "the host name is too long";
    }
    for (size_t i = 0; i < n && !why; i++) {
        char c = lower(name[i]);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_')) {
            why = "the host name contains a character not allowed in host names";
        } else if (c == '.' && (i == 0 || name[i - 1] == '.')) {
            why = "the host name has an empty label";
        }
        out[i] = c;
    }
    if (!why) {
        out[n] = '\0';
    }
    if (conv) {
        idn2_free(conv);
    }
    return why;
}

cap_status
cap_http_url_parse(const char *url, cap_http_url *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    const char *reason = NULL;
    cap_status st = CAP_OK;
    char *scheme = NULL, *host = NULL, *zone = NULL, *port = NULL;
    CURLU *h = curl_url();
    if (!h) {
        return CAP_ERR_NOMEM;
    }
    if (strlen(url) > CAP_HTTP_MAX_URL) {
        reason = "the URL is too long";
        goto done;
    }
    CURLUcode rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        st = CAP_ERR_NOMEM;
        goto done;
    }
    if (rc != CURLUE_OK) {
        reason = curl_url_strerror(rc);
        goto done;
    }
    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || !scheme) {
        reason = "the URL has no scheme";
        goto done;
    }
    if (strcmp(scheme, "http") == 0) {
        out->https = false;
    } else if (strcmp(scheme, "https") == 0) {
        out->https = true;
    } else {
        reason = "only http and https URLs are supported";
        goto done;
    }
    if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !host[0]) {
        reason = "the URL has no host";
        goto done;
    }
    if (curl_url_get(h, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK && zone) {
        reason = "IPv6 zone identifiers are not allowed";
        goto done;
    }
    if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK || !port) {
        reason = "the URL has no valid port";
        goto done;
    }
    out->port = (unsigned)strtoul(port, NULL, 10);
    if (out->port == 0 || out->port > 65535) {
        reason = "the URL has no valid port";
        goto done;
    }
    /* libcurl has already normalised numeric IPv4 forms ("0x7f.1", "2130706433") to dotted
     * quads, so an IP literal is recognised whatever its spelling. */
    if (host[0] == '[') {
        size_t n = strlen(host);
        char inner[INET6_ADDRSTRLEN + 8];
        struct in6_addr a6;
        if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof inner) {
            reason = "not a valid IPv6 address";
            goto done;
        }
        memcpy(inner, host + 1, n - 2);
        inner[n - 2] = '\0';
        if (inet_pton(AF_INET6, inner, &a6) != 1) {
            reason = "not a valid IPv6 address";
            goto done;
        }
        char canon[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a6, canon, sizeof canon);
        snprintf(out->host, sizeof out->host, "[%s]", canon);
        out->is_ip = true;
        out->family = AF_INET6;
        memcpy(out->addr, &a6, 16);
    } else {
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) == 1) {
            inet_ntop(AF_INET, &a4, out->host, sizeof out->host);
            out->is_ip = true;
            out->family = AF_INET;
            memcpy(out->addr, &a4, 4);
        } else if ((reason = normalise_name(host, out->host, sizeof out->host)) != NULL) {
            goto done;
        } else {
            /* A name whose last label is numeric would be read as an address by some
             * resolvers: refuse it rather than guess. */
            const char *last = strrchr(out->host, '.');
            last = last ? last + 1 : out->host;
            bool numeric = true;
            for (const char *c = last; *c; c++) {
                numeric = numeric && *c >= '0' && *c <= '9';
            }
            if (numeric) {
                reason = "not a valid host name or IPv4 address";
                goto done;
            }
        }
    }
    /* What is requested is exactly what was matched: the normalised host goes back in. */
    rc = curl_url_set(h, CURLUPART_HOST, out->host, 0);
    if (rc == CURLUE_OK) {
        rc = curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0);
    }
    char *s = NULL;
    if (rc == CURLUE_OK) {
        rc = curl_url_get(h, CURLUPART_URL, &s, 0);
    }
    if (rc != CURLUE_OK) {
        st = rc == CURLUE_OUT_OF_MEMORY ? CAP_ERR_NOMEM : CAP_OK;
        reason = st == CAP_OK ? curl_url_strerror(rc) : NULL;
        goto done;
    }
    out->url = take_curl_str(s);
    rc = curl_url_set(h, CURLUPART_USER, NULL, 0);
    if (rc == CURLUE_OK) {
        rc = curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
    }
    s = NULL;
    if (rc == CURLUE_OK) {
        rc = curl_url_get(h, CURLUPART_URL, &s, 0);
    }
    out->shown = rc == CURLUE_OK ? take_curl_str(s) : NULL;
    if (!out->url || !out->shown) {
        st = CAP_ERR_NOMEM;
    }
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(zone);
    curl_free(port);
    curl_url_cleanup(h);
    if (reason && st == CAP_OK) {
        st = CAP_ERR_INVALID;
        if (why && why_size) {
            snprintf(why, why_size, "%s", reason);
        }
    }
    if (st != CAP_OK) {
        cap_http_url_clear(out);
    }
    return st;
}

/* ---- allowed_hosts ---- */

typedef struct pat {
    enum { P_ANY, P_NAME, P_SUB, P_IP } kind;
    char name[260];
    unsigned port; // 0 = any
    int family;
    uint8_t addr[16];
} pat;

/* Reads a pattern in cap_policy_parse_host's normalised form (tolerating upper case). */
static bool
pat_parse(const char *s, pat *p)
{
    memset(p, 0, sizeof *p);
    size_t n = strlen(s);
    char buf[300];
    if (n == 0 || n >= sizeof buf) {
        return false;
    }
    for (size_t i = 0; i <= n; i++) {
        buf[i] = lower(s[i]);
    }
    if (strcmp(buf, "*") == 0) {
        p->kind = P_ANY;
        return true;
    }
    char *host = buf, *port = NULL;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close) {
            return false;
        }
        *close = '\0';
        host = buf + 1;
        if (close[1] == ':') {
            port = close + 2;
        } else if (close[1]) {
            return false;
        }
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            return false;
        }
        p->kind = P_IP;
        p->family = AF_INET6;
        memcpy(p->addr, &a6, 16);
    } else {
        char *colon = strrchr(buf, ':');
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) == 1) {
            p->kind = P_IP;
            p->family = AF_INET;
            memcpy(p->addr, &a4, 4);
        } else {
            if (strncmp(host, "*.", 2) == 0) {
                p->kind = P_SUB;
                host += 2;
            } else {
                p->kind = P_NAME;
            }
            size_t hl = strlen(host);
            if (hl > 0 && host[hl - 1] == '.') {
                host[--hl] = '\0';
            }
            if (hl == 0 || hl >= sizeof p->name || strchr(host, '*')) {
                return false;
            }
            memcpy(p->name, host, hl + 1);
        }
    }
    if (port) {
        char *end;
        unsigned long v = strtoul(port, &end, 10);
        if (!*port || *end || v == 0 || v > 65535) {
            return false;
        }
        p->port = (unsigned)v;
    }
    return true;
}

static bool
same_addr(int fa, const uint8_t *a, int fb, const uint8_t *b)
{
    return fa == fb && memcmp(a, b, fa == AF_INET ? 4 : 16) == 0;
}

cap_http_match
cap_http_pattern_match(const char *pattern, const cap_http_url *u)
{
    pat p;
    if (!pat_parse(pattern, &p)) {
        return CAP_HTTP_MATCH_NONE;
    }
    if (p.port && p.port != u->port) {
        return CAP_HTTP_MATCH_NONE;
    }
    switch (p.kind) {
    case P_ANY:
        // "*" is any host name; IP literals must be listed as such.
        return u->is_ip ? CAP_HTTP_MATCH_NONE : CAP_HTTP_MATCH_COVERED;
    case P_IP:
        return u->is_ip && same_addr(p.family, p.addr, u->family, u->addr) ? CAP_HTTP_MATCH_EXPLICIT
                                                                           : CAP_HTTP_MATCH_NONE;
    case P_NAME: {
        if (u->is_ip) {
            return CAP_HTTP_MATCH_NONE;
        }
        size_t h = strlen(u->host), d = strlen(p.name);
        if (h == d) {
            return strcmp(u->host, p.name) == 0 ? CAP_HTTP_MATCH_EXPLICIT : CAP_HTTP_MATCH_NONE;
        }
        // A bare domain also allows its subdomains (at a label boundary).
        return h > d && u->host[h - d - 1] == '.' && strcmp(u->host + h - d, p.name) == 0
                   ? CAP_HTTP_MATCH_COVERED
                   : CAP_HTTP_MATCH_NONE;
    }
    case P_SUB: {
        // "*.example.com": exactly one more (non-empty) label.
        if (u->is_ip) {
            return CAP_HTTP_MATCH_NONE;
        }
        const char *dot = strchr(u->host, '.');
        return dot && dot != u->host && strcmp(dot + 1, p.name) == 0 ? CAP_HTTP_MATCH_COVERED
                                                                     : CAP_HTTP_MATCH_NONE;
    }
    }
    return CAP_HTTP_MATCH_NONE;
}

cap_http_match
cap_http_hosts_match(const char *const *patterns, size_t n, const cap_http_url *u)
{
    cap_http_match best = CAP_HTTP_MATCH_NONE;
    for (size_t i = 0; i < n; i++) {
        cap_http_match m = cap_http_pattern_match(patterns[i], u);
        if (m > best) {
            best = m;
        }
    }
    return best;
}

/* ---- the SSRF guard ---- */

static bool
in4(const uint8_t *a, uint8_t b0, uint8_t b1, unsigned bits)
{
    uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    uint32_t net = (uint32_t)b0 << 24 | (uint32_t)b1 << 16;
    uint32_t mask = bits == 0 ? 0 : ~(uint32_t)0 << (32 - bits);
    return (v & mask) == (net & mask);
}

static cap_addr_class
classify4(const uint8_t *a)
{
    if (in4(a, 0, 0, 8)) {
        return CAP_ADDR_UNSPECIFIED; // "this network"; 0.0.0.0 reaches the local host
    }
    if (in4(a, 127, 0, 8)) {
        return CAP_ADDR_LOOPBACK;
    }
    if (in4(a, 10, 0, 8) || in4(a, 172, 16, 12) || in4(a, 192, 168, 16) ||
        in4(a, 100, 64, 10)) { // 100.64/10: carrier-grade NAT (and Alibaba's metadata service)
        return CAP_ADDR_PRIVATE;
    }
    if (in4(a, 169, 254, 16)) {
        return CAP_ADDR_LINK_LOCAL; // includes the cloud metadata address 169.254.169.254
    }
    if (in4(a, 224, 0, 4)) {
        return CAP_ADDR_MULTICAST;
    }
    /* IETF protocol assignments (192.0.0/24), documentation (192.0.2/24, 198.51.100/24,
     * 203.0.113/24), benchmarking (198.18/15), 6to4 relay anycast (192.88.99/24), reserved
     * 240/4 and the broadcast address. */
    if ((in4(a, 192, 0, 16) && (a[2] == 0 || a[2] == 2)) || (in4(a, 198, 51, 16) && a[2] == 100) ||
        (in4(a, 203, 0, 16) && a[2] == 113) || in4(a, 198, 18, 15) ||
        (in4(a, 192, 88, 16) && a[2] == 99) || in4(a, 240, 0, 4)) {
        return CAP_ADDR_RESERVED;
    }
    return CAP_ADDR_PUBLIC;
}

static bool
zero(const uint8_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i]) {
            return false;
        }
    }
    return true;
}

cap_addr_class
cap_addr_classify(int family, const uint8_t *a)
{
    if (family == AF_INET) {
        return classify4(a);
    }
    if (family != AF_INET6) {
        return CAP_ADDR_RESERVED;
    }
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (zero(a, 16)) {
        return CAP_ADDR_UNSPECIFIED;
    }
    if (zero(a, 15) && a[15] == 1) {
        return CAP_ADDR_LOOPBACK;
    }
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
        return classify4(a + 12); // the IPv4 address it stands for
    }
    if (zero(a, 12)) {
        return classify4(a + 12); // deprecated IPv4-compatible form ::a.b.c.d
    }
    if (a[0] == 0x20 && a[1] == 0x02) {
        return classify4(a + 2); // 6to4: 2002:aabb:ccdd::/48 carries a.b.c.d
    }
    if ((a[0] & 0xfe) == 0xfc) {
        return CAP_ADDR_PRIVATE; // fc00::/7 unique local, includes fd00:ec2::254 (metadata)
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
        return CAP_ADDR_LINK_LOCAL; // fe80::/10
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) {
        return CAP_ADDR_PRIVATE; // fec0::/10, deprecated site-local
    }
    if (a[0] == 0xff) {
        return CAP_ADDR_MULTICAST;
    }
    if ((a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) || // documentation
        (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) ||       // Teredo
        (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) ||    // local NAT64
        (a[0] == 0x01 && a[1] == 0 && zero(a + 2, 6)) ||                  // discard 100::/64
        (a[0] & 0xe0) != 0x20) { // outside 2000::/3, the global unicast space
        return CAP_ADDR_RESERVED;
    }
    return CAP_ADDR_PUBLIC;
}

bool
cap_addr_needs_listing(int family, const uint8_t *a, cap_addr_class c)
{
    static const uint8_t ec2_v6[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0, // fd00:ec2::254
                                       0,    0,    0,    0,    0, 0, 0x02, 0x54};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (c == CAP_ADDR_LINK_LOCAL || c == CAP_ADDR_MULTICAST || c == CAP_ADDR_UNSPECIFIED) {
        return true; // 169.254.169.254 and friends, and no host name needs the others
    }
    if (family == AF_INET6 && memcmp(a, ec2_v6, 16) == 0) {
        return true; // AWS's metadata service over IPv6
    }
    const uint8_t *v4 = family == AF_INET                              ? a
                        : family == AF_INET6 && !memcmp(a, mapped, 12) ? a + 12
                                                                       : NULL;
    return v4 && v4[0] == 100 && v4[1] == 100 && v4[2] == 100 && v4[3] == 200; // Alibaba's
}

bool
cap_http_addr_listed(const char *const *patterns, size_t n, int family, const uint8_t *addr,
                     unsigned port)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool is_mapped = family == AF_INET6 && memcmp(addr, mapped, 12) == 0;
    for (size_t i = 0; i < n; i++) {
        pat p;
        if (!pat_parse(patterns[i], &p) || p.kind != P_IP || (p.port && p.port != port)) {
            continue;
        }
        if (same_addr(p.family, p.addr, family, addr) ||
            (is_mapped && same_addr(p.family, p.addr, AF_INET, addr + 12))) {
            return true;
        }
    }
    return false;
}
