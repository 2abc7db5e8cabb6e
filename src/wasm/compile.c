/* SPDX-License-Identifier: Apache-2.0 */
/* The function-body validator and compiler: one pass over each body validates it by the spec's
 * algorithm (spec appendix "Validation Algorithm": a typed operand stack with Unknown for
 * unreachable code, and a control stack) and emits the internal code of code.h at the same time.
 *
 * Code generation keeps a compile-time operand stack whose entries are either in their own
 * slot, or still pending: a local (local.get folded into its consumer) or a constant. Pending
 * entries are materialised into their slots when needed: before their local is overwritten, at
 * block boundaries, and when a branch or call needs them in place. */
#include "wasm/compile.h"
#include "util/alloc.h"
#include "util/leb128.h"
#include "wasm/code.h"

#include <string.h>

#define NONE32 UINT32_MAX

enum { T_UNK = 0 }; // the Unknown type of the validation algorithm

/* Row information from opcodes.def, indexed by opcode (0xFC ops at 256 + sub-opcode). */
enum { K_SPECIAL, K_REINTERP, K_UN, K_UNT, K_BIN, K_BINT, K_CMP, K_LOAD, K_STORE };
#define T_NONE 0
#define T_I32  CAP_I32
#define T_I64  CAP_I64
#define T_F32  CAP_F32
#define T_F64  CAP_F64

typedef struct opinfo {
    uint8_t kind, ta, tb, tr, fuel, size; // size: bytes accessed (LOAD/STORE)
    uint8_t defined;
    uint16_t iop;
} opinfo;

#define IOPOF_SPECIAL(n)   0
#define IOPOF_REINTERP(n)  0
#define IOPOF_UN(n)        CAP_IOP_##n
#define IOPOF_UNT(n)       CAP_IOP_##n
#define IOPOF_LOAD(n)      CAP_IOP_##n
#define IOPOF_STORE(n)     CAP_IOP_##n
#define IOPOF_BIN(n)       CAP_IOP_##n##_ss
#define IOPOF_BINT(n)      CAP_IOP_##n##_ss
#define IOPOF_CMP(n)       CAP_IOP_##n##_ss
#define SIZEOF_SPECIAL(e)  0
#define SIZEOF_REINTERP(e) 0
#define SIZEOF_UN(e)       0
#define SIZEOF_UNT(e)      0
#define SIZEOF_BIN(e)      0
#define SIZEOF_BINT(e)     0
#define SIZEOF_CMP(e)      0
#define SIZEOF_LOAD(e)     sizeof(e)
#define SIZEOF_STORE(e)    sizeof(e)

static const opinfo optab[256 + 32] = {
#define X(name, prefix, code, kind, ta, tb, tr, fuel, expr)                                        \
    [(prefix) ? 256 + (code) : (code)] = {K_##kind, T_##ta,                                        \
                                          T_##tb,   T_##tr,                                        \
                                          fuel,     SIZEOF_##kind(expr),                           \
                                          1,        (uint16_t)IOPOF_##kind(name)},
#include "wasm/opcodes.def"
#undef X
};

enum { OPC_I32_EQZ = 0x45, OPC_I64_EQZ = 0x50 };

/* ------------------------------------------------------------------ compile-time state */

enum { E_SLOT, E_LOCAL, E_CONST };
typedef struct entry {
    uint8_t type; // valtype or T_UNK
    uint8_t kind; // E_*
    uint32_t local;
    uint64_t bits;
} entry;

enum { C_FUNC, C_BLOCK, C_LOOP, C_IF, C_ELSE };
typedef struct ctl {
    uint8_t kind;
    bool unreachable; // validation: the rest of this frame is unreachable
    bool dead;        // codegen: no code is emitted (not reachable at run time)
    uint32_t height;  // operand stack height at entry, below the parameters
    uint32_t nparams, nresults;
    const uint8_t *params, *results;
    uint32_t fix_head;   // forward branches to the end label
    uint32_t else_fix;   // C_IF: the jump to the else arm (a fixup index)
    uint32_t loop_pos;   // C_LOOP: word offset of the loop header
    uint32_t loop_chain; // C_LOOP: chain the header is in, and its cost there
    uint32_t loop_base;
} ctl;

typedef struct fixup {
    uint32_t rel_loc, op_start, cost_loc, next;
} fixup;

typedef struct chain {
    uint32_t cost, patch_head, site_start;
    bool closed;
} chain;

typedef struct patch {
    uint32_t loc, base, next;
} patch;

typedef struct comp {
    cap_module_t *m;
    cap_error_t *err;
    cap_reader r;
    const uint8_t *body;
    bool oom;

    /* function */
    const cap_ftype *ft;
    uint32_t nparams, nlocals;
    uint32_t ndecl;
    uint32_t *decl_end; // run-length local declarations: end index (exclusive) and type
    uint8_t *decl_type;
    uint32_t decl_cap, decl_tcap;
    uint32_t *lpend; // per local: pending entries referring to it
    uint32_t lpend_cap;

    entry *stk;
    uint32_t sp, scap, W, maxsp;
    ctl *ctls;
    uint32_t nctl, ccap;
    uint32_t *scratch; // br_table depths
    uint32_t scratch_cap;

    uint32_t *code;
    uint32_t clen, ccapw;
    fixup *fix;
    uint32_t nfix, fixcap;
    chain *chains;
    uint32_t nchains, chcap, cur;
    patch *patches;
    uint32_t npatch, pcap;
    cap_trap_site *sites;
    uint32_t nsites, sitecap;

    uint32_t pc; // offset of the current instruction in the body
    uint32_t last_dst_loc, last_dst_pos;
    struct {
        bool valid;
        uint32_t start, end, pos;
        uint32_t iop; // CMP base op, or 0 for eqz
        uint8_t eqz;  // 32 or 64 for an eqz, 0 for a CMP
        uint32_t a, nimm;
        uint32_t b[2];
    } lc;
    struct {
        bool valid;
        uint32_t start, end, pos, a, b;
    } la; // the last i32.add of two slots, which a load or store may absorb
} comp;

static const uint8_t vt_ident[256] = {
    [CAP_I32] = CAP_I32, [CAP_I64] = CAP_I64,         [CAP_F32] = CAP_F32,
    [CAP_F64] = CAP_F64, [CAP_FUNCREF] = CAP_FUNCREF, [CAP_EXTERNREF] = CAP_EXTERNREF,
};

static bool
is_wide(uint8_t t)
{
    return t == CAP_I64 || t == CAP_F64 || t == CAP_FUNCREF || t == CAP_EXTERNREF;
}

/* ------------------------------------------------------------------ buffers */

static bool
grow(comp *c, void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) {
        return true;
    }
    uint64_t n = *cap ? *cap : 64;
    while (n < need) {
        n *= 2;
    }
    if (n > UINT32_MAX / 2) {
        c->oom = true;
        return false;
    }
    void *q = cap_realloc(*p, (size_t)n * elem);
    if (!q) {
        c->oom = true;
        return false;
    }
    *p = q;
    *cap = (uint32_t)n;
    return true;
}

#define GROW(c, arr, cap, need) grow((c), (void **)&(c)->arr, &(c)->cap, (need), sizeof *(c)->arr)

