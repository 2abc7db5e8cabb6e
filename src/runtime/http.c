/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP client behind the guest ABI, on libcurl: one easy handle per hop, redirects followed
 * here (never by libcurl) so each hop is matched against allowed_hosts again, and an
 * open-socket hook that classifies the very address libcurl is about to connect to, so a DNS
 * answer cannot change between the check and the connection. */
#include "runtime/http.h"

#include "runtime/rt.h"
#include "util/alloc.h"

#include <arpa/inet.h>
#include "runtime/curl_dl.h"
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* libcurl's global state is set up once per process and never torn down (other threads may
 * still be using it). libcurl keeps its own allocations on the system allocator: they are not
 * a task's, and fault injection in tests must not fail them at random. */
static void
global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *
cap_http_method_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 32) {
        return "the method must be 1 to 32 characters";
    }
    for (size_t i = 0; i < n; i++) {
        char c = m[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c))) {
            return "the method is not an HTTP token";
        }
    }
    if (cap_rt_ieq(m, "CONNECT")) {
        return "CONNECT is not allowed";
    }
    return NULL;
}

const char *
cap_http_header_ok(const char *name, const char *value, size_t value_len)
{
    /* Headers that decide framing, routing or the connection belong to the host: a guest
     * setting them could smuggle requests or address a different virtual host. */
    static const char *const reserved[] = {"host",
                                           "content-length",
                                           "transfer-encoding",
                                           "connection",
                                           "keep-alive",
                                           "upgrade",
                                           "te",
                                           "trailer",
                                           "proxy-connection",
                                           "proxy-authorization",
                                           "expect",
                                           "http2-settings",
                                           NULL};
    size_t n = strlen(name);
    if (n == 0 || n > 256) {
        return "a header name must be 1 to 256 characters";
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c))) {
            return "a header name must be an HTTP token";
        }
    }
    for (size_t i = 0; reserved[i]; i++) {
        if (cap_rt_ieq(name, reserved[i])) {
            return "this header is set by the host";
        }
    }
    if (value_len > 8192) {
        return "a header value may be at most 8192 bytes";
    }
    for (size_t i = 0; i < value_len; i++) {
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') {
            return "a header value may not contain CR, LF or NUL";
        }
    }
    return NULL;
}

void
cap_http_response_clear(cap_http_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        cap_free(r->header_names[i]);
        cap_free(r->header_values[i]);
    }
    cap_free(r->header_names);
    cap_free(r->header_values);
    cap_free(r->body);
    cap_free(r->url);
    memset(r, 0, sizeof *r);
}

/* The state of one hop. */
typedef struct hop {
    const cap_http_request *req;
    const cap_http_url *url;
    bool explicit_host; // the URL's host is listed by name (or as the IP literal it is)
    /* The SSRF guard's verdict on a refused address, for the message. */
    bool refused;
    char refused_addr[INET6_ADDRSTRLEN];
    cap_addr_class refused_class;
    bool refused_by_address_only; // a host name cannot grant it (metadata, link-local)
    /* The response of this hop. */
    uint8_t *body;
    size_t body_len, body_cap;
    bool too_large;
    char **hn, **hv;
    size_t nh;
    size_t header_bytes;
    bool headers_too_large;
    bool oom;
    bool interrupted;
} hop;

static void
hop_clear_headers(hop *h)
{
    for (size_t i = 0; i < h->nh; i++) {
        cap_free(h->hn[i]);
        cap_free(h->hv[i]);
    }
    h->nh = 0;
    h->header_bytes = 0;
}

static void
hop_free(hop *h)
{
    hop_clear_headers(h);
    cap_free(h->hn);
    cap_free(h->hv);
    cap_free(h->body);
    h->hn = h->hv = NULL;
    h->body = NULL;
    h->body_len = h->body_cap = 0;
}

/* libcurl asks for a socket to connect to `a`: the last moment before the connection, with the
 * address that will really be used. Non-public addresses are refused unless listed. */
