/* SPDX-License-Identifier: Apache-2.0 */
/* STUB: replaced by the decoder. */
#include "wasm/module.h"

cap_status
cap_decode(cap_module_t *m, cap_error_t *err)
{
    (void)m;
    return cap_fail(err, CAP_ERR_MALFORMED, 0, "decoder not implemented");
}

void
cap_module_release(cap_module_t *m)
{
    (void)m;
}
