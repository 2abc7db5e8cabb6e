/* SPDX-License-Identifier: Apache-2.0 */
/* spec_runner: runs the JSON scripts that wabt 1.0.32's wast2json writes (spec tests and our own
 * .wast tests) against Capsule through the public API only, and prints per-command failures and
 * `spec: N passed, M failed`. */
#include <capsule.h>

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESULTS 64

/* Counts for one script (or the total over several). */
typedef struct counts {
    unsigned passed;
    unsigned failed;
    unsigned msg_mismatch; // failures whose outcome was right but whose message was not
    unsigned skipped_text; // assert_malformed/invalid on text modules: not checkable here
    unsigned skipped_simd; // commands that pass or expect v128 values
} counts;

/* A module defined with `(module $name ...)`; inst is NULL when it failed to load. */
typedef struct named {
    char *name;
    cap_instance_t *inst;
} named;

/* The state of one script: one store and one linker shared by every module in it, so that
 * registered instances can link to one another as the spec's script semantics require. */
typedef struct script {
    const char *file; // source name used in failure lines
    char *dir;        // directory holding the JSON and its .wasm files
    cap_store_t *store;
    cap_linker_t *linker;
    cap_instance_t *current; // NULL when there is none or the last module failed to load
    bool have_current;       // a module command was seen (even if it failed)
    named *names;
    size_t nnames;
    cap_module_t **modules; // freed after the store
    size_t nmodules;
    counts c;
} script;

static bool verbose;
static uint32_t max_call_depth = 10000;
static uint64_t fuel = UINT64_MAX;
/* --lazy (or CAP_SPEC_LAZY=1): the modules that `module` commands define, which the assertions
 * then run, are loaded with cap_module_new_lazy; modules that assert_invalid/assert_malformed
 * and friends expect to fail still load eagerly (lazy loading checks bodies only when called). */
static bool lazy_modules;

/* ------------------------------------------------------------------------------------ output */

static void fail_line(script *s, int line, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints one failure line `FILE:LINE: cmd: ...` and counts it. */
static void
fail_line(script *s, int line, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    printf("%s:%d: %s: ", s->file, line, cmd);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    s->c.failed++;
}

static void
pass(script *s, int line, const char *cmd)
{
    if (verbose) {
        printf("%s:%d: %s: ok\n", s->file, line, cmd);
    }
    s->c.passed++;
}

/* ------------------------------------------------------------------------------- JSON helpers */

static const char *
jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Parses an unsigned decimal (wast2json writes every integer and float bit pattern that way). */
static bool
parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) {
        return false;
    }
    *out = v;
    return true;
}

static bool
valtype_of(const char *t, cap_valtype *out)
{
    static const struct {
        const char *name;
        cap_valtype type;
    } map[] = {{"i32", CAP_I32},
               {"i64", CAP_I64},
               {"f32", CAP_F32},
               {"f64", CAP_F64},
               {"v128", CAP_V128},
               {"funcref", CAP_FUNCREF},
               {"externref", CAP_EXTERNREF}};
    if (!t) {
        return false;
    }
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(t, map[i].name) == 0) {
            *out = map[i].type;
            return true;
        }
    }
    return false;
}

static const char *
valtype_name(cap_valtype t)
{
    switch (t) {
    case CAP_I32:
        return "i32";
    case CAP_I64:
        return "i64";
    case CAP_F32:
        return "f32";
    case CAP_F64:
        return "f64";
    case CAP_V128:
        return "v128";
    case CAP_FUNCREF:
        return "funcref";
    case CAP_EXTERNREF:
        return "externref";
    }
    return "?";
}

/* True when a JSON value list mentions v128 (we do not run SIMD). */
static bool
uses_v128(const json_t *list)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *t = jstr(v, "type");
        if (t && strcmp(t, "v128") == 0) {
            return true;
        }
    }
    return false;
}

/* Converts an argument {"type":..., "value":...} to a cap_val_t. externref N becomes N+1 so that
 * 0 stays the null reference. */
