/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interface between the parts of the compiler (compile.c, compile_scan.c). */
#ifndef CAP_WASM_COMPILE_H
#define CAP_WASM_COMPILE_H

#include "wasm/module.h"

static inline bool
is_valtype(uint8_t t)
{
    return t == CAP_I32 || t == CAP_I64 || t == CAP_F32 || t == CAP_F64 || t == CAP_FUNCREF ||
           t == CAP_EXTERNREF;
}

static inline bool
is_ref(uint8_t t)
{
    return t == CAP_FUNCREF || t == CAP_EXTERNREF;
}

/* Decodes a body without validating it: the spec decodes the whole module before validating
 * anything, so a malformed body must win over an invalid one found earlier. Returns
 * CAP_ERR_MALFORMED (with err filled) or CAP_OK. Never allocates. */
cap_status cap_compile_scan_body(const cap_module_t *m, const cap_func_def *def, cap_error_t *err);

#endif
