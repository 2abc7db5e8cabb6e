/* SPDX-License-Identifier: Apache-2.0 */
/* Instantiation (spec 4.5.4): resolve and check imports, allocate the module's functions,
 * tables, memories and globals in the store, initialise element and data segments in order,
 * run the start function. Also export lookup. */
#include "util/alloc.h"
#include "wasm/runtime.h"

#include <inttypes.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

/* The instance owns its arrays. `funcs` is one block: the pointer array, then the cap_func_t of
 * every defined function; `elem_refs` likewise holds its pointer array and then every segment's
 * slots. So the release function never needs the module. */
static void
instance_release(cap_owned *node)
{
    cap_instance_t *inst = (cap_instance_t *)node;
    cap_free(inst->funcs);
    cap_free(inst->tables);
    cap_free(inst->mems);
    cap_free(inst->globals);
    cap_free(inst->elem_refs);
    cap_free(inst->elem_len);
    cap_free(inst->data_dropped);
    cap_free(inst);
}

static size_t
align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static cap_status
nomem(cap_error_t *err)
{
    return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
}

static const char *
kind_name(cap_extern_kind k)
{
    switch (k) {
    case CAP_EXTERN_FUNC:
        return "func";
    case CAP_EXTERN_TABLE:
        return "table";
    case CAP_EXTERN_MEMORY:
        return "memory";
    case CAP_EXTERN_GLOBAL:
        return "global";
    }
    return "?";
}

/* Allocates the instance and its arrays (not yet owned by the store). */
static cap_status
alloc_instance(cap_store_t *store, const cap_module_t *m, cap_instance_t **out, cap_error_t *err)
{
    cap_instance_t *inst = cap_calloc(1, sizeof *inst);
    if (!inst) {
        return nomem(err);
    }
    inst->node.release = instance_release;
    inst->store = store;
    inst->module = m;

    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    size_t fhead = align_up((size_t)m->nfuncs * sizeof(cap_func_t *), alignof(cap_func_t));
    uint64_t etotal = 0;
    for (uint32_t i = 0; i < m->nelems; i++) {
        etotal += m->elems[i].count;
    }
    size_t ehead = align_up((size_t)m->nelems * sizeof(cap_slot_t *), alignof(cap_slot_t));
    if (etotal > (SIZE_MAX - ehead) / sizeof(cap_slot_t) ||
        ndef > (SIZE_MAX - fhead) / sizeof(cap_func_t)) {
        instance_release(&inst->node);
        return nomem(err);
    }
    inst->funcs = cap_calloc(1, fhead + (size_t)ndef * sizeof(cap_func_t));
    inst->tables = cap_calloc(m->ntables, sizeof(cap_table_t *));
    inst->mems = cap_calloc(m->nmems, sizeof(cap_memory_t *));
    inst->globals = cap_calloc(m->nglobals, sizeof(cap_global_t *));
    inst->elem_refs = cap_calloc(1, ehead + (size_t)etotal * sizeof(cap_slot_t));
    inst->elem_len = cap_calloc(m->nelems, sizeof(uint32_t));
    inst->data_dropped = cap_calloc(m->ndatas, 1);
    if (!inst->funcs || !inst->tables || !inst->mems || !inst->globals || !inst->elem_refs ||
        !inst->elem_len || !inst->data_dropped) {
        instance_release(&inst->node);
        return nomem(err);
    }
    cap_slot_t *slots = (cap_slot_t *)((uint8_t *)inst->elem_refs + ehead);
    for (uint32_t i = 0; i < m->nelems; i++) {
        inst->elem_refs[i] = slots;
        slots += m->elems[i].count;
    }
    *out = inst;
    return CAP_OK;
}

static bool
limits_match(uint32_t min, bool has_max, uint32_t max, const cap_limits *want)
{
    /* Spec 4.5.2 (import matching): actual min >= declared min, and a declared maximum needs an
     * actual maximum no greater. */
    if (min < want->min) {
        return false;
    }
    return !want->has_max || (has_max && max <= want->max);
}

static cap_status
link_fail(cap_error_t *err, const char *what, const cap_import *imp, const char *detail)
{
    return cap_fail(err, CAP_ERR_LINK, UINT64_MAX, "%s: %s.%s%s", what, imp->module, imp->name,
                    detail);
}

