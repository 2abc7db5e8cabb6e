/* SPDX-License-Identifier: Apache-2.0 */
/* The interpreter: runs the internal code of code.h with direct-threaded dispatch (computed
 * goto), frames on a per-store value stack (never on the host C stack), and fuel charged per
 * chain from a register that holds a slice of it (refilling it is where the interrupt flag is
 * checked, so the hot paths test nothing else). */
#include "util/alloc.h"
#include "wasm/code.h"
#include "wasm/runtime.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define VM_INIT_SLOTS ((size_t)1 << 16)
#define VM_MAX_SLOTS  ((size_t)1 << 23) // 64 MiB of value stack per store

typedef struct frame {
    const uint32_t *ret_ip; // NULL: return to the host (the entry frame of a cap_vm_call)
    size_t fp_off;          // caller's frame base, in slots from the stack's start
    cap_func_t *func;       // caller
} frame;

struct cap_vm_state {
    cap_slot_t *stack;
    size_t cap; // slots
    size_t top; // first slot not in use by an active run (re-entrant calls start there)
    frame *frames;
    uint32_t fcap;
    uint32_t depth;
};

void
cap_vm_state_free(struct cap_vm_state *vm)
{
    if (vm) {
        cap_free(vm->stack);
        cap_free(vm->frames);
        cap_free(vm);
    }
}

static bool
vm_reserve(struct cap_vm_state *vm, size_t need)
{
    if (vm->stack && need <= vm->cap) {
        return true;
    }
    if (need > VM_MAX_SLOTS) {
        return false;
    }
    size_t n = vm->cap ? vm->cap : VM_INIT_SLOTS;
    while (n < need) {
        n *= 2;
    }
    if (n > VM_MAX_SLOTS) {
        n = VM_MAX_SLOTS;
    }
    cap_slot_t *s = cap_realloc(vm->stack, n * sizeof(cap_slot_t));
    if (!s) {
        return false;
    }
    vm->stack = s;
    vm->cap = n;
    return true;
}

static bool
vm_reserve_frames(struct cap_vm_state *vm, uint32_t need)
{
    if (need <= vm->fcap) {
        return true;
    }
    uint32_t n = vm->fcap ? vm->fcap * 2 : 256;
    while (n < need) {
        n *= 2;
    }
    frame *f = cap_realloc(vm->frames, (size_t)n * sizeof(frame));
    if (!f) {
        return false;
    }
    vm->frames = f;
    vm->fcap = n;
    return true;
}

/* ------------------------------------------------------------------ numeric helpers */

#define UNLIKELY(x) __builtin_expect(!!(x), 0)

static inline float
f32_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static inline double
f64_of(uint64_t b)
{
    double f;
    memcpy(&f, &b, 8);
    return f;
}

