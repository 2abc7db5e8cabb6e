/* SPDX-License-Identifier: Apache-2.0 */
/* Status and trap names (from the X-macro lists in capsule.h) and the error-filling helpers. */
#include "wasm/runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
#define CAP_X(name, msg) msg,
    CAP_STATUS_MAP(CAP_X)
#undef CAP_X
};

static const char *const trap_messages[] = {
#define CAP_X(name, msg) msg,
    CAP_TRAP_MAP(CAP_X)
#undef CAP_X
};

const char *
cap_status_name(cap_status st)
{
    if ((unsigned)st >= sizeof status_names / sizeof status_names[0]) {
        return "unknown status";
    }
    return status_names[st];
}

const char *
cap_trap_message(cap_trap trap)
{
    if ((unsigned)trap >= sizeof trap_messages / sizeof trap_messages[0]) {
        return "unknown trap";
    }
    return trap_messages[trap];
}

void
cap_error_clear(cap_error_t *err)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->offset = UINT64_MAX;
        err->func_index = UINT32_MAX;
    }
}

cap_status
cap_fail(cap_error_t *err, cap_status status, uint64_t offset, const char *fmt, ...)
{
    if (err) {
        cap_error_clear(err);
        err->status = status;
        err->offset = offset;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

cap_status
cap_trap_fill(cap_error_t *err, cap_trap trap, const cap_module_t *module, uint32_t func_index,
              uint32_t pc)
{
    if (err) {
        cap_error_clear(err);
        err->status = CAP_ERR_TRAP;
        err->trap = trap;
        err->func_index = func_index;
        err->pc = pc;
        const char *name = NULL;
        if (module && module->func_names && func_index < module->nfuncs) {
            name = module->func_names[func_index];
        }
        if (name) {
            snprintf(err->msg, sizeof err->msg, "%s in %s", cap_trap_message(trap), name);
        } else if (module && func_index != UINT32_MAX) {
            snprintf(err->msg, sizeof err->msg, "%s in function %u", cap_trap_message(trap),
                     func_index);
        } else {
            snprintf(err->msg, sizeof err->msg, "%s", cap_trap_message(trap));
        }
    }
    return CAP_ERR_TRAP;
}

bool
cap_ftype_equal(const cap_ftype *a, const cap_ftype *b)
{
    if (a == b) {
        return true;
    }
    return a->nparams == b->nparams && a->nresults == b->nresults &&
           memcmp(a->types, b->types, a->nparams + a->nresults) == 0;
}