/* Resolves every import through the linker and checks its type (spec 4.5.4 steps 3-4). */
static cap_status
resolve_imports(cap_store_t *store, const cap_module_t *m, const cap_linker_t *linker,
                cap_instance_t *inst, cap_error_t *err)
{
    uint32_t nf = 0, nt = 0, nm = 0, ng = 0;
    for (uint32_t i = 0; i < m->nimports; i++) {
        const cap_import *imp = &m->imports[i];
        cap_extern_t ext;
        if (!cap_linker_lookup(linker, imp->module, imp->module_len, imp->name, imp->name_len,
                               &ext)) {
            return link_fail(err, "unknown import", imp, "");
        }
        cap_store_t *owner = NULL;
        switch (ext.kind) {
        case CAP_EXTERN_FUNC:
            owner = ext.of.func->store;
            break;
        case CAP_EXTERN_TABLE:
            owner = ext.of.table->store;
            break;
        case CAP_EXTERN_MEMORY:
            owner = ext.of.memory->store;
            break;
        case CAP_EXTERN_GLOBAL:
            owner = ext.of.global->store;
            break;
        }
        if (owner != store) {
            return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "import %s.%s belongs to another store",
                            imp->module, imp->name);
        }
        if (ext.kind != imp->kind) {
            char detail[64];
            snprintf(detail, sizeof detail, " (expected %s, got %s)", kind_name(imp->kind),
                     kind_name(ext.kind));
            return link_fail(err, "incompatible import type", imp, detail);
        }
        bool ok = true;
        switch (imp->kind) {
        case CAP_EXTERN_FUNC:
            ok = cap_ftype_equal(ext.of.func->type, &m->types[imp->desc.type_index]);
            inst->funcs[nf++] = ext.of.func;
            break;
        case CAP_EXTERN_TABLE: {
            const cap_table_t *t = ext.of.table;
            ok = t->elemtype == imp->desc.table.elemtype &&
                 limits_match(t->size, t->has_max, t->decl_max, &imp->desc.table.limits);
            inst->tables[nt++] = ext.of.table;
            break;
        }
        case CAP_EXTERN_MEMORY: {
            const cap_memory_t *mem = ext.of.memory;
            ok = limits_match(mem->pages, mem->has_max, mem->max_pages, &imp->desc.memory);
            inst->mems[nm++] = ext.of.memory;
            break;
        }
        case CAP_EXTERN_GLOBAL: {
            const cap_global_t *g = ext.of.global;
            ok = g->type == imp->desc.global.valtype && g->mutable_ == imp->desc.global.mutable_;
            inst->globals[ng++] = ext.of.global;
            break;
        }
        }
        if (!ok) {
            return link_fail(err, "incompatible import type", imp, "");
        }
    }
    return CAP_OK;
}

/* Evaluates a constant expression (spec 4.4.10, Wasm 2.0's single-instruction forms) against the
 * instance's functions and (imported) globals. */
static cap_status
eval_const(const cap_instance_t *inst, const cap_constexpr *e, cap_slot_t *out, cap_error_t *err)
{
    const cap_module_t *m = inst->module;
    switch (e->kind) {
    case CAP_CONST_VALUE:
        *out = e->value;
        return CAP_OK;
    case CAP_CONST_REF_NULL:
        *out = 0;
        return CAP_OK;
    case CAP_CONST_REF_FUNC:
        if (e->index < m->nfuncs && inst->funcs[e->index]) {
            *out = (cap_slot_t)(uintptr_t)inst->funcs[e->index];
            return CAP_OK;
        }
        break;
    case CAP_CONST_GLOBAL_GET:
        if (e->index < m->nglobals && inst->globals[e->index]) {
            *out = inst->globals[e->index]->value;
            return CAP_OK;
        }
        break;
    }
    return cap_fail(err, CAP_ERR_INVALID, UINT64_MAX, "constant expression out of range");
}

/* Sums the initial bytes of the memories the module defines, to refuse a module that cannot fit
 * the store's cap before anything is allocated. */
static cap_status
check_memory_limit(const cap_store_t *store, const cap_module_t *m, cap_error_t *err)
{
    if (!store->mem_limit) {
        return CAP_OK;
    }
    uint64_t need = 0;
    for (uint32_t i = m->nmem_imports; i < m->nmems; i++) {
        need += (uint64_t)m->mems[i].min * CAP_PAGE_SIZE;
    }
    if (need == 0) {
        return CAP_OK;
    }
    uint64_t used = store->mem_used;
    if (used <= store->mem_limit && need <= store->mem_limit - used) {
        return CAP_OK;
    }
    if (used) {
        cap_fail(err, CAP_ERR_TRAP, UINT64_MAX,
                 "memory limit exceeded: module needs %" PRIu64 " bytes (%" PRIu64
                 " already in use), limit is %" PRIu64,
                 need, used, store->mem_limit);
    } else {
        cap_fail(err, CAP_ERR_TRAP, UINT64_MAX,
                 "memory limit exceeded: module needs %" PRIu64 " bytes, limit is %" PRIu64, need,
                 store->mem_limit);
    }
    if (err) {
        err->trap = CAP_TRAP_MEMORY_LIMIT;
    }
    return CAP_ERR_TRAP;
}

