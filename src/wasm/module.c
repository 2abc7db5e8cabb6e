/* SPDX-License-Identifier: Apache-2.0 */
/* cap_module_new(_lazy) and the module queries of the public API: decode, then compile every
 * body now (eager) or each on its first call (lazy, compile_lazy.c). */
#include "wasm/module.h"
#include "platform/platform.h"
#include "util/alloc.h"

#include <string.h>

/* Decodes m (bytes and len set) and compiles it now or lazily; frees it on failure. */
static cap_status
finish(cap_module_t *m, bool lazy, bool mapped, cap_module_t **out, cap_error_t *err)
{
    cap_status st = cap_decode(m, err);
    m->bytes_mapped = mapped; // cap_decode zeroes everything but bytes and len
    if (st == CAP_OK) {
        st = lazy ? cap_compile_lazy_init(m, err) : cap_compile_module(m, err);
    }
    if (st != CAP_OK) {
        cap_module_free(m);
        return st;
    }
    *out = m;
    return CAP_OK;
}

static cap_status
module_new(const uint8_t *bytes, size_t len, bool lazy, cap_module_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!out || (!bytes && len)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "%s: NULL argument",
                        lazy ? "cap_module_new_lazy" : "cap_module_new");
    }
    *out = NULL;
    cap_module_t *m = cap_calloc(1, sizeof *m);
    if (!m) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    m->bytes = cap_alloc(len);
    if (!m->bytes) {
        cap_free(m);
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    if (len) {
        memcpy(m->bytes, bytes, len);
    }
    m->len = len;
    return finish(m, lazy, false, out, err);
}

cap_status
cap_module_new_mapped(void *map, size_t len, bool lazy, cap_module_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    *out = NULL;
    cap_module_t *m = cap_calloc(1, sizeof *m);
    if (!m) {
        cap_plat_unmap(map, len);
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    m->bytes = map;
    m->len = len;
    return finish(m, lazy, true, out, err);
}

cap_status
cap_module_new(const uint8_t *bytes, size_t len, cap_module_t **out, cap_error_t *err)
{
    return module_new(bytes, len, false, out, err);
}

cap_status
cap_module_new_lazy(const uint8_t *bytes, size_t len, cap_module_t **out, cap_error_t *err)
{
    return module_new(bytes, len, true, out, err);
}

void
cap_module_free(cap_module_t *m)
{
    if (m) {
        cap_compile_lazy_free(m); // first: the stubs must not reach cap_compile_free
        if (m->bytes_mapped) {
            cap_plat_unmap(m->bytes, m->len);
            m->bytes = NULL;
        }
        cap_module_release(m);
        cap_free(m);
    }
}

uint32_t
cap_module_import_count(const cap_module_t *m)
{
    return m->nimports;
}

cap_status
cap_module_import(const cap_module_t *m, uint32_t i, cap_import_info_t *out)
{
    if (i >= m->nimports) {
        return CAP_ERR_USAGE;
    }
    const cap_import *imp = &m->imports[i];
    memset(out, 0, sizeof *out);
    out->module = imp->module;
    out->name = imp->name;
    out->kind = imp->kind;
    if (imp->kind == CAP_EXTERN_FUNC) {
        const cap_ftype *t = &m->types[imp->desc.type_index];
        out->functype.nparams = t->nparams;
        out->functype.nresults = t->nresults;
        out->functype.params = t->vtypes;
        out->functype.results = t->vtypes + t->nparams;
    }
    return CAP_OK;
}

uint32_t
cap_module_export_count(const cap_module_t *m)
{
    return m->nexports;
}

cap_status
cap_module_export(const cap_module_t *m, uint32_t i, cap_export_info_t *out)
{
    if (i >= m->nexports) {
        return CAP_ERR_USAGE;
    }
    out->name = m->exports[i].name;
    out->kind = m->exports[i].kind;
    out->index = m->exports[i].index;
    return CAP_OK;
}

const char *
cap_module_func_name(const cap_module_t *m, uint32_t func_index)
{
    if (!m->func_names || func_index >= m->nfuncs) {
        return NULL;
    }
    return m->func_names[func_index];
}