static cap_status invalid(comp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
#include <stdio.h>

static cap_status
invalid(comp *c, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cap_fail(c->err, CAP_ERR_INVALID, (uint64_t)(c->body - c->m->bytes) + c->pc, "%s", msg);
}

static cap_status
malformed(comp *c, const char *msg)
{
    return cap_fail(c->err, CAP_ERR_MALFORMED, cap_reader_offset(&c->r), "%s", msg);
}

static cap_status
mismatch(comp *c)
{
    return invalid(c, "type mismatch");
}

/* ------------------------------------------------------------------ emission */

static void
emit(comp *c, uint32_t w)
{
    if (c->clen >= c->ccapw && !GROW(c, code, ccapw, c->clen + 1)) {
        return;
    }
    c->code[c->clen++] = w;
}

static uint32_t
emit_op(comp *c, uint32_t op)
{
    c->last_dst_loc = NONE32;
    c->lc.valid = false;
    c->la.valid = false;
    c->la.valid = false;
    uint32_t at = c->clen;
    emit(c, op);
    return at;
}

static void
emit64(comp *c, uint64_t v)
{
    emit(c, (uint32_t)v);
    emit(c, (uint32_t)(v >> 32));
}

static void
put(comp *c, uint32_t loc, uint32_t v)
{
    if (loc < c->clen) {
        c->code[loc] = v;
    }
}

static void
emit_const(comp *c, uint32_t dst, uint64_t bits)
{
    if (bits <= UINT32_MAX) {
        emit_op(c, CAP_IOP_CONST32);
        emit(c, dst);
        emit(c, (uint32_t)bits);
    } else {
        emit_op(c, CAP_IOP_CONST64);
        emit(c, dst);
        emit64(c, bits);
    }
}

static void
emit_copy(comp *c, uint32_t dst, uint32_t src)
{
    if (dst != src) {
        emit_op(c, CAP_IOP_COPY);
        emit(c, dst);
        emit(c, src);
    }
}

/* ------------------------------------------------------------------ fuel chains */

static void
chain_close(comp *c)
{
    if (c->cur == NONE32) {
        return;
    }
    chain *ch = &c->chains[c->cur];
    for (uint32_t i = ch->patch_head; i != NONE32; i = c->patches[i].next) {
        put(c, c->patches[i].loc, ch->cost - c->patches[i].base);
    }
    for (uint32_t i = ch->site_start; i < c->nsites; i++) {
        c->sites[i].refund = ch->cost - c->sites[i].refund;
    }
    ch->closed = true;
    c->cur = NONE32;
}

static void
chain_new(comp *c)
{
    chain_close(c);
    if (!GROW(c, chains, chcap, c->nchains + 1)) {
        return;
    }
    c->chains[c->nchains] = (chain){0, NONE32, c->nsites, false};
    c->cur = c->nchains++;
}

/* Makes the cost word at loc charge chain ch from the point where its cost was `base`. */
static void
chain_ref(comp *c, uint32_t ch, uint32_t base, uint32_t loc)
{
    if (ch == NONE32 || ch >= c->nchains) {
        return;
    }
    if (c->chains[ch].closed) {
        put(c, loc, c->chains[ch].cost - base);
        return;
    }
    if (!GROW(c, patches, pcap, c->npatch + 1)) {
        return;
    }
    c->patches[c->npatch] = (patch){loc, base, c->chains[ch].patch_head};
    c->chains[ch].patch_head = c->npatch++;
}

static uint32_t
chain_cost(comp *c)
{
    return c->cur == NONE32 ? 0 : c->chains[c->cur].cost;
}

static void
add_cost(comp *c, uint32_t n)
{
    if (c->cur != NONE32) {
        c->chains[c->cur].cost += n;
    }
}

static void
trap_site(comp *c, uint32_t op_start)
{
    if (!GROW(c, sites, sitecap, c->nsites + 1)) {
        return;
    }
    c->sites[c->nsites++] = (cap_trap_site){op_start, c->pc, chain_cost(c)};
}

/* ------------------------------------------------------------------ operand stack */

static ctl *
top(comp *c)
{
    return &c->ctls[c->nctl - 1];
}

static bool
live(comp *c)
{
    ctl *t = top(c);
    return !t->unreachable && !t->dead;
}

static uint32_t
slot(comp *c, uint32_t pos)
{
    return c->nlocals + pos;
}

static void
push(comp *c, uint8_t type, uint8_t kind, uint32_t local, uint64_t bits)
{
    if (c->sp >= c->scap && !GROW(c, stk, scap, c->sp + 1)) {
        return;
    }
    if (!live(c)) {
        kind = E_SLOT;
    }
    if (kind == E_LOCAL) {
        c->lpend[local]++;
    }
    c->stk[c->sp++] = (entry){type, kind, local, bits};
    if (c->sp > c->maxsp) {
        c->maxsp = c->sp;
    }
}

static void
drop_entry(comp *c)
{
    entry *e = &c->stk[--c->sp];
    if (e->kind == E_LOCAL) {
        c->lpend[e->local]--;
    }
    if (c->sp < c->W) {
        c->W = c->sp;
    }
}

static void
truncate_to(comp *c, uint32_t h)
{
    while (c->sp > h) {
        drop_entry(c);
    }
}

/* Pops one operand of type t (T_UNK: any). On underflow in unreachable code yields Unknown. */
static cap_status
pop(comp *c, uint8_t t, entry *out)
{
    ctl *f = top(c);
    if (c->sp == f->height) {
        if (f->unreachable) {
            *out = (entry){T_UNK, E_SLOT, 0, 0};
            return CAP_OK;
        }
        return mismatch(c);
    }
    *out = c->stk[c->sp - 1];
    drop_entry(c);
    if (t != T_UNK && out->type != T_UNK && out->type != t) {
        return mismatch(c);
    }
    return CAP_OK;
}

static void
materialise(comp *c, uint32_t pos)
{
    entry *e = &c->stk[pos];
    if (e->kind == E_LOCAL) {
        emit_copy(c, slot(c, pos), e->local);
        c->lpend[e->local]--;
    } else if (e->kind == E_CONST) {
        emit_const(c, slot(c, pos), e->bits);
    }
    e->kind = E_SLOT;
}

static void
materialise_all(comp *c)
{
    for (uint32_t i = c->W; i < c->sp; i++) {
        materialise(c, i);
    }
    c->W = c->sp;
}

/* The slot an entry at pos can be read from (constants are stored into their slot first). */
static uint32_t
src_slot(comp *c, entry *e, uint32_t pos)
{
    if (e->kind == E_LOCAL) {
        return e->local;
    }
    if (e->kind == E_CONST) {
        emit_const(c, slot(c, pos), e->bits);
    }
    return slot(c, pos);
}

/* Checks that the top n operands have types `types`, refining Unknowns (and, in unreachable
 * code, inserting the missing ones below), leaving them on the stack. */
static cap_status
check_top_x(comp *c, const uint8_t *types, uint32_t n, bool refine)
{
    ctl *f = top(c);
    uint32_t avail = c->sp - f->height;
    if (avail < n && !f->unreachable) {
        return mismatch(c);
    }
    uint32_t k = avail < n ? avail : n;
    for (uint32_t i = 0; i < k; i++) {
        entry *e = &c->stk[c->sp - k + i];
        uint8_t t = types[n - k + i];
        if (e->type != T_UNK && e->type != t) {
            return mismatch(c);
        }
        if (refine) {
            e->type = t;
        }
    }
    if (k < n) {
        uint32_t miss = n - k;
        if (!GROW(c, stk, scap, c->sp + miss)) {
            return CAP_ERR_NOMEM;
        }
        memmove(&c->stk[c->sp - k + miss], &c->stk[c->sp - k], k * sizeof(entry));
        for (uint32_t i = 0; i < miss; i++) {
            c->stk[c->sp - k + i] = (entry){refine ? types[i] : T_UNK, E_SLOT, 0, 0};
        }
        c->sp += miss;
        if (c->sp > c->maxsp) {
            c->maxsp = c->sp;
        }
    }
    return CAP_OK;
}

static cap_status
check_top(comp *c, const uint8_t *types, uint32_t n)
{
    return check_top_x(c, types, n, true);
}

static void
push_types(comp *c, const uint8_t *types, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        push(c, types[i], E_SLOT, 0, 0);
    }
}

/* ------------------------------------------------------------------ control */

static uint32_t
label_arity(ctl *L, const uint8_t **types)
{
    if (L->kind == C_LOOP) {
        *types = L->params;
        return L->nparams;
    }
    *types = L->results;
    return L->nresults;
}

static void
add_fixup(comp *c, ctl *L, uint32_t op_start, uint32_t rel_loc, uint32_t cost_loc)
{
    if (!GROW(c, fix, fixcap, c->nfix + 1)) {
        return;
    }
    c->fix[c->nfix] = (fixup){rel_loc, op_start, cost_loc, L->fix_head};
    L->fix_head = c->nfix++;
}

/* Appends the (rel, cost) words of a jump to label L for the instruction at op_start. */
static void
emit_target(comp *c, uint32_t op_start, ctl *L)
{
    uint32_t rel_loc = c->clen;
    emit(c, 0);
    uint32_t cost_loc = c->clen;
    emit(c, 0);
    if (L->kind == C_LOOP) {
        put(c, rel_loc, L->loop_pos - op_start);
        chain_ref(c, L->loop_chain, L->loop_base, cost_loc);
    } else {
        add_fixup(c, L, op_start, rel_loc, cost_loc);
    }
}

/* Resolves the fixups of list `head` to the current position, charging the current chain
 * from here (base = its cost now). */
