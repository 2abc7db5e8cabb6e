/* SPDX-License-Identifier: Apache-2.0 */
/* Instance snapshots: save an instance's state (memories, globals, tables, dropped segments) to a
 * file and start later instances of the same module from it, memory mapped copy-on-write.
 *
 * File format (little-endian), version 2:
 *   header   "CAPSNAP1", u32 version, u32 header size, u64 module length, u32 nfuncs, nglobals,
 *            ntables, nmems, nelems, ndatas, u64 checksum, u64 state offset, state length, meta
 *            offset, meta length, file length (these five last: cap_snapshot_set_meta patches
 *            them)
 * The checksum covers the state section and every non-zero 64 KiB page of the images with its
 * offset, so a damaged file is refused rather than restored (it guards against accidents; who
 * can write the file can write any state, which is no more than the guest could reach).
 *   state    per global: u64 value (funcref: function index + 1, 0 = null; 0 for an import)
 *            per defined table: u32 size, then size x u32 (function index + 1, 0 = null)
 *            per element segment: u8 dropped; per data segment: u8 dropped
 *            per defined memory: u32 pages, u64 image offset (64 KiB aligned)
 *   images   each memory's bytes, 64 KiB aligned; all-zero 64 KiB pages are holes
 *   meta     the embedder's blob (last, so that it can be replaced: cap_snapshot_set_meta)
 * A snapshot describes a module by shape (the counts above and its byte length); the embedder
 * keys snapshots by the module's identity, this is a last line of defence. Nothing read from a
 * file is trusted: every index and size is checked before it is used, so a forged snapshot can
 * only give a guest a state it could have reached itself. */
#include "platform/platform.h"
#include "util/alloc.h"
#include "wasm/runtime.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_MAGIC   "CAPSNAP1"
#define SNAP_VERSION 2u
#define SNAP_HEADER  (8 + 4 + 4 + 8 + 6 * 4 + 8 + 5 * 8)

struct cap_snapshot_t {
    uint64_t module_len;
    uint32_t nfuncs, nglobals, ntables, nmems, nelems, ndatas;
    uint8_t *state; // the state section
    size_t state_len;
    uint8_t *meta;
    size_t meta_len;
    int image_fd; // private copy of the memory images (-1 when there are none)
    uint64_t mem_bytes;
};

/* ---- a growable byte buffer for the state section ---- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} buf;

static void
put(buf *b, const void *data, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + n) {
            nc *= 2;
        }
        uint8_t *np = cap_realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void
put_u8(buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void
put_u32(buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void
put_u64(buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

/* ---- a bounds-checked reader ---- */

typedef struct rd {
    const uint8_t *p, *end;
    bool bad;
} rd;

static uint32_t
get_u32(rd *r)
{
    if (r->bad || r->end - r->p < 4) {
        r->bad = true;
        return 0;
    }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

static uint64_t
get_u64(rd *r)
{
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}

static uint8_t
get_u8(rd *r)
{
    if (r->bad || r->p >= r->end) {
        r->bad = true;
        return 0;
    }
    return *r->p++;
}

/* ---- writing ---- */

/* The encoding of a reference slot: function index + 1 in inst's index space, 0 for null. */
static bool
encode_ref(const cap_instance_t *inst, uint8_t type, cap_slot_t v, uint32_t *out)
{
    if (!v) {
        *out = 0;
        return true;
    }
    if (type != CAP_FUNCREF) {
        return false; // a host value cannot outlive its process
    }
    const cap_func_t *f = (const cap_func_t *)(uintptr_t)v;
    if (f->inst == inst) {
        *out = f->index + 1;
        return true;
    }
    const cap_module_t *m = inst->module;
    for (uint32_t i = 0; i < m->nfunc_imports; i++) {
        if (inst->funcs[i] == f) {
            *out = i + 1;
            return true;
        }
    }
    return false;
}

static bool
write_all(int fd, const void *data, size_t n, uint64_t off)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return true;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    for (size_t i = 0; i < n / 8; i++) {
        if (w[i]) {
            return false;
        }
    }
    return true;
}

