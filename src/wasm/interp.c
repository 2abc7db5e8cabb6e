/* SPDX-License-Identifier: Apache-2.0 */
/* STUB: replaced by the interpreter. */
#include "wasm/runtime.h"

cap_status
cap_vm_call(cap_store_t *store, cap_func_t *func, const cap_slot_t *args, cap_slot_t *results,
            cap_error_t *err)
{
    (void)store;
    (void)func;
    (void)args;
    (void)results;
    return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "interpreter not implemented");
}

void
cap_vm_state_free(struct cap_vm_state *vm)
{
    (void)vm;
}