static bool
parse_arg(const json_t *v, cap_val_t *out, char *why, size_t whylen)
{
    const char *t = jstr(v, "type");
    const char *val = jstr(v, "value");
    cap_valtype type;
    uint64_t n = 0;
    if (!valtype_of(t, &type)) {
        snprintf(why, whylen, "bad argument type '%s'", t ? t : "(none)");
        return false;
    }
    memset(out, 0, sizeof *out);
    out->type = type;
    switch (type) {
    case CAP_I32:
    case CAP_F32:
        if (!parse_u64(val, &n) || n > UINT32_MAX) {
            break;
        }
        out->of.i32 = (uint32_t)n;
        return true;
    case CAP_I64:
    case CAP_F64:
        if (!parse_u64(val, &n)) {
            break;
        }
        out->of.i64 = n;
        return true;
    case CAP_FUNCREF:
        if (val && strcmp(val, "null") == 0) {
            out->of.funcref = NULL;
            return true;
        }
        break;
    case CAP_EXTERNREF:
        if (val && strcmp(val, "null") == 0) {
            out->of.externref = 0;
            return true;
        }
        if (parse_u64(val, &n) && n < UINTPTR_MAX) {
            out->of.externref = (uintptr_t)n + 1;
            return true;
        }
        break;
    case CAP_V128:
        break;
    }
    snprintf(why, whylen, "bad %s argument value '%s'", t, val ? val : "(none)");
    return false;
}

/* Formats a value the way failure lines show it. */
static void
fmt_val(const cap_val_t *v, cap_valtype type, char *buf, size_t n)
{
    switch (type) {
    case CAP_I32:
        snprintf(buf, n, "i32:%" PRId32 " (0x%08" PRIx32 ")", (int32_t)v->of.i32, v->of.i32);
        return;
    case CAP_I64:
        snprintf(buf, n, "i64:%" PRId64 " (0x%016" PRIx64 ")", (int64_t)v->of.i64, v->of.i64);
        return;
    case CAP_F32: {
        float f;
        memcpy(&f, &v->of.f32_bits, sizeof f);
        snprintf(buf, n, "f32:%.9g (0x%08" PRIx32 ")", (double)f, v->of.f32_bits);
        return;
    }
    case CAP_F64: {
        double d;
        memcpy(&d, &v->of.f64_bits, sizeof d);
        snprintf(buf, n, "f64:%.17g (0x%016" PRIx64 ")", d, v->of.f64_bits);
        return;
    }
    case CAP_FUNCREF:
        if (v->of.funcref) {
            snprintf(buf, n, "ref.func %p", (void *)v->of.funcref);
        } else {
            snprintf(buf, n, "ref.null func");
        }
        return;
    case CAP_EXTERNREF:
        if (v->of.externref) {
            snprintf(buf, n, "ref.extern %" PRIuPTR, v->of.externref - 1);
        } else {
            snprintf(buf, n, "ref.null extern");
        }
        return;
    case CAP_V128:
        break;
    }
    snprintf(buf, n, "(unprintable type 0x%x)", (unsigned)type);
}

/* Checks one result against an expected {"type":..., "value":...}. Writes a description of the
 * expectation into exp_buf for failure lines. */
static bool
match_result(const json_t *e, cap_valtype got_type, const cap_val_t *got, char *exp_buf, size_t n)
{
    const char *t = jstr(e, "type");
    const char *val = jstr(e, "value");
    cap_valtype type;
    uint64_t want = 0;
    if (!valtype_of(t, &type)) {
        snprintf(exp_buf, n, "(bad expected type '%s')", t ? t : "(none)");
        return false;
    }
    snprintf(exp_buf, n, "%s:%s", t, val ? val : "(any non-null)");
    if (type != got_type) {
        return false;
    }
    switch (type) {
    case CAP_F32:
        if (val && strcmp(val, "nan:canonical") == 0) {
            return (got->of.f32_bits & 0x7fffffffu) == 0x7fc00000u;
        }
        if (val && strcmp(val, "nan:arithmetic") == 0) {
            return (got->of.f32_bits & 0x7fc00000u) == 0x7fc00000u;
        }
        if (!parse_u64(val, &want) || want > UINT32_MAX) {
            return false;
        }
        {
            cap_val_t w = {.type = CAP_F32, .of.f32_bits = (uint32_t)want};
            fmt_val(&w, CAP_F32, exp_buf, n);
        }
        return got->of.f32_bits == (uint32_t)want;
    case CAP_F64:
        if (val && strcmp(val, "nan:canonical") == 0) {
            return (got->of.f64_bits & 0x7fffffffffffffffu) == 0x7ff8000000000000u;
        }
        if (val && strcmp(val, "nan:arithmetic") == 0) {
            return (got->of.f64_bits & 0x7ff8000000000000u) == 0x7ff8000000000000u;
        }
        if (!parse_u64(val, &want)) {
            return false;
        }
        {
            cap_val_t w = {.type = CAP_F64, .of.f64_bits = want};
            fmt_val(&w, CAP_F64, exp_buf, n);
        }
        return got->of.f64_bits == want;
    case CAP_I32:
        if (!parse_u64(val, &want) || want > UINT32_MAX) {
            return false;
        }
        {
            cap_val_t w = {.type = CAP_I32, .of.i32 = (uint32_t)want};
            fmt_val(&w, CAP_I32, exp_buf, n);
        }
        return got->of.i32 == (uint32_t)want;
    case CAP_I64:
        if (!parse_u64(val, &want)) {
            return false;
        }
        {
            cap_val_t w = {.type = CAP_I64, .of.i64 = want};
            fmt_val(&w, CAP_I64, exp_buf, n);
        }
        return got->of.i64 == want;
    case CAP_FUNCREF:
        if (!val) {
            return got->of.funcref != NULL; // (ref.func): any non-null function
        }
        if (strcmp(val, "null") == 0) {
            snprintf(exp_buf, n, "ref.null func");
            return got->of.funcref == NULL;
        }
        /* wast2json writes a bare (ref.func) as a function index, which the public API cannot
         * map back to a function of a particular instance: accept any non-null reference. */
        if (parse_u64(val, &want)) {
            snprintf(exp_buf, n, "ref.func (non-null)");
            return got->of.funcref != NULL;
        }
        return false;
    case CAP_EXTERNREF:
        if (!val) {
            return got->of.externref != 0; // (ref.extern): any non-null reference
        }
        if (strcmp(val, "null") == 0) {
            snprintf(exp_buf, n, "ref.null extern");
            return got->of.externref == 0;
        }
        if (!parse_u64(val, &want)) {
            return false;
        }
        snprintf(exp_buf, n, "ref.extern %" PRIu64, want);
        return got->of.externref == (uintptr_t)want + 1;
    case CAP_V128:
        break;
    }
    return false;
}