static void
resolve_fixups(comp *c, uint32_t head)
{
    uint32_t base = chain_cost(c);
    for (uint32_t i = head; i != NONE32; i = c->fix[i].next) {
        put(c, c->fix[i].rel_loc, c->clen - c->fix[i].op_start);
        chain_ref(c, c->cur, base, c->fix[i].cost_loc);
    }
}

/* Emits the moves of the top n operands into the slots of label L (or the function results),
 * reading pending entries in place. */
static void
emit_label_copies(comp *c, uint32_t n, uint32_t dst_base_slot)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pos = c->sp - n + i;
        entry *e = &c->stk[pos];
        uint32_t dst = dst_base_slot + i;
        if (e->kind == E_CONST) {
            emit_const(c, dst, e->bits);
        } else if (e->kind == E_LOCAL) {
            emit_copy(c, dst, e->local);
        } else {
            emit_copy(c, dst, slot(c, pos));
        }
    }
}

/* The return sequence: results to slots 0..n-1, then RETURN. */
static void
emit_return(comp *c)
{
    uint32_t n = c->ft->nresults;
    if (n == 1) {
        entry *e = &c->stk[c->sp - 1];
        if (e->kind == E_CONST) {
            emit_const(c, 0, e->bits);
            emit_op(c, CAP_IOP_RETURN);
        } else {
            uint32_t s = e->kind == E_LOCAL ? e->local : slot(c, c->sp - 1);
            emit_op(c, CAP_IOP_RET1);
            emit(c, s);
        }
        return;
    }
    /* A local below n would be overwritten before it is read: move it into its slot first. */
    for (uint32_t i = c->sp - n; i < c->sp; i++) {
        if (c->stk[i].kind == E_LOCAL && c->stk[i].local < n) {
            materialise(c, i);
        }
    }
    emit_label_copies(c, n, 0);
    emit_op(c, CAP_IOP_RETURN);
}

/* An unconditional branch to L with its values on top of the stack (live code only). */
static void
emit_br(comp *c, ctl *L)
{
    if (L->kind == C_FUNC) {
        emit_return(c);
        return;
    }
    const uint8_t *types;
    uint32_t n = label_arity(L, &types);
    emit_label_copies(c, n, slot(c, L->height));
    uint32_t at = emit_op(c, CAP_IOP_BR);
    emit_target(c, at, L);
}

/* True when the top n values already sit in label L's slots. */
static bool
in_place(comp *c, ctl *L, uint32_t n)
{
    if (L->kind == C_FUNC) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pos = c->sp - n + i;
        if (c->stk[pos].kind != E_SLOT || pos != L->height + i) {
            return false;
        }
    }
    return true;
}

static void
set_unreachable(comp *c)
{
    ctl *f = top(c);
    truncate_to(c, f->height);
    f->unreachable = true;
    chain_close(c);
}

static cap_status
push_ctl(comp *c, uint8_t kind, uint32_t nparams, const uint8_t *params, uint32_t nresults,
         const uint8_t *results)
{
    bool was_live = c->nctl == 0 || live(c);
    if (!GROW(c, ctls, ccap, c->nctl + 1)) {
        return CAP_ERR_NOMEM;
    }
    ctl *f = &c->ctls[c->nctl++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->dead = !was_live;
    f->height = c->sp - nparams;
    f->nparams = nparams;
    f->params = params;
    f->nresults = nresults;
    f->results = results;
    f->fix_head = NONE32;
    f->else_fix = NONE32;
    f->loop_chain = NONE32;
    return CAP_OK;
}

/* ------------------------------------------------------------------ reading */

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((st = (x)) != CAP_OK) {                                                                \
            return st;                                                                             \
        }                                                                                          \
    } while (0)

static cap_status
read_u32(comp *c, uint32_t *out)
{
    return cap_leb_read_u32(&c->r, out, c->err);
}

static cap_status
read_blocktype(comp *c, uint32_t *np, const uint8_t **p, uint32_t *nr, const uint8_t **r)
{
    cap_status st;
    int64_t v;
    TRY(cap_leb_read_s33(&c->r, &v, c->err));
    if (v == -64) {
        *np = *nr = 0;
        *p = *r = NULL;
        return CAP_OK;
    }
    if (v < 0) {
        uint8_t t = (uint8_t)(v & 0x7F);
        if (v < -64 || !is_valtype(t)) {
            return malformed(c, "malformed value type");
        }
        *np = 0;
        *p = NULL;
        *nr = 1;
        *r = &vt_ident[t];
        return CAP_OK;
    }
    if ((uint64_t)v >= c->m->ntypes) {
        return invalid(c, "unknown type");
    }
    const cap_ftype *ft = &c->m->types[v];
    *np = ft->nparams;
    *p = ft->types;
    *nr = ft->nresults;
    *r = ft->types + ft->nparams;
    return CAP_OK;
}

static cap_status
read_memarg(comp *c, uint32_t size, uint32_t *offset)
{
    cap_status st;
    uint32_t align;
    TRY(read_u32(c, &align));
    TRY(read_u32(c, offset));
    if (c->m->nmems == 0) {
        return invalid(c, "unknown memory 0");
    }
    if (align >= 32 || (1u << align) > size) {
        return invalid(c, "alignment must not be larger than natural");
    }
    return CAP_OK;
}

static cap_status
read_zero(comp *c)
{
    cap_status st;
    uint8_t b;
    TRY(cap_read_u8(&c->r, &b, c->err));
    if (b != 0) {
        return malformed(c, "zero byte expected");
    }
    return CAP_OK;
}

static uint8_t
local_type(comp *c, uint32_t x)
{
    if (x < c->nparams) {
        return c->ft->types[x];
    }
    uint32_t lo = 0, hi = c->ndecl;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->decl_end[mid] <= x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return c->decl_type[lo];
}

/* ------------------------------------------------------------------ instructions */

/* Integer ops whose operands may be swapped (eq, ne, add, mul, and, or, xor). */
static bool
commutes(uint32_t opcode)
{
    switch (opcode) {
    case 0x46:
    case 0x47:
    case 0x6A:
    case 0x6C:
    case 0x71:
    case 0x72:
    case 0x73:
    case 0x51:
    case 0x52:
    case 0x7C:
    case 0x7E:
    case 0x83:
    case 0x84:
    case 0x85:
        return true;
    default:
        return false;
    }
}

/* Takes the i32.add (of two slots) that produced the entry at pos, if it was the last thing
 * emitted, removing its code: the caller emits a load or store that adds the two itself. */
static bool
take_add(comp *c, uint32_t pos)
{
    if (!c->la.valid || c->sp <= top(c)->height || pos < top(c)->height || c->la.pos != pos ||
        c->la.end != c->clen || c->stk[pos].kind != E_SLOT) {
        return false;
    }
    c->clen = c->la.start;
    c->last_dst_loc = NONE32;
    c->lc.valid = false;
    c->la.valid = false;
    return true;
}