static uint64_t
align64k(uint64_t n)
{
    return (n + CAP_PAGE_SIZE - 1) / CAP_PAGE_SIZE * CAP_PAGE_SIZE;
}

/* A fast 64-bit mixing hash over 8-byte words (a tail is zero-padded): for detecting damage, not
 * forgery. */
static uint64_t
mix(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i < 8 ? n - i : 8);
        h ^= w;
        h *= 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    h ^= n;
    return h * 0xBF58476D1CE4E5B9ull;
}

static uint64_t
mix_page(uint64_t h, uint64_t offset, const uint8_t *page)
{
    uint8_t o[8];
    memcpy(o, &offset, 8);
    return mix(mix(h, o, 8), page, CAP_PAGE_SIZE);
}

cap_status
cap_snapshot_write(const cap_instance_t *inst, int fd, const void *meta, size_t meta_len,
                   cap_error_t *err)
{
    cap_error_clear(err);
    if (!inst || fd < 0 || (!meta && meta_len)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_snapshot_write: bad argument");
    }
    const cap_module_t *m = inst->module;
    if (m->nmem_imports || m->ntable_imports) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                        "cannot snapshot an instance that imports a memory or a table");
    }
    for (uint32_t i = 0; i < m->nglobal_imports; i++) {
        if (m->global_types[i].mutable_) {
            return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                            "cannot snapshot an instance that imports a mutable global");
        }
    }
    buf st = {0};
    cap_status rc = CAP_OK;
    for (uint32_t i = 0; i < m->nglobal_imports; i++) {
        put_u64(&st, 0); // an imported (immutable) global's value comes from the linker
    }
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
        const cap_global_t *g = inst->globals[i];
        uint64_t v = g->value;
        if (g->type == CAP_FUNCREF || g->type == CAP_EXTERNREF) {
            uint32_t x;
            if (!encode_ref(inst, g->type, g->value, &x)) {
                rc = cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                              "cannot snapshot global %u: it holds a host reference", i);
                goto out;
            }
            v = x;
        }
        put_u64(&st, v);
    }
    for (uint32_t i = 0; i < m->ntables; i++) {
        const cap_table_t *t = inst->tables[i];
        put_u32(&st, t->size);
        for (uint32_t j = 0; j < t->size; j++) {
            uint32_t x;
            if (!encode_ref(inst, t->elemtype, t->elems[j], &x)) {
                rc = cap_fail(err, CAP_ERR_USAGE, UINT64_MAX,
                              "cannot snapshot table %u: element %u is a host reference or a "
                              "function of another instance",
                              i, j);
                goto out;
            }
            put_u32(&st, x);
        }
    }
    for (uint32_t i = 0; i < m->nelems; i++) {
        put_u8(&st, inst->elem_len[i] == 0 && m->elems[i].count ? 1 : 0);
    }
    for (uint32_t i = 0; i < m->ndatas; i++) {
        put_u8(&st, inst->data_dropped[i]);
    }
    uint64_t state_off = SNAP_HEADER;
    uint64_t img = align64k(state_off + st.len + (uint64_t)m->nmems * 12);
    uint64_t images = img;
    for (uint32_t i = 0; i < m->nmems; i++) {
        put_u32(&st, inst->mems[i]->pages);
        put_u64(&st, img);
        img += inst->mems[i]->size;
    }
    uint64_t meta_off = img;
    uint64_t file_len = meta_off + meta_len;
    if (st.oom) {
        rc = cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        goto out;
    }
    /* The images first, in one pass that leaves zero pages as holes and sums the others; the
     * header, which holds the sum, last. */
    uint64_t sum = mix(0x6361707375ull, st.p, st.len);
    bool ok = true;
    uint64_t at = images;
    for (uint32_t i = 0; ok && i < m->nmems; i++) {
        const cap_memory_t *mem = inst->mems[i];
        for (uint64_t off = 0; ok && off < mem->size; off += CAP_PAGE_SIZE) {
            const uint8_t *page = mem->data + off;
            if (!all_zero(page, CAP_PAGE_SIZE)) {
                sum = mix_page(sum, at + off, page);
                ok = write_all(fd, page, CAP_PAGE_SIZE, at + off);
            }
        }
        at += mem->size;
    }
    buf h = {0};
    put(&h, SNAP_MAGIC, 8);
    put_u32(&h, SNAP_VERSION);
    put_u32(&h, SNAP_HEADER);
    put_u64(&h, m->len);
    put_u32(&h, m->nfuncs);
    put_u32(&h, m->nglobals);
    put_u32(&h, m->ntables);
    put_u32(&h, m->nmems);
    put_u32(&h, m->nelems);
    put_u32(&h, m->ndatas);
    put_u64(&h, sum);
    put_u64(&h, state_off);
    put_u64(&h, st.len);
    put_u64(&h, meta_off);
    put_u64(&h, meta_len);
    put_u64(&h, file_len);
    ok = ok && !h.oom && h.len == SNAP_HEADER && write_all(fd, st.p, st.len, state_off) &&
         (meta_len == 0 || write_all(fd, meta, meta_len, meta_off)) &&
         write_all(fd, h.p, h.len, 0);
    cap_free(h.p);
    if (ok) {
        ok = ftruncate(fd, (off_t)file_len) == 0;
    }
    if (!ok) {
        rc = cap_fail(err, CAP_ERR_IO, UINT64_MAX, "cannot write the snapshot: %s",
                      strerror(errno ? errno : EIO));
    }
