/* SPDX-License-Identifier: Apache-2.0 */
/* The compiled-module cache: modules keyed by the SHA-256 of their bytes, compiled once and
 * shared read-only by every task on every thread (a module is immutable after compilation). */
#include "runtime/rt.h"
#include "runtime/task.h"
#include "util/alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Unreferenced modules kept for later tasks before the oldest is dropped. */
#define CACHE_KEEP 16u

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t
ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void
sha_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    for (unsigned i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    }
    for (unsigned i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (unsigned i = 0; i < 64; i++) {
        uint32_t t1 =
            k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void
cap_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t i = 0;
    for (; len - i >= 64; i += 64) {
        sha_block(h, data + i);
    }
    uint8_t tail[128] = {0};
    size_t rest = len - i;
    if (rest) {
        memcpy(tail, data + i, rest);
    }
    tail[rest] = 0x80;
    size_t tlen = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (unsigned b = 0; b < 8; b++) {
        tail[tlen - 1 - b] = (uint8_t)(bits >> (8 * b));
    }
    sha_block(h, tail);
    if (tlen == 128) {
        sha_block(h, tail + 64);
    }
    for (unsigned b = 0; b < 8; b++) {
        out[4 * b] = (uint8_t)(h[b] >> 24);
        out[4 * b + 1] = (uint8_t)(h[b] >> 16);
        out[4 * b + 2] = (uint8_t)(h[b] >> 8);
        out[4 * b + 3] = (uint8_t)h[b];
    }
}

/* ---- the cache ---- */

struct cap_cached_module {
    cap_module_cache *cache;
    uint8_t hash[32];
    size_t len;
    cap_module_t *module; // NULL while being compiled by the thread that inserted the entry
    unsigned refs;        // references held by tasks (under the cache lock)
    uint64_t last_use;
    cap_cached_module *next;
};

struct cap_module_cache {
    pthread_mutex_t lock;
    pthread_cond_t compiled; // broadcast when an entry finishes compiling (or is dropped)
    cap_cached_module *entries;
    uint64_t clock;
    uint64_t compiles;
};

cap_status
cap_module_cache_new(cap_module_cache **out, cap_error_t *err)
{
    *out = NULL;
    cap_module_cache *c = cap_calloc(1, sizeof *c);
    if (!c) {
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->compiled, NULL);
    *out = c;
    return CAP_OK;
}

static void
entry_free(cap_cached_module *e)
{
    cap_module_free(e->module);
    cap_free(e);
}

void
cap_module_cache_free(cap_module_cache *cache)
{
    if (!cache) {
        return;
    }
    cap_cached_module *e = cache->entries;
    while (e) {
        cap_cached_module *next = e->next;
        entry_free(e);
        e = next;
    }
    pthread_cond_destroy(&cache->compiled);
    pthread_mutex_destroy(&cache->lock);
    cap_free(cache);
}

/* Drops the least recently used unreferenced modules beyond CACHE_KEEP. Under the lock. */
static void
trim(cap_module_cache *c)
{
    for (;;) {
        unsigned idle = 0;
        cap_cached_module **oldest = NULL;
        for (cap_cached_module **p = &c->entries; *p; p = &(*p)->next) {
            if ((*p)->refs == 0 && (*p)->module) {
                idle++;
                if (!oldest || (*p)->last_use < (*oldest)->last_use) {
                    oldest = p;
                }
            }
        }
        if (idle <= CACHE_KEEP || !oldest) {
            return;
        }
        cap_cached_module *e = *oldest;
        *oldest = e->next;
        entry_free(e);
    }
}

cap_status
cap_module_cache_load_bytes(cap_module_cache *c, const uint8_t *bytes, size_t len,
                            cap_cached_module **out, cap_error_t *err)
{
    *out = NULL;
    uint8_t hash[32];
    cap_sha256(bytes, len, hash);
    pthread_mutex_lock(&c->lock);
    cap_cached_module *e;
again:
    for (e = c->entries; e; e = e->next) {
        if (e->len == len && memcmp(e->hash, hash, sizeof hash) == 0) {
            break;
        }
    }
    if (e && !e->module) {
        /* Another thread is compiling these bytes: wait for it rather than compile twice. */
        pthread_cond_wait(&c->compiled, &c->lock);
        goto again;
    }
    if (e) {
        e->refs++;
        e->last_use = ++c->clock;
        pthread_mutex_unlock(&c->lock);
        *out = e;
        return CAP_OK;
    }
    e = cap_calloc(1, sizeof *e);
    if (!e) {
        pthread_mutex_unlock(&c->lock);
        return cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    e->cache = c;
    memcpy(e->hash, hash, sizeof hash);
    e->len = len;
    e->refs = 1;
    e->next = c->entries;
    c->entries = e;
    pthread_mutex_unlock(&c->lock);

    cap_module_t *m = NULL;
    cap_status st = cap_module_new(bytes, len, &m, err);

    pthread_mutex_lock(&c->lock);
    if (st != CAP_OK) {
        for (cap_cached_module **p = &c->entries; *p; p = &(*p)->next) {
            if (*p == e) {
                *p = e->next;
                break;
            }
        }
        cap_free(e);
        e = NULL;
    } else {
        e->module = m;
        e->last_use = ++c->clock;
        c->compiles++;
        trim(c);
    }
    pthread_cond_broadcast(&c->compiled);
    pthread_mutex_unlock(&c->lock);
    *out = e;
    return st;
}

cap_status
cap_module_cache_load(cap_module_cache *c, const char *path, cap_cached_module **out,
                      cap_error_t *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rbe");
    if (!f) {
        return cap_rt_fail(err, CAP_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = cap_alloc(cap);
    cap_status st = CAP_OK;
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) {
            break;
        }
        if (cap > ((size_t)1 << 30)) {
            st = cap_rt_fail(err, CAP_ERR_IO, "%s: larger than 1 GiB", path);
            break;
        }
        uint8_t *nb = cap_realloc(buf, cap * 2);
        if (!nb) {
            cap_free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory reading %s", path);
    } else if (st == CAP_OK && ferror(f)) {
        st = cap_rt_fail(err, CAP_ERR_IO, "cannot read %s", path);
    }
    fclose(f);
    if (st == CAP_OK) {
        st = cap_module_cache_load_bytes(c, buf, len, out, err);
    }
    cap_free(buf);
    return st;
}

cap_cached_module *
cap_module_cache_retain(cap_cached_module *m)
{
    pthread_mutex_lock(&m->cache->lock);
    m->refs++;
    pthread_mutex_unlock(&m->cache->lock);
    return m;
}

void
cap_module_cache_release(cap_cached_module *m)
{
    if (!m) {
        return;
    }
    cap_module_cache *c = m->cache;
    pthread_mutex_lock(&c->lock);
    m->refs--;
    trim(c);
    pthread_mutex_unlock(&c->lock);
}

const cap_module_t *
cap_cached_module_get(const cap_cached_module *m)
{
    return m->module;
}

uint64_t
cap_module_cache_compiles(const cap_module_cache *cache)
{
    pthread_mutex_lock(&((cap_module_cache *)cache)->lock);
    uint64_t n = cache->compiles;
    pthread_mutex_unlock(&((cap_module_cache *)cache)->lock);
    return n;
}
