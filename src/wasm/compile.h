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

/* The compiler's scratch buffers, kept between compilations of single bodies (compile_lazy.c)
 * so that each costs only the compilation. */
typedef struct cap_comp_scratch cap_comp_scratch;
cap_comp_scratch *cap_comp_scratch_new(void);
void cap_comp_scratch_free(cap_comp_scratch *s);
/* Validates and compiles the body of defined function func_index (as cap_compile_module does
 * for each), publishing the code in its funcs[].code with a release store. err must not be NULL.
 * On failure (MALFORMED, INVALID, NOMEM, reported as cap_compile_module would for that body
 * alone) funcs[].code is untouched and the scratch is reset. */
cap_status cap_compile_body_with(cap_comp_scratch *s, cap_module_t *m, uint32_t func_index,
                                 cap_error_t *err);

#endif