/* Creates the module's own functions, tables, memories and globals (spec 4.5.3). */
static cap_status
allocate(cap_store_t *store, const cap_module_t *m, cap_instance_t *inst, cap_error_t *err)
{
    cap_status st;
    uint32_t nimp = m->nfunc_imports;
    size_t fhead = align_up((size_t)m->nfuncs * sizeof(cap_func_t *), alignof(cap_func_t));
    cap_func_t *defs = (cap_func_t *)((uint8_t *)inst->funcs + fhead);
    for (uint32_t i = nimp; i < m->nfuncs; i++) {
        cap_func_t *f = &defs[i - nimp];
        f->store = store;
        f->type = &m->types[m->types[m->func_type[i]].canon];
        f->inst = inst;
        f->index = i;
        /* A lazy module's functions start as stubs; once one is compiled (by any thread) its
         * code is published with a release store, which this acquire load pairs with. */
        f->code = __atomic_load_n(&m->funcs[i - nimp].code, __ATOMIC_ACQUIRE);
        inst->funcs[i] = f;
    }
    for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
        const cap_tabletype *tt = &m->tables[i];
        cap_val_t null;
        memset(&null, 0, sizeof null);
        null.type = (cap_valtype)tt->elemtype;
        if ((st = cap_table_new(store, null.type, tt->limits.min, tt->limits.max,
                                tt->limits.has_max, null, &inst->tables[i], err)) != CAP_OK) {
            return st;
        }
    }
    for (uint32_t i = m->nmem_imports; i < m->nmems; i++) {
        const cap_limits *l = &m->mems[i];
        if ((st = cap_memory_new(store, l->min, l->max, l->has_max, &inst->mems[i], err)) !=
            CAP_OK) {
            return st;
        }
    }
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
        const cap_global_def *gd = &m->globals[i - m->nglobal_imports];
        cap_slot_t v;
        if ((st = eval_const(inst, &gd->init, &v, err)) != CAP_OK) {
            return st;
        }
        if ((st = cap_global_new(store, cap_slot_to_val((cap_valtype)gd->type.valtype, v),
                                 gd->type.mutable_, &inst->globals[i], err)) != CAP_OK) {
            return st;
        }
    }
    for (uint32_t i = 0; i < m->nelems; i++) {
        const cap_elem_seg *seg = &m->elems[i];
        for (uint32_t j = 0; j < seg->count; j++) {
            if ((st = eval_const(inst, &seg->inits[j], &inst->elem_refs[i][j], err)) != CAP_OK) {
                return st;
            }
        }
        inst->elem_len[i] = seg->count;
    }
    return CAP_OK;
}

/* Runs the active segments in order (spec 4.5.4 steps 14-15, table.init / memory.init
 * semantics followed by a drop). A trap leaves earlier writes in place. */
static cap_status
init_segments(cap_instance_t *inst, cap_error_t *err)
{
    cap_status st;
    const cap_module_t *m = inst->module;
    for (uint32_t i = 0; i < m->nelems; i++) {
        const cap_elem_seg *seg = &m->elems[i];
        if (seg->mode == CAP_SEG_ACTIVE) {
            cap_slot_t off;
            if ((st = eval_const(inst, &seg->offset, &off, err)) != CAP_OK) {
                return st;
            }
            cap_table_t *t = inst->tables[seg->table_index];
            uint64_t d = (uint32_t)off;
            if (d + seg->count > t->size) {
                return cap_trap_fill(err, CAP_TRAP_TABLE_OOB, NULL, UINT32_MAX, 0);
            }
            if (seg->count) {
                memcpy(t->elems + d, inst->elem_refs[i], (size_t)seg->count * sizeof(cap_slot_t));
            }
        }
        if (seg->mode != CAP_SEG_PASSIVE) {
            inst->elem_len[i] = 0;
        }
    }
    for (uint32_t i = 0; i < m->ndatas; i++) {
        const cap_data_seg *seg = &m->datas[i];
        if (seg->mode != CAP_SEG_ACTIVE) {
            continue;
        }
        cap_slot_t off;
        if ((st = eval_const(inst, &seg->offset, &off, err)) != CAP_OK) {
            return st;
        }
        cap_memory_t *mem = inst->mems[seg->memory_index];
        uint64_t d = (uint32_t)off;
        if (d + seg->len > mem->size) {
            return cap_trap_fill(err, CAP_TRAP_MEMORY_OOB, NULL, UINT32_MAX, 0);
        }
        if (seg->len) {
            memcpy(mem->data + d, seg->bytes, seg->len);
        }
        inst->data_dropped[i] = 1;
    }
    return CAP_OK;
}