out:
    cap_free(st.p);
    return rc;
}

cap_status
cap_snapshot_set_meta(int fd, const void *meta, size_t meta_len, cap_error_t *err)
{
    cap_error_clear(err);
    uint8_t h[SNAP_HEADER];
    if (fd < 0 || (!meta && meta_len)) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_snapshot_set_meta: bad argument");
    }
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h, SNAP_MAGIC, 8) != 0) {
        return cap_fail(err, CAP_ERR_MALFORMED, UINT64_MAX, "not a usable snapshot: no header");
    }
    rd r = {h + SNAP_HEADER - 3 * 8, h + sizeof h, false};
    uint64_t meta_off = get_u64(&r);
    buf b = {0};
    put_u64(&b, meta_off);
    put_u64(&b, meta_len);
    put_u64(&b, meta_off + meta_len);
    bool ok = !b.oom && (meta_len == 0 || write_all(fd, meta, meta_len, meta_off)) &&
              ftruncate(fd, (off_t)(meta_off + meta_len)) == 0 &&
              write_all(fd, b.p, b.len, SNAP_HEADER - 3 * 8);
    cap_free(b.p);
    if (!ok) {
        return cap_fail(err, CAP_ERR_IO, UINT64_MAX, "cannot write the snapshot: %s",
                        strerror(errno ? errno : EIO));
    }
    return CAP_OK;
}

/* ---- reading ---- */

static bool
read_all(int fd, void *data, size_t n, uint64_t off)
{
    uint8_t *p = data;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return true;
}

static cap_status
malformed(cap_error_t *err, const char *why)
{
    return cap_fail(err, CAP_ERR_MALFORMED, UINT64_MAX, "not a usable snapshot: %s", why);
}

/* Walks the state section to its memory entries, checking it is long enough for the counts
 * (before looping over them: forged counts must cost nothing). */