static curl_socket_t
open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    hop *h = user;
    (void)purpose;
    int family = a->family;
    const uint8_t *bytes = NULL;
    if (family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in)) {
        bytes = (const uint8_t *)&((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr;
    } else if (family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6)) {
        bytes = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr;
    }
    if (!bytes) {
        h->refused = true; // no Unix sockets or other families
        snprintf(h->refused_addr, sizeof h->refused_addr, "(family %d)", family);
        h->refused_class = CAP_ADDR_RESERVED;
        return CURL_SOCKET_BAD;
    }
    /* A non-public address needs its host name listed exactly, or itself listed; metadata
     * and link-local addresses need the address itself. */
    cap_addr_class c = cap_addr_classify(family, bytes);
    bool by_name = h->explicit_host && !cap_addr_needs_listing(family, bytes, c);
    if (c != CAP_ADDR_PUBLIC && !by_name &&
        !cap_http_addr_listed(h->req->allowed, h->req->nallowed, family, bytes, h->url->port)) {
        if (!h->refused) {
            h->refused = true;
            inet_ntop(family, bytes, h->refused_addr, sizeof h->refused_addr);
            h->refused_class = c;
            h->refused_by_address_only = cap_addr_needs_listing(family, bytes, c);
        }
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *user)
{
    hop *h = user;
    size_t n = size * nmemb;
    if (n > h->req->max_body - h->body_len) {
        h->too_large = true;
        return 0; // stops the transfer: CURLE_WRITE_ERROR
    }
    if (h->body_len + n > h->body_cap) {
        size_t cap = h->body_cap ? h->body_cap : 16384;
        while (cap < h->body_len + n) {
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        }
        if (cap > h->req->max_body) {
            cap = h->req->max_body;
        }
        uint8_t *p = cap_realloc(h->body, cap);
        if (!p) {
            h->oom = true;
            return 0;
        }
        h->body = p;
        h->body_cap = cap;
    }
    memcpy(h->body + h->body_len, data, n);
    h->body_len += n;
    return n;
}

static char *
dup_trimmed(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        n--;
    }
    return cap_strndup(s, n);
}

/* One header line of the response. A status line starts a new header block (interim 1xx
 * responses come first), so only the final response's headers remain. */
static size_t
on_header(char *data, size_t size, size_t nmemb, void *user)
{
    hop *h = user;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        hop_clear_headers(h);
        return n;
    }
    h->header_bytes += n;
    if (h->header_bytes > CAP_HTTP_MAX_HEADER_BYTES || h->nh >= CAP_HTTP_MAX_HEADERS) {
        h->headers_too_large = true;
        return 0;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || colon == data) {
        return n; // the blank line ending the block, or a folded line (dropped)
    }
    if (!h->hn) {
        h->hn = cap_calloc(CAP_HTTP_MAX_HEADERS, sizeof *h->hn);
        h->hv = cap_calloc(CAP_HTTP_MAX_HEADERS, sizeof *h->hv);
        if (!h->hn || !h->hv) {
            h->oom = true;
            return 0;
        }
    }
    char *name = cap_strndup(data, (size_t)(colon - data));
    char *value = dup_trimmed(colon + 1, n - (size_t)(colon - data) - 1);
    if (!name || !value) {
        cap_free(name);
        cap_free(value);
        h->oom = true;
        return 0;
    }
    for (char *c = name; *c; c++) {
        *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
    }
    h->hn[h->nh] = name;
    h->hv[h->nh] = value;
    h->nh++;
    return n;
}

static int
on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    hop *h = user;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (h->req->interrupted && h->req->interrupted(h->req->user)) {
        h->interrupted = true;
        return 1; // CURLE_ABORTED_BY_CALLBACK
    }
    return 0;
}

static bool set_fail(cap_http_response *out, cap_http_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
set_fail(cap_http_response *out, cap_http_outcome o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out->outcome = o;
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    return false;
}

/* Header names dropped when a redirect changes the origin (they carry credentials) or turns
 * the request into a GET without a body. */
static bool
is_credential_header(const char *name)
{
    return cap_rt_ieq(name, "authorization") || cap_rt_ieq(name, "cookie") ||
           cap_rt_ieq(name, "proxy-authorization");
}

static bool
is_body_header(const char *name)
{
    return cap_rt_ieq(name, "content-type") || cap_rt_ieq(name, "content-encoding") ||
           cap_rt_ieq(name, "content-language") || cap_rt_ieq(name, "content-location");
}

/* The per-request state carried across hops. */
typedef struct flow {
    const cap_http_request *req;
    char method[40];
    bool send_body;
    bool drop_credentials;
    bool drop_body_headers;
    uint64_t deadline_ms; // monotonic
    const char *ca_bundle;
} flow;

/* Builds the header list of a hop; NULL (and *oom) when out of memory. */
static struct curl_slist *
make_headers(const flow *f, bool *oom)
{
    const cap_http_request *req = f->req;
    struct curl_slist *list = NULL;
    bool ua = false;
    /* No "Expect: 100-continue" round trip (the host does not wait for it). */
    struct curl_slist *t = curl_slist_append(list, "Expect:");
    if (!t) {
        *oom = true;
        return NULL;
    }
    list = t;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->header_names[i];
        const char *value = req->header_values[i];
        if ((f->drop_credentials && is_credential_header(name)) ||
            (f->drop_body_headers && is_body_header(name))) {
            continue;
        }
        ua = ua || cap_rt_ieq(name, "user-agent");
        size_t n = strlen(name) + strlen(value) + 3;
        char *line = cap_alloc(n);
        if (!line) {
            *oom = true;
            curl_slist_free_all(list);
            return NULL;
        }
        // "Name;" sends an empty header; "Name:" would remove it.
        snprintf(line, n, value[0] ? "%s: %s" : "%s;", name, value);
        t = curl_slist_append(list, line);
        cap_free(line);
        if (!t) {
            *oom = true;
            curl_slist_free_all(list);
            return NULL;
        }
        list = t;
    }
    if (!ua) {
        t = curl_slist_append(list, "User-Agent: capsule/" CAP_VERSION_STRING);
        if (!t) {
            *oom = true;
            curl_slist_free_all(list);
            return NULL;
        }
        list = t;
    }
    return list;
}