/* --------------------------------------------------------------------------- spectest module */

static cap_status
spectest_print(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)caller;
    (void)args;
    (void)results;
    (void)env;
    return CAP_OK;
}

/* Defines the `spectest` host module the official scripts import from. */
static cap_status
define_spectest(script *s, cap_error_t *err)
{
    static const cap_valtype p_i32[] = {CAP_I32};
    static const cap_valtype p_i64[] = {CAP_I64};
    static const cap_valtype p_f32[] = {CAP_F32};
    static const cap_valtype p_f64[] = {CAP_F64};
    static const cap_valtype p_i32_f32[] = {CAP_I32, CAP_F32};
    static const cap_valtype p_f64_f64[] = {CAP_F64, CAP_F64};
    static const struct {
        const char *name;
        uint32_t n;
        const cap_valtype *params;
    } prints[] = {{"print", 0, NULL},
                  {"print_i32", 1, p_i32},
                  {"print_i64", 1, p_i64},
                  {"print_f32", 1, p_f32},
                  {"print_f64", 1, p_f64},
                  {"print_i32_f32", 2, p_i32_f32},
                  {"print_f64_f64", 2, p_f64_f64}};
    cap_status st;
    for (size_t i = 0; i < sizeof prints / sizeof prints[0]; i++) {
        cap_functype_t ft = {.nparams = prints[i].n, .params = prints[i].params};
        st = cap_linker_define_host(s->linker, s->store, "spectest", prints[i].name, &ft,
                                    spectest_print, NULL, err);
        if (st != CAP_OK) {
            return st;
        }
    }

    float f32 = 666.6f;
    double f64 = 666.6;
    cap_val_t gv[4] = {{.type = CAP_I32, .of.i32 = 666},
                       {.type = CAP_I64, .of.i64 = 666},
                       {.type = CAP_F32},
                       {.type = CAP_F64}};
    memcpy(&gv[2].of.f32_bits, &f32, sizeof f32);
    memcpy(&gv[3].of.f64_bits, &f64, sizeof f64);
    static const char *const gnames[4] = {"global_i32", "global_i64", "global_f32", "global_f64"};
    for (size_t i = 0; i < 4; i++) {
        cap_extern_t ext = {.kind = CAP_EXTERN_GLOBAL};
        if ((st = cap_global_new(s->store, gv[i], false, &ext.of.global, err)) != CAP_OK) {
            return st;
        }
        if ((st = cap_linker_define(s->linker, "spectest", gnames[i], ext, err)) != CAP_OK) {
            return st;
        }
    }

    cap_extern_t tab = {.kind = CAP_EXTERN_TABLE};
    cap_val_t null_func = {.type = CAP_FUNCREF, .of.funcref = NULL};
    if ((st = cap_table_new(s->store, CAP_FUNCREF, 10, 20, true, null_func, &tab.of.table, err)) !=
        CAP_OK) {
        return st;
    }
    if ((st = cap_linker_define(s->linker, "spectest", "table", tab, err)) != CAP_OK) {
        return st;
    }
    cap_extern_t mem = {.kind = CAP_EXTERN_MEMORY};
    if ((st = cap_memory_new(s->store, 1, 2, true, &mem.of.memory, err)) != CAP_OK) {
        return st;
    }
    return cap_linker_define(s->linker, "spectest", "memory", mem, err);
}