static bool
skip_to_memories(const cap_snapshot_t *s, rd *r)
{
    uint64_t need = (uint64_t)s->nglobals * 8 + (uint64_t)s->ntables * 4 + (uint64_t)s->nelems +
                    (uint64_t)s->ndatas + (uint64_t)s->nmems * 12;
    if (need > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        return false;
    }
    r->p += (size_t)s->nglobals * 8;
    for (uint32_t i = 0; i < s->ntables && !r->bad; i++) {
        uint32_t n = get_u32(r);
        if ((uint64_t)(r->end - r->p) < (uint64_t)n * 4) {
            r->bad = true;
            break;
        }
        r->p += (size_t)n * 4;
    }
    uint64_t flags = (uint64_t)s->nelems + s->ndatas;
    if (!r->bad && flags > (uint64_t)(r->end - r->p)) {
        r->bad = true;
    }
    if (!r->bad) {
        r->p += (size_t)flags;
    }
    return !r->bad;
}

/* The checksum of what was read: the state, then the non-zero 64 KiB pages of the private copy
 * of the images (its data extents; holes read as zero and are skipped like zero pages). */
static uint64_t
checksum(const cap_snapshot_t *s, uint64_t first, uint64_t end)
{
    uint64_t sum = mix(0x6361707375ull, s->state, s->state_len);
    if (s->image_fd < 0 || first >= end) {
        return sum;
    }
    uint8_t *page = cap_alloc(CAP_PAGE_SIZE);
    if (!page) {
        return ~sum; // cannot check: refuse
    }
    uint64_t pos = first;
    while (pos < end) {
        off_t data = lseek(s->image_fd, (off_t)pos, SEEK_DATA);
        if (data < 0) {
            break; // ENXIO: only a hole is left (or no SEEK_DATA: read on)
        }
        uint64_t at = (uint64_t)data / CAP_PAGE_SIZE * CAP_PAGE_SIZE;
        if (at < pos) {
            at = pos;
        }
        if (at >= end) {
            break;
        }
        off_t hole = lseek(s->image_fd, (off_t)at, SEEK_HOLE);
        uint64_t stop = hole < 0 || (uint64_t)hole > end ? end : align64k((uint64_t)hole);
        if (stop > end) {
            stop = end;
        }
        for (; at < stop; at += CAP_PAGE_SIZE) {
            memset(page, 0, CAP_PAGE_SIZE);
            size_t n = end - at < CAP_PAGE_SIZE ? (size_t)(end - at) : CAP_PAGE_SIZE;
            if (!read_all(s->image_fd, page, n, at)) {
                cap_free(page);
                return ~sum;
            }
            if (!all_zero(page, CAP_PAGE_SIZE)) {
                sum = mix_page(sum, at, page);
            }
        }
        pos = stop;
    }
    cap_free(page);
    return sum;
}