/* The generic numeric rows: UN, UNT, BIN, BINT, CMP, LOAD, STORE, REINTERP. */
static cap_status
op_generic(comp *c, const opinfo *oi, uint32_t opcode)
{
    cap_status st;
    entry a, b;
    uint32_t pos;
    switch (oi->kind) {
    case K_REINTERP: {
        TRY(pop(c, oi->ta, &a));
        if (live(c)) {
            push(c, oi->tr, a.kind, a.local, a.bits);
        } else {
            push(c, oi->tr, E_SLOT, 0, 0);
        }
        return CAP_OK;
    }
    case K_UN:
    case K_UNT: {
        TRY(pop(c, oi->ta, &a));
        pos = c->sp;
        bool lv = live(c);
        uint32_t sa = 0, at = 0;
        if (lv) {
            sa = src_slot(c, &a, pos);
            at = emit_op(c, oi->iop);
            emit(c, slot(c, pos));
            emit(c, sa);
            if (oi->kind == K_UNT) {
                trap_site(c, at);
            }
        }
        push(c, oi->tr, E_SLOT, 0, 0);
        if (lv) {
            c->last_dst_loc = at + 1;
            c->last_dst_pos = pos;
            if (opcode == OPC_I32_EQZ || opcode == OPC_I64_EQZ) {
                c->lc.valid = true;
                c->lc.start = at;
                c->lc.end = c->clen;
                c->lc.pos = pos;
                c->lc.iop = 0;
                c->lc.eqz = opcode == OPC_I32_EQZ ? 32 : 64;
                c->lc.a = sa;
            }
        }
        return CAP_OK;
    }
    case K_BIN:
    case K_BINT:
    case K_CMP: {
        TRY(pop(c, oi->tb, &b));
        TRY(pop(c, oi->ta, &a));
        pos = c->sp;
        bool lv = live(c);
        uint32_t at = 0, sa = 0, nimm = 0, bw[2] = {0, 0};
        if (lv) {
            /* A constant on the left of a commutative integer op becomes the immediate. */
            entry *pa = &a, *pb = &b;
            uint32_t posa = pos, posb = pos + 1;
            if (a.kind == E_CONST && b.kind != E_CONST && commutes(opcode)) {
                pa = &b;
                pb = &a;
                posa = pos + 1;
                posb = pos;
            }
            sa = src_slot(c, pa, posa);
            uint32_t op = oi->iop;
            if (pb->kind == E_CONST) {
                op += CAP_CMP_SI;
                nimm = is_wide(oi->tb) ? 2 : 1;
                bw[0] = (uint32_t)pb->bits;
                bw[1] = (uint32_t)(pb->bits >> 32);
            } else {
                bw[0] = src_slot(c, pb, posb);
            }
            at = emit_op(c, op);
            emit(c, slot(c, pos));
            emit(c, sa);
            emit(c, bw[0]);
            if (nimm == 2) {
                emit(c, bw[1]);
            }
            if (oi->kind == K_BINT) {
                trap_site(c, at);
            }
        }
        push(c, oi->tr, E_SLOT, 0, 0);
        if (lv) {
            c->last_dst_loc = at + 1;
            c->last_dst_pos = pos;
            if (opcode == 0x6A && nimm == 0) {
                c->la.valid = true;
                c->la.start = at;
                c->la.end = c->clen;
                c->la.pos = pos;
                c->la.a = sa;
                c->la.b = bw[0];
            }
            if (oi->kind == K_CMP) {
                c->lc.valid = true;
                c->lc.start = at;
                c->lc.end = c->clen;
                c->lc.pos = pos;
                c->lc.iop = oi->iop;
                c->lc.eqz = 0;
                c->lc.a = sa;
                c->lc.nimm = nimm;
                c->lc.b[0] = bw[0];
                c->lc.b[1] = bw[1];
            }
        }
        return CAP_OK;
    }
    case K_LOAD: {
        uint32_t off;
        TRY(read_memarg(c, oi->size, &off));
        bool fuse = live(c) && take_add(c, c->sp - 1);
        TRY(pop(c, CAP_I32, &a));
        pos = c->sp;
        bool lv = live(c);
        uint32_t at = 0;
        if (fuse) {
            uint32_t x = c->la.a, y = c->la.b;
            at = emit_op(c, oi->iop + 1);
            emit(c, slot(c, pos));
            emit(c, x);
            emit(c, y);
            emit(c, off);
            trap_site(c, at);
        } else if (lv) {
            uint32_t sa = src_slot(c, &a, pos);
            at = emit_op(c, oi->iop);
            emit(c, slot(c, pos));
            emit(c, sa);
            emit(c, off);
            trap_site(c, at);
        }
        push(c, oi->tr, E_SLOT, 0, 0);
        if (lv) {
            c->last_dst_loc = at + 1;
            c->last_dst_pos = pos;
        }
        return CAP_OK;
    }
    case K_STORE: {
        uint32_t off;
        TRY(read_memarg(c, oi->size, &off));
        /* The value must not need code of its own (it would be emitted after the add). */
        bool fuse = live(c) && c->sp >= 1 && c->sp - 1 > top(c)->height &&
                    c->stk[c->sp - 1].kind == E_LOCAL && take_add(c, c->sp - 2);
        TRY(pop(c, oi->ta, &b));
        TRY(pop(c, CAP_I32, &a));
        pos = c->sp;
        if (fuse) {
            uint32_t x = c->la.a, y = c->la.b;
            uint32_t at = emit_op(c, oi->iop + 1);
            emit(c, x);
            emit(c, y);
            emit(c, b.local);
            emit(c, off);
            trap_site(c, at);
        } else if (live(c)) {
            uint32_t sa = src_slot(c, &a, pos);
            uint32_t sb = src_slot(c, &b, pos + 1);
            uint32_t at = emit_op(c, oi->iop);
            emit(c, sa);
            emit(c, sb);
            emit(c, off);
            trap_site(c, at);
        }
        return CAP_OK;
    }
    default:
        return malformed(c, "illegal opcode");
    }
}

/* Takes the compare (or eqz) that produced the top of the stack, if it was the last thing
 * emitted, removing its code: the caller emits a fused compare-and-branch instead. */
static bool
take_cmp(comp *c)
{
    if (!c->lc.valid || c->sp <= top(c)->height || c->lc.end != c->clen || c->lc.pos != c->sp - 1 ||
        c->stk[c->sp - 1].kind != E_SLOT) {
        return false;
    }
    c->clen = c->lc.start;
    c->lc.valid = false;
    c->la.valid = false;
    c->last_dst_loc = NONE32;
    return true;
}

/* Emits a conditional jump on the popped condition `cond` (at position pos) to be completed by
 * emit_target: jumps when the condition is true (when_true) or false. `fused`: the compare was
 * taken by take_cmp. Returns the op start. */
static uint32_t
emit_cond(comp *c, bool fused, entry *cond, uint32_t pos, bool when_true)
{
    if (fused && c->lc.eqz) {
        /* eqz x is true when x == 0: jump-if-true becomes jump-if-zero. */
        bool is64 = c->lc.eqz == 64;
        uint32_t op;
        if (when_true) {
            op = is64 ? CAP_IOP_BRIFNOT64 : CAP_IOP_BRIFNOT32;
        } else {
            op = is64 ? CAP_IOP_BRIF64 : CAP_IOP_BRIF32;
        }
        uint32_t a = c->lc.a;
        uint32_t at = emit_op(c, op);
        emit(c, a);
        return at;
    }
    if (fused) {
        uint32_t op = c->lc.iop + (when_true ? CAP_CMP_BRIF : CAP_CMP_BRIFNOT) +
                      (c->lc.nimm ? CAP_CMP_SI : 0);
        uint32_t a = c->lc.a, nimm = c->lc.nimm, b0 = c->lc.b[0], b1 = c->lc.b[1];
        uint32_t at = emit_op(c, op);
        emit(c, a);
        emit(c, b0);
        if (nimm == 2) {
            emit(c, b1);
        }
        return at;
    }
    uint32_t s = src_slot(c, cond, pos);
    uint32_t op = when_true ? CAP_IOP_BRIF32 : CAP_IOP_BRIFNOT32;
    uint32_t at = emit_op(c, op);
    emit(c, s);
    return at;
}

static cap_status
get_label(comp *c, ctl **out)
{
    cap_status st;
    uint32_t depth;
    TRY(read_u32(c, &depth));
    if (depth >= c->nctl) {
        return invalid(c, "unknown label");
    }
    *out = &c->ctls[c->nctl - 1 - depth];
    return CAP_OK;
}

static cap_status
op_br_if(comp *c)
{
    cap_status st;
    ctl *L = NULL;
    TRY(get_label(c, &L));
    bool lv = live(c);
    bool fused = lv && take_cmp(c);
    entry cond;
    TRY(pop(c, CAP_I32, &cond));
    uint32_t cpos = c->sp;
    const uint8_t *types;
    uint32_t n = label_arity(L, &types);
    TRY(check_top(c, types, n));
    if (!lv) {
        return CAP_OK;
    }
    add_cost(c, 1);
    if (in_place(c, L, n)) {
        uint32_t at = emit_cond(c, fused, &cond, cpos, true);
        emit_target(c, at, L);
        uint32_t fcost = c->clen;
        emit(c, 0);
        chain_new(c);
        chain_ref(c, c->cur, 0, fcost);
        return CAP_OK;
    }
    /* Values must move: jump over the moves when the condition is false. */
    uint32_t at = emit_cond(c, fused, &cond, cpos, false);
    uint32_t rel_loc = c->clen;
    emit(c, 0);
    uint32_t tcost = c->clen;
    emit(c, 0);
    emit(c, 0); // fcost: the moves run in no chain, their branch charges the target
    chain_close(c);
    emit_br(c, L);
    put(c, rel_loc, c->clen - at);
    chain_new(c);
    chain_ref(c, c->cur, 0, tcost);
    return CAP_OK;
}

