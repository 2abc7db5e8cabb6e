/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl loaded with dlopen on first use (see curl_dl.h). */
#include "runtime/curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static CURLcode
stub_global_init(long flags)
{
    (void)flags;
    return CURLE_FAILED_INIT;
}

static CURL *
stub_easy_init(void)
{
    return NULL;
}

static CURLcode
stub_easy_setopt(CURL *curl, CURLoption option, ...)
{
    (void)curl;
    (void)option;
    return CURLE_FAILED_INIT;
}

static CURLcode
stub_easy_perform(CURL *curl)
{
    (void)curl;
    return CURLE_FAILED_INIT;
}

static void
stub_easy_cleanup(CURL *curl)
{
    (void)curl;
}

static CURLcode
stub_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    (void)curl;
    (void)info;
    return CURLE_FAILED_INIT;
}

static const char *
stub_easy_strerror(CURLcode code)
{
    (void)code;
    return "libcurl is not available";
}

static struct curl_slist *
stub_slist_append(struct curl_slist *list, const char *s)
{
    (void)list;
    (void)s;
    return NULL;
}

static void
stub_slist_free_all(struct curl_slist *list)
{
    (void)list;
}

static void
stub_free(void *p)
{
    (void)p;
}

static CURLU *
stub_url(void)
{
    return NULL;
}

static void
stub_url_cleanup(CURLU *h)
{
    (void)h;
}

static CURLUcode
stub_url_set(CURLU *h, CURLUPart what, const char *part, unsigned int flags)
{
    (void)h;
    (void)what;
    (void)part;
    (void)flags;
    return CURLUE_OUT_OF_MEMORY;
}

static CURLUcode
stub_url_get(const CURLU *h, CURLUPart what, char **part, unsigned int flags)
{
    (void)h;
    (void)what;
    (void)part;
    (void)flags;
    return CURLUE_OUT_OF_MEMORY;
}

static const char *
stub_url_strerror(CURLUcode code)
{
    (void)code;
    return "libcurl is not available";
}

static cap_curl_api api = {
    stub_global_init,   stub_easy_init,    stub_easy_setopt,   stub_easy_perform,
    stub_easy_cleanup,  stub_easy_getinfo, stub_easy_strerror, stub_slist_append,
    stub_slist_free_all, stub_free,        stub_url,           stub_url_cleanup,
    stub_url_set,       stub_url_get,      stub_url_strerror,
};
static char load_error[256] = "libcurl was not loaded yet";
static const char *error_ptr = load_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Looks up every symbol first and installs the table only when all are there: a partial table
 * would mix libcurl with stubs. */
static void
load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(load_error, sizeof load_error, "cannot load libcurl: %s", dlerror());
        return;
    }
    cap_curl_api t;
    const char *missing = NULL;
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        void *p = dlsym(h, name);                                                                  \
        if (!p && !missing) {                                                                      \
            missing = name;                                                                        \
        }                                                                                          \
        *(void **)(&t.field) = p;                                                                  \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
    SYM(free, "curl_free");
    SYM(url, "curl_url");
    SYM(url_cleanup, "curl_url_cleanup");
    SYM(url_set, "curl_url_set");
    SYM(url_get, "curl_url_get");
    SYM(url_strerror, "curl_url_strerror");
#undef SYM
    if (missing) {
        snprintf(load_error, sizeof load_error, "libcurl lacks %s (too old)", missing);
        dlclose(h);
        return;
    }
    api = t;
    error_ptr = NULL; // kept loaded for the life of the process
}

const cap_curl_api *
cap_curl(void)
{
    pthread_once(&once, load);
    return &api;
}

const char *
cap_curl_error(void)
{
    pthread_once(&once, load);
    return error_ptr;
}
