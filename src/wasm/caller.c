/* SPDX-License-Identifier: Apache-2.0 */
/* The context of a host call: the store, the calling instance, bounds-checked access to its
 * memory 0, and the way a host function reports a trap or an exit. */
#include "wasm/runtime.h"

#include <stdarg.h>
#include <stdio.h>

cap_store_t *
cap_caller_store(cap_caller_t *caller)
{
    return caller->store;
}

cap_instance_t *
cap_caller_instance(cap_caller_t *caller)
{
    return caller->inst;
}

static cap_memory_t *
memory0(cap_caller_t *caller)
{
    if (!caller || !caller->inst || caller->inst->module->nmems == 0) {
        return NULL;
    }
    return caller->inst->mems[0];
}

/* The check is written so that no sum can wrap: ptr <= size and len <= size - ptr. */
uint8_t *
cap_caller_mem(cap_caller_t *caller, uint64_t ptr, uint64_t len)
{
    cap_memory_t *m = memory0(caller);
    if (!m || ptr > m->size || len > m->size - ptr) {
        return NULL;
    }
    return m->data + ptr;
}

uint64_t
cap_caller_mem_size(cap_caller_t *caller)
{
    cap_memory_t *m = memory0(caller);
    return m ? m->size : 0;
}

cap_status
cap_caller_trap(cap_caller_t *caller, cap_trap trap, const char *fmt, ...)
{
    cap_error_t *err = caller ? caller->err : NULL;
    if (err) {
        cap_error_clear(err);
        err->status = CAP_ERR_TRAP;
        err->trap = trap;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->msg, sizeof err->msg, fmt, ap);
            va_end(ap);
        } else {
            snprintf(err->msg, sizeof err->msg, "%s", cap_trap_message(trap));
        }
    }
    return CAP_ERR_TRAP;
}

cap_status
cap_caller_exit(cap_caller_t *caller, int32_t code)
{
    cap_error_t *err = caller ? caller->err : NULL;
    if (err) {
        cap_error_clear(err);
        err->status = CAP_ERR_TRAP;
        err->trap = CAP_TRAP_EXIT;
        err->exit_code = code;
        snprintf(err->msg, sizeof err->msg, "exit with code %d", (int)code);
    }
    return CAP_ERR_TRAP;
}