static cap_status
op_br_table(comp *c)
{
    cap_status st;
    uint32_t n;
    TRY(cap_read_len(&c->r, &n, c->err));
    if (!GROW(c, scratch, scratch_cap, n + 1)) {
        return CAP_ERR_NOMEM;
    }
    uint32_t *depths = c->scratch;
    for (uint32_t i = 0; i <= n; i++) {
        TRY(read_u32(c, &depths[i]));
        if (depths[i] >= c->nctl) {
            return invalid(c, "unknown label");
        }
    }
    entry idx;
    TRY(pop(c, CAP_I32, &idx));
    uint32_t ipos = c->sp;
    ctl *D = &c->ctls[c->nctl - 1 - depths[n]];
    const uint8_t *dtypes;
    uint32_t arity = label_arity(D, &dtypes);
    for (uint32_t i = 0; i <= n; i++) {
        ctl *L = &c->ctls[c->nctl - 1 - depths[i]];
        const uint8_t *types;
        if (label_arity(L, &types) != arity) {
            return mismatch(c);
        }
        TRY(check_top_x(c, types, arity, false)); // br_table keeps the popped types
    }
    if (live(c)) {
        add_cost(c, 1);
        uint32_t s = src_slot(c, &idx, ipos);
        uint32_t at = emit_op(c, CAP_IOP_BR_TABLE);
        emit(c, s);
        emit(c, n);
        uint32_t tab = c->clen;
        for (uint32_t i = 0; i <= n; i++) {
            emit(c, 0);
            emit(c, 0);
        }
        trap_site(c, at); // interrupt checks report this pc
        chain_close(c);
        for (uint32_t i = 0; i <= n; i++) {
            ctl *L = &c->ctls[c->nctl - 1 - depths[i]];
            uint32_t rel_loc = tab + 2 * i;
            if (in_place(c, L, arity)) {
                if (L->kind == C_LOOP) {
                    put(c, rel_loc, L->loop_pos - at);
                    chain_ref(c, L->loop_chain, L->loop_base, rel_loc + 1);
                } else {
                    add_fixup(c, L, at, rel_loc, rel_loc + 1);
                }
            } else {
                put(c, rel_loc, c->clen - at); // a stub: moves, then a plain branch
                put(c, rel_loc + 1, 0);
                emit_br(c, L);
            }
        }
    }
    set_unreachable(c);
    return CAP_OK;
}

static cap_status
call_common(comp *c, const cap_ftype *ft, uint32_t *base_out)
{
    cap_status st;
    TRY(check_top(c, ft->types, ft->nparams));
    uint32_t base = c->sp - ft->nparams;
    if (live(c)) {
        for (uint32_t i = base; i < c->sp; i++) {
            materialise(c, i);
        }
    }
    truncate_to(c, base);
    *base_out = base;
    return CAP_OK;
}

static void
call_finish(comp *c, const cap_ftype *ft, bool lv, uint32_t at)
{
    if (lv) {
        uint32_t cont = c->clen;
        emit(c, 0);
        trap_site(c, at);
        chain_new(c);
        chain_ref(c, c->cur, 0, cont);
    }
    push_types(c, ft->types + ft->nparams, ft->nresults);
}

static cap_status
op_local_set(comp *c, uint32_t x, bool tee)
{
    cap_status st;
    if (x >= c->nlocals) {
        return invalid(c, "unknown local %u", x);
    }
    uint8_t t = local_type(c, x);
    entry v;
    TRY(pop(c, t, &v));
    uint32_t pos = c->sp;
    if (live(c)) {
        uint32_t ld = c->last_dst_loc, lp = c->last_dst_pos;
        if (c->lpend[x] > 0) {
            materialise_all(c);
        }
        if (v.kind == E_SLOT && ld != NONE32 && lp == pos && c->last_dst_loc == ld) {
            put(c, ld, x); // the producer writes the local directly
            c->last_dst_loc = NONE32;
            c->lc.valid = false;
            c->la.valid = false;
        } else if (v.kind == E_LOCAL) {
            emit_copy(c, x, v.local);
        } else if (v.kind == E_CONST) {
            emit_const(c, x, v.bits);
        } else {
            emit_copy(c, x, slot(c, pos));
        }
    }
    if (tee) {
        push(c, t, E_LOCAL, x, 0);
    }
    return CAP_OK;
}

static cap_status
op_end(comp *c, bool *done)
{
    cap_status st;
    ctl *f = top(c);
    bool lv = live(c);
    /* The stack must hold exactly the results. */
    if (c->sp - f->height > f->nresults) {
        return mismatch(c);
    }
    if (f->kind == C_IF && f->nparams != f->nresults) {
        return mismatch(c);
    }
    if (f->kind == C_IF) {
        for (uint32_t i = 0; i < f->nparams; i++) {
            if (f->params[i] != f->results[i]) {
                return mismatch(c);
            }
        }
    }
    TRY(check_top(c, f->results, f->nresults));
    if (f->kind == C_FUNC) {
        if (lv) {
            emit_return(c);
        }
        chain_close(c);
        truncate_to(c, f->height);
        c->nctl--;
        *done = true;
        return CAP_OK;
    }
    if (lv) {
        materialise_all(c);
    }
    bool reached = lv;
    if (f->kind != C_LOOP) {
        uint32_t head = f->fix_head;
        if (f->else_fix != NONE32) {
            c->fix[f->else_fix].next = head;
            head = f->else_fix;
        }
        if (head != NONE32) {
            if (!lv) {
                chain_new(c);
            }
            resolve_fixups(c, head);
            reached = true;
        }
    }
    truncate_to(c, f->height);
    uint32_t nres = f->nresults;
    const uint8_t *res = f->results;
    c->nctl--;
    ctl *p = top(c);
    p->dead = !reached;
    if (!reached) {
        chain_close(c);
    }
    c->last_dst_loc = NONE32;
    c->lc.valid = false;
    c->la.valid = false;
    push_types(c, res, nres);
    c->W = c->sp; // the results are in their slots
    return CAP_OK;
}

static cap_status
op_else(comp *c)
{
    cap_status st;
    ctl *f = top(c);
    if (f->kind != C_IF) {
        return malformed(c, "END opcode expected"); // the spec decoder reads `end` here
    }
    if (c->sp - f->height > f->nresults) {
        return mismatch(c);
    }
    TRY(check_top(c, f->results, f->nresults));
    if (live(c)) {
        materialise_all(c);
        uint32_t at = emit_op(c, CAP_IOP_BR);
        emit_target(c, at, f);
        chain_close(c);
    }
    truncate_to(c, f->height);
    f->kind = C_ELSE;
    f->unreachable = false;
    f->dead =
        c->nctl >= 2 ? !(!c->ctls[c->nctl - 2].unreachable && !c->ctls[c->nctl - 2].dead) : false;
    c->last_dst_loc = NONE32;
    c->lc.valid = false;
    c->la.valid = false;
    if (f->else_fix != NONE32) {
        chain_new(c);
        uint32_t h = f->else_fix;
        c->fix[h].next = NONE32;
        f->else_fix = NONE32;
        resolve_fixups(c, h);
    }
    push_types(c, f->params, f->nparams);
    c->W = c->sp;
    return CAP_OK;
}

static cap_status
table_index(comp *c, uint32_t *t)
{
    cap_status st;
    TRY(read_u32(c, t));
    if (*t >= c->m->ntables) {
        return invalid(c, "unknown table %u", *t);
    }
    return CAP_OK;
}

/* Emits op with a destination for a result at pos and the given operand slots. */
static void
emit_ops(comp *c, uint32_t op, const uint32_t *w, uint32_t n, bool site)
{
    uint32_t at = emit_op(c, op);
    for (uint32_t i = 0; i < n; i++) {
        emit(c, w[i]);
    }
    if (site) {
        trap_site(c, at);
    }
}

/* Pops n operands of the given types and returns their slots (live code) in s[]. The first
 * popped operand is types[n-1]. pos receives the position of the deepest one. */
static cap_status
pop_operands(comp *c, const uint8_t *types, uint32_t n, uint32_t *s, uint32_t *pos)
{
    cap_status st;
    entry e[4];
    for (uint32_t i = n; i-- > 0;) {
        TRY(pop(c, types[i], &e[i]));
    }
    *pos = c->sp;
    if (live(c)) {
        for (uint32_t i = 0; i < n; i++) {
            s[i] = src_slot(c, &e[i], *pos + i);
        }
    }
    return CAP_OK;
}