cap_status
cap_snapshot_open(int fd, cap_snapshot_t **out, cap_error_t *err)
{
    cap_error_clear(err);
    if (!out || fd < 0) {
        return cap_fail(err, CAP_ERR_USAGE, UINT64_MAX, "cap_snapshot_open: bad argument");
    }
    *out = NULL;
    uint8_t h[SNAP_HEADER];
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        return cap_fail(err, CAP_ERR_IO, UINT64_MAX, "cannot read the snapshot: %s",
                        strerror(errno));
    }
    if (!read_all(fd, h, sizeof h, 0) || memcmp(h, SNAP_MAGIC, 8) != 0) {
        return malformed(err, "no snapshot header");
    }
    rd r = {h + 8, h + sizeof h, false};
    uint32_t version = get_u32(&r);
    uint32_t hsize = get_u32(&r);
    if (version != SNAP_VERSION || hsize != SNAP_HEADER) {
        return malformed(err, "written by another version of Capsule");
    }
    cap_snapshot_t *s = cap_calloc(1, sizeof *s);
    if (!s) {
        return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
    }
    s->image_fd = -1;
    s->module_len = get_u64(&r);
    s->nfuncs = get_u32(&r);
    s->nglobals = get_u32(&r);
    s->ntables = get_u32(&r);
    s->nmems = get_u32(&r);
    s->nelems = get_u32(&r);
    s->ndatas = get_u32(&r);
    uint64_t sum = get_u64(&r);
    uint64_t state_off = get_u64(&r), state_len = get_u64(&r);
    uint64_t meta_off = get_u64(&r), meta_len = get_u64(&r);
    uint64_t file_len = get_u64(&r);
    uint64_t size = (uint64_t)sb.st_size;
    cap_status rc = CAP_OK;
    if (r.bad || file_len != size || state_off > size || state_len > size - state_off ||
        meta_off > size || meta_len > size - meta_off || state_len > ((uint64_t)1 << 30) ||
        meta_len > ((uint64_t)1 << 30)) {
        rc = malformed(err, "cut short or inconsistent");
        goto fail;
    }
    s->state_len = (size_t)state_len;
    s->meta_len = (size_t)meta_len;
    s->state = cap_alloc(s->state_len ? s->state_len : 1);
    s->meta = meta_len ? cap_alloc(s->meta_len) : NULL;
    if (!s->state || (meta_len && !s->meta)) {
        rc = cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory");
        goto fail;
    }
    if (!read_all(fd, s->state, s->state_len, state_off) ||
        (meta_len && !read_all(fd, s->meta, s->meta_len, meta_off))) {
        rc = malformed(err, "cut short");
        goto fail;
    }
    /* The memory entries: every image inside the file, aligned. */
    rd sr = {s->state, s->state + s->state_len, false};
    if (!skip_to_memories(s, &sr)) {
        rc = malformed(err, "state section cut short");
        goto fail;
    }
    uint64_t first = UINT64_MAX;
    for (uint32_t i = 0; i < s->nmems; i++) {
        uint32_t pages = get_u32(&sr);
        uint64_t off = get_u64(&sr);
        uint64_t bytes = (uint64_t)pages * CAP_PAGE_SIZE;
        if (sr.bad || pages > CAP_MAX_PAGES || off % CAP_PAGE_SIZE || off > size ||
            bytes > size - off) {
            rc = malformed(err, "memory image out of the file");
            goto fail;
        }
        s->mem_bytes += bytes;
        if (bytes && off < first) {
            first = off;
        }
    }
    if (sr.bad || sr.p != sr.end) {
        rc = malformed(err, "state section has the wrong length");
        goto fail;
    }
    if (first != UINT64_MAX) {
        s->image_fd = cap_plat_private_copy(fd, first, size);
        if (s->image_fd < 0) {
            rc = cap_fail(err, CAP_ERR_IO, UINT64_MAX, "cannot load the snapshot's memory: %s",
                          strerror(errno));
            goto fail;
        }
    }
    if (checksum(s, first, meta_off) != sum) {
        rc = malformed(err, "damaged (checksum mismatch)");
        goto fail;
    }
    *out = s;
    return CAP_OK;
fail:
    cap_snapshot_free(s);
    return rc;
}

void
cap_snapshot_free(cap_snapshot_t *s)
{
    if (!s) {
        return;
    }
    if (s->image_fd >= 0) {
        close(s->image_fd);
    }
    cap_free(s->state);
    cap_free(s->meta);
    cap_free(s);
}

const void *
cap_snapshot_meta(const cap_snapshot_t *s, size_t *len)
{
    if (len) {
        *len = s ? s->meta_len : 0;
    }
    return s && s->meta_len ? s->meta : NULL;
}

uint64_t
cap_snapshot_memory_bytes(const cap_snapshot_t *s)
{
    return s ? s->mem_bytes : 0;
}

/* ---- restoring (called by cap_instance_restore once the instance is allocated) ---- */

static cap_status
mismatch(cap_error_t *err)
{
    return cap_fail(err, CAP_ERR_LINK, UINT64_MAX, "snapshot does not match the module");
}

