/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: decode arbitrary bytes and, when they form a valid module, instantiate it (every
 * imported function is a host stub returning zeros) and call each exported function with zero
 * arguments under a small fuel budget and memory cap. Traps are fine; crashes, leaks and
 * sanitizer reports are not. */
#include "fuzz.h"

#include <capsule.h>
#include <stdlib.h>
#include <string.h>

#define FUEL       20000u
#define MEM_LIMIT  (16u << 20)
#define CALL_DEPTH 200u
#define MAX_VALS   64u

/* A host function standing in for any import: it returns zero for every result. */
static cap_status
stub(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)caller, (void)args;
    uint32_t nresults = (uint32_t)(uintptr_t)env;
    for (uint32_t i = 0; i < nresults; i++) {
        results[i] = 0;
    }
    return CAP_OK;
}

static void
zero_val(cap_val_t *v, cap_valtype t)
{
    memset(v, 0, sizeof *v);
    v->type = t;
}

static void
call_exports(cap_store_t *store, const cap_module_t *m, cap_instance_t *inst)
{
    cap_val_t args[MAX_VALS], results[MAX_VALS];
    uint32_t n = cap_module_export_count(m);
    for (uint32_t i = 0; i < n; i++) {
        cap_export_info_t info;
        cap_extern_t ext;
        if (cap_module_export(m, i, &info) != CAP_OK || info.kind != CAP_EXTERN_FUNC) {
            continue;
        }
        if (cap_instance_export(inst, info.name, &ext, NULL) != CAP_OK ||
            ext.kind != CAP_EXTERN_FUNC) {
            continue;
        }
        cap_functype_t ft = cap_func_type(ext.of.func);
        if (ft.nparams > MAX_VALS || ft.nresults > MAX_VALS) {
            continue;
        }
        for (uint32_t k = 0; k < ft.nparams; k++) {
            zero_val(&args[k], ft.params[k]);
        }
        cap_error_t err;
        cap_store_set_fuel(store, FUEL);
        (void)cap_func_call(store, ext.of.func, args, ft.nparams, results, ft.nresults, &err);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cap_module_t *m = NULL;
    cap_store_t *store = NULL;
    cap_linker_t *linker = NULL;
    cap_instance_t *inst = NULL;
    cap_error_t err;

    if (cap_module_new(data, size, &m, &err) != CAP_OK) {
        return 0;
    }
    if (cap_store_new(&store, &err) != CAP_OK || cap_linker_new(&linker, &err) != CAP_OK) {
        goto done;
    }
    cap_store_set_fuel(store, FUEL);
    cap_store_set_memory_limit(store, MEM_LIMIT);
    cap_store_set_max_call_depth(store, CALL_DEPTH);

    uint32_t nimports = cap_module_import_count(m);
    for (uint32_t i = 0; i < nimports; i++) {
        cap_import_info_t imp;
        if (cap_module_import(m, i, &imp) != CAP_OK || imp.kind != CAP_EXTERN_FUNC) {
            continue;
        }
        (void)cap_linker_define_host(linker, store, imp.module, imp.name, &imp.functype, stub,
                                     (void *)(uintptr_t)imp.functype.nresults, NULL);
    }
    if (cap_instance_new(store, m, linker, &inst, &err) == CAP_OK) {
        call_exports(store, m, inst);
    }
done:
    cap_linker_free(linker);
    cap_store_free(store);
    cap_module_free(m);
    return 0;
}
