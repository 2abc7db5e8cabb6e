/* SPDX-License-Identifier: Apache-2.0 */
/* Stores: the sandbox that owns every runtime object, its limits and its interrupt flag. */
#include "util/alloc.h"
#include "wasm/runtime.h"

cap_status
cap_store_new(cap_store_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_store_new: NULL out");
    }
    *out = NULL;
    cap_store_t *s = cap_calloc(1, sizeof *s);
    if (!s) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    s->fuel_limit = UINT64_MAX;
    s->max_call_depth = CAP_DEFAULT_CALL_DEPTH;
    atomic_init(&s->interrupt, 0);
    *out = s;
    return CAP_OK;
}

void
cap_store_own(cap_store_t *store, cap_owned *node)
{
    node->next = store->owned;
    store->owned = node;
}

/* Objects are pushed at the head of the list, so walking it frees them newest first: an
 * instance goes before the memories and functions it was linked against. */
void
cap_store_free(cap_store_t *store)
{
    if (!store) {
        return;
    }
    cap_owned *n = store->owned;
    while (n) {
        cap_owned *next = n->next;
        n->release(n);
        n = next;
    }
    cap_vm_state_free(store->vm);
    cap_free(store);
}

void
cap_store_set_fuel(cap_store_t *store, uint64_t fuel)
{
    /* "The fuel the store may still spend": the limit is absolute over the store's life. */
    if (fuel == UINT64_MAX || UINT64_MAX - store->fuel_consumed <= fuel) {
        store->fuel_limit = UINT64_MAX;
    } else {
        store->fuel_limit = store->fuel_consumed + fuel;
    }
}

uint64_t
cap_store_fuel_consumed(const cap_store_t *store)
{
    return store->fuel_consumed;
}

void
cap_store_set_memory_limit(cap_store_t *store, uint64_t bytes)
{
    store->mem_limit = bytes;
}

uint64_t
cap_store_memory_used(const cap_store_t *store)
{
    return store->mem_used;
}

uint64_t
cap_store_memory_peak(const cap_store_t *store)
{
    return store->mem_peak;
}

void
cap_store_set_max_call_depth(cap_store_t *store, uint32_t depth)
{
    if (depth == 0) {
        depth = 1;
    }
    store->max_call_depth = depth > CAP_MAX_CALL_DEPTH ? CAP_MAX_CALL_DEPTH : depth;
}

/* A lock-free atomic store: safe from any thread and from a signal handler. */
void
cap_store_interrupt(cap_store_t *store)
{
    atomic_store_explicit(&store->interrupt, 1u, memory_order_relaxed);
}

void
cap_store_clear_interrupt(cap_store_t *store)
{
    atomic_store_explicit(&store->interrupt, 0u, memory_order_relaxed);
}

bool
cap_store_interrupted(const cap_store_t *store)
{
    return atomic_load_explicit(&((cap_store_t *)store)->interrupt, memory_order_relaxed) != 0;
}

void
cap_store_set_data(cap_store_t *store, void *data)
{
    store->data = data;
}

void *
cap_store_data(const cap_store_t *store)
{
    return store->data;
}
