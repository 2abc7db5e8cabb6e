/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime objects (internal): stores, instances, functions, memories, tables, globals, and the
 * interface between instantiation (instance.c and friends) and the interpreter (interp.c). */
#ifndef CAP_WASM_RUNTIME_H
#define CAP_WASM_RUNTIME_H

#include "wasm/module.h"

#include <stdatomic.h>

#define CAP_DEFAULT_CALL_DEPTH 10000u
#define CAP_MAX_CALL_DEPTH     100000u

struct cap_vm_state; // the interpreter's per-store stacks, owned by interp.c

/* Intrusive list of everything a store owns, freed in reverse order of creation. */
typedef struct cap_owned {
    struct cap_owned *next;
    void (*release)(struct cap_owned *self); // frees the object that embeds this node
} cap_owned;

struct cap_store_t {
    /* Limits and accounting. While the interpreter runs it may keep fuel in registers, but it
     * writes fuel_consumed back before any host call, on return and on trap. */
    uint64_t fuel_limit;    // UINT64_MAX = unlimited
    uint64_t fuel_consumed; // operators executed so far (wasmtime's fuel rule)
    uint64_t mem_limit;     // bytes of linear memory allowed in all; 0 = no cap
    uint64_t mem_used;      // bytes of linear memory currently allocated
    uint64_t mem_peak;
    uint32_t max_call_depth;
    atomic_uint interrupt; // nonzero: trap CAP_TRAP_TIMEOUT at the next check

    struct cap_vm_state *vm; // created lazily by the interpreter; freed by cap_vm_state_free
    cap_owned *owned;        // everything to free with the store
    void *data;              // embedder data (not owned)
};

/* Registers an object for freeing with its store. */
void cap_store_own(cap_store_t *store, cap_owned *node);

struct cap_func_t {
    cap_owned node;
    cap_store_t *store;
    /* The type. For Wasm functions it points at module->types[canon] so that two functions of
     * one module with equal types have the same pointer (fast path of call_indirect). */
    const cap_ftype *type;
    cap_instance_t *inst;        // defining instance; NULL for host functions
    uint32_t index;              // function index in inst->module (Wasm functions)
    const struct cap_code *code; // compiled body (Wasm functions), from the module
    cap_host_fn host;            // host functions only
    void *env;
    void (*free_env)(void *);
    cap_ftype host_type; // storage for a host function's copied type
};

struct cap_memory_t {
    cap_owned node;
    cap_store_t *store;
    uint8_t *data;      // base address; stable while the memory does not grow past `reserved`
    uint64_t size;      // current size in bytes (pages * 64 KiB)
    uint32_t pages;
    uint32_t max_pages; // effective maximum: declared max, or CAP_MAX_PAGES
    uint64_t reserved;  // bytes of address space reserved at data (platform layer)
    bool has_max;       // whether a maximum was declared (max_pages is then that maximum)
};

/* Grows a memory by delta pages, zero-filling the new pages. Returns the old size in pages, or
 * -1 when the declared maximum, the store's memory cap or the host refuses (as memory.grow).
 * `data` may move: callers must reload it. */
int64_t cap_memory_grow_pages(cap_memory_t *mem, uint32_t delta);

struct cap_table_t {
    cap_owned node;
    cap_store_t *store;
    uint8_t elemtype;   // CAP_FUNCREF or CAP_EXTERNREF
    uint32_t size;
    uint32_t max;       // effective maximum: declared max, or CAP_MAX_TABLE_SIZE
    cap_slot_t *elems;  // size slots: (uintptr_t)cap_func_t* or externref value; 0 = null
    bool has_max;       // whether a maximum was declared
    uint32_t decl_max;  // the declared maximum (for import matching), when has_max
};

/* Grows a table by delta elements set to init. Returns the old size, or -1 (as table.grow). */
int64_t cap_table_grow(cap_table_t *table, uint32_t delta, cap_slot_t init);

struct cap_global_t {
    cap_owned node;
    cap_store_t *store;
    uint8_t type;
    bool mutable_;
    cap_slot_t value;
};

struct cap_instance_t {
    cap_owned node;
    cap_store_t *store;
    const cap_module_t *module;
    cap_func_t **funcs;     // module->nfuncs entries (imports resolved)
    cap_table_t **tables;   // module->ntables
    cap_memory_t **mems;    // module->nmems
    cap_global_t **globals; // module->nglobals
    /* Element segment instances: the evaluated references of each segment (module->nelems
     * entries, each elems[i].count slots), and their dropped state. Active and declarative
     * segments are dropped after instantiation (spec 4.5.4). */
    cap_slot_t **elem_refs;
    uint32_t *elem_len;     // current length: count, or 0 once dropped
    uint8_t *data_dropped;  // module->ndatas flags: 1 once dropped (data.drop or active)
};

/* The context a host function receives. */
struct cap_caller_t {
    cap_store_t *store;
    cap_instance_t *inst; // calling instance, or NULL when called by the embedder
    cap_error_t *err;     // where cap_caller_trap writes the trap
};

/* ---- Runtime helpers (func.c, instance.c, linker.c) ---- */

/* Converts a typed value to its slot encoding (see cap_slot_t) and back. */
cap_slot_t cap_val_to_slot(cap_val_t v);
cap_val_t cap_slot_to_val(cap_valtype type, cap_slot_t slot);

/* The external value of an instance's entity `index` of `kind` (index in range). */
cap_extern_t cap_instance_extern(const cap_instance_t *inst, cap_extern_kind kind, uint32_t index);
/* cap_linker_define with names given by length (names may contain NUL bytes). */
cap_status cap_linker_define_n(cap_linker_t *linker, const char *module, size_t module_len,
                               const char *name, size_t name_len, cap_extern_t ext,
                               cap_error_t *err);
/* Looks a name up; returns false when it is not defined. */
bool cap_linker_lookup(const cap_linker_t *linker, const char *module, size_t module_len,
                       const char *name, size_t name_len, cap_extern_t *out);

/* ---- Snapshots (snapshot.c) ---- */

/* Whether a snapshot was taken from a module of this shape. */
bool cap_snapshot_matches(const cap_snapshot_t *snapshot, const cap_module_t *module);
/* Gives a freshly allocated instance (segments not run) the snapshot's state. */
cap_status cap_snapshot_apply(cap_instance_t *inst, const cap_snapshot_t *snapshot,
                              cap_error_t *err);

/* ---- Interpreter entry points (interp.c) ---- */

/* Calls `func` (Wasm or host) with args (func->type->nparams slots), writing results
 * (nresults slots). Traps return CAP_ERR_TRAP with err->trap, err->func_index, err->pc and
 * err->msg ("<spec message>" or "<spec message> in <function name>") filled in. Re-entrant:
 * a host function may call back into Wasm. Never recurses on the host stack per Wasm call. */
cap_status cap_vm_call(cap_store_t *store, cap_func_t *func, const cap_slot_t *args,
                       cap_slot_t *results, cap_error_t *err);
/* Frees the interpreter's per-store state (NULL is a no-op). */
void cap_vm_state_free(struct cap_vm_state *vm);

/* Fills err with a trap (status CAP_ERR_TRAP, the trap's spec message, plus
 * " in <name>" when the function is known and named). Returns CAP_ERR_TRAP. */
cap_status cap_trap_fill(cap_error_t *err, cap_trap trap, const cap_module_t *module,
                         uint32_t func_index, uint32_t pc);

#endif