/* ---------------------------------------------------------------------------- module loading */

static uint8_t *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void
keep_module(script *s, cap_module_t *m)
{
    cap_module_t **nm = realloc(s->modules, (s->nmodules + 1) * sizeof *nm);
    if (!nm) {
        cap_module_free(m); // leaks nothing; only possible if no instance uses it yet
        return;
    }
    s->modules = nm;
    s->modules[s->nmodules++] = m;
}

/* Decodes+validates+compiles the module file `filename` of the script. On a file-system problem
 * returns false with io_problem set (and a message in err->msg). */
static cap_status
load_module(script *s, const char *filename, bool lazy, cap_module_t **out, cap_error_t *err,
            bool *io)
{
    *io = false;
    *out = NULL;
    cap_error_clear(err);
    if (!filename) {
        *io = true;
        snprintf(err->msg, sizeof err->msg, "command has no filename");
        return CAP_ERR_IO;
    }
    size_t plen = strlen(s->dir) + strlen(filename) + 2;
    char *path = malloc(plen);
    if (!path) {
        *io = true;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return CAP_ERR_NOMEM;
    }
    snprintf(path, plen, "%s/%s", s->dir, filename);
    size_t len = 0;
    uint8_t *bytes = read_file(path, &len);
    if (!bytes) {
        *io = true;
        snprintf(err->msg, sizeof err->msg, "cannot read %s: %s", path, strerror(errno));
        free(path);
        return CAP_ERR_IO;
    }
    free(path);
    cap_status st =
        lazy ? cap_module_new_lazy(bytes, len, out, err) : cap_module_new(bytes, len, out, err);
    free(bytes);
    if (st == CAP_OK) {
        keep_module(s, *out);
    } else {
        *out = NULL;
    }
    return st;
}

static void
set_named(script *s, const char *name, cap_instance_t *inst)
{
    for (size_t i = 0; i < s->nnames; i++) {
        if (strcmp(s->names[i].name, name) == 0) {
            s->names[i].inst = inst;
            return;
        }
    }
    named *nn = realloc(s->names, (s->nnames + 1) * sizeof *nn);
    char *copy = strdup(name);
    if (!nn || !copy) {
        free(copy);
        if (nn) {
            s->names = nn;
        }
        return;
    }
    s->names = nn;
    s->names[s->nnames].name = copy;
    s->names[s->nnames].inst = inst;
    s->nnames++;
}

/* Finds the instance a command refers to: a named one or the current one. Returns NULL with a
 * reason when it is missing (never loaded, or failed to load). */
static cap_instance_t *
find_instance(script *s, const char *name, const char **why)
{
    if (!name) {
        if (!s->have_current) {
            *why = "no module defined before this command";
        } else if (!s->current) {
            *why = "the current module failed to load";
        }
        return s->current;
    }
    for (size_t i = 0; i < s->nnames; i++) {
        if (strcmp(s->names[i].name, name) == 0) {
            if (!s->names[i].inst) {
                *why = "the named module failed to load";
            }
            return s->names[i].inst;
        }
    }
    *why = "unknown module name";
    return NULL;
}

/* ----------------------------------------------------------------------------------- actions */

/* The outcome of running an action. */
typedef struct action_result {
    bool ran;          // false: the action could not even be attempted (bad script / no module)
    char why[512];     // when !ran
    cap_status status; // of the call
    cap_error_t err;
    size_t nresults;
    cap_valtype types[MAX_RESULTS];
    cap_val_t results[MAX_RESULTS];
} action_result;