/* Sends one hop and fills h. Returns the libcurl code, with the status, the redirect target
 * libcurl computed (absolute; cap_alloc'd, NULL when none) and the HTTP version; on failure
 * libcurl's message in `detail`. */
static CURLcode
send_hop(const flow *f, hop *h, long *out_status, char **out_location, int *out_version,
         char *detail, size_t detail_size, bool *oom)
{
    const cap_http_request *req = f->req;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    *out_status = 0;
    *out_location = NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        *oom = true;
        return CURLE_OUT_OF_MEMORY;
    }
    headers = make_headers(f, oom);
    if (!headers) {
        goto done;
    }
    uint64_t now = cap_rt_monotonic_ms();
    long timeout = f->deadline_ms > now ? (long)(f->deadline_ms - now) : 1;
    int bad = 0;
    bad |= (int)curl_easy_setopt(c, CURLOPT_URL, h->url->url);
    bad |= (int)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= (int)curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    bad |= (int)curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    /* Never through a proxy from the environment (http_proxy, ...): the address checked must
     * be the address connected to. */
    bad |= (int)curl_easy_setopt(c, CURLOPT_PROXY, "");
    bad |= (int)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    bad |= (int)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    bad |= (int)curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    bad |= (int)curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    bad |= (int)curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); // every decoder libcurl has
    bad |= (int)curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    bad |= (int)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    bad |= (int)curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    bad |= (int)curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
    bad |= (int)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    bad |= (int)curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    bad |= (int)curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    bad |= (int)curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    bad |= (int)curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    bad |= (int)curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    bad |= (int)curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    bad |= (int)curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
    bad |= (int)curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    bad |= (int)curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (f->ca_bundle) {
        bad |= (int)curl_easy_setopt(c, CURLOPT_CAINFO, f->ca_bundle);
    }
    if (cap_rt_ieq(f->method, "HEAD")) {
        bad |= (int)curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (f->send_body) {
        bad |= (int)curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        bad |=
            (int)curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        if (strcmp(f->method, "POST") != 0) {
            bad |= (int)curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, f->method);
        }
    } else if (strcmp(f->method, "GET") != 0) {
        bad |= (int)curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, f->method);
    }
    if (bad) {
        rc = CURLE_FAILED_INIT;
        goto done;
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, out_status);
    long version = 0;
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &version);
    *out_version = version == CURL_HTTP_VERSION_1_0   ? 10
                   : version == CURL_HTTP_VERSION_1_1 ? 11
                   : version == CURL_HTTP_VERSION_2_0 ? 20
                   : version == CURL_HTTP_VERSION_3   ? 30
                                                      : 0;
    if (rc == CURLE_OK) {
        char *loc = NULL;
        if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
            *out_location = cap_strdup(loc);
            if (!*out_location) {
                *oom = true;
            }
        }
    }
    if (rc != CURLE_OK) {
        size_t n = strlen(errbuf);
        while (n && errbuf[n - 1] == '\n') {
            errbuf[--n] = '\0';
        }
        snprintf(detail, detail_size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
done:
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc == CURLE_OUT_OF_MEMORY) {
        *oom = true;
    }
    return rc;
}

