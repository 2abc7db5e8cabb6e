/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl, loaded on first use. Linking it costs every capsule process ~20 ms of start-up (it
 * brings ~30 shared libraries: TLS, Kerberos, LDAP, ...) although most runs make no HTTP request,
 * so the few libcurl functions Capsule uses are reached through a table filled by dlopen the
 * first time one is called. Include this instead of <curl/curl.h>: the curl_* names below then
 * call through the table. If libcurl cannot be loaded, the table holds stubs that fail
 * (curl_easy_init and curl_url return NULL, the others an error) and cap_curl_error() says why. */
#ifndef CAP_RUNTIME_CURL_DL_H
#define CAP_RUNTIME_CURL_DL_H

#define CURL_DISABLE_TYPECHECK // its checking macros would wrap the names redefined below
#include <curl/curl.h>

typedef struct cap_curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    void (*easy_cleanup)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
    void (*free)(void *p);
    CURLU *(*url)(void);
    void (*url_cleanup)(CURLU *handle);
    CURLUcode (*url_set)(CURLU *handle, CURLUPart what, const char *part, unsigned int flags);
    CURLUcode (*url_get)(const CURLU *handle, CURLUPart what, char **part, unsigned int flags);
    const char *(*url_strerror)(CURLUcode code);
} cap_curl_api;

/* The table (loaded on the first call; thread-safe; never NULL). */
const cap_curl_api *cap_curl(void);
/* NULL when libcurl is loaded, else why it could not be. */
const char *cap_curl_error(void);

/* curl.h defines the two variadic ones as function-like macros of themselves. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init   (cap_curl()->global_init)
#define curl_easy_init     (cap_curl()->easy_init)
#define curl_easy_setopt   (cap_curl()->easy_setopt)
#define curl_easy_perform  (cap_curl()->easy_perform)
#define curl_easy_cleanup  (cap_curl()->easy_cleanup)
#define curl_easy_getinfo  (cap_curl()->easy_getinfo)
#define curl_easy_strerror (cap_curl()->easy_strerror)
#define curl_slist_append  (cap_curl()->slist_append)
#define curl_slist_free_all (cap_curl()->slist_free_all)
#define curl_free          (cap_curl()->free)
#define curl_url           (cap_curl()->url)
#define curl_url_cleanup   (cap_curl()->url_cleanup)
#define curl_url_set       (cap_curl()->url_set)
#define curl_url_get       (cap_curl()->url_get)
#define curl_url_strerror  (cap_curl()->url_strerror)

#endif