static cap_status
op_misc(comp *c, uint32_t sub)
{
    cap_status st;
    const cap_module_t *m = c->m;
    uint32_t s[8], pos, a, b;
    static const uint8_t i32x3[3] = {CAP_I32, CAP_I32, CAP_I32};
    bool lv = live(c);
    switch (sub) {
    case 8: // memory.init
        TRY(read_u32(c, &a));
        TRY(read_zero(c));
        if (m->nmems == 0) {
            return invalid(c, "unknown memory 0");
        }
        if (!m->has_data_count && m->ndatas > 0) {
            return malformed(c, "data count section required");
        }
        if (a >= (m->has_data_count ? m->data_count : 0)) {
            return invalid(c, "unknown data segment %u", a);
        }
        TRY(pop_operands(c, i32x3, 3, s + 1, &pos));
        if (lv) {
            s[0] = a;
            emit_ops(c, CAP_IOP_MEMORY_INIT, s, 4, true);
        }
        return CAP_OK;
    case 9: // data.drop
        TRY(read_u32(c, &a));
        if (!m->has_data_count && m->ndatas > 0) {
            return malformed(c, "data count section required");
        }
        if (a >= (m->has_data_count ? m->data_count : 0)) {
            return invalid(c, "unknown data segment %u", a);
        }
        if (lv) {
            emit_ops(c, CAP_IOP_DATA_DROP, &a, 1, false);
        }
        return CAP_OK;
    case 10: // memory.copy
        TRY(read_zero(c));
        TRY(read_zero(c));
        if (m->nmems == 0) {
            return invalid(c, "unknown memory 0");
        }
        TRY(pop_operands(c, i32x3, 3, s, &pos));
        if (lv) {
            emit_ops(c, CAP_IOP_MEMORY_COPY, s, 3, true);
        }
        return CAP_OK;
    case 11: // memory.fill
        TRY(read_zero(c));
        if (m->nmems == 0) {
            return invalid(c, "unknown memory 0");
        }
        TRY(pop_operands(c, i32x3, 3, s, &pos));
        if (lv) {
            emit_ops(c, CAP_IOP_MEMORY_FILL, s, 3, true);
        }
        return CAP_OK;
    case 12: // table.init elem table
        TRY(read_u32(c, &b));
        TRY(table_index(c, &a));
        if (b >= m->nelems) {
            return invalid(c, "unknown elem segment %u", b);
        }
        if (m->elems[b].elemtype != m->tables[a].elemtype) {
            return mismatch(c);
        }
        TRY(pop_operands(c, i32x3, 3, s + 2, &pos));
        if (lv) {
            s[0] = a;
            s[1] = b;
            emit_ops(c, CAP_IOP_TABLE_INIT, s, 5, true);
        }
        return CAP_OK;
    case 13: // elem.drop
        TRY(read_u32(c, &a));
        if (a >= m->nelems) {
            return invalid(c, "unknown elem segment %u", a);
        }
        if (lv) {
            emit_ops(c, CAP_IOP_ELEM_DROP, &a, 1, false);
        }
        return CAP_OK;
    case 14: // table.copy dst src
        TRY(table_index(c, &a));
        TRY(table_index(c, &b));
        if (m->tables[a].elemtype != m->tables[b].elemtype) {
            return mismatch(c);
        }
        TRY(pop_operands(c, i32x3, 3, s + 2, &pos));
        if (lv) {
            s[0] = a;
            s[1] = b;
            emit_ops(c, CAP_IOP_TABLE_COPY, s, 5, true);
        }
        return CAP_OK;
    case 15: { // table.grow
        TRY(table_index(c, &a));
        uint8_t ty[2] = {m->tables[a].elemtype, CAP_I32};
        TRY(pop_operands(c, ty, 2, s + 2, &pos));
        if (lv) {
            s[0] = slot(c, pos);
            s[1] = a;
            emit_ops(c, CAP_IOP_TABLE_GROW, s, 4, false);
        }
        push(c, CAP_I32, E_SLOT, 0, 0);
        return CAP_OK;
    }
    case 16: // table.size
        TRY(table_index(c, &a));
        if (lv) {
            s[0] = slot(c, c->sp);
            s[1] = a;
            emit_ops(c, CAP_IOP_TABLE_SIZE, s, 2, false);
        }
        push(c, CAP_I32, E_SLOT, 0, 0);
        return CAP_OK;
    case 17: { // table.fill
        TRY(table_index(c, &a));
        uint8_t ty[3] = {CAP_I32, m->tables[a].elemtype, CAP_I32};
        TRY(pop_operands(c, ty, 3, s + 1, &pos));
        if (lv) {
            s[0] = a;
            emit_ops(c, CAP_IOP_TABLE_FILL, s, 4, true);
        }
        return CAP_OK;
    }
    default:
        if (sub < 8) {
            return op_generic(c, &optab[256 + sub], 256 + sub);
        }
        return malformed(c, "illegal opcode");
    }
}

/* ------------------------------------------------------------------ one function */