static void
run_action(script *s, const json_t *action, action_result *r)
{
    memset(r, 0, sizeof *r);
    cap_error_clear(&r->err);
    const char *type = jstr(action, "type");
    const char *field = jstr(action, "field");
    const char *why = "";
    if (!type || !field) {
        snprintf(r->why, sizeof r->why, "malformed action in JSON");
        return;
    }
    /* Export names may contain NUL bytes (names.wast): look them up by length. */
    size_t field_len = json_string_length(json_object_get(action, "field"));
    cap_instance_t *inst = find_instance(s, jstr(action, "module"), &why);
    if (!inst) {
        snprintf(r->why, sizeof r->why, "%s", why);
        return;
    }
    cap_extern_t ext;
    cap_error_t lerr;
    cap_error_clear(&lerr);
    if (cap_instance_export_n(inst, field, field_len, &ext, &lerr) != CAP_OK) {
        snprintf(r->why, sizeof r->why, "no export \"%s\": %s", field, lerr.msg);
        return;
    }
    if (strcmp(type, "get") == 0) {
        if (ext.kind != CAP_EXTERN_GLOBAL) {
            snprintf(r->why, sizeof r->why, "export \"%s\" is not a global", field);
            return;
        }
        r->ran = true;
        r->status = CAP_OK;
        r->results[0] = cap_global_get(ext.of.global);
        r->types[0] = r->results[0].type;
        r->nresults = 1;
        return;
    }
    if (strcmp(type, "invoke") != 0) {
        snprintf(r->why, sizeof r->why, "unknown action type '%s'", type);
        return;
    }
    if (ext.kind != CAP_EXTERN_FUNC) {
        snprintf(r->why, sizeof r->why, "export \"%s\" is not a function", field);
        return;
    }
    cap_functype_t ft = cap_func_type(ext.of.func);
    const json_t *args = json_object_get(action, "args");
    size_t nargs = json_is_array(args) ? json_array_size(args) : 0;
    if (nargs != ft.nparams) {
        snprintf(r->why, sizeof r->why, "\"%s\" takes %" PRIu32 " arguments, script passes %zu",
                 field, ft.nparams, nargs);
        return;
    }
    if (ft.nresults > MAX_RESULTS || nargs > MAX_RESULTS) {
        snprintf(r->why, sizeof r->why, "too many parameters or results");
        return;
    }
    cap_val_t argv[MAX_RESULTS];
    for (size_t i = 0; i < nargs; i++) {
        if (!parse_arg(json_array_get(args, i), &argv[i], r->why, sizeof r->why)) {
            return;
        }
        if (argv[i].type != ft.params[i]) {
            snprintf(r->why, sizeof r->why, "argument %zu is %s, parameter is %s", i,
                     valtype_name(argv[i].type), valtype_name(ft.params[i]));
            return;
        }
    }
    r->ran = true;
    r->nresults = ft.nresults;
    for (size_t i = 0; i < ft.nresults; i++) {
        r->types[i] = ft.results[i];
        r->results[i].type = ft.results[i];
    }
    r->status = cap_func_call(s->store, ext.of.func, argv, nargs, r->results, ft.nresults, &r->err);
}

static const char *
action_desc(const json_t *action, char *buf, size_t n)
{
    const char *field = jstr(action, "field");
    const char *mod = jstr(action, "module");
    snprintf(buf, n, "%s%s%s \"%s\"", jstr(action, "type") ? jstr(action, "type") : "?",
             mod ? " " : "", mod ? mod : "", field ? field : "?");
    return buf;
}

static const char *
err_text(cap_status st, const cap_error_t *err)
{
    static char buf[400];
    snprintf(buf, sizeof buf, "%s: %s", cap_status_name(st), err->msg);
    return buf;
}

static void
do_assert_return(script *s, int line, const json_t *cmd)
{
    const json_t *action = json_object_get(cmd, "action");
    const json_t *expected = json_object_get(cmd, "expected");
    char desc[300];
    char name[340];
    action_desc(action, desc, sizeof desc);
    snprintf(name, sizeof name, "assert_return %s", desc);
    static action_result r;
    run_action(s, action, &r);
    if (!r.ran) {
        fail_line(s, line, name, "expected a result, got: %s", r.why);
        return;
    }
    if (r.status != CAP_OK) {
        fail_line(s, line, name, "expected a result, got %s", err_text(r.status, &r.err));
        return;
    }
    size_t nexp = json_is_array(expected) ? json_array_size(expected) : 0;
    if (nexp != r.nresults) {
        fail_line(s, line, name, "expected %zu results, got %zu", nexp, r.nresults);
        return;
    }
    for (size_t i = 0; i < nexp; i++) {
        char exp_buf[128], got_buf[128];
        const json_t *e = json_array_get(expected, i);
        if (!match_result(e, r.types[i], &r.results[i], exp_buf, sizeof exp_buf)) {
            fmt_val(&r.results[i], r.types[i], got_buf, sizeof got_buf);
            fail_line(s, line, name, "result %zu: expected %s, got %s", i, exp_buf, got_buf);
            return;
        }
    }
    pass(s, line, name);
}

/* Compares an error message with the script's expected text: the spec interpreter's rule is that
 * the expected text is a prefix of the actual message. */
static bool
msg_matches(const char *expected, const char *got)
{
    return strncmp(got, expected, strlen(expected)) == 0;
}

/* wast2json 1.0.32 loses information when it turns some text modules of assert_invalid into
 * binaries, so the binary we check is rejected for another (correct) reason than the text one.
 * Each entry: expected text (prefix), the status we get instead, and our message (prefix). */
