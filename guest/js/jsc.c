/* SPDX-License-Identifier: Apache-2.0 */
/* jsc: compiles the JavaScript guest's own runtime files (prelude.js, capsule.js, ...) to
 * QuickJS bytecode at build time, so the guest reads bytecode instead of parsing source on every
 * start (parsing the runtime's ~1,500 lines cost ~45 M Wasm instructions per task). A native
 * program built from the same QuickJS source as the guest; the bytecode format has no pointers
 * and is read by the wasm32 build unchanged.
 *
 *   jsc OUT.bc NAME IN.js module|script
 *
 * NAME is the module (or script) name recorded in the bytecode (what stacks show). */
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

int
main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[4], "module") && strcmp(argv[4], "script"))) {
        fprintf(stderr, "usage: jsc OUT.bc NAME IN.js module|script\n");
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
    JS_SetStripInfo(rt, JS_STRIP_SOURCE);
    int flags = JS_EVAL_FLAG_COMPILE_ONLY |
                (!strcmp(argv[4], "module") ? JS_EVAL_TYPE_MODULE : JS_EVAL_TYPE_GLOBAL);
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
