/* SPDX-License-Identifier: Apache-2.0 */
/* Linear memories: 64 KiB pages in a reserved address range that is committed as it grows, with
 * the store's byte cap and usage accounting. */
#include "platform/platform.h"
#include "util/alloc.h"
#include "wasm/runtime.h"

#include <inttypes.h>

/* Why a grow was refused, so the public API can tell a cap from a host failure. */
typedef enum grow_result {
    GROW_OK,
    GROW_MAX,   // beyond the memory's maximum
    GROW_LIMIT, // beyond the store's memory cap
    GROW_HOST,  // the OS refused
} grow_result;

static void
memory_release(cap_owned *node)
{
    cap_memory_t *m = (cap_memory_t *)node;
    cap_plat_release(m->data, m->reserved);
    m->store->mem_used -= m->size;
    cap_free(m);
}

/* The bytes of address space worth reserving up front: the effective maximum, lowered to the
 * store's cap when there is one (the memory cannot outgrow it), never below `need`. */
static uint64_t
wanted_reservation(const cap_store_t *store, uint32_t max_pages, uint64_t need)
{
    uint64_t want = (uint64_t)max_pages * CAP_PAGE_SIZE;
    if (store->mem_limit && want > store->mem_limit) {
        want = (store->mem_limit + CAP_PAGE_SIZE - 1) / CAP_PAGE_SIZE * CAP_PAGE_SIZE;
    }
    if (want < need) {
        want = need;
    }
    if (want < CAP_PAGE_SIZE) {
        want = CAP_PAGE_SIZE; // so that data is never NULL, even for a 0-page memory
    }
    return want;
}

static void
account(cap_store_t *store, uint64_t bytes)
{
    store->mem_used += bytes;
    if (store->mem_used > store->mem_peak) {
        store->mem_peak = store->mem_used;
    }
}

cap_status
cap_memory_new(cap_store_t *store, uint32_t min_pages, uint32_t max_pages, bool has_max,
               cap_memory_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!store || !out) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_memory_new: NULL argument");
    }
    *out = NULL;
    uint32_t eff_max = has_max && max_pages < CAP_MAX_PAGES ? max_pages : CAP_MAX_PAGES;
    if ((has_max && min_pages > max_pages) || min_pages > CAP_MAX_PAGES) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "memory size must be at most 65536 pages (4GiB) and at most its maximum");
    }
    uint64_t bytes = (uint64_t)min_pages * CAP_PAGE_SIZE;
    if (store->mem_limit &&
        (store->mem_used > store->mem_limit || bytes > store->mem_limit - store->mem_used)) {
        cap_fail(err, CAP_ERR_TRAP, UINT64_MAX,
                 "memory limit exceeded: memory needs %" PRIu64 " bytes, limit is %" PRIu64,
                 store->mem_used + bytes, store->mem_limit);
        if (err) {
            err->trap = CAP_TRAP_MEMORY_LIMIT;
        }
        return CAP_ERR_TRAP;
    }
    cap_memory_t *m = cap_calloc(1, sizeof *m);
    if (!m) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    uint64_t want = wanted_reservation(store, eff_max, bytes);
    m->data = cap_plat_reserve(want);
    if (!m->data) {
        /* Not enough address space for the maximum: reserve what is needed now and move the
         * memory when it grows past it. */
        want = bytes < CAP_PAGE_SIZE ? CAP_PAGE_SIZE : bytes;
        m->data = cap_plat_reserve(want);
    }
    if (!m->data || !cap_plat_commit(m->data, 0, bytes)) {
        cap_plat_release(m->data, m->data ? want : 0);
        cap_free(m);
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX,
                        "out of memory: cannot map %" PRIu64 " bytes of linear memory", bytes);
    }
    m->store = store;
    m->reserved = want;
    m->size = bytes;
    m->pages = min_pages;
    m->max_pages = eff_max;
    m->has_max = has_max;
    account(store, bytes);
    m->node.release = memory_release;
    cap_store_own(store, &m->node);
    *out = m;
    return CAP_OK;
}

/* memory.grow (spec 4.4.7): new pages are zero; data moves only when the reservation is too
 * small, which happens only when the up-front reservation failed or the cap was raised. */
static grow_result
grow(cap_memory_t *m, uint32_t delta)
{
    if (delta == 0) {
        return GROW_OK;
    }
    uint64_t new_pages = (uint64_t)m->pages + delta;
    if (new_pages > m->max_pages) {
        return GROW_MAX;
    }
    uint64_t add = (uint64_t)delta * CAP_PAGE_SIZE;
    uint64_t new_size = new_pages * CAP_PAGE_SIZE;
    cap_store_t *s = m->store;
    if (s->mem_limit && (s->mem_used > s->mem_limit || add > s->mem_limit - s->mem_used)) {
        return GROW_LIMIT;
    }
    if (new_size > m->reserved) {
        uint64_t want = wanted_reservation(s, m->max_pages, new_size);
        void *nb = cap_plat_move(m->data, m->size, m->reserved, want);
        if (!nb && want > new_size) {
            want = new_size;
            nb = cap_plat_move(m->data, m->size, m->reserved, want);
        }
        if (!nb) {
            return GROW_HOST;
        }
        m->data = nb;
        m->reserved = want;
    }
    if (!cap_plat_commit(m->data, m->size, new_size)) {
        return GROW_HOST;
    }
    m->size = new_size;
    m->pages = (uint32_t)new_pages;
    account(s, add);
    return GROW_OK;
}

int64_t
cap_memory_grow_pages(cap_memory_t *mem, uint32_t delta)
{
    uint32_t old = mem->pages;
    return grow(mem, delta) == GROW_OK ? (int64_t)old : -1;
}

cap_status
cap_memory_grow(cap_memory_t *memory, uint32_t delta, uint32_t *out_old)
{
    if (!memory) {
        return CAP_ERR_USAGE;
    }
    uint32_t old = memory->pages;
    switch (grow(memory, delta)) {
    case GROW_OK:
        if (out_old) {
            *out_old = old;
        }
        return CAP_OK;
    case GROW_LIMIT:
        return CAP_ERR_TRAP;
    case GROW_MAX:
    case GROW_HOST:
        break;
    }
    return CAP_ERR_NOMEM;
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