static const struct {
    const char *expected;
    cap_status got;
    const char *got_msg;
} artifacts[] = {
    /* No data count section is written for a module without data segments, so a test of
     * data.drop/memory.init on a missing segment arrives malformed (spec 5.5.16). */
    {"unknown data segment", CAP_ERR_MALFORMED, "data count section required"},
    /* `select (result)` (typed, zero results) is written as the untyped select opcode 0x1b,
     * which then lacks its operands. */
    {"invalid result arity", CAP_ERR_INVALID, "type mismatch"},
};

static bool
wast2json_artifact(const char *text, cap_status want, cap_status got, const char *msg)
{
    if (!text || want != CAP_ERR_INVALID) {
        return false;
    }
    for (size_t i = 0; i < sizeof artifacts / sizeof artifacts[0]; i++) {
        if (got == artifacts[i].got && msg_matches(artifacts[i].expected, text) &&
            msg_matches(artifacts[i].got_msg, msg)) {
            return true;
        }
    }
    return false;
}

static void
expect_error(script *s, int line, const char *name, const char *text, cap_status want,
             cap_status got, const cap_error_t *err)
{
    if (got == CAP_OK) {
        fail_line(s, line, name, "expected %s \"%s\", got success", cap_status_name(want),
                  text ? text : "");
        return;
    }
    if (wast2json_artifact(text, want, got, err->msg)) {
        pass(s, line, name);
        return;
    }
    if (got != want) {
        fail_line(s, line, name, "expected %s \"%s\", got %s", cap_status_name(want),
                  text ? text : "", err_text(got, err));
        return;
    }
    if (text && !msg_matches(text, err->msg)) {
        s->c.msg_mismatch++;
        fail_line(s, line, name, "expected message \"%s\", got \"%s\" (message mismatch)", text,
                  err->msg);
        return;
    }
    pass(s, line, name);
}

static void
do_assert_trap(script *s, int line, const json_t *cmd, bool exhaustion)
{
    const json_t *action = json_object_get(cmd, "action");
    const char *text = jstr(cmd, "text");
    char desc[300];
    char name[340];
    action_desc(action, desc, sizeof desc);
    snprintf(name, sizeof name, "%s %s", exhaustion ? "assert_exhaustion" : "assert_trap", desc);
    static action_result r;
    run_action(s, action, &r);
    if (!r.ran) {
        fail_line(s, line, name, "expected trap \"%s\", got: %s", text ? text : "", r.why);
        return;
    }
    if (r.status == CAP_OK) {
        char got_buf[128] = "no results";
        if (r.nresults) {
            fmt_val(&r.results[0], r.types[0], got_buf, sizeof got_buf);
        }
        fail_line(s, line, name, "expected trap \"%s\", got success (%s)", text ? text : "",
                  got_buf);
        return;
    }
    if (exhaustion && r.status == CAP_ERR_TRAP && r.err.trap != CAP_TRAP_STACK_EXHAUSTED) {
        fail_line(s, line, name, "expected stack exhaustion \"%s\", got %s", text ? text : "",
                  err_text(r.status, &r.err));
        return;
    }
    expect_error(s, line, name, text, CAP_ERR_TRAP, r.status, &r.err);
}

static void
do_action(script *s, int line, const json_t *cmd)
{
    const json_t *action = json_object_get(cmd, "action");
    char desc[300];
    char name[340];
    action_desc(action, desc, sizeof desc);
    snprintf(name, sizeof name, "action %s", desc);
    static action_result r;
    run_action(s, action, &r);
    if (!r.ran) {
        fail_line(s, line, name, "expected success, got: %s", r.why);
    } else if (r.status != CAP_OK) {
        fail_line(s, line, name, "expected success, got %s", err_text(r.status, &r.err));
    } else {
        pass(s, line, name);
    }
}

/* ---------------------------------------------------------------------------------- commands */

static void
do_module(script *s, int line, const json_t *cmd)
{
    const char *filename = jstr(cmd, "filename");
    const char *mname = jstr(cmd, "name");
    char name[300];
    snprintf(name, sizeof name, "module%s%s (%s)", mname ? " " : "", mname ? mname : "",
             filename ? filename : "?");
    s->have_current = true;
    s->current = NULL;
    if (mname) {
        set_named(s, mname, NULL);
    }
    cap_module_t *m = NULL;
    cap_error_t err;
    bool io;
    cap_status st = load_module(s, filename, lazy_modules, &m, &err, &io);
    if (st != CAP_OK) {
        fail_line(s, line, name, "expected the module to load, got %s",
                  io ? err.msg : err_text(st, &err));
        return;
    }
    cap_instance_t *inst = NULL;
    st = cap_instance_new(s->store, m, s->linker, &inst, &err);
    if (st != CAP_OK) {
        fail_line(s, line, name, "expected the module to instantiate, got %s", err_text(st, &err));
        return;
    }
    s->current = inst;
    if (mname) {
        set_named(s, mname, inst);
    }
    pass(s, line, name);
}

