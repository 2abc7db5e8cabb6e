/* SPDX-License-Identifier: Apache-2.0 */
/* jsc: compiles the JavaScript guest's own runtime files (prelude.js, capsule.js, ...) to
 * QuickJS bytecode at build time, so the guest reads bytecode instead of parsing source on every
 * start (parsing the runtime's ~1,500 lines cost ~45 M Wasm instructions per task). A native
 * program built from the same QuickJS source as the guest; the bytecode format has no pointers
 * and is read by the wasm32 build unchanged.
 *
 *   jsc OUT.bc NAME IN.js module|script|bundle
 *
 * NAME is the module (or script) name recorded in the bytecode (what stacks show). "bundle" is
 * a user's bundled module (guest/js/bundle.sh writes main.mjs.qbc next to main.mjs): its source
 * text is kept, so Function.prototype.toString works as in any engine.
 *
 *   jsc OUT.json - IN.map map
 *
 * decodes a source map's VLQ mappings into {"sources": [...], "lines": [[genCol, src, line,
 * col, genCol, ...], ...]} (0-based, one flat array per generated line), which the guest reads
 * with JSON.parse instead of decoding VLQ in JavaScript (~35 M Wasm instructions per error for
 * a small bundle). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quickjs.h"

static char *
slurp(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[len] = '\0';
        *out_len = len;
    }
    return buf;
}

static int
dummy_init(JSContext *ctx, JSModuleDef *m)
{
    (void)ctx, (void)m;
    return 0;
}

/* Compilation resolves the names of imported modules (not their exports): an empty stand-in
 * is enough, as in QuickJS's own qjsc. The guest's loader supplies the real modules. */
static JSModuleDef *
stub_loader(JSContext *ctx, const char *name, void *opaque)
{
    (void)opaque;
    return JS_NewCModule(ctx, name, dummy_init);
}

static int
vlq_digit(char c)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Writes the decoded form of the source map `map` (its JSON text) to f. Returns 0 or -1. */
static int
decode_map(JSContext *ctx, const char *text, size_t len, FILE *f)
{
    JSValue m = JS_ParseJSON(ctx, text, len, "map");
    if (JS_IsException(m)) {
        return -1;
    }
    JSValue sources = JS_GetPropertyStr(ctx, m, "sources");
    JSValue mappings = JS_GetPropertyStr(ctx, m, "mappings");
    JSValue sj = JS_JSONStringify(ctx, sources, JS_UNDEFINED, JS_UNDEFINED);
    const char *src_json = JS_IsString(sj) ? JS_ToCString(ctx, sj) : NULL;
    const char *mp = JS_IsString(mappings) ? JS_ToCString(ctx, mappings) : NULL;
    int rc = -1;
    if (src_json && mp) {
        fprintf(f, "{\"sources\":%s,\"lines\":[[", src_json);
        long field[5] = {0, 0, 0, 0, 0}; /* genCol (per line), src, line, col, name */
        int nf = 0, first = 1;
        long value = 0;
        int shift = 0;
        rc = 0;
        for (const char *p = mp;; p++) {
            char c = *p;
            if (c == ',' || c == ';' || c == '\0') {
                if (nf >= 4) {
                    fprintf(f, "%s%ld,%ld,%ld,%ld", first ? "" : ",", field[0], field[1],
                            field[2], field[3]);
                    first = 0;
                }
                nf = 0;
                if (c == ';') {
                    fputs("],[", f);
                    field[0] = 0;
                    first = 1;
                }
                if (c == '\0') {
                    break;
                }
                continue;
            }
            int d = vlq_digit(c);
            if (d < 0) {
                rc = -1;
                break;
            }
            value += (long)(d & 31) << shift;
            shift += 5;
            if (!(d & 32)) {
                long v = value & 1 ? -(value >> 1) : value >> 1;
                if (nf < 5) {
                    field[nf] += v;
                }
                nf++;
                value = 0;
                shift = 0;
            }
        }
        fputs("]]}\n", f);
    }
    JS_FreeCString(ctx, src_json);
    JS_FreeCString(ctx, mp);
    JS_FreeValue(ctx, sj);
    JS_FreeValue(ctx, sources);
    JS_FreeValue(ctx, mappings);
    JS_FreeValue(ctx, m);
    return rc;
}

int
main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[4], "map")) {
        size_t n = 0;
        char *text = slurp(argv[3], &n);
        JSRuntime *r = JS_NewRuntime();
        JSContext *c = r ? JS_NewContext(r) : NULL;
        FILE *f = text && c ? fopen(argv[1], "w") : NULL;
        if (!f || decode_map(c, text, n, f) != 0 || fclose(f) != 0) {
            fprintf(stderr, "jsc: cannot decode the source map %s\n", argv[3]);
            return 1;
        }
        free(text);
        JS_FreeContext(c);
        JS_FreeRuntime(r);
        return 0;
    }
    if (argc != 5 ||
        (strcmp(argv[4], "module") && strcmp(argv[4], "script") && strcmp(argv[4], "bundle"))) {
        fprintf(stderr, "usage: jsc OUT.bc NAME IN.js module|script|bundle\n"
                        "       jsc OUT.json - IN.map map\n");
        return 2;
    }
    size_t len = 0;
    char *src = slurp(argv[3], &len);
    if (!src) {
        perror(argv[3]);
        return 1;
    }
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = rt ? JS_NewContext(rt) : NULL;
    if (!ctx) {
        fprintf(stderr, "jsc: out of memory\n");
        return 1;
    }
    JS_SetModuleLoaderFunc(rt, NULL, stub_loader, NULL);
    /* Keep line numbers for stacks; drop the source text (Function.prototype.toString of the
     * runtime's own functions is not needed). */
    int bundle = !strcmp(argv[4], "bundle");
    JS_SetStripInfo(rt, bundle ? 0 : JS_STRIP_SOURCE);
    int flags = JS_EVAL_FLAG_COMPILE_ONLY |
                (strcmp(argv[4], "script") ? JS_EVAL_TYPE_MODULE : JS_EVAL_TYPE_GLOBAL);
    JSValue fn = JS_Eval(ctx, src, len, argv[2], flags);
    free(src);
    if (JS_IsException(fn)) {
        JSValue e = JS_GetException(ctx);
        const char *s = JS_ToCString(ctx, e);
        JSValue st = JS_GetPropertyStr(ctx, e, "stack");
        const char *t = JS_IsString(st) ? JS_ToCString(ctx, st) : NULL;
        fprintf(stderr, "jsc: %s: %s\n%s", argv[3], s ? s : "error", t ? t : "");
        return 1;
    }
    size_t out_len = 0;
    uint8_t *out = JS_WriteObject(ctx, &out_len, fn, JS_WRITE_OBJ_BYTECODE);
    if (!out) {
        fprintf(stderr, "jsc: cannot serialise %s\n", argv[3]);
        return 1;
    }
    FILE *f = fopen(argv[1], "wb");
    if (!f || fwrite(out, 1, out_len, f) != out_len || fclose(f) != 0) {
        perror(argv[1]);
        return 1;
    }
    js_free(ctx, out);
    JS_FreeValue(ctx, fn);
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    return 0;
}
