/* SPDX-License-Identifier: Apache-2.0 */
/* The internal code the compiler (compile.c) produces and the interpreter (interp.c) runs.
 *
 * A function compiles to an array of 32-bit words: each instruction is an internal opcode
 * (cap_iop) followed by its operand words. Operands name frame slots (64-bit cells): locals at
 * slots 0..nlocals-1 (parameters first), then the operand stack at fixed slots nlocals + height,
 * known at compile time, so no stack pointer moves at run time. Immediates are 1 word (32-bit
 * values) or 2 words (64-bit values, low word first). Branch targets are word offsets relative
 * to the start of the branching instruction.
 *
 * Fuel: the compiler groups the code into "chains" (straight-line runs, extended through labels
 * that are reached by falling through) and every edge that enters a chain charges the chain's
 * whole cost at once: function entry (code[0]), taken and not-taken branches (cost words next
 * to each target), and returns from calls (the call's last word). Traps in the middle of a chain
 * refund the unexecuted rest from the trap-site table, so fuel_consumed is always exact.
 * Running out is decided when a chain is entered: if its whole cost is not left, the run traps
 * "out of fuel" there, having consumed exactly the operators executed before (so consumption
 * never exceeds the limit, and the point of the trap is the same on every run). A chain has no
 * branch inside, so its operators all run unless one of them traps. */
#ifndef CAP_WASM_CODE_H
#define CAP_WASM_CODE_H

#include "wasm/module.h"

/* Internal opcodes derived from the Wasm rows of opcodes.def, by kind (Y is the generator):
 * UN/UNT give one op; LOAD/STORE give NAME and NAME_add (the address is the i32 sum of two
 * slots, an i32.add fused into the access); BIN/BINT give NAME_ss (slot, slot) and NAME_si (slot,
 * immediate); CMP gives those two plus the fused compare-and-branch forms BRIF (jump if true) and
 * BRIFNOT (jump if false), each in _ss and _si form, in that order (see CAP_CMP_* below). */