static inline uint32_t
bits_f32(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static inline uint64_t
bits_f64(double f)
{
    uint64_t b;
    memcpy(&b, &f, 8);
    return b;
}

#define FABS32(a)         f32_of(bits_f32(a) & 0x7FFFFFFFu)
#define FNEG32(a)         f32_of(bits_f32(a) ^ 0x80000000u)
#define FCOPYSIGN32(a, b) f32_of((bits_f32(a) & 0x7FFFFFFFu) | (bits_f32(b) & 0x80000000u))
#define FABS64(a)         f64_of(bits_f64(a) & 0x7FFFFFFFFFFFFFFFull)
#define FNEG64(a)         f64_of(bits_f64(a) ^ 0x8000000000000000ull)
#define FCOPYSIGN64(a, b)                                                                          \
    f64_of((bits_f64(a) & 0x7FFFFFFFFFFFFFFFull) | (bits_f64(b) & 0x8000000000000000ull))

/* min/max: NaN if either is NaN (a + b keeps a quiet NaN), and -0 < +0. */
static inline float
fmin32(float a, float b)
{
    if (a != a || b != b) {
        return a + b;
    }
    if (a == 0 && b == 0) {
        return signbit(a) ? a : b;
    }
    return a < b ? a : b;
}

static inline float
fmax32(float a, float b)
{
    if (a != a || b != b) {
        return a + b;
    }
    if (a == 0 && b == 0) {
        return signbit(a) ? b : a;
    }
    return a > b ? a : b;
}

static inline double
fmin64(double a, double b)
{
    if (a != a || b != b) {
        return a + b;
    }
    if (a == 0 && b == 0) {
        return signbit(a) ? a : b;
    }
    return a < b ? a : b;
}

static inline double
fmax64(double a, double b)
{
    if (a != a || b != b) {
        return a + b;
    }
    if (a == 0 && b == 0) {
        return signbit(a) ? b : a;
    }
    return a > b ? a : b;
}

/* Rounding keeps NaNs but must quieten signalling ones (an arithmetic NaN), which libm's
 * functions do not always do. */
#define FROUND(f, a)  ((a) != (a) ? (a) + (a) : f(a))
#define FCEIL32(a)    FROUND(ceilf, a)
#define FFLOOR32(a)   FROUND(floorf, a)
#define FTRUNC32(a)   FROUND(truncf, a)
#define FNEAREST32(a) FROUND(nearbyintf, a)
#define FCEIL64(a)    FROUND(ceil, a)
#define FFLOOR64(a)   FROUND(floor, a)
#define FTRUNC64(a)   FROUND(trunc, a)
#define FNEAREST64(a) FROUND(nearbyint, a)

#define FMIN32(a, b) fmin32(a, b)
#define FMAX32(a, b) fmax32(a, b)
#define FMIN64(a, b) fmin64(a, b)
#define FMAX64(a, b) fmax64(a, b)

#define CLZ32(a)     ((uint32_t)((a) ? __builtin_clz(a) : 32))
#define CTZ32(a)     ((uint32_t)((a) ? __builtin_ctz(a) : 32))
#define CLZ64(a)     ((uint64_t)((a) ? __builtin_clzll(a) : 64))
#define CTZ64(a)     ((uint64_t)((a) ? __builtin_ctzll(a) : 64))
#define ROTL32(a, b) (((a) << ((b)&31)) | ((a) >> ((32 - ((b)&31)) & 31)))
#define ROTR32(a, b) (((a) >> ((b)&31)) | ((a) << ((32 - ((b)&31)) & 31)))
#define ROTL64(a, b) (((a) << ((b)&63)) | ((a) >> ((64 - ((b)&63)) & 63)))
#define ROTR64(a, b) (((a) >> ((b)&63)) | ((a) << ((64 - ((b)&63)) & 63)))

/* Saturating truncations (f32 operands are promoted exactly to f64 first). */
static inline uint32_t
sat_i32_s(double a)
{
    if (a != a) {
        return 0;
    }
    if (a <= -2147483648.0) {
        return 0x80000000u;
    }
    if (a >= 2147483647.0) {
        return 0x7FFFFFFFu;
    }
    return (uint32_t)(int32_t)a;
}

static inline uint32_t
sat_i32_u(double a)
{
    if (a != a || a <= 0) {
        return 0;
    }
    if (a >= 4294967295.0) {
        return 0xFFFFFFFFu;
    }
    return (uint32_t)a;
}

static inline uint64_t
sat_i64_s(double a)
{
    if (a != a) {
        return 0;
    }
    if (a <= -9223372036854775808.0) {
        return 0x8000000000000000ull;
    }
    if (a >= 9223372036854775808.0) {
        return 0x7FFFFFFFFFFFFFFFull;
    }
    return (uint64_t)(int64_t)a;
}

static inline uint64_t
sat_i64_u(double a)
{
    if (a != a || a <= 0) {
        return 0;
    }
    if (a >= 18446744073709551616.0) {
        return UINT64_MAX;
    }
    return (uint64_t)a;
}

#define SAT_I32_F32_S(a) sat_i32_s((double)(a))
#define SAT_I32_F32_U(a) sat_i32_u((double)(a))
#define SAT_I32_F64_S(a) sat_i32_s(a)
#define SAT_I32_F64_U(a) sat_i32_u(a)
#define SAT_I64_F32_S(a) sat_i64_s((double)(a))
#define SAT_I64_F32_U(a) sat_i64_u((double)(a))
#define SAT_I64_F64_S(a) sat_i64_s(a)
#define SAT_I64_F64_U(a) sat_i64_u(a)

/* Trapping operations: statement expressions that jump to the trap exit of run(). */
#define TRAPC(code)                                                                                \
    do {                                                                                           \
        tr = CAP_TRAP_##code;                                                                      \
        goto trap;                                                                                 \
    } while (0)

#define DIVS32(a, b)                                                                               \
    ({                                                                                             \
        if (UNLIKELY((b) == 0)) {                                                                  \
            TRAPC(DIV_ZERO);                                                                       \
        }                                                                                          \
        if (UNLIKELY((a) == 0x80000000u && (b) == 0xFFFFFFFFu)) {                                  \
            TRAPC(INT_OVERFLOW);                                                                   \
        }                                                                                          \
        (uint32_t)((int32_t)(a) / (int32_t)(b));                                                   \
    })
#define DIVU32(a, b)                                                                               \
    ({                                                                                             \
        if (UNLIKELY((b) == 0)) {                                                                  \
            TRAPC(DIV_ZERO);                                                                       \
        }                                                                                          \
        (a) / (b);                                                                                 \
    })
#define REMS32(a, b)                                                                               \
    ({                                                                                             \
        if (UNLIKELY((b) == 0)) {                                                                  \
            TRAPC(DIV_ZERO);                                                                       \
        }                                                                                          \
        (b) == 0xFFFFFFFFu ? 0u : (uint32_t)((int32_t)(a) % (int32_t)(b));                         \
    })
#define REMU32(a, b)                                                                               \
    ({                                                                                             \
        if (UNLIKELY((b) == 0)) {                                                                  \
            TRAPC(DIV_ZERO);                                                                       \
        }                                                                                          \
        (a) % (b);                                                                                 \
    })
#define DIVS64(a, b)                                                                               \
    ({                                                                                             \
        if (UNLIKELY((b) == 0)) {                                                                  \
            TRAPC(DIV_ZERO);                                                                       \
        }                                                                                          \
        if (UNLIKELY((a) == 0x8000000000000000ull && (b) == UINT64_MAX)) {                         \
            TRAPC(INT_OVERFLOW);                                                                   \
        }                                                                                          \
        (uint64_t)((int64_t)(a) / (int64_t)(b));                                                   \
    })
#define DIVU64(a, b)                                                                               \
    ({                                                                                             \
        if (UNLIKELY((b) == 0)) {                                                                  \
            TRAPC(DIV_ZERO);                                                                       \
        }                                                                                          \
        (a) / (b);                                                                                 \
    })
#define REMS64(a, b)                                                                               \
    ({                                                                                             \
        if (UNLIKELY((b) == 0)) {                                                                  \
            TRAPC(DIV_ZERO);                                                                       \
        }                                                                                          \
        (b) == UINT64_MAX ? 0u : (uint64_t)((int64_t)(a) % (int64_t)(b));                          \
    })
#define REMU64(a, b)                                                                               \
    ({                                                                                             \
        if (UNLIKELY((b) == 0)) {                                                                  \
            TRAPC(DIV_ZERO);                                                                       \
        }                                                                                          \
        (a) % (b);                                                                                 \
    })

/* Float to int with the spec's range checks: NaN is "invalid conversion to integer", anything
 * whose truncation does not fit is "integer overflow". */
#define TRUNC_CHECK(a, lo_ok, hi_ok)                                                               \
    do {                                                                                           \
        if (UNLIKELY((a) != (a))) {                                                                \
            TRAPC(BAD_CONVERSION);                                                                 \
        }                                                                                          \
        if (UNLIKELY(!((lo_ok) && (hi_ok)))) {                                                     \
            TRAPC(INT_OVERFLOW);                                                                   \
        }                                                                                          \
    } while (0)
#define TRUNC_I32_F32_S(a)                                                                         \
    ({                                                                                             \
        TRUNC_CHECK(a, (a) >= -2147483648.0f, (a) < 2147483648.0f);                                \
        (uint32_t)(int32_t)(a);                                                                    \
    })
#define TRUNC_I32_F32_U(a)                                                                         \
    ({                                                                                             \
        TRUNC_CHECK(a, (a) > -1.0f, (a) < 4294967296.0f);                                          \
        (uint32_t)(a);                                                                             \
    })
#define TRUNC_I32_F64_S(a)                                                                         \
    ({                                                                                             \
        TRUNC_CHECK(a, (a) > -2147483649.0, (a) < 2147483648.0);                                   \
        (uint32_t)(int32_t)(a);                                                                    \
    })
#define TRUNC_I32_F64_U(a)                                                                         \
    ({                                                                                             \
        TRUNC_CHECK(a, (a) > -1.0, (a) < 4294967296.0);                                            \
        (uint32_t)(a);                                                                             \
    })
#define TRUNC_I64_F32_S(a)                                                                         \
    ({                                                                                             \
        TRUNC_CHECK(a, (a) >= -9223372036854775808.0f, (a) < 9223372036854775808.0f);              \
        (uint64_t)(int64_t)(a);                                                                    \
    })
#define TRUNC_I64_F32_U(a)                                                                         \
    ({                                                                                             \
        TRUNC_CHECK(a, (a) > -1.0f, (a) < 18446744073709551616.0f);                                \
        (uint64_t)(a);                                                                             \
    })
#define TRUNC_I64_F64_S(a)                                                                         \
    ({                                                                                             \
        TRUNC_CHECK(a, (a) >= -9223372036854775808.0, (a) < 9223372036854775808.0);                \
        (uint64_t)(int64_t)(a);                                                                    \
    })
#define TRUNC_I64_F64_U(a)                                                                         \
    ({                                                                                             \
        TRUNC_CHECK(a, (a) > -1.0, (a) < 18446744073709551616.0);                                  \
        (uint64_t)(a);                                                                             \
    })

/* ------------------------------------------------------------------ operand access */

#define CT_I32 uint32_t
#define CT_I64 uint64_t
#define CT_F32 float
#define CT_F64 double
#define UT_I32 uint32_t
#define UT_I64 uint64_t
#define UT_F32 uint32_t
#define UT_F64 uint64_t

#define RD_I32(k)    ((uint32_t)fp[ip[k]])
#define RD_I64(k)    (fp[ip[k]])
#define RD_F32(k)    f32_of((uint32_t)fp[ip[k]])
#define RD_F64(k)    f64_of(fp[ip[k]])
#define IM_I32(k)    (ip[k])
#define IM_I64(k)    ((uint64_t)ip[k] | (uint64_t)ip[(k) + 1] << 32)
#define IM_F32(k)    f32_of(ip[k])
#define IM_F64(k)    f64_of(IM_I64(k))
#define IMW_I32      1
#define IMW_I64      2
#define IMW_F32      1
#define IMW_F64      2
#define WR_I32(k, v) (fp[ip[k]] = (uint64_t)(uint32_t)(v))
#define WR_I64(k, v) (fp[ip[k]] = (uint64_t)(v))
#define WR_F32(k, v) (fp[ip[k]] = (uint64_t)bits_f32(v))
#define WR_F64(k, v) (fp[ip[k]] = bits_f64(v))

#define DISPATCH() goto *labels[*ip]
#define NEXT(n)                                                                                    \
    do {                                                                                           \
        ip += (n);                                                                                 \
        DISPATCH();                                                                                \
    } while (0)

/* Charges n units for the chain being entered. The register `fuel` holds at most a slice of
 * the fuel left (the rest is banked); when a charge does not fit, the cold path checks the
 * interrupt flag, then refills the register from the bank, or traps (charging nothing) when
 * the whole chain cannot be paid, so fuel_consumed never exceeds the limit. Every loop
 * iteration and call charges at least 1, so the interrupt flag is seen within a slice. */
#define CHARGE(n)                                                                                  \
    do {                                                                                           \
        int64_t c_ = (int64_t)(n);                                                                 \
        if (UNLIKELY(fuel < c_)) {                                                                 \
            if (INTERRUPTED()) {                                                                   \
                goto interrupted;                                                                  \
            }                                                                                      \
            int64_t total_ = fuel + bank;                                                          \
            if (total_ < c_) {                                                                     \
                goto out_of_fuel;                                                                  \
            }                                                                                      \
            fuel = total_ < FUEL_SLICE ? total_ : FUEL_SLICE;                                      \
            fuel = fuel < c_ ? c_ : fuel;                                                          \
            bank = total_ - fuel;                                                                  \
        }                                                                                          \
        fuel -= c_;                                                                                \
    } while (0)
#define FUEL_SLICE    ((int64_t)1 << 16)
#define INTERRUPTED() UNLIKELY(atomic_load_explicit(&store->interrupt, memory_order_relaxed))
/* Conditional-branch tails: k is the index of the rel word; tcost and fcost follow it. */
#define TAKE(k)                                                                                    \
    do {                                                                                           \
        CHARGE(ip[(k) + 1]);                                                                       \
        ip += (int32_t)ip[k];                                                                      \
        DISPATCH();                                                                                \
    } while (0)
#define FALL(k)                                                                                    \
    do {                                                                                           \
        CHARGE(ip[(k) + 2]);                                                                       \
        ip += (k) + 3;                                                                             \
        DISPATCH();                                                                                \
    } while (0)

/* Handler generators, one per opcodes.def kind. */
#define GEN_SPECIAL(n, ta, tb, tr, e)
#define GEN_REINTERP(n, ta, tb, tr, e)
#define GEN_UN(n, ta, tb, tr, e)                                                                   \
    op_##n:                                                                                        \
    {                                                                                              \
        CT_##ta a = RD_##ta(2);                                                                    \
        WR_##tr(1, (e));                                                                           \
        NEXT(3);                                                                                   \
    }
#define GEN_UNT(n, ta, tb, tr, e) GEN_UN(n, ta, tb, tr, e)
#define GEN_BIN(n, ta, tb, tr, e)                                                                  \
    op_##n##_ss:                                                                                   \
    {                                                                                              \
        CT_##ta a = RD_##ta(2);                                                                    \
        CT_##tb b = RD_##tb(3);                                                                    \
        WR_##tr(1, (e));                                                                           \
        NEXT(4);                                                                                   \
    }                                                                                              \
    op_##n##_si:                                                                                   \
    {                                                                                              \
        CT_##ta a = RD_##ta(2);                                                                    \
        CT_##tb b = IM_##tb(3);                                                                    \
        WR_##tr(1, (e));                                                                           \
        NEXT(3 + IMW_##tb);                                                                        \
    }
#define GEN_BINT(n, ta, tb, tr, e) GEN_BIN(n, ta, tb, tr, e)
#define GEN_BR1(lbl, ta, tb, e, cond, take)                                                        \
    lbl##_ss:                                                                                      \
    {                                                                                              \
        CT_##ta a = RD_##ta(1);                                                                    \
        CT_##tb b = RD_##tb(2);                                                                    \
        if (cond(e)) {                                                                             \
            take(3);                                                                               \
        }                                                                                          \
        FALL(3);                                                                                   \
    }                                                                                              \
    lbl##_si:                                                                                      \
    {                                                                                              \
        CT_##ta a = RD_##ta(1);                                                                    \
        CT_##tb b = IM_##tb(2);                                                                    \
        if (cond(e)) {                                                                             \
            take(2 + IMW_##tb);                                                                    \
        }                                                                                          \
        FALL(2 + IMW_##tb);                                                                        \
    }
#define IS_TRUE(e)  (e)
#define IS_FALSE(e) (!(e))
#define GEN_CMP(n, ta, tb, tr, e)                                                                  \
    GEN_BIN(n, ta, tb, tr, e)                                                                      \
    GEN_BR1(op_BRIF_##n, ta, tb, e, IS_TRUE, TAKE)                                                 \
    GEN_BR1(op_BRIFNOT_##n, ta, tb, e, IS_FALSE, TAKE)
#define GEN_LOAD(n, ta, tb, tr, memt)                                                              \
    op_##n:                                                                                        \
    {                                                                                              \
        uint64_t ea = (uint64_t)(uint32_t)fp[ip[2]] + ip[3];                                       \
        if (UNLIKELY(ea + sizeof(memt) > msize)) {                                                 \
            TRAPC(MEMORY_OOB);                                                                     \
        }                                                                                          \
        memt v;                                                                                    \
        memcpy(&v, mbase + ea, sizeof v);                                                          \
        fp[ip[1]] = (uint64_t)(UT_##tr)v;                                                          \
        NEXT(4);                                                                                   \
    }                                                                                              \
    op_##n##_add:                                                                                  \
    {                                                                                              \
        uint64_t ea = (uint64_t)(uint32_t)(fp[ip[2]] + fp[ip[3]]) + ip[4];                         \
        if (UNLIKELY(ea + sizeof(memt) > msize)) {                                                 \
            TRAPC(MEMORY_OOB);                                                                     \
        }                                                                                          \
        memt v;                                                                                    \
        memcpy(&v, mbase + ea, sizeof v);                                                          \
        fp[ip[1]] = (uint64_t)(UT_##tr)v;                                                          \
        NEXT(5);                                                                                   \
    }
#define GEN_STORE(n, ta, tb, tr, memt)                                                             \
    op_##n:                                                                                        \
    {                                                                                              \
        uint64_t ea = (uint64_t)(uint32_t)fp[ip[1]] + ip[3];                                       \
        if (UNLIKELY(ea + sizeof(memt) > msize)) {                                                 \
            TRAPC(MEMORY_OOB);                                                                     \
        }                                                                                          \
        memt v = (memt)fp[ip[2]];                                                                  \
        memcpy(mbase + ea, &v, sizeof v);                                                          \
        NEXT(4);                                                                                   \
    }                                                                                              \
    op_##n##_add:                                                                                  \
    {                                                                                              \
        uint64_t ea = (uint64_t)(uint32_t)(fp[ip[1]] + fp[ip[2]]) + ip[4];                         \
        if (UNLIKELY(ea + sizeof(memt) > msize)) {                                                 \
            TRAPC(MEMORY_OOB);                                                                     \
        }                                                                                          \
        memt v = (memt)fp[ip[3]];                                                                  \
        memcpy(mbase + ea, &v, sizeof v);                                                          \
        NEXT(5);                                                                                   \
    }

/* ------------------------------------------------------------------ the loop */

/* Compiles the body of a lazy module's function on its first call through this cap_func_t (or
 * takes the code another instance or thread already compiled), so later calls find the real
 * code directly. Cold: once per function and instance. */
static cap_status
lazy_compile(cap_func_t *f, cap_error_t *err)
{
    const struct cap_code *code;
    cap_status st = cap_compile_function((cap_module_t *)f->inst->module, f->index, &code, err);
    if (st == CAP_OK) {
        f->code = code;
    }
    return st;
}

static const cap_trap_site *
find_site(const struct cap_code *code, uint32_t off)
{
    uint32_t lo = 0, hi = code->nsites;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (code->sites[mid].off < off) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < code->nsites && code->sites[lo].off == off) {
        return &code->sites[lo];
    }
    return NULL;
}

static int64_t
fuel_load(const cap_store_t *store, uint64_t *c0)
{
    uint64_t consumed = store->fuel_consumed;
    *c0 = consumed;
    if (store->fuel_limit == UINT64_MAX) {
        return INT64_MAX / 2;
    }
    if (consumed >= store->fuel_limit) {
        return 0;
    }
    uint64_t left = store->fuel_limit - consumed;
    return left > (uint64_t)(INT64_MAX / 2) ? INT64_MAX / 2 : (int64_t)left;
}

/* Runs `entry` (a Wasm function) whose arguments are at stack[base]; results are left there. */
static cap_status
run(cap_store_t *store, struct cap_vm_state *vm, cap_func_t *entry, size_t base, cap_error_t *err)
{
#define LBL(n) &&op_##n,
    static const void *const labels[CAP_IOP_COUNT] = {
#define X(name, prefix, code, kind, ta, tb, tr, fuel, expr) CAP_IOP_GEN_##kind(LBL, name)
#include "wasm/opcodes.def"
#undef X
        CAP_IOP_MISC(LBL)};
#undef LBL

    const uint32_t *ip;
    cap_slot_t *fp;
    cap_func_t *cur = NULL;
    cap_instance_t *inst = NULL;
    cap_memory_t *mem0 = NULL;
    uint8_t *mbase = NULL;
    uint64_t msize = 0;
    uint64_t fc0;
    int64_t fuel, bank, ff0;
    ff0 = fuel_load(store, &fc0);
    fuel = 0; // the first charge refills from the bank (and checks the interrupt flag)
    bank = ff0;
    uint32_t max_depth = store->max_call_depth ? store->max_call_depth : CAP_DEFAULT_CALL_DEPTH;
    cap_trap tr = CAP_TRAP_NONE;
    bool refund = true;
    uint32_t trap_arg = UINT32_MAX; // an element index for the message, when known
    cap_func_t *f;
    uint32_t cbase;
    const uint32_t *ret;
    cap_status lazy_st = CAP_OK; // a lazily compiled callee failed to compile
    cap_error_t lazy_err;        // where that error goes when err is NULL

#define FUEL_SAVE() (store->fuel_consumed = fc0 + (uint64_t)(ff0 - (fuel + bank)))
#define RELOAD_MEM()                                                                               \
    do {                                                                                           \
        if (mem0) {                                                                                \
            mbase = mem0->data;                                                                    \
            msize = mem0->size;                                                                    \
        }                                                                                          \
    } while (0)
#define SWITCH_INST(i)                                                                             \
    do {                                                                                           \
        inst = (i);                                                                                \
        mem0 = inst->module->nmems ? inst->mems[0] : NULL;                                         \
        mbase = NULL;                                                                              \
        msize = 0;                                                                                 \
        RELOAD_MEM();                                                                              \
    } while (0)

    if (vm->depth >= max_depth || !vm_reserve_frames(vm, vm->depth + 1) ||
        !vm_reserve(vm, base + entry->code->frame_slots)) {
        return cap_trap_fill(err, CAP_TRAP_STACK_EXHAUSTED, entry->inst->module,
                             entry->code->func_index, 0);
    }
    vm->frames[vm->depth++] = (frame){NULL, 0, NULL};
    fp = vm->stack + base;
    f = entry;
    goto enter;

    /* A call: f is the callee, cbase its first argument's slot, ret the return address; ip
     * still points at the call instruction (so traps here report it). */
do_call:
    if (f->host) {
        goto call_host;
    }
    {
        if (UNLIKELY(vm->depth >= max_depth)) {
            TRAPC(STACK_EXHAUSTED);
        }
        size_t fp_off = (size_t)(fp - vm->stack);
        if (UNLIKELY(fp_off + cbase + f->code->frame_slots > vm->cap)) {
            /* A lazy stub's frame never fits (code.h), so its first call lands here. */
            if (f->code->lazy && (lazy_st = lazy_compile(f, err ? err : &lazy_err)) != CAP_OK) {
                goto lazy_failed;
            }
            if (fp_off + cbase + f->code->frame_slots > vm->cap) {
                if (!vm_reserve(vm, fp_off + cbase + f->code->frame_slots)) {
                    TRAPC(STACK_EXHAUSTED);
                }
                fp = vm->stack + fp_off;
            }
        }
        if (UNLIKELY(vm->depth >= vm->fcap) && !vm_reserve_frames(vm, vm->depth + 1)) {
            TRAPC(STACK_EXHAUSTED);
        }
        vm->frames[vm->depth++] = (frame){ret, fp_off, cur};
        fp += cbase;
    }
enter : {
    const struct cap_code *code = f->code;
    if (code->nlocals > code->nparams) {
        memset(fp + code->nparams, 0, (size_t)(code->nlocals - code->nparams) * sizeof(cap_slot_t));
    }
    cur = f;
    if (f->inst != inst) {
        SWITCH_INST(f->inst);
    }
    ip = code->code + 1;
    CHARGE(1 + (int64_t)code->code[0]);
    DISPATCH();
}

call_host : {
    const cap_ftype *ty = f->type;
    size_t fp_off = (size_t)(fp - vm->stack);
    size_t tmp = fp_off + cur->code->frame_slots;
    if (!vm_reserve(vm, tmp + ty->nresults + 1)) {
        TRAPC(STACK_EXHAUSTED);
    }
    fp = vm->stack + fp_off;
    size_t saved_top = vm->top;
    vm->top = tmp + ty->nresults;
    FUEL_SAVE();
    cap_error_t local_err;
    cap_error_t *e = err ? err : &local_err;
    cap_error_clear(e);
    cap_caller_t caller = {store, inst, e};
    cap_status st = f->host(&caller, fp + cbase, vm->stack + tmp, f->env);
    vm->top = saved_top;
    fp = vm->stack + fp_off;
    if (st != CAP_OK) {
        if (e->status == CAP_OK) {
            cap_trap_fill(e, CAP_TRAP_HOST, inst->module, cur->code->func_index, 0);
            if (st != CAP_ERR_TRAP) {
                e->status = st;
            }
        }
        return st;
    }
    memcpy(fp + cbase, vm->stack + tmp, (size_t)ty->nresults * sizeof(cap_slot_t));
    ff0 = fuel_load(store, &fc0);
    fuel = 0;
    bank = ff0;
    RELOAD_MEM();
    ip = ret;
    CHARGE(ip[-1]);
    DISPATCH();
}

/* The handlers generated from opcodes.def. */
#define X(name, prefix, code, kind, ta, tb, tr, fuel, expr) GEN_##kind(name, ta, tb, tr, expr)
#include "wasm/opcodes.def"
#undef X

op_UNREACHABLE:
    TRAPC(UNREACHABLE);
op_COPY:
    fp[ip[1]] = fp[ip[2]];
    NEXT(3);
op_CONST32:
    fp[ip[1]] = ip[2];
    NEXT(3);
op_CONST64:
    fp[ip[1]] = IM_I64(2);
    NEXT(4);
op_BR:
    CHARGE(ip[2]);
    ip += (int32_t)ip[1];
    DISPATCH();
op_BRIF32:
    if ((uint32_t)fp[ip[1]]) {
        TAKE(2);
    }
    FALL(2);
op_BRIFNOT32:
    if (!(uint32_t)fp[ip[1]]) {
        TAKE(2);
    }
    FALL(2);
op_BRIF64:
    if (fp[ip[1]]) {
        TAKE(2);
    }
    FALL(2);
op_BRIFNOT64:
    if (!fp[ip[1]]) {
        TAKE(2);
    }
    FALL(2);
op_BR_TABLE : {
    uint32_t i = (uint32_t)fp[ip[1]];
    if (i > ip[2]) {
        i = ip[2];
    }
    const uint32_t *e = ip + 3 + 2 * (size_t)i;
    CHARGE(e[1]);
    ip += (int32_t)e[0];
    DISPATCH();
}
op_RET1:
    fp[0] = fp[ip[1]];
    /* fall through */
op_RETURN : {
    frame *fr = &vm->frames[--vm->depth];
    if (!fr->ret_ip) {
        goto done;
    }
    ip = fr->ret_ip;
    fp = vm->stack + fr->fp_off;
    cur = fr->func;
    if (cur->inst != inst) {
        SWITCH_INST(cur->inst);
    } else {
        RELOAD_MEM();
    }
    CHARGE(ip[-1]);
    DISPATCH();
}
op_CALL:
    f = inst->funcs[ip[1]];
    cbase = ip[2];
    ret = ip + 4;
    goto do_call;
op_CALL_INDIRECT : {
    cap_table_t *tab = inst->tables[ip[2]];
    uint32_t i = (uint32_t)fp[ip[4]];
    if (UNLIKELY(i >= tab->size)) {
        TRAPC(INDIRECT_OOB);
    }
    f = (cap_func_t *)(uintptr_t)tab->elems[i];
    if (UNLIKELY(!f)) {
        trap_arg = i;
        TRAPC(UNINITIALIZED);
    }
    const cap_module_t *mod = inst->module;
    const cap_ftype *want = &mod->types[mod->types[ip[1]].canon];
    if (UNLIKELY(f->type != want) && !cap_ftype_equal(f->type, want)) {
        TRAPC(INDIRECT_MISMATCH);
    }
    cbase = ip[3];
    ret = ip + 6;
    goto do_call;
}
op_SELECT:
    fp[ip[1]] = (uint32_t)fp[ip[4]] ? fp[ip[2]] : fp[ip[3]];
    NEXT(5);
op_GLOBAL_GET:
    fp[ip[1]] = inst->globals[ip[2]]->value;
    NEXT(3);
op_GLOBAL_SET:
    inst->globals[ip[2]]->value = fp[ip[1]];
    NEXT(3);
op_MEMORY_SIZE:
    fp[ip[1]] = mem0->pages;
    NEXT(2);
op_MEMORY_GROW : {
    int64_t r = cap_memory_grow_pages(mem0, (uint32_t)fp[ip[2]]);
    fp[ip[1]] = (uint32_t)r;
    RELOAD_MEM();
    NEXT(3);
}
op_MEMORY_FILL : {
    uint64_t d = (uint32_t)fp[ip[1]], n = (uint32_t)fp[ip[3]];
    if (UNLIKELY(d + n > msize)) {
        TRAPC(MEMORY_OOB);
    }
    memset(mbase + d, (int)(uint8_t)fp[ip[2]], n);
    NEXT(4);
}
op_MEMORY_COPY : {
    uint64_t d = (uint32_t)fp[ip[1]], s = (uint32_t)fp[ip[2]], n = (uint32_t)fp[ip[3]];
    if (UNLIKELY(d + n > msize || s + n > msize)) {
        TRAPC(MEMORY_OOB);
    }
    memmove(mbase + d, mbase + s, n);
    NEXT(4);
}
op_MEMORY_INIT : {
    const cap_data_seg *ds = &inst->module->datas[ip[1]];
    uint64_t len = inst->data_dropped[ip[1]] ? 0 : ds->len;
    uint64_t d = (uint32_t)fp[ip[2]], s = (uint32_t)fp[ip[3]], n = (uint32_t)fp[ip[4]];
    if (UNLIKELY(s + n > len || d + n > msize)) {
        TRAPC(MEMORY_OOB);
    }
    if (n) {
        memcpy(mbase + d, ds->bytes + s, n);
    }
    NEXT(5);
}
op_DATA_DROP:
    inst->data_dropped[ip[1]] = 1;
    NEXT(2);
op_TABLE_GET : {
    cap_table_t *tab = inst->tables[ip[2]];
    uint32_t i = (uint32_t)fp[ip[3]];
    if (UNLIKELY(i >= tab->size)) {
        TRAPC(TABLE_OOB);
    }
    fp[ip[1]] = tab->elems[i];
    NEXT(4);
}
op_TABLE_SET : {
    cap_table_t *tab = inst->tables[ip[1]];
    uint32_t i = (uint32_t)fp[ip[2]];
    if (UNLIKELY(i >= tab->size)) {
        TRAPC(TABLE_OOB);
    }
    tab->elems[i] = fp[ip[3]];
    NEXT(4);
}
op_TABLE_SIZE:
    fp[ip[1]] = inst->tables[ip[2]]->size;
    NEXT(3);
op_TABLE_GROW : {
    int64_t r = cap_table_grow(inst->tables[ip[2]], (uint32_t)fp[ip[4]], fp[ip[3]]);
    fp[ip[1]] = (uint32_t)r;
    NEXT(5);
}
op_TABLE_FILL : {
    cap_table_t *tab = inst->tables[ip[1]];
    uint64_t i = (uint32_t)fp[ip[2]], n = (uint32_t)fp[ip[4]];
    cap_slot_t v = fp[ip[3]];
    if (UNLIKELY(i + n > tab->size)) {
        TRAPC(TABLE_OOB);
    }
    for (uint64_t k = 0; k < n; k++) {
        tab->elems[i + k] = v;
    }
    NEXT(5);
}
op_TABLE_COPY : {
    cap_table_t *dt = inst->tables[ip[1]], *st = inst->tables[ip[2]];
    uint64_t d = (uint32_t)fp[ip[3]], s = (uint32_t)fp[ip[4]], n = (uint32_t)fp[ip[5]];
    if (UNLIKELY(d + n > dt->size || s + n > st->size)) {
        TRAPC(TABLE_OOB);
    }
    if (n) {
        memmove(dt->elems + d, st->elems + s, n * sizeof(cap_slot_t));
    }
    NEXT(6);
}
op_TABLE_INIT : {
    cap_table_t *tab = inst->tables[ip[1]];
    uint32_t seg = ip[2];
    uint64_t len = inst->elem_len[seg];
    uint64_t d = (uint32_t)fp[ip[3]], s = (uint32_t)fp[ip[4]], n = (uint32_t)fp[ip[5]];
    if (UNLIKELY(s + n > len || d + n > tab->size)) {
        TRAPC(TABLE_OOB);
    }
    if (n) {
        memcpy(tab->elems + d, inst->elem_refs[seg] + s, n * sizeof(cap_slot_t));
    }
    NEXT(6);
}
op_ELEM_DROP:
    inst->elem_len[ip[1]] = 0;
    NEXT(2);
op_REF_IS_NULL:
    fp[ip[1]] = fp[ip[2]] == 0;
    NEXT(3);
op_REF_FUNC:
    fp[ip[1]] = (cap_slot_t)(uintptr_t)inst->funcs[ip[2]];
    NEXT(3);
op_LAZY:
    /* Never reached: stubs are compiled on the call path before they are entered. Stop
     * cleanly rather than run anything if that ever changes. */
    FUEL_SAVE();
    return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                    "internal error: entered an uncompiled function");

done:
    FUEL_SAVE();
    return CAP_OK;

out_of_fuel:
    tr = CAP_TRAP_OUT_OF_FUEL;
    refund = false;
    goto trap;
interrupted:
    tr = CAP_TRAP_TIMEOUT;
    refund = false;
    goto trap;
    /* The callee of the call at ip failed to compile: the call fails like a trap there (the rest
     * of the caller's chain is refunded), but with the compile error. */
lazy_failed:
    tr = CAP_TRAP_NONE;
trap : {
    const struct cap_code *code = cur->code;
    uint32_t off = (uint32_t)(ip - code->code);
    const cap_trap_site *site = find_site(code, off);
    uint32_t pc = 0;
    if (site) {
        pc = site->pc;
        if (refund) {
            fuel += site->refund;
        }
    }
    FUEL_SAVE();
    if (lazy_st != CAP_OK) {
        return lazy_st; // err already holds the compile error
    }
    cap_trap_fill(err, tr, inst->module, code->func_index, pc);
    if (err && trap_arg != UINT32_MAX) {
        /* The spec interpreter names the element: "uninitialized element 2". */
        char rest[sizeof err->msg];
        size_t k = strlen(cap_trap_message(tr));
        snprintf(rest, sizeof rest, "%s", err->msg + k);
        snprintf(err->msg, sizeof err->msg, "%s %u%.200s", cap_trap_message(tr), trap_arg, rest);
    }
    return CAP_ERR_TRAP;
}
#undef FUEL_SAVE
#undef RELOAD_MEM
#undef SWITCH_INST
}

cap_status
cap_vm_call(cap_store_t *store, cap_func_t *func, const cap_slot_t *args, cap_slot_t *results,
            cap_error_t *err)
{
    const cap_ftype *ty = func->type;
    if (!func->code) {
        cap_error_t local_err;
        cap_error_t *e = err ? err : &local_err;
        cap_caller_t caller = {store, NULL, e};
        cap_status st = func->host(&caller, args, results, func->env);
        if (st != CAP_OK && e->status == CAP_OK) {
            cap_trap_fill(e, CAP_TRAP_HOST, NULL, UINT32_MAX, 0);
            if (st != CAP_ERR_TRAP) {
                e->status = st;
            }
        }
        return st;
    }
    if (UNLIKELY(func->code->lazy)) {
        cap_error_t local_err;
        cap_status st = lazy_compile(func, err ? err : &local_err);
        if (st != CAP_OK) {
            return st;
        }
    }
    struct cap_vm_state *vm = store->vm;
    if (!vm) {
        vm = cap_calloc(1, sizeof *vm);
        if (!vm) {
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
        store->vm = vm;
    }
    size_t base = vm->top;
    uint32_t depth0 = vm->depth;
    size_t need = base + func->code->frame_slots;
    if (need < base + ty->nresults) {
        need = base + ty->nresults;
    }
    if (!vm_reserve(vm, need)) {
        return cap_trap_fill(err, CAP_TRAP_STACK_EXHAUSTED, func->inst->module,
                             func->code->func_index, 0);
    }
    if (ty->nparams) {
        memcpy(vm->stack + base, args, (size_t)ty->nparams * sizeof(cap_slot_t));
    }
    cap_status st = run(store, vm, func, base, err);
    if (st == CAP_OK && ty->nresults) {
        memcpy(results, vm->stack + base, (size_t)ty->nresults * sizeof(cap_slot_t));
    }
    vm->top = base;
    vm->depth = depth0;
    return st;
}