static bool
decode_ref(const cap_instance_t *inst, uint8_t type, uint32_t x, cap_slot_t *out)
{
    if (x == 0) {
        *out = 0;
        return true;
    }
    if (type != CAP_FUNCREF || x - 1 >= inst->module->nfuncs) {
        return false;
    }
    *out = (cap_slot_t)(uintptr_t)inst->funcs[x - 1];
    return true;
}

bool
cap_snapshot_matches(const cap_snapshot_t *s, const cap_module_t *m)
{
    return s->module_len == m->len && s->nfuncs == m->nfuncs && s->nglobals == m->nglobals &&
           s->ntables == m->ntables && s->nmems == m->nmems && s->nelems == m->nelems &&
           s->ndatas == m->ndatas && !m->nmem_imports && !m->ntable_imports;
}

cap_status
cap_snapshot_apply(cap_instance_t *inst, const cap_snapshot_t *s, cap_error_t *err)
{
    const cap_module_t *m = inst->module;
    rd r = {s->state, s->state + s->state_len, false};
    for (uint32_t i = 0; i < m->nglobal_imports; i++) {
        get_u64(&r);
    }
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
        cap_global_t *g = inst->globals[i];
        uint64_t v = get_u64(&r);
        if (g->type == CAP_FUNCREF || g->type == CAP_EXTERNREF) {
            cap_slot_t ref;
            if (v > UINT32_MAX || !decode_ref(inst, g->type, (uint32_t)v, &ref)) {
                return mismatch(err);
            }
            v = ref;
        } else if (g->type == CAP_I32 || g->type == CAP_F32) {
            v = (uint32_t)v; // slots of 32-bit values keep their upper half zero
        }
        g->value = v;
    }
    for (uint32_t i = 0; i < m->ntables; i++) {
        cap_table_t *t = inst->tables[i];
        uint32_t n = get_u32(&r);
        if (r.bad || n < t->size || n > t->max ||
            (uint64_t)(r.end - r.p) < (uint64_t)n * 4) {
            return mismatch(err);
        }
        if (n > t->size && cap_table_grow(t, n - t->size, 0) < 0) {
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX, "out of memory restoring table %u",
                            i);
        }
        for (uint32_t j = 0; j < n; j++) {
            if (!decode_ref(inst, t->elemtype, get_u32(&r), &t->elems[j])) {
                return mismatch(err);
            }
        }
    }
    for (uint32_t i = 0; i < m->nelems; i++) {
        if (get_u8(&r)) {
            inst->elem_len[i] = 0;
        }
    }
    for (uint32_t i = 0; i < m->ndatas; i++) {
        inst->data_dropped[i] = get_u8(&r) ? 1 : 0;
    }
    for (uint32_t i = 0; i < m->nmems; i++) {
        cap_memory_t *mem = inst->mems[i];
        uint32_t pages = get_u32(&r);
        uint64_t off = get_u64(&r);
        if (r.bad || pages < mem->pages || pages > mem->max_pages) {
            return mismatch(err);
        }
        if (pages > mem->pages) {
            uint64_t before = mem->store->mem_used;
            if (cap_memory_grow_pages(mem, pages - mem->pages) < 0) {
                cap_fail(err, CAP_ERR_TRAP, UINT64_MAX,
                         "memory limit exceeded: the snapshot needs %" PRIu64
                         " bytes of memory, limit is %" PRIu64,
                         before + (uint64_t)(pages - mem->pages) * CAP_PAGE_SIZE,
                         mem->store->mem_limit);
                if (err) {
                    err->trap = CAP_TRAP_MEMORY_LIMIT;
                }
                return CAP_ERR_TRAP;
            }
        }
        if (mem->size && !cap_plat_map_private(mem->data, mem->size, s->image_fd, off)) {
            return cap_fail(err, CAP_ERR_NOMEM, UINT64_MAX,
                            "cannot map the snapshot's memory: %s", strerror(errno));
        }
    }
    return r.bad || r.p != r.end ? mismatch(err) : CAP_OK;
}