static cap_status
compile_body(comp *c, uint32_t func_index, cap_func_def *def)
{
    cap_status st;
    cap_module_t *m = c->m;
    c->ft = &m->types[def->type_index];
    c->nparams = c->ft->nparams;
    cap_reader_init(&c->r, m->bytes, def->body_offset, (size_t)def->body_offset + def->body_len);
    c->body = m->bytes + def->body_offset;
    c->pc = 0;

    /* Locals. */
    uint32_t ngroups;
    TRY(cap_read_len(&c->r, &ngroups, c->err));
    uint64_t total = c->nparams;
    c->ndecl = 0;
    if (!GROW(c, decl_end, decl_cap, ngroups + 1) || !GROW(c, decl_type, decl_tcap, ngroups + 1)) {
        return CAP_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < ngroups; i++) {
        uint32_t cnt;
        uint8_t t;
        TRY(read_u32(c, &cnt));
        TRY(cap_read_u8(&c->r, &t, c->err));
        total += cnt;
        if (total > CAP_MAX_LOCALS) {
            return malformed(c, "too many locals");
        }
        if (!is_valtype(t)) {
            return malformed(c, "malformed value type");
        }
        if (cnt) {
            c->decl_end[c->ndecl] = (uint32_t)total;
            c->decl_type[c->ndecl] = t;
            c->ndecl++;
        }
    }
    c->nlocals = (uint32_t)total;
    if (c->nlocals > c->lpend_cap) {
        uint32_t old = c->lpend_cap;
        if (!GROW(c, lpend, lpend_cap, c->nlocals)) {
            return CAP_ERR_NOMEM;
        }
        memset(c->lpend + old, 0, (size_t)(c->lpend_cap - old) * sizeof *c->lpend);
    }

    /* Reset the per-function state. */
    c->sp = c->W = c->maxsp = 0;
    c->nctl = 0;
    c->clen = 0;
    c->nfix = c->nchains = c->npatch = c->nsites = 0;
    c->cur = NONE32;
    c->last_dst_loc = NONE32;
    c->lc.valid = false;
    c->la.valid = false;
    c->la.valid = false;
    emit(c, 0); // code[0]: the entry chain's fuel
    chain_new(c);
    chain_ref(c, c->cur, 0, 0);
    TRY(push_ctl(c, C_FUNC, 0, NULL, c->ft->nresults, c->ft->types + c->ft->nparams));

    bool done = false, overrun = false;
    while (!done) {
        if (c->oom) {
            return cap_fail(c->err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
        if (cap_reader_eof(&c->r)) {
            /* Like the spec decoder, read on past a body without its `end`, so that the error is
             * the one it reports: the end of the module, or a size mismatch once it ends. */
            if (c->r.end == m->bytes + m->len) {
                return malformed(c, CAP_MSG_EOF);
            }
            c->r.end = m->bytes + m->len;
            overrun = true;
        }
        c->pc = (uint32_t)(c->r.p - c->body);
        uint8_t opcode = *c->r.p++;
        const opinfo *oi = &optab[opcode];
        if (!oi->defined && opcode != 0xFC) {
            return malformed(c, "illegal opcode");
        }
        if (oi->kind != K_SPECIAL) {
            if (live(c)) {
                add_cost(c, oi->fuel);
            }
            TRY(op_generic(c, oi, opcode));
            continue;
        }
        bool lv = live(c);
        if (lv && oi->fuel && opcode != 0x0D && opcode != 0x0E && opcode != 0x04) {
            add_cost(c, oi->fuel);
        }
        entry a, b, cond;
        uint32_t x, pos;
        switch (opcode) {
        case 0x00: // unreachable
            if (lv) {
                uint32_t at = emit_op(c, CAP_IOP_UNREACHABLE);
                trap_site(c, at);
            }
            set_unreachable(c);
            break;
        case 0x01: // nop
            break;
        case 0x02:   // block
        case 0x03: { // loop
            uint32_t np, nr;
            const uint8_t *p, *r;
            TRY(read_blocktype(c, &np, &p, &nr, &r));
            if (lv) {
                materialise_all(c);
            }
            TRY(check_top(c, p, np));
            TRY(push_ctl(c, opcode == 0x02 ? C_BLOCK : C_LOOP, np, p, nr, r));
            if (opcode == 0x03 && lv) {
                ctl *f = top(c);
                f->loop_pos = c->clen;
                f->loop_chain = c->cur;
                f->loop_base = chain_cost(c);
                c->last_dst_loc = NONE32;
                c->lc.valid = false;
                c->la.valid = false;
            }
            break;
        }
        case 0x04: { // if
            uint32_t np, nr;
            const uint8_t *p, *r;
            TRY(read_blocktype(c, &np, &p, &nr, &r));
            bool fused = lv && take_cmp(c);
            TRY(pop(c, CAP_I32, &cond));
            pos = c->sp;
            TRY(check_top(c, p, np));
            uint32_t at = 0, rel_loc = 0;
            if (lv) {
                add_cost(c, 1);
                materialise_all(c);
                at = emit_cond(c, fused, &cond, pos, false);
                rel_loc = c->clen;
                emit(c, 0);
                emit(c, 0);
                uint32_t fcost = c->clen;
                emit(c, 0);
                chain_new(c);
                chain_ref(c, c->cur, 0, fcost);
            }
            TRY(push_ctl(c, C_IF, np, p, nr, r));
            if (lv) {
                ctl *f = top(c);
                if (GROW(c, fix, fixcap, c->nfix + 1)) {
                    c->fix[c->nfix] = (fixup){rel_loc, at, rel_loc + 1, NONE32};
                    f->else_fix = c->nfix++;
                }
            }
            break;
        }
        case 0x05:
            TRY(op_else(c));
            break;
        case 0x0B:
            TRY(op_end(c, &done));
            break;
        case 0x0C: { // br
            ctl *L = NULL;
            TRY(get_label(c, &L));
            const uint8_t *types;
            uint32_t n = label_arity(L, &types);
            TRY(check_top(c, types, n));
            if (lv) {
                emit_br(c, L);
            }
            set_unreachable(c);
            break;
        }
        case 0x0D:
            TRY(op_br_if(c));
            break;
        case 0x0E:
            TRY(op_br_table(c));
            break;
        case 0x0F: // return
            TRY(check_top(c, c->ctls[0].results, c->ctls[0].nresults));
            if (lv) {
                emit_return(c);
            }
            set_unreachable(c);
            break;
        case 0x10: { // call
            TRY(read_u32(c, &x));
            if (x >= m->nfuncs) {
                return invalid(c, "unknown function %u", x);
            }
            const cap_ftype *ft = &m->types[m->func_type[x]];
            uint32_t base;
            TRY(call_common(c, ft, &base));
            uint32_t at = 0;
            if (lv) {
                at = emit_op(c, CAP_IOP_CALL);
                emit(c, x);
                emit(c, slot(c, base));
            }
            call_finish(c, ft, lv, at);
            break;
        }
        case 0x11: { // call_indirect
            uint32_t t;
            TRY(read_u32(c, &x));
            TRY(read_u32(c, &t));
            if (t >= m->ntables) {
                return invalid(c, "unknown table %u", t);
            }
            if (x >= m->ntypes) {
                return invalid(c, "unknown type");
            }
            if (m->tables[t].elemtype != CAP_FUNCREF) {
                return mismatch(c);
            }
            TRY(pop(c, CAP_I32, &a));
            pos = c->sp;
            const cap_ftype *ft = &m->types[x];
            uint32_t base;
            TRY(check_top(c, ft->types, ft->nparams));
            base = c->sp - ft->nparams;
            uint32_t at = 0;
            if (lv) {
                uint32_t is = src_slot(c, &a, pos);
                for (uint32_t i = base; i < c->sp; i++) {
                    materialise(c, i);
                }
                at = emit_op(c, CAP_IOP_CALL_INDIRECT);
                emit(c, x);
                emit(c, t);
                emit(c, slot(c, base));
                emit(c, is);
            }
            truncate_to(c, base);
            call_finish(c, ft, lv, at);
            break;
        }
        case 0x1A: // drop
            TRY(pop(c, T_UNK, &a));
            break;
        case 0x1B:   // select
        case 0x1C: { // select t
            uint8_t t = T_UNK;
            if (opcode == 0x1C) {
                uint32_t n;
                TRY(read_u32(c, &n));
                if (n != 1) {
                    return invalid(c, "invalid result arity");
                }
                TRY(cap_read_u8(&c->r, &t, c->err));
                if (!is_valtype(t)) {
                    return malformed(c, "malformed value type");
                }
            }
            TRY(pop(c, CAP_I32, &cond));
            TRY(pop(c, t, &b));
            TRY(pop(c, t, &a));
            pos = c->sp;
            if (opcode == 0x1B) {
                if ((a.type != T_UNK && is_ref(a.type)) || (b.type != T_UNK && is_ref(b.type))) {
                    return mismatch(c);
                }
                if (a.type != T_UNK && b.type != T_UNK && a.type != b.type) {
                    return mismatch(c);
                }
                t = a.type != T_UNK ? a.type : b.type;
            }
            uint32_t at = 0;
            if (lv) {
                uint32_t w[4];
                w[0] = slot(c, pos);
                w[1] = src_slot(c, &a, pos);
                w[2] = src_slot(c, &b, pos + 1);
                w[3] = src_slot(c, &cond, pos + 2);
                at = c->clen;
                emit_ops(c, CAP_IOP_SELECT, w, 4, false);
            }
            push(c, t, E_SLOT, 0, 0);
            if (lv) {
                c->last_dst_loc = at + 1;
                c->last_dst_pos = pos;
            }
            break;
        }
        case 0x20: // local.get
            TRY(read_u32(c, &x));
            if (x >= c->nlocals) {
                return invalid(c, "unknown local %u", x);
            }
            push(c, local_type(c, x), E_LOCAL, x, 0);
            break;
        case 0x21: // local.set
        case 0x22: // local.tee
            TRY(read_u32(c, &x));
            TRY(op_local_set(c, x, opcode == 0x22));
            break;
        case 0x23: { // global.get
            TRY(read_u32(c, &x));
            if (x >= m->nglobals) {
                return invalid(c, "unknown global %u", x);
            }
            pos = c->sp;
            if (lv) {
                uint32_t w[2] = {slot(c, pos), x};
                emit_ops(c, CAP_IOP_GLOBAL_GET, w, 2, false);
            }
            push(c, m->global_types[x].valtype, E_SLOT, 0, 0);
            if (lv) {
                c->last_dst_loc = c->clen - 2;
                c->last_dst_pos = pos;
            }
            break;
        }
        case 0x24: // global.set
            TRY(read_u32(c, &x));
            if (x >= m->nglobals) {
                return invalid(c, "unknown global %u", x);
            }
            if (!m->global_types[x].mutable_) {
                return invalid(c, "global is immutable");
            }
            TRY(pop(c, m->global_types[x].valtype, &a));
            pos = c->sp;
            if (lv) {
                uint32_t w[2] = {src_slot(c, &a, pos), x};
                emit_ops(c, CAP_IOP_GLOBAL_SET, w, 2, false);
            }
            break;
        case 0x25: { // table.get
            TRY(table_index(c, &x));
            TRY(pop(c, CAP_I32, &a));
            pos = c->sp;
            if (lv) {
                uint32_t w[3] = {slot(c, pos), x, src_slot(c, &a, pos)};
                emit_ops(c, CAP_IOP_TABLE_GET, w, 3, true);
            }
            push(c, m->tables[x].elemtype, E_SLOT, 0, 0);
            break;
        }
        case 0x26: { // table.set
            TRY(table_index(c, &x));
            uint8_t ty[2] = {CAP_I32, m->tables[x].elemtype};
            uint32_t s[2];
            TRY(pop_operands(c, ty, 2, s, &pos));
            if (lv) {
                uint32_t w[3] = {x, s[0], s[1]};
                emit_ops(c, CAP_IOP_TABLE_SET, w, 3, true);
            }
            break;
        }
        case 0x3F: // memory.size
            TRY(read_zero(c));
            if (m->nmems == 0) {
                return invalid(c, "unknown memory 0");
            }
            if (lv) {
                uint32_t w = slot(c, c->sp);
                emit_ops(c, CAP_IOP_MEMORY_SIZE, &w, 1, false);
            }
            push(c, CAP_I32, E_SLOT, 0, 0);
            break;
        case 0x40: // memory.grow
            TRY(read_zero(c));
            if (m->nmems == 0) {
                return invalid(c, "unknown memory 0");
            }
            TRY(pop(c, CAP_I32, &a));
            pos = c->sp;
            if (lv) {
                uint32_t w[2] = {slot(c, pos), src_slot(c, &a, pos)};
                emit_ops(c, CAP_IOP_MEMORY_GROW, w, 2, false);
            }
            push(c, CAP_I32, E_SLOT, 0, 0);
            break;
        case 0x41: { // i32.const
            int32_t v;
            TRY(cap_leb_read_s32(&c->r, &v, c->err));
            push(c, CAP_I32, E_CONST, 0, (uint32_t)v);
            break;
        }
        case 0x42: { // i64.const
            int64_t v;
            TRY(cap_leb_read_s64(&c->r, &v, c->err));
            push(c, CAP_I64, E_CONST, 0, (uint64_t)v);
            break;
        }
        case 0x43: { // f32.const
            uint32_t v;
            TRY(cap_read_u32_le(&c->r, &v, c->err));
            push(c, CAP_F32, E_CONST, 0, v);
            break;
        }
        case 0x44: { // f64.const
            uint64_t v;
            TRY(cap_read_u64_le(&c->r, &v, c->err));
            push(c, CAP_F64, E_CONST, 0, v);
            break;
        }
        case 0xD0: { // ref.null
            uint8_t t;
            TRY(cap_read_u8(&c->r, &t, c->err));
            if (!is_ref(t)) {
                return malformed(c, "malformed reference type");
            }
            push(c, t, E_CONST, 0, 0);
            break;
        }
        case 0xD1: // ref.is_null
            TRY(pop(c, T_UNK, &a));
            if (a.type != T_UNK && !is_ref(a.type)) {
                return mismatch(c);
            }
            pos = c->sp;
            if (lv) {
                uint32_t w[2] = {slot(c, pos), src_slot(c, &a, pos)};
                emit_ops(c, CAP_IOP_REF_IS_NULL, w, 2, false);
            }
            push(c, CAP_I32, E_SLOT, 0, 0);
            break;
        case 0xD2: // ref.func
            TRY(read_u32(c, &x));
            if (x >= m->nfuncs) {
                return invalid(c, "unknown function %u", x);
            }
            if (!cap_module_func_declared(m, x)) {
                return invalid(c, "undeclared function reference");
            }
            if (lv) {
                uint32_t w[2] = {slot(c, c->sp), x};
                emit_ops(c, CAP_IOP_REF_FUNC, w, 2, false);
            }
            push(c, CAP_FUNCREF, E_SLOT, 0, 0);
            break;
        case 0xFC: {
            uint32_t sub;
            TRY(read_u32(c, &sub));
            if (sub < 8) {
                if (live(c)) {
                    add_cost(c, 1);
                }
            } else if (sub <= 17 && lv) {
                add_cost(c, 1);
            }
            TRY(op_misc(c, sub));
            break;
        }
        default:
            return malformed(c, "illegal opcode");
        }
    }
    if (c->oom) {
        return cap_fail(c->err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    if (overrun || !cap_reader_eof(&c->r)) {
        return malformed(c, "section size mismatch");
    }

    /* Copy the result out. */
    struct cap_code *code = cap_calloc(1, sizeof *code);
    if (!code) {
        return cap_fail(c->err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    code->code = cap_alloc((size_t)c->clen * sizeof(uint32_t));
    code->sites = c->nsites ? cap_alloc((size_t)c->nsites * sizeof(cap_trap_site)) : NULL;
    if (!code->code || (c->nsites && !code->sites)) {
        cap_compile_free(code);
        return cap_fail(c->err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    memcpy(code->code, c->code, (size_t)c->clen * sizeof(uint32_t));
    if (c->nsites) {
        memcpy(code->sites, c->sites, (size_t)c->nsites * sizeof(cap_trap_site));
    }
    code->len = c->clen;
    code->nparams = c->nparams;
    code->nresults = c->ft->nresults;
    code->nlocals = c->nlocals;
    code->frame_slots = c->nlocals + c->maxsp;
    code->func_index = func_index;
    code->nsites = c->nsites;
    /* Release: a thread that loads this pointer (cap_code_load) sees the code it points at. */
    __atomic_store_n(&def->code, code, __ATOMIC_RELEASE);
    return CAP_OK;
}

/* Frees the compiler's scratch buffers. */
static void
comp_free(comp *c)
{
    cap_free(c->decl_end);
    cap_free(c->decl_type);
    cap_free(c->lpend);
    cap_free(c->stk);
    cap_free(c->ctls);
    cap_free(c->scratch);
    cap_free(c->code);
    cap_free(c->fix);
    cap_free(c->chains);
    cap_free(c->patches);
    cap_free(c->sites);
    memset(c, 0, sizeof *c);
}

cap_status
cap_compile_module(cap_module_t *m, cap_error_t *err)
{
    comp c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.err = err;
    cap_status st = CAP_OK;
    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    for (uint32_t i = 0; i < ndef; i++) {
        if (m->funcs[i].code) {
            continue;
        }
        st = compile_body(&c, m->nfunc_imports + i, &m->funcs[i]);
        if (st == CAP_ERR_NOMEM && !(err && err->status == CAP_ERR_NOMEM)) {
            cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        }
        if (st == CAP_ERR_INVALID) {
            /* A malformed body anywhere (this one included) is reported instead. */
            cap_error_t saved;
            if (err) {
                saved = *err;
            }
            for (uint32_t j = i; j < ndef; j++) {
                if (cap_compile_scan_body(m, &m->funcs[j], err) != CAP_OK) {
                    st = CAP_ERR_MALFORMED;
                    break;
                }
            }
            if (st == CAP_ERR_INVALID && err) {
                *err = saved;
            }
        }
        if (st != CAP_OK) {
            break;
        }
    }
    comp_free(&c);
    return st;
}

void
cap_compile_free(struct cap_code *code)
{
    if (code) {
        cap_free(code->code);
        cap_free(code->sites);
        cap_free(code);
    }
}

/* ------------------------------------------------------------------ one body at a time */

struct cap_comp_scratch {
    comp c;
};

#define SCRATCH_KEEP_WORDS (1u << 16) // 256 KiB of code buffer (and the rest in proportion)

cap_comp_scratch *
cap_comp_scratch_new(void)
{
    return cap_calloc(1, sizeof(cap_comp_scratch));
}

void
cap_comp_scratch_free(cap_comp_scratch *s)
{
    if (s) {
        comp_free(&s->c);
        cap_free(s);
    }
}

cap_status
cap_compile_body_with(cap_comp_scratch *s, cap_module_t *m, uint32_t func_index, cap_error_t *err)
{
    cap_func_def *def = &m->funcs[func_index - m->nfunc_imports];
    comp *c = &s->c;
    c->m = m;
    c->err = err;
    c->oom = false;
    cap_status st = compile_body(c, func_index, def);
    if (st == CAP_OK) {
        /* Keep the buffers for the next body, unless one huge body (an interpreter's dispatch
         * loop) grew them: the module would hold that memory for its whole life. */
        if (c->ccapw > SCRATCH_KEEP_WORDS) {
            comp_free(c);
        }
        return CAP_OK;
    }
    if (st == CAP_ERR_NOMEM && err->status != CAP_ERR_NOMEM) {
        cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    if (st == CAP_ERR_INVALID) {
        /* As in cap_compile_module: a malformed body is reported instead of an invalid one. */
        cap_error_t saved = *err;
        if (cap_compile_scan_body(m, def, err) != CAP_OK) {
            st = CAP_ERR_MALFORMED;
        } else {
            *err = saved;
        }
    }
    /* A failed compilation may leave scratch state behind (pending-local counts, the OOM
     * flag): start the next one from nothing. */
    comp_free(c);
    return st;
}