static void
do_register(script *s, int line, const json_t *cmd)
{
    const char *as = jstr(cmd, "as");
    const char *mname = jstr(cmd, "name");
    const char *why = "";
    char name[300];
    snprintf(name, sizeof name, "register \"%s\"%s%s", as ? as : "?", mname ? " " : "",
             mname ? mname : "");
    if (!as) {
        fail_line(s, line, name, "malformed register command in JSON");
        return;
    }
    cap_instance_t *inst = find_instance(s, mname, &why);
    if (!inst) {
        fail_line(s, line, name, "expected to register, got: %s", why);
        return;
    }
    cap_error_t err;
    cap_error_clear(&err);
    cap_status st = cap_linker_define_instance(s->linker, as, inst, &err);
    if (st != CAP_OK) {
        fail_line(s, line, name, "expected to register, got %s", err_text(st, &err));
        return;
    }
    pass(s, line, name);
}

/* assert_invalid, assert_malformed, assert_unlinkable, assert_uninstantiable. */
static void
do_assert_module(script *s, int line, const json_t *cmd, const char *kind)
{
    const char *filename = jstr(cmd, "filename");
    const char *text = jstr(cmd, "text");
    const char *mtype = jstr(cmd, "module_type");
    char name[300];
    snprintf(name, sizeof name, "%s (%s)", kind, filename ? filename : "?");
    if (mtype && strcmp(mtype, "binary") != 0) {
        // A text module is a parser test: a binary engine has nothing to check.
        s->c.skipped_text++;
        if (verbose) {
            printf("%s:%d: %s: skipped (text)\n", s->file, line, name);
        }
        return;
    }
    bool link_phase = strcmp(kind, "assert_unlinkable") == 0;
    bool inst_phase = strcmp(kind, "assert_uninstantiable") == 0;
    cap_status want = CAP_ERR_INVALID;
    if (strcmp(kind, "assert_malformed") == 0) {
        want = CAP_ERR_MALFORMED;
    } else if (link_phase) {
        want = CAP_ERR_LINK;
    } else if (inst_phase) {
        want = CAP_ERR_TRAP;
    }
    cap_module_t *m = NULL;
    cap_error_t err;
    bool io;
    cap_status st = load_module(s, filename, false, &m, &err, &io);
    if (io) {
        fail_line(s, line, name, "%s", err.msg);
        return;
    }
    if (st != CAP_OK || (!link_phase && !inst_phase)) {
        expect_error(s, line, name, text, want, st, &err);
        return;
    }
    cap_instance_t *inst = NULL;
    st = cap_instance_new(s->store, m, s->linker, &inst, &err);
    expect_error(s, line, name, text, want, st, &err);
}

static void
run_command(script *s, const json_t *cmd)
{
    const char *type = jstr(cmd, "type");
    const json_t *jline = json_object_get(cmd, "line");
    int line = json_is_integer(jline) ? (int)json_integer_value(jline) : 0;
    if (!type) {
        fail_line(s, line, "?", "command without a type in JSON");
        return;
    }
    const json_t *action = json_object_get(cmd, "action");
    if (action && (uses_v128(json_object_get(action, "args")) ||
                   uses_v128(json_object_get(cmd, "expected")))) {
        s->c.skipped_simd++;
        if (verbose) {
            printf("%s:%d: %s: skipped (v128)\n", s->file, line, type);
        }
        return;
    }
    if (strcmp(type, "module") == 0) {
        do_module(s, line, cmd);
    } else if (strcmp(type, "register") == 0) {
        do_register(s, line, cmd);
    } else if (strcmp(type, "action") == 0) {
        do_action(s, line, cmd);
    } else if (strcmp(type, "assert_return") == 0) {
        do_assert_return(s, line, cmd);
    } else if (strcmp(type, "assert_trap") == 0) {
        do_assert_trap(s, line, cmd, false);
    } else if (strcmp(type, "assert_exhaustion") == 0) {
        do_assert_trap(s, line, cmd, true);
    } else if (strcmp(type, "assert_invalid") == 0 || strcmp(type, "assert_malformed") == 0 ||
               strcmp(type, "assert_unlinkable") == 0 ||
               strcmp(type, "assert_uninstantiable") == 0) {
        do_assert_module(s, line, cmd, type);
    } else {
        fail_line(s, line, type, "unknown command type");
    }
}

/* ------------------------------------------------------------------------------------ scripts */

static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        return strdup(".");
    }
    if (slash == path) {
        return strdup("/");
    }
    return strndup(path, (size_t)(slash - path));
}