/* Turns a failed hop into the request's outcome. `detail` is libcurl's message (may be NULL). */
static void
hop_failure(const flow *f, const hop *h, CURLcode rc, const char *detail, cap_http_response *out)
{
    const char *d = detail && detail[0] ? detail : curl_easy_strerror(rc);
    if (h->interrupted) {
        set_fail(out, CAP_HTTP_INTERRUPTED, "interrupted: the task's deadline passed");
    } else if (h->refused) {
        set_fail(out, CAP_HTTP_DENIED,
                 "denied: %s resolves to %s, a %s address; list %s in allowed_hosts to reach it",
                 h->url->host, h->refused_addr, cap_addr_class_name(h->refused_class),
                 h->refused_by_address_only ? "the address itself"
                                            : "the host name or the address");
    } else if (h->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        set_fail(out, CAP_HTTP_TOO_LARGE, "too_large: the response body exceeds %zu bytes",
                 f->req->max_body);
    } else if (h->headers_too_large) {
        set_fail(out, CAP_HTTP_TOO_LARGE,
                 "too_large: the response headers exceed %u bytes or %u headers",
                 CAP_HTTP_MAX_HEADER_BYTES, CAP_HTTP_MAX_HEADERS);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        set_fail(out, CAP_HTTP_TIMEOUT, "timeout: no complete response within %llu ms",
                 (unsigned long long)f->req->timeout_ms);
    } else if (rc == CURLE_URL_MALFORMAT) {
        set_fail(out, CAP_HTTP_INVALID_URL, "invalid_url: %s", d);
    } else {
        set_fail(out, CAP_HTTP_NETWORK_ERROR, "network_error: %s", d);
    }
}

static void
record(const flow *f, const char *method, const char *url, long status, uint64_t in, uint64_t sent,
       uint64_t t0, cap_http_outcome o, const char *message)
{
    if (!f->req->on_hop) {
        return;
    }
    cap_http_hop rec = {
        .method = method,
        .url = url,
        .status = status,
        .bytes_in = in,
        .bytes_out = sent,
        .duration_ms = cap_rt_monotonic_ms() - t0,
        .outcome = o,
        .message = message ? message : "",
    };
    f->req->on_hop(f->req->user, &rec);
}

static bool
same_origin(const cap_http_url *a, const cap_http_url *b)
{
    return a->https == b->https && a->port == b->port && strcmp(a->host, b->host) == 0;
}

