/* SPDX-License-Identifier: Apache-2.0 */
/* STUB: replaced by the compiler. */
#include "wasm/module.h"

cap_status
cap_compile_module(cap_module_t *m, cap_error_t *err)
{
    (void)m;
    return cap_fail(err, CAP_ERR_INVALID, 0, "compiler not implemented");
}

void
cap_compile_free(struct cap_code *code)
{
    (void)code;
}
