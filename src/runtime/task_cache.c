/* SPDX-License-Identifier: Apache-2.0 */
/* The compiled-module cache: modules keyed by the SHA-256 of their bytes (or the identity of their
 * file), compiled once and
 * shared read-only by every task on every thread (a module is immutable after compilation). */
#include "platform/platform.h"
#include "runtime/rt.h"
#include "runtime/task.h"
#include "util/alloc.h"
#include "wasm/module.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    /* The key: the SHA-256 of the bytes, or (by_file) the identity of the file they were read
     * from (device, inode, size, mtime): hashing a 6 MB runtime costs more than its lazy load. */
    bool by_file;
    uint64_t file_id[5];
    uint8_t hash[32];
    bool lazy; // bodies compile on first call (cap_module_new_lazy)
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

/* Whether entry e answers a request for the key (file_id, or hash when file_id is NULL). A lazy
 * request takes an eager module too (it is simply all compiled); not the other way round. */
static bool
entry_matches(const cap_cached_module *e, const uint64_t *file_id, const uint8_t *hash,
              size_t len, bool lazy)
{
    if (e->lazy && !lazy) {
        return false;
    }
    if (file_id) {
        return e->by_file && memcmp(e->file_id, file_id, sizeof e->file_id) == 0;
    }
    return !e->by_file && e->len == len && memcmp(e->hash, hash, 32) == 0;
}

/* Finds (waiting for a compile in progress) or inserts the entry for a key. Under the lock;
 * returns with it held. *fresh says that the caller inserted it and must compile it. */
static cap_cached_module *
find_or_insert(cap_module_cache *c, const uint64_t *file_id, const uint8_t *hash, size_t len,
               bool lazy, bool insert, bool *fresh)
{
    cap_cached_module *e;
    *fresh = false;
again:
    for (e = c->entries; e; e = e->next) {
        if (entry_matches(e, file_id, hash, len, lazy)) {
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
        return e;
    }
    if (!insert) {
        return NULL;
    }
    e = cap_calloc(1, sizeof *e);
    if (!e) {
        return NULL;
    }
    e->cache = c;
    if (file_id) {
        e->by_file = true;
        memcpy(e->file_id, file_id, sizeof e->file_id);
    } else {
        memcpy(e->hash, hash, sizeof e->hash);
    }
    e->lazy = lazy;
    e->len = len;
    e->refs = 1;
    e->next = c->entries;
    c->entries = e;
    *fresh = true;
    return e;
}

/* Loads a module from bytes, or from `map` (a private read-only mapping of them, bytes == map)
 * which is then the module's (or unmapped here). */
static cap_status
load_bytes(cap_module_cache *c, const uint8_t *bytes, size_t len, const uint64_t *file_id,
           bool lazy, void *map, cap_cached_module **out, cap_error_t *err)
{
    *out = NULL;
    uint8_t hash[32];
    if (!file_id) {
        cap_sha256(bytes, len, hash);
    }
    pthread_mutex_lock(&c->lock);
    bool fresh;
    cap_cached_module *e = find_or_insert(c, file_id, hash, len, lazy, true, &fresh);
    if (!e || !fresh) {
        pthread_mutex_unlock(&c->lock);
        cap_plat_unmap(map, len);
        *out = e;
        return e ? CAP_OK : cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_unlock(&c->lock);

    cap_module_t *m = NULL;
    cap_status st = map    ? cap_module_new_mapped(map, len, lazy, &m, err)
                    : lazy ? cap_module_new_lazy(bytes, len, &m, err)
                           : cap_module_new(bytes, len, &m, err);

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
cap_module_cache_load_bytes(cap_module_cache *c, const uint8_t *bytes, size_t len,
                            cap_cached_module **out, cap_error_t *err)
{
    return load_bytes(c, bytes, len, NULL, false, NULL, out, err);
}

cap_status
cap_module_cache_load_file(cap_module_cache *c, const char *path, bool lazy,
                           cap_cached_module **out, cap_error_t *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rbe");
    if (!f) {
        return cap_rt_fail(err, CAP_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    /* Already loaded from this very file (same inode, size and mtime)? */
    struct stat sb;
    uint64_t id[5] = {0};
    bool have_id = fstat(fileno(f), &sb) == 0;
    if (have_id) {
        id[0] = (uint64_t)sb.st_dev;
        id[1] = (uint64_t)sb.st_ino;
        id[2] = (uint64_t)sb.st_size;
        id[3] = (uint64_t)sb.st_mtim.tv_sec;
        id[4] = (uint64_t)sb.st_mtim.tv_nsec;
        bool fresh;
        pthread_mutex_lock(&c->lock);
        cap_cached_module *e = find_or_insert(c, id, NULL, 0, lazy, false, &fresh);
        pthread_mutex_unlock(&c->lock);
        if (e) {
            fclose(f);
            *out = e;
            return CAP_OK;
        }
        /* A private in-memory copy, mapped with its pages loaded: no page fault per 4 KiB of a
         * multi-megabyte runtime, and nothing done to the file later (a rebuild truncating it)
         * can reach the bytes a lazily compiled module still reads. */
        if (S_ISREG(sb.st_mode) && sb.st_size > 0 && sb.st_size <= ((off_t)1 << 30)) {
            int copy = cap_plat_private_copy(fileno(f), 0, (uint64_t)sb.st_size);
            void *map = copy >= 0 ? cap_plat_map_file_readonly(copy, (uint64_t)sb.st_size) : NULL;
            if (copy >= 0) {
                close(copy);
            }
            if (map) {
                fclose(f);
                return load_bytes(c, map, (size_t)sb.st_size, id, lazy, map, out, err);
            }
        }
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
        st = load_bytes(c, buf, len, have_id ? id : NULL, lazy, NULL, out, err);
    }
    cap_free(buf);
    return st;
}

cap_status
cap_module_cache_load(cap_module_cache *c, const char *path, cap_cached_module **out,
                      cap_error_t *err)
{
    return cap_module_cache_load_file(c, path, false, out, err);
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
