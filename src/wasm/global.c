/* SPDX-License-Identifier: Apache-2.0 */
/* Globals: one typed slot, mutable or not. */
#include "util/alloc.h"
#include "wasm/runtime.h"

static void
global_release(cap_owned *node)
{
    cap_free(node);
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
cap_global_new(cap_store_t *store, cap_val_t val, bool mutable_, cap_global_t **out,
               cap_error_t *err)
{
    cap_error_clear(err);
    if (!store || !out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_global_new: NULL argument");
    }
    *out = NULL;
    if (!valtype_ok(val.type)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_global_new: unsupported value type");
    }
    if (val.type == CAP_FUNCREF && val.of.funcref && val.of.funcref->store != store) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "cap_global_new: function belongs to another store");
    }
    cap_global_t *g = cap_calloc(1, sizeof *g);
    if (!g) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    g->store = store;
    g->type = (uint8_t)val.type;
    g->mutable_ = mutable_;
    g->value = cap_val_to_slot(val);
    g->node.release = global_release;
    cap_store_own(store, &g->node);
    *out = g;
    return CAP_OK;
}

cap_val_t
cap_global_get(const cap_global_t *global)
{
    return cap_slot_to_val((cap_valtype)global->type, global->value);
}

cap_status
cap_global_set(cap_global_t *global, cap_val_t val)
{
    if (!global || !global->mutable_ || val.type != global->type) {
        return CAP_ERR_USAGE;
    }
    if (val.type == CAP_FUNCREF && val.of.funcref && val.of.funcref->store != global->store) {
        return CAP_ERR_USAGE;
    }
    global->value = cap_val_to_slot(val);
    return CAP_OK;
}