#define CAP_IOP_GEN_SPECIAL(Y, n)
#define CAP_IOP_GEN_REINTERP(Y, n)
#define CAP_IOP_GEN_UN(Y, n)    Y(n)
#define CAP_IOP_GEN_UNT(Y, n)   Y(n)
#define CAP_IOP_GEN_LOAD(Y, n)  Y(n) Y(n##_add)
#define CAP_IOP_GEN_STORE(Y, n) Y(n) Y(n##_add)
#define CAP_IOP_GEN_BIN(Y, n)   Y(n##_ss) Y(n##_si)
#define CAP_IOP_GEN_BINT(Y, n)  Y(n##_ss) Y(n##_si)
#define CAP_IOP_GEN_CMP(Y, n)                                                                      \
    Y(n##_ss) Y(n##_si) Y(BRIF_##n##_ss) Y(BRIF_##n##_si) Y(BRIFNOT_##n##_ss) Y(BRIFNOT_##n##_si)

/* Offsets of the CMP variants from the NAME_ss op. */
enum {
    CAP_CMP_SI = 1,      // + this for the immediate form of any of the groups below
    CAP_CMP_BRIF = 2,    // jump when the comparison holds
    CAP_CMP_BRIFNOT = 4, // jump when it does not
};

/* Hand-written internal ops, with their operand words. */
// clang-format off
#define CAP_IOP_MISC(Y)                                                                 \
    Y(UNREACHABLE)   /* trap "unreachable" */                                           \
    Y(COPY)          /* dst src: 64-bit slot copy */                                    \
    Y(CONST32)       /* dst imm: slot = zero-extended 32-bit immediate */               \
    Y(CONST64)       /* dst lo hi: slot = 64-bit immediate */                           \
    Y(BR)            /* rel cost: jump, charging the target chain */                    \
    Y(BRIF32)        /* c rel tcost fcost: jump if i32 c != 0 */                        \
    Y(BRIFNOT32)     /* c rel tcost fcost: jump if i32 c == 0 */                        \
    Y(BRIF64)        /* c rel tcost fcost: jump if i64 c != 0 */                        \
    Y(BRIFNOT64)     /* c rel tcost fcost: jump if i64 c == 0 */                        \
    Y(BR_TABLE)      /* i n (rel cost)*(n+1): jump to entry min(i, n) */                \
    Y(RETURN)        /* results already in slots 0..: pop the frame */                  \
    Y(RET1)          /* src: slot 0 = src, then RETURN */                               \
    Y(CALL)          /* f base cont: call function f with args at slot base */          \
    Y(CALL_INDIRECT) /* type table base i cont: call table[i] checking its type */      \
    Y(SELECT)        /* dst a b c: dst = c ? a : b */                                   \
    Y(GLOBAL_GET)    /* dst g */                                                        \
    Y(GLOBAL_SET)    /* src g */                                                        \
    Y(MEMORY_SIZE)   /* dst */                                                          \
    Y(MEMORY_GROW)   /* dst delta */                                                    \
    Y(MEMORY_FILL)   /* d v n */                                                        \
    Y(MEMORY_COPY)   /* d s n */                                                        \
    Y(MEMORY_INIT)   /* seg d s n */                                                    \
    Y(DATA_DROP)     /* seg */                                                          \
    Y(TABLE_GET)     /* dst t i */                                                      \
    Y(TABLE_SET)     /* t i v */                                                        \
    Y(TABLE_SIZE)    /* dst t */                                                        \
    Y(TABLE_GROW)    /* dst t init n */                                                 \
    Y(TABLE_FILL)    /* t i v n */                                                      \
    Y(TABLE_COPY)    /* dt st d s n */                                                  \
    Y(TABLE_INIT)    /* t seg d s n */                                                  \
    Y(ELEM_DROP)     /* seg */                                                          \
    Y(REF_IS_NULL)   /* dst a */                                                        \
    Y(REF_FUNC)      /* dst f */                                                        \
    Y(LAZY)          /* the body of a lazy stub (never entered: see struct cap_code) */
// clang-format on

typedef enum cap_iop {
#define CAP_IOP_ENUM(n)                                     CAP_IOP_##n,
#define X(name, prefix, code, kind, ta, tb, tr, fuel, expr) CAP_IOP_GEN_##kind(CAP_IOP_ENUM, name)
#include "wasm/opcodes.def"
#undef X
    CAP_IOP_MISC(CAP_IOP_ENUM)
#undef CAP_IOP_ENUM
        CAP_IOP_COUNT
} cap_iop;

/* A place where the code may trap: its word offset, the Wasm pc (offset in the function body)
 * for messages, and the fuel to give back when it traps (the rest of its chain). Sorted by
 * `off`. */
typedef struct cap_trap_site {
    uint32_t off;
    uint32_t pc;
    uint32_t refund;
} cap_trap_site;

struct cap_code {
    uint32_t *code;       // code[0] = fuel of the entry chain; execution starts at code + 1
    uint32_t len;         // words
    uint32_t nparams;     // parameter slots
    uint32_t nresults;    // result slots (written to slots 0.. on return)
    uint32_t nlocals;     // parameters + declared locals
    uint32_t frame_slots; // nlocals + maximum operand stack height
    uint32_t func_index;  // in the module's function index space
    uint32_t nsites;
    cap_trap_site *sites;
    /* True for the stub that stands in for a function of a lazily compiled module
     * (cap_module_new_lazy) until its body is validated and compiled. A stub has the real
     * nparams, nresults, nlocals = nparams and func_index, no trap sites, code {0, LAZY}, and
     * frame_slots = UINT32_MAX: no frame fits, so the interpreter's call path always takes its
     * (cold) frame-reservation branch for a stub, and compiles the function there
     * (cap_compile_function) before anything else happens; the hot path tests nothing. */
    bool lazy;
};

/* The code of defined function def, as last published (a stub until a lazy module compiles it).
 * Pairs with the release store that publishes compiled code, so the code's contents are
 * visible to the thread that sees the pointer. */
static inline const struct cap_code *
cap_code_load(const cap_func_def *def)
{
    return __atomic_load_n(&def->code, __ATOMIC_ACQUIRE);
}

#endif