static void
script_free(script *s)
{
    cap_linker_free(s->linker);
    cap_store_free(s->store);
    for (size_t i = 0; i < s->nmodules; i++) {
        cap_module_free(s->modules[i]);
    }
    free(s->modules);
    for (size_t i = 0; i < s->nnames; i++) {
        free(s->names[i].name);
    }
    free(s->names);
    free(s->dir);
}

/* Runs one JSON script; adds its counts to *out. */
static void
run_script(const char *json_path, counts *out, char *file_buf, size_t file_buf_len)
{
    script s;
    memset(&s, 0, sizeof s);
    json_error_t jerr;
    json_t *root = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
    snprintf(file_buf, file_buf_len, "%s", json_path);
    s.file = file_buf;
    s.dir = dir_of(json_path);
    if (!root || !json_is_object(root)) {
        fail_line(&s, root ? 0 : jerr.line, "json", "cannot parse: %s",
                  root ? "not an object" : jerr.text);
        goto done;
    }
    const char *src = jstr(root, "source_filename");
    if (src) {
        snprintf(file_buf, file_buf_len, "%s", src);
    }
    const json_t *cmds = json_object_get(root, "commands");
    if (!json_is_array(cmds)) {
        fail_line(&s, 0, "json", "no \"commands\" array");
        goto done;
    }
    cap_error_t err;
    cap_error_clear(&err);
    if (cap_store_new(&s.store, &err) != CAP_OK || cap_linker_new(&s.linker, &err) != CAP_OK) {
        fail_line(&s, 0, "setup", "cannot create store/linker: %s", err.msg);
        goto done;
    }
    cap_store_set_max_call_depth(s.store, max_call_depth);
    cap_store_set_fuel(s.store, fuel);
    if (define_spectest(&s, &err) != CAP_OK) {
        fail_line(&s, 0, "setup", "cannot define the spectest module: %s", err.msg);
        goto done;
    }
    size_t i;
    const json_t *cmd;
    json_array_foreach(cmds, i, cmd)
    {
        if (!json_is_object(cmd)) {
            fail_line(&s, 0, "json", "command %zu is not an object", i);
            continue;
        }
        run_command(&s, cmd);
    }
done:
    fflush(stdout);
    json_decref(root);
    script_free(&s);
    *out = s.c;
}

static void
print_counts(const char *label, const counts *c)
{
    printf("%s: %u passed, %u failed (%u message mismatches), %u skipped (text), "
           "%u skipped (v128)\n",
           label, c->passed, c->failed, c->msg_mismatch, c->skipped_text, c->skipped_simd);
}

static void
usage(void)
{
    fprintf(stderr, "usage: spec_runner [--verbose] [--max-call-depth N] [--fuel N] [--lazy] "
                    "SCRIPT.json...\n"
                    "Runs wast2json (wabt 1.0.32) scripts against Capsule. --lazy (or "
                    "CAP_SPEC_LAZY=1) loads the modules\nthat the assertions run with "
                    "cap_module_new_lazy (bodies compiled on first call).\n");
}

int
main(int argc, char **argv)
{
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    if (!files) {
        return 2;
    }
    const char *lazy_env = getenv("CAP_SPEC_LAZY");
    lazy_modules = lazy_env && *lazy_env && strcmp(lazy_env, "0") != 0;
    for (int i = 1; i < argc; i++) {
        uint64_t n;
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "--lazy") == 0) {
            lazy_modules = true;
        } else if (strcmp(argv[i], "--max-call-depth") == 0 && i + 1 < argc &&
                   parse_u64(argv[i + 1], &n) && n > 0 && n <= UINT32_MAX) {
            max_call_depth = (uint32_t)n;
            i++;
        } else if (strcmp(argv[i], "--fuel") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &n)) {
            fuel = n;
            i++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            free(files);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            usage();
            free(files);
            return 2;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (nfiles == 0) {
        usage();
        free(files);
        return 2;
    }
    counts total = {0};
    for (size_t i = 0; i < nfiles; i++) {
        counts c;
        char file_buf[512];
        run_script(files[i], &c, file_buf, sizeof file_buf);
        if (nfiles > 1 || c.skipped_text || c.skipped_simd || c.msg_mismatch) {
            print_counts(file_buf, &c);
        }
        total.passed += c.passed;
        total.failed += c.failed;
        total.msg_mismatch += c.msg_mismatch;
        total.skipped_text += c.skipped_text;
        total.skipped_simd += c.skipped_simd;
    }
    if (nfiles > 1) {
        print_counts("total", &total);
    }
    printf("spec: %u passed, %u failed\n", total.passed, total.failed);
    free(files);
    return (total.failed || total.passed == 0) ? 1 : 0;
}