/* Instantiation, from scratch (snap NULL) or from a snapshot. */
static cap_status
instantiate(cap_store_t *store, const cap_module_t *module, const cap_linker_t *linker,
            const cap_snapshot_t *snap, cap_instance_t **out, cap_error_t *err)
{
    cap_status st;
    cap_instance_t *inst = NULL;
    cap_error_clear(err);
    if (!store || !module || !out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_instance_new: NULL argument");
    }
    *out = NULL;
    if (snap && !cap_snapshot_matches(snap, module)) {
        return cap_fail(err, CAP_ERR_LINK, UINT64_MAX, "snapshot does not match the module");
    }
    if ((st = alloc_instance(store, module, &inst, err)) != CAP_OK) {
        return st;
    }
    /* Until the imports check out nothing is in the store, so a link error costs nothing. */
    if ((st = resolve_imports(store, module, linker, inst, err)) != CAP_OK ||
        (st = check_memory_limit(store, module, err)) != CAP_OK) {
        instance_release(&inst->node);
        return st;
    }
    /* From here on the store owns the instance, even a half-built one: a trap in a segment or
     * the start function may already have written its functions into imported tables. */
    cap_store_own(store, &inst->node);
    if ((st = allocate(store, module, inst, err)) != CAP_OK) {
        return st;
    }
    if (snap) {
        /* The snapshot already holds what the segments and the start function did. */
        if ((st = cap_snapshot_apply(inst, snap, err)) != CAP_OK) {
            return st;
        }
        *out = inst;
        return CAP_OK;
    }
    if ((st = init_segments(inst, err)) != CAP_OK) {
        return st;
    }
    if (module->has_start) {
        if ((st = cap_vm_call(store, inst->funcs[module->start], NULL, NULL, err)) != CAP_OK) {
            return st;
        }
    }
    *out = inst;
    return CAP_OK;
}

cap_status
cap_instance_new(cap_store_t *store, const cap_module_t *module, const cap_linker_t *linker,
                 cap_instance_t **out, cap_error_t *err)
{
    return instantiate(store, module, linker, NULL, out, err);
}

cap_status
cap_instance_restore(cap_store_t *store, const cap_module_t *module, const cap_linker_t *linker,
                     const cap_snapshot_t *snapshot, cap_instance_t **out, cap_error_t *err)
{
    if (!snapshot) {
        cap_error_clear(err);
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_instance_restore: NULL snapshot");
    }
    return instantiate(store, module, linker, snapshot, out, err);
}

cap_extern_t
cap_instance_extern(const cap_instance_t *inst, cap_extern_kind kind, uint32_t index)
{
    cap_extern_t ext;
    ext.kind = kind;
    switch (kind) {
    case CAP_EXTERN_FUNC:
        ext.of.func = inst->funcs[index];
        break;
    case CAP_EXTERN_TABLE:
        ext.of.table = inst->tables[index];
        break;
    case CAP_EXTERN_MEMORY:
        ext.of.memory = inst->mems[index];
        break;
    case CAP_EXTERN_GLOBAL:
        ext.of.global = inst->globals[index];
        break;
    }
    return ext;
}

cap_status
cap_instance_export_n(const cap_instance_t *instance, const char *name, size_t name_len,
                      cap_extern_t *out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!instance || (!name && name_len) || !out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_instance_export: NULL argument");
    }
    const cap_module_t *m = instance->module;
    for (uint32_t i = 0; i < m->nexports; i++) {
        const cap_export *ex = &m->exports[i];
        if (ex->name_len == name_len && memcmp(ex->name, name, name_len) == 0) {
            *out = cap_instance_extern(instance, ex->kind, ex->index);
            return CAP_OK;
        }
    }
    return cap_fail(err, CAP_ERR_LINK, UINT64_MAX, "unknown export: %.*s",
                    name_len > 200 ? 200 : (int)name_len, name ? name : "");
}

cap_status
cap_instance_export(const cap_instance_t *instance, const char *name, cap_extern_t *out,
                    cap_error_t *err)
{
    if (!name) {
        cap_error_clear(err);
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_instance_export: NULL name");
    }
    return cap_instance_export_n(instance, name, strlen(name), out, err);
}

const cap_module_t *
cap_instance_module(const cap_instance_t *instance)
{
    return instance->module;
}
