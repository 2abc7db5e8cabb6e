/* SPDX-License-Identifier: Apache-2.0 */
/* TEMPORARY skeleton of the runtime API; replaced piece by piece by the real files. */
#include "util/alloc.h"
#include "wasm/runtime.h"

#define NI(err) cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "not implemented")

cap_status
cap_func_new_host(cap_store_t *store, const cap_functype_t *type, cap_host_fn fn, void *env,
                  void (*free_env)(void *), cap_func_t **out, cap_error_t *err)
{
    (void)store, (void)type, (void)fn, (void)env, (void)free_env, (void)out;
    return NI(err);
}

cap_functype_t
cap_func_type(const cap_func_t *func)
{
    cap_functype_t t = {func->type->nparams, func->type->nresults, func->type->vtypes,
                        func->type->vtypes + func->type->nparams};
    return t;
}

cap_status
cap_func_call(cap_store_t *store, cap_func_t *func, const cap_val_t *args, size_t nargs,
              cap_val_t *results, size_t nresults, cap_error_t *err)
{
    (void)store, (void)func, (void)args, (void)nargs, (void)results, (void)nresults;
    return NI(err);
}

cap_status
cap_memory_new(cap_store_t *store, uint32_t min_pages, uint32_t max_pages, bool has_max,
               cap_memory_t **out, cap_error_t *err)
{
    (void)store, (void)min_pages, (void)max_pages, (void)has_max, (void)out;
    return NI(err);
}

uint8_t *
cap_memory_data(cap_memory_t *memory)
{
    return memory->data;
}

uint64_t
cap_memory_size(const cap_memory_t *memory)
{
    return memory->size;
}

cap_status
cap_memory_grow(cap_memory_t *memory, uint32_t delta, uint32_t *out_old)
{
    (void)memory, (void)delta, (void)out_old;
    return CAP_ERR_USAGE;
}

int64_t
cap_memory_grow_pages(cap_memory_t *mem, uint32_t delta)
{
    (void)mem, (void)delta;
    return -1;
}

cap_status
cap_table_new(cap_store_t *store, cap_valtype elemtype, uint32_t min, uint32_t max, bool has_max,
              cap_val_t init, cap_table_t **out, cap_error_t *err)
{
    (void)store, (void)elemtype, (void)min, (void)max, (void)has_max, (void)init, (void)out;
    return NI(err);
}

uint32_t
cap_table_size(const cap_table_t *table)
{
    return table->size;
}

cap_status
cap_table_get(const cap_table_t *table, uint32_t i, cap_val_t *out)
{
    (void)table, (void)i, (void)out;
    return CAP_ERR_USAGE;
}

int64_t
cap_table_grow(cap_table_t *table, uint32_t delta, cap_slot_t init)
{
    (void)table, (void)delta, (void)init;
    return -1;
}

cap_status
cap_global_new(cap_store_t *store, cap_val_t val, bool mutable_, cap_global_t **out,
               cap_error_t *err)
{
    (void)store, (void)val, (void)mutable_, (void)out;
    return NI(err);
}

cap_val_t
cap_global_get(const cap_global_t *global)
{
    cap_val_t v = {0};
    v.type = (cap_valtype)global->type;
    v.of.i64 = global->value;
    return v;
}

cap_status
cap_global_set(cap_global_t *global, cap_val_t val)
{
    (void)global, (void)val;
    return CAP_ERR_USAGE;
}

cap_store_t *
cap_caller_store(cap_caller_t *caller)
{
    return caller->store;
}

cap_instance_t *
cap_caller_instance(cap_caller_t *caller)
{
    return caller->inst;
}

uint8_t *
cap_caller_mem(cap_caller_t *caller, uint64_t ptr, uint64_t len)
{
    (void)caller, (void)ptr, (void)len;
    return NULL;
}

uint64_t
cap_caller_mem_size(cap_caller_t *caller)
{
    (void)caller;
    return 0;
}

cap_status
cap_caller_trap(cap_caller_t *caller, cap_trap trap, const char *fmt, ...)
{
    (void)caller, (void)trap, (void)fmt;
    return CAP_ERR_TRAP;
}

cap_status
cap_caller_exit(cap_caller_t *caller, int32_t code)
{
    (void)caller, (void)code;
    return CAP_ERR_TRAP;
}

cap_status
cap_linker_new(cap_linker_t **out, cap_error_t *err)
{
    (void)out;
    return NI(err);
}

void
cap_linker_free(cap_linker_t *linker)
{
    (void)linker;
}

cap_status
cap_linker_define(cap_linker_t *linker, const char *module, const char *name, cap_extern_t ext,
                  cap_error_t *err)
{
    (void)linker, (void)module, (void)name, (void)ext;
    return NI(err);
}

cap_status
cap_linker_define_instance(cap_linker_t *linker, const char *module, cap_instance_t *instance,
                           cap_error_t *err)
{
    (void)linker, (void)module, (void)instance;
    return NI(err);
}

cap_status
cap_linker_define_host(cap_linker_t *linker, cap_store_t *store, const char *module,
                       const char *name, const cap_functype_t *type, cap_host_fn fn, void *env,
                       cap_error_t *err)
{
    (void)linker, (void)store, (void)module, (void)name, (void)type, (void)fn, (void)env;
    return NI(err);
}

cap_status
cap_instance_new(cap_store_t *store, const cap_module_t *module, const cap_linker_t *linker,
                 cap_instance_t **out, cap_error_t *err)
{
    (void)store, (void)module, (void)linker, (void)out;
    return NI(err);
}

cap_status
cap_instance_export(const cap_instance_t *instance, const char *name, cap_extern_t *out,
                    cap_error_t *err)
{
    (void)instance, (void)name, (void)out;
    return NI(err);
}

const cap_module_t *
cap_instance_module(const cap_instance_t *instance)
{
    return instance->module;
}
