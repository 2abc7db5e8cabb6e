/* SPDX-License-Identifier: Apache-2.0 */
/* The linker: an open-addressing hash map from (module name, field name) to external values.
 * Names are compared by bytes and length, since Wasm names may contain NUL. */
#include "util/alloc.h"
#include "wasm/runtime.h"

#include <string.h>

typedef struct entry {
    char *key;   // module bytes, then name bytes (one allocation); NULL = empty slot
    size_t mlen; // module name length
    size_t nlen; // field name length
    uint64_t hash;
    cap_extern_t ext;
} entry;

struct cap_linker_t {
    entry *slots;
    size_t cap; // power of two (or 0)
    size_t count;
};

/* FNV-1a over both names with a separator that no length-prefixed pair can fake. */
static uint64_t
hash_names(const char *m, size_t mlen, const char *n, size_t nlen)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < mlen; i++) {
        h = (h ^ (uint8_t)m[i]) * 1099511628211ull;
    }
    h = (h ^ (uint64_t)mlen) * 1099511628211ull;
    for (size_t i = 0; i < nlen; i++) {
        h = (h ^ (uint8_t)n[i]) * 1099511628211ull;
    }
    return h;
}

static entry *
find(const cap_linker_t *l, uint64_t h, const char *m, size_t mlen, const char *n, size_t nlen)
{
    if (l->cap == 0) {
        return NULL;
    }
    size_t mask = l->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        entry *e = &l->slots[i];
        if (!e->key) {
            return e;
        }
        if (e->hash == h && e->mlen == mlen && e->nlen == nlen && memcmp(e->key, m, mlen) == 0 &&
            memcmp(e->key + mlen, n, nlen) == 0) {
            return e;
        }
    }
}

/* Doubles the table (keeps the load factor under 1/2). */
static bool
rehash(cap_linker_t *l)
{
    size_t ncap = l->cap ? l->cap * 2 : 16;
    entry *ns = cap_calloc(ncap, sizeof *ns);
    if (!ns) {
        return false;
    }
    for (size_t i = 0; i < l->cap; i++) {
        entry *e = &l->slots[i];
        if (e->key) {
            size_t j = (size_t)e->hash & (ncap - 1);
            while (ns[j].key) {
                j = (j + 1) & (ncap - 1);
            }
            ns[j] = *e;
        }
    }
    cap_free(l->slots);
    l->slots = ns;
    l->cap = ncap;
    return true;
}

cap_status
cap_linker_new(cap_linker_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_linker_new: NULL out");
    }
    *out = cap_calloc(1, sizeof **out);
    if (!*out) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    return CAP_OK;
}

void
cap_linker_free(cap_linker_t *linker)
{
    if (!linker) {
        return;
    }
    for (size_t i = 0; i < linker->cap; i++) {
        cap_free(linker->slots[i].key);
    }
    cap_free(linker->slots);
    cap_free(linker);
}

static bool
extern_ok(cap_extern_t ext)
{
    switch (ext.kind) {
    case CAP_EXTERN_FUNC:
        return ext.of.func != NULL;
    case CAP_EXTERN_TABLE:
        return ext.of.table != NULL;
    case CAP_EXTERN_MEMORY:
        return ext.of.memory != NULL;
    case CAP_EXTERN_GLOBAL:
        return ext.of.global != NULL;
    }
    return false;
}

cap_status
cap_linker_define_n(cap_linker_t *linker, const char *module, size_t module_len, const char *name,
                    size_t name_len, cap_extern_t ext, cap_error_t *err)
{
    cap_error_clear(err);
    if (!linker || (!module && module_len) || (!name && name_len) || !extern_ok(ext)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_linker_define: invalid argument");
    }
    if (module_len > SIZE_MAX / 2 || name_len > SIZE_MAX / 2) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_linker_define: name too long");
    }
    uint64_t h = hash_names(module, module_len, name, name_len);
    entry *e = find(linker, h, module, module_len, name, name_len);
    if (e && e->key) {
        e->ext = ext; // a later definition replaces the earlier one
        return CAP_OK;
    }
    if ((linker->count + 1) * 2 > linker->cap) {
        if (!rehash(linker)) {
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
        e = find(linker, h, module, module_len, name, name_len);
    }
    char *key = cap_alloc(module_len + name_len + 1);
    if (!key) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    if (module_len) {
        memcpy(key, module, module_len);
    }
    if (name_len) {
        memcpy(key + module_len, name, name_len);
    }
    key[module_len + name_len] = '\0';
    e->key = key;
    e->mlen = module_len;
    e->nlen = name_len;
    e->hash = h;
    e->ext = ext;
    linker->count++;
    return CAP_OK;
}

cap_status
cap_linker_define(cap_linker_t *linker, const char *module, const char *name, cap_extern_t ext,
                  cap_error_t *err)
{
    if (!module || !name) {
        cap_error_clear(err);
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_linker_define: NULL name");
    }
    return cap_linker_define_n(linker, module, strlen(module), name, strlen(name), ext, err);
}

bool
cap_linker_lookup(const cap_linker_t *linker, const char *module, size_t module_len,
                  const char *name, size_t name_len, cap_extern_t *out)
{
    if (!linker) {
        return false;
    }
    entry *e = find(linker, hash_names(module, module_len, name, name_len), module, module_len,
                    name, name_len);
    if (!e || !e->key) {
        return false;
    }
    *out = e->ext;
    return true;
}

cap_status
cap_linker_define_instance(cap_linker_t *linker, const char *module, cap_instance_t *instance,
                           cap_error_t *err)
{
    cap_error_clear(err);
    if (!linker || !module || !instance) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "cap_linker_define_instance: NULL argument");
    }
    const cap_module_t *m = instance->module;
    size_t mlen = strlen(module);
    for (uint32_t i = 0; i < m->nexports; i++) {
        const cap_export *ex = &m->exports[i];
        cap_extern_t ext = cap_instance_extern(instance, ex->kind, ex->index);
        cap_status st = cap_linker_define_n(linker, module, mlen, ex->name, ex->name_len, ext, err);
        if (st != CAP_OK) {
            return st;
        }
    }
    return CAP_OK;
}

cap_status
cap_linker_define_host(cap_linker_t *linker, cap_store_t *store, const char *module,
                       const char *name, const cap_functype_t *type, cap_host_fn fn, void *env,
                       cap_error_t *err)
{
    cap_func_t *f;
    cap_status st;
    if (!linker || !module || !name) {
        cap_error_clear(err);
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_linker_define_host: NULL argument");
    }
    /* On failure the function stays owned by the store, which frees it: nothing leaks. */
    if ((st = cap_func_new_host(store, type, fn, env, NULL, &f, err)) != CAP_OK) {
        return st;
    }
    cap_extern_t ext;
    ext.kind = CAP_EXTERN_FUNC;
    ext.of.func = f;
    return cap_linker_define(linker, module, name, ext, err);
}
