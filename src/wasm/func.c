/* SPDX-License-Identifier: Apache-2.0 */
/* Functions: host functions, function types, value <-> slot conversion and cap_func_call, the
 * embedder's typed entry into the interpreter. */
#include "util/alloc.h"
#include "wasm/runtime.h"

#include <string.h>

cap_slot_t
cap_val_to_slot(cap_val_t v)
{
    switch (v.type) {
    case CAP_I32:
        return v.of.i32;
    case CAP_F32:
        return v.of.f32_bits;
    case CAP_I64:
        return v.of.i64;
    case CAP_F64:
        return v.of.f64_bits;
    case CAP_FUNCREF:
        return (cap_slot_t)(uintptr_t)v.of.funcref;
    case CAP_EXTERNREF:
        return (cap_slot_t)v.of.externref;
    case CAP_V128:
        break;
    }
    return 0;
}

cap_val_t
cap_slot_to_val(cap_valtype type, cap_slot_t slot)
{
    cap_val_t v;
    memset(&v, 0, sizeof v);
    v.type = type;
    switch (type) {
    case CAP_I32:
        v.of.i32 = (uint32_t)slot;
        break;
    case CAP_F32:
        v.of.f32_bits = (uint32_t)slot;
        break;
    case CAP_I64:
        v.of.i64 = slot;
        break;
    case CAP_F64:
        v.of.f64_bits = slot;
        break;
    case CAP_FUNCREF:
        v.of.funcref = (cap_func_t *)(uintptr_t)slot;
        break;
    case CAP_EXTERNREF:
        v.of.externref = (uintptr_t)slot;
        break;
    case CAP_V128:
        break;
    }
    return v;
}

static void
host_release(cap_owned *node)
{
    cap_func_t *f = (cap_func_t *)node;
    if (f->free_env) {
        f->free_env(f->env);
    }
    cap_free(f->host_type.types);
    cap_free(f->host_type.vtypes);
    cap_free(f);
}

static bool
valtype_ok(cap_valtype t)
{
    switch (t) {
    case CAP_I32:
    case CAP_I64:
    case CAP_F32:
    case CAP_F64:
    case CAP_FUNCREF:
    case CAP_EXTERNREF:
        return true;
    case CAP_V128:
        break;
    }
    return false;
}

cap_status
cap_func_new_host(cap_store_t *store, const cap_functype_t *type, cap_host_fn fn, void *env,
                  void (*free_env)(void *), cap_func_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!store || !type || !fn || !out || (type->nparams && !type->params) ||
        (type->nresults && !type->results)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_func_new_host: NULL argument");
    }
    *out = NULL;
    if (type->nparams > CAP_MAX_LOCALS || type->nresults > CAP_MAX_FUNC_RESULTS) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_func_new_host: too many values");
    }
    uint32_t n = type->nparams + type->nresults;
    for (uint32_t i = 0; i < n; i++) {
        cap_valtype t = i < type->nparams ? type->params[i] : type->results[i - type->nparams];
        if (!valtype_ok(t)) {
            return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                            "cap_func_new_host: unsupported value type 0x%x", (unsigned)t);
        }
    }
    cap_func_t *f = cap_calloc(1, sizeof *f);
    if (!f) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    f->host_type.types = cap_alloc(n);
    f->host_type.vtypes = cap_alloc((size_t)n * sizeof(cap_valtype));
    if (!f->host_type.types || !f->host_type.vtypes) {
        cap_free(f->host_type.types);
        cap_free(f->host_type.vtypes);
        cap_free(f);
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        cap_valtype t = i < type->nparams ? type->params[i] : type->results[i - type->nparams];
        f->host_type.types[i] = (uint8_t)t;
        f->host_type.vtypes[i] = t;
    }
    f->host_type.nparams = type->nparams;
    f->host_type.nresults = type->nresults;
    f->type = &f->host_type;
    f->store = store;
    f->index = UINT32_MAX;
    f->host = fn;
    f->env = env;
    f->free_env = free_env;
    f->node.release = host_release;
    cap_store_own(store, &f->node);
    *out = f;
    return CAP_OK;
}

cap_functype_t
cap_func_type(const cap_func_t *func)
{
    cap_functype_t t;
    t.nparams = func->type->nparams;
    t.nresults = func->type->nresults;
    t.params = func->type->vtypes;
    t.results = func->type->vtypes + func->type->nparams;
    return t;
}

static const char *
type_name(cap_valtype t)
{
    switch (t) {
    case CAP_I32:
        return "i32";
    case CAP_I64:
        return "i64";
    case CAP_F32:
        return "f32";
    case CAP_F64:
        return "f64";
    case CAP_V128:
        return "v128";
    case CAP_FUNCREF:
        return "funcref";
    case CAP_EXTERNREF:
        return "externref";
    }
    return "unknown";
}

#define SMALL_SLOTS 16

/* Checks the call against the function type, converts the arguments to slots, runs the function
 * and converts the results back. Slot arrays live on the stack for small arities. */
cap_status
cap_func_call(cap_store_t *store, cap_func_t *func, const cap_val_t *args, size_t nargs,
              cap_val_t *results, size_t nresults, cap_error_t *err)
{
    cap_error_clear(err);
    if (!store || !func || (nargs && !args) || (nresults && !results)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_func_call: NULL argument");
    }
    if (func->store != store) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "cap_func_call: function belongs to another store");
    }
    const cap_ftype *ft = func->type;
    if (nargs != ft->nparams || nresults != ft->nresults) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "cap_func_call: function takes %u arguments and returns %u results, "
                        "called with %zu and %zu",
                        ft->nparams, ft->nresults, nargs, nresults);
    }
    for (size_t i = 0; i < nargs; i++) {
        cap_valtype want = ft->vtypes[i];
        if (args[i].type != want) {
            return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                            "cap_func_call: argument %zu is %s, expected %s", i,
                            type_name(args[i].type), type_name(want));
        }
        if (want == CAP_FUNCREF && args[i].of.funcref && args[i].of.funcref->store != store) {
            return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                            "cap_func_call: argument %zu is a function of another store", i);
        }
    }
    cap_slot_t small[SMALL_SLOTS];
    cap_slot_t *slots = small;
    if (nresults > SMALL_SLOTS) {
        slots = cap_calloc(nresults, sizeof *slots);
        if (!slots) {
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
    }
    /* Arguments and results get separate arrays, so the interpreter may write a result
     * before it has read every argument. */
    cap_slot_t in_small[SMALL_SLOTS];
    cap_slot_t *in = in_small;
    if (nargs > SMALL_SLOTS) {
        in = cap_calloc(nargs, sizeof *in);
        if (!in) {
            if (slots != small) {
                cap_free(slots);
            }
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
    }
    for (size_t i = 0; i < nargs; i++) {
        in[i] = cap_val_to_slot(args[i]);
    }
    cap_status st = cap_vm_call(store, func, in, slots, err);
    if (st == CAP_OK) {
        for (size_t i = 0; i < nresults; i++) {
            results[i] = cap_slot_to_val(ft->vtypes[ft->nparams + i], slots[i]);
        }
    }
    if (in != in_small) {
        cap_free(in);
    }
    if (slots != small) {
        cap_free(slots);
    }
    return st;
}