cap_status
cap_http_perform(const cap_http_request *req, cap_http_response *out, cap_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!req || !req->url || (req->body_len && !req->body)) {
        return cap_rt_fail(err, CAP_ERR_USAGE, "cap_http_perform: malformed request");
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        set_fail(out, CAP_HTTP_NETWORK_ERROR, "network_error: libcurl could not start: %s",
                 curl_easy_strerror(global_rc));
        return CAP_OK;
    }
    flow f;
    memset(&f, 0, sizeof f);
    f.req = req;
    snprintf(f.method, sizeof f.method, "%s", req->method ? req->method : "GET");
    f.send_body = req->has_body || req->body_len > 0;
    uint64_t t0 = cap_rt_monotonic_ms();
    f.deadline_ms = t0 + (req->timeout_ms ? req->timeout_ms : CAP_HTTP_DEFAULT_TIMEOUT);
    /* The operator (never the guest) may name another CA bundle, e.g. a test's own CA. */
    f.ca_bundle = getenv("CAPSULE_CA_BUNDLE");
    if (f.ca_bundle && !f.ca_bundle[0]) {
        f.ca_bundle = NULL;
    }

    cap_status st = CAP_OK;
    cap_http_url cur, next;
    memset(&cur, 0, sizeof cur);
    memset(&next, 0, sizeof next);
    char why[200];
    const char *shown = req->url;
    cap_status pst = cap_http_url_parse(req->url, &cur, why, sizeof why);
    if (pst == CAP_ERR_NOMEM) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    if (pst != CAP_OK) {
        set_fail(out, CAP_HTTP_INVALID_URL, "invalid_url: %s", why);
        record(&f, f.method, shown, 0, 0, 0, t0, out->outcome, out->message);
        return CAP_OK;
    }
    for (uint32_t redirects = 0;; redirects++) {
        uint64_t ht0 = cap_rt_monotonic_ms();
        cap_http_match m = cap_http_hosts_match(req->allowed, req->nallowed, &cur);
        if (m == CAP_HTTP_MATCH_NONE) {
            if (req->nallowed == 0) {
                set_fail(out, CAP_HTTP_DENIED,
                         "denied: the task has no allowed_hosts (no network access)");
            } else if (cur.is_ip) {
                set_fail(out, CAP_HTTP_DENIED,
                         "denied: %s (port %u) is not in allowed_hosts (an IP address must be "
                         "listed as such)",
                         cur.host, cur.port);
            } else {
                set_fail(out, CAP_HTTP_DENIED, "denied: %s (port %u) is not in allowed_hosts",
                         cur.host, cur.port);
            }
            if (redirects) {
                size_t l = strlen(out->message);
                snprintf(out->message + l, sizeof out->message - l, " (redirect %u)", redirects);
            }
            record(&f, f.method, cur.shown, 0, 0, 0, ht0, out->outcome, out->message);
            break;
        }
        if (req->interrupted && req->interrupted(req->user)) {
            set_fail(out, CAP_HTTP_INTERRUPTED, "interrupted: the task's deadline passed");
            record(&f, f.method, cur.shown, 0, 0, 0, ht0, out->outcome, out->message);
            break;
        }
        if (cap_rt_monotonic_ms() >= f.deadline_ms) {
            set_fail(out, CAP_HTTP_TIMEOUT, "timeout: no complete response within %llu ms",
                     (unsigned long long)req->timeout_ms);
            record(&f, f.method, cur.shown, 0, 0, 0, ht0, out->outcome, out->message);
            break;
        }
        hop h;
        memset(&h, 0, sizeof h);
        h.req = req;
        h.url = &cur;
        h.explicit_host = m == CAP_HTTP_MATCH_EXPLICIT;
        long status = 0;
        char *location = NULL;
        bool oom = false;
        int version = 0;
        char detail[CURL_ERROR_SIZE] = "";
        CURLcode rc = send_hop(&f, &h, &status, &location, &version, detail, sizeof detail, &oom);
        uint64_t sent = f.send_body && !cap_rt_ieq(f.method, "HEAD") ? req->body_len : 0;
        if (oom || h.oom) {
            cap_free(location);
            hop_free(&h);
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
            break;
        }
        if (rc != CURLE_OK) {
            hop_failure(&f, &h, rc, detail, out);
            cap_free(location);
            record(&f, f.method, cur.shown, status, h.body_len, sent, ht0, out->outcome,
                   out->message);
            hop_free(&h);
            break;
        }
        record(&f, f.method, cur.shown, status, h.body_len, sent, ht0, CAP_HTTP_OK, "");
        bool redirect =
            location && req->max_redirects > 0 &&
            (status == 301 || status == 302 || status == 303 || status == 307 || status == 308);
        if (redirect && redirects >= req->max_redirects) {
            set_fail(out, CAP_HTTP_NETWORK_ERROR,
                     "network_error: more than %u redirects (the last to %.200s)",
                     req->max_redirects, location);
            cap_free(location);
            hop_free(&h);
            break;
        }
        if (redirect) {
            pst = cap_http_url_parse(location, &next, why, sizeof why);
            if (pst == CAP_ERR_NOMEM) {
                cap_free(location);
                hop_free(&h);
                st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
                break;
            }
            if (pst != CAP_OK) {
                set_fail(out, CAP_HTTP_INVALID_URL, "invalid_url: redirect to %.200s: %s", location,
                         why);
                cap_free(location);
                hop_free(&h);
                break;
            }
            cap_free(location);
            /* The method rules browsers follow (RFC 9110 section 15.4): 303 turns anything but
             * HEAD into a GET, 301 and 302 turn a POST into a GET; 307 and 308 keep both. */
            if ((status == 303 && !cap_rt_ieq(f.method, "HEAD")) ||
                ((status == 301 || status == 302) && strcmp(f.method, "POST") == 0)) {
                snprintf(f.method, sizeof f.method, "GET");
                f.send_body = false;
                f.drop_body_headers = true;
            }
            if (!same_origin(&cur, &next)) {
                f.drop_credentials = true;
            }
            hop_free(&h);
            cap_http_url_clear(&cur);
            cur = next;
            memset(&next, 0, sizeof next);
            continue;
        }
        cap_free(location);
        /* The final response. */
        out->outcome = CAP_HTTP_OK;
        out->status = status;
        out->http_version = version;
        out->redirects = redirects;
        out->body = h.body;
        out->body_len = h.body_len;
        out->header_names = h.hn;
        out->header_values = h.hv;
        out->nheaders = h.nh;
        h.body = NULL;
        h.hn = h.hv = NULL;
        h.nh = 0;
        out->url = cap_strdup(cur.shown);
        hop_free(&h);
        if (!out->url) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        }
        break;
    }
    cap_http_url_clear(&cur);
    cap_http_url_clear(&next);
    return st;
}
