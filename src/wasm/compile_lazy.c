/* SPDX-License-Identifier: Apache-2.0 */
/* Lazy compilation (cap_module_new_lazy): each function body is validated and compiled when the
 * function is first called, once per module, under the module's lock, and published to every
 * thread with a release store. Until then the function's code is a stub (code.h). */
#include "util/alloc.h"
#include "wasm/code.h"
#include "wasm/compile.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* A lazy module's state. The stubs stand in for uncompiled functions (see struct cap_code);
 * the compiler scratch is kept between compilations (under the lock) so a first call costs
 * only the compilation itself, not a dozen buffer allocations. */
struct cap_lazy {
    pthread_mutex_t lock;
    struct cap_code *stubs;    // one per defined function
    uint32_t words[2];         // every stub's code: entry fuel 0, then CAP_IOP_LAZY
    cap_comp_scratch *scratch; // compiler buffers, used only under the lock
    uint32_t ncompiled;        // bodies compiled so far (statistics)
};

cap_status
cap_compile_lazy_init(cap_module_t *m, cap_error_t *err)
{
    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    struct cap_lazy *lz = cap_calloc(1, sizeof *lz);
    if (!lz) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    lz->stubs = cap_calloc(ndef ? ndef : 1, sizeof *lz->stubs);
    if (!lz->stubs || pthread_mutex_init(&lz->lock, NULL) != 0) {
        cap_free(lz->stubs);
        cap_free(lz);
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    lz->words[0] = 0;
    lz->words[1] = CAP_IOP_LAZY;
    for (uint32_t i = 0; i < ndef; i++) {
        const cap_ftype *ft = &m->types[m->funcs[i].type_index];
        struct cap_code *stub = &lz->stubs[i];
        stub->code = lz->words;
        stub->len = 2;
        stub->nparams = ft->nparams;
        stub->nresults = ft->nresults;
        stub->nlocals = ft->nparams;
        stub->frame_slots = UINT32_MAX; // no frame fits: calls take the cold path (code.h)
        stub->func_index = m->nfunc_imports + i;
        stub->lazy = true;
        m->funcs[i].code = stub;
    }
    m->lazy = lz;
    return CAP_OK;
}

/* Appends " in <name>" (or " in function <index>") to a compile error, as trap messages do, so
 * that an error found at a first call says which function it is about. */
static void
name_function(const cap_module_t *m, uint32_t func_index, cap_error_t *err)
{
    size_t n = strnlen(err->msg, sizeof err->msg - 1);
    const char *name = m->func_names ? m->func_names[func_index] : NULL;
    if (name) {
        snprintf(err->msg + n, sizeof err->msg - n, " in %s", name);
    } else {
        snprintf(err->msg + n, sizeof err->msg - n, " in function %u", func_index);
    }
    err->func_index = func_index;
}

cap_status
cap_compile_function(cap_module_t *m, uint32_t func_index, const struct cap_code **out,
                     cap_error_t *err)
{
    if (func_index < m->nfunc_imports || func_index >= m->nfuncs) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "function %u is not a defined function",
                        func_index);
    }
    cap_func_def *def = &m->funcs[func_index - m->nfunc_imports];
    const struct cap_code *code = cap_code_load(def);
    if (code && !code->lazy) {
        *out = code;
        return CAP_OK;
    }
    struct cap_lazy *lz = m->lazy;
    if (!lz) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "function %u is not compiled", func_index);
    }
    cap_error_t local_err;
    cap_error_t *e = err ? err : &local_err;
    cap_status st = CAP_OK;
    pthread_mutex_lock(&lz->lock);
    /* Another thread may have compiled it while this one waited. */
    if (def->code->lazy) {
        if (!lz->scratch) {
            lz->scratch = cap_comp_scratch_new();
        }
        if (!lz->scratch) {
            st = cap_fail(e, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        } else if ((st = cap_compile_body_with(lz->scratch, m, func_index, e)) == CAP_OK) {
            __atomic_fetch_add(&lz->ncompiled, 1, __ATOMIC_RELAXED);
        } else if (st == CAP_ERR_INVALID || st == CAP_ERR_MALFORMED) {
            name_function(m, func_index, e);
        }
    }
    code = def->code;
    pthread_mutex_unlock(&lz->lock);
    if (st == CAP_OK) {
        *out = code;
    }
    return st;
}

void
cap_compile_lazy_free(cap_module_t *m)
{
    struct cap_lazy *lz = m->lazy;
    if (!lz) {
        return;
    }
    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    for (uint32_t i = 0; i < ndef; i++) {
        if (m->funcs[i].code && m->funcs[i].code->lazy) {
            m->funcs[i].code = NULL;
        }
    }
    cap_comp_scratch_free(lz->scratch);
    pthread_mutex_destroy(&lz->lock);
    cap_free(lz->stubs);
    cap_free(lz);
    m->lazy = NULL;
}

uint32_t
cap_compile_lazy_count(const cap_module_t *m)
{
    return m->lazy ? __atomic_load_n(&m->lazy->ncompiled, __ATOMIC_RELAXED) : 0;
}
