/* SPDX-License-Identifier: Apache-2.0 */
/* Tables of references: funcref slots hold cap_func_t pointers, externref slots the host's
 * value; 0 is null in both. */
#include "util/alloc.h"
#include "wasm/runtime.h"

static void
table_release(cap_owned *node)
{
    cap_table_t *t = (cap_table_t *)node;
    cap_free(t->elems);
    cap_free(t);
}

cap_status
cap_table_new(cap_store_t *store, cap_valtype elemtype, uint32_t min, uint32_t max, bool has_max,
              cap_val_t init, cap_table_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!store || !out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_table_new: NULL argument");
    }
    *out = NULL;
    if (elemtype != CAP_FUNCREF && elemtype != CAP_EXTERNREF) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_table_new: not a reference type");
    }
    if (init.type != elemtype) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "cap_table_new: initial value has the wrong type");
    }
    if (elemtype == CAP_FUNCREF && init.of.funcref && init.of.funcref->store != store) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "cap_table_new: initial function belongs to another store");
    }
    if (has_max && min > max) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "size minimum must not be greater than maximum");
    }
    if (min > CAP_MAX_TABLE_SIZE) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX,
                        "out of memory: table of %u elements exceeds the limit of %u", min,
                        CAP_MAX_TABLE_SIZE);
    }
    cap_table_t *t = cap_calloc(1, sizeof *t);
    if (!t) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    t->elems = cap_alloc((size_t)min * sizeof(cap_slot_t));
    if (!t->elems) {
        cap_free(t);
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    cap_slot_t v = cap_val_to_slot(init);
    for (uint32_t i = 0; i < min; i++) {
        t->elems[i] = v;
    }
    t->store = store;
    t->elemtype = (uint8_t)elemtype;
    t->size = min;
    t->max = has_max && max < CAP_MAX_TABLE_SIZE ? max : CAP_MAX_TABLE_SIZE;
    t->has_max = has_max;
    t->decl_max = has_max ? max : 0;
    t->node.release = table_release;
    cap_store_own(store, &t->node);
    *out = t;
    return CAP_OK;
}

/* table.grow (spec 4.4.6): -1 beyond the effective maximum or when the host is out of memory. */
int64_t
cap_table_grow(cap_table_t *table, uint32_t delta, cap_slot_t init)
{
    uint32_t old = table->size;
    if (delta == 0) {
        return old;
    }
    if ((uint64_t)old + delta > table->max) {
        return -1;
    }
    uint32_t n = old + delta;
    cap_slot_t *e = cap_realloc(table->elems, (size_t)n * sizeof(cap_slot_t));
    if (!e) {
        return -1;
    }
    for (uint32_t i = old; i < n; i++) {
        e[i] = init;
    }
    table->elems = e;
    table->size = n;
    return old;
}

uint32_t
cap_table_size(const cap_table_t *table)
{
    return table->size;
}

cap_status
cap_table_get(const cap_table_t *table, uint32_t i, cap_val_t *out)
{
    if (!table || !out) {
        return CAP_ERR_USAGE;
    }
    if (i >= table->size) {
        return CAP_ERR_TRAP;
    }
    *out = cap_slot_to_val((cap_valtype)table->elemtype, table->elems[i]);
    return CAP_OK;
}
