/* SPDX-License-Identifier: Apache-2.0 */
/* capsule.h: the one public header of Capsule, a sandboxed WebAssembly runtime.
 * Everything the CLI, the SDKs and the tests do goes through the functions declared here. */
#ifndef CAPSULE_H
#define CAPSULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================== Version and export */

#define CAP_VERSION_MAJOR  0
#define CAP_VERSION_MINOR  1
#define CAP_VERSION_PATCH  0
#define CAP_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define CAP_API __attribute__((visibility("default")))
#else
#define CAP_API
#endif

/* ===================================================================== Statuses and traps */

/* Every fallible function returns a cap_status. CAP_ERR_USAGE means the caller misused the API
 * (a bug in the embedder); every other error describes the module, the guest or the host. */
// clang-format off
#define CAP_STATUS_MAP(X)                                                        \
    X(OK,        "ok")                                                           \
    X(MALFORMED, "malformed module")      /* the binary does not decode */       \
    X(INVALID,   "invalid module")        /* it decodes but does not validate */ \
    X(LINK,      "unlinkable")            /* an import is missing or mismatched */\
    X(TRAP,      "trap")                  /* the guest trapped (see cap_trap) */  \
    X(NOMEM,     "out of memory")         /* a host allocation failed */          \
    X(IO,        "i/o error")             /* reading a file or similar failed */  \
    X(DENIED,    "denied")                /* a capability was not granted */      \
    X(CONFIG,    "invalid configuration") /* a bad policy or config value */      \
    X(USAGE,     "api misuse")            /* the embedder broke an API contract */

/* Trap codes. The messages are the WebAssembly spec test suite's exact words. */
#define CAP_TRAP_MAP(X)                                                          \
    X(NONE,              "no trap")                                              \
    X(UNREACHABLE,       "unreachable")                                          \
    X(MEMORY_OOB,        "out of bounds memory access")                          \
    X(TABLE_OOB,         "out of bounds table access")                           \
    X(INDIRECT_OOB,      "undefined element")          /* call_indirect index >= size */ \
    X(UNINITIALIZED,     "uninitialized element")      /* call_indirect on null */       \
    X(INDIRECT_MISMATCH, "indirect call type mismatch")                          \
    X(DIV_ZERO,          "integer divide by zero")                               \
    X(INT_OVERFLOW,      "integer overflow")                                     \
    X(BAD_CONVERSION,    "invalid conversion to integer")                        \
    X(STACK_EXHAUSTED,   "call stack exhausted")                                 \
    X(NULL_REF,          "null reference")                                       \
    X(OUT_OF_FUEL,       "out of fuel")                                          \
    X(TIMEOUT,           "interrupted")            /* cap_store_interrupt() */   \
    X(MEMORY_LIMIT,      "memory limit exceeded")                                \
    X(EXIT,              "exit")                   /* proc_exit: not a failure by itself */ \
    X(HOST,              "host error")             /* a host function failed */
// clang-format on

typedef enum cap_status {
#define CAP_X(name, msg) CAP_ERR_##name,
    CAP_STATUS_MAP(CAP_X)
#undef CAP_X
} cap_status;
#define CAP_OK CAP_ERR_OK

typedef enum cap_trap {
#define CAP_X(name, msg) CAP_TRAP_##name,
    CAP_TRAP_MAP(CAP_X)
#undef CAP_X
} cap_trap;

/* A caller-owned error record. Filling it never allocates, so running out of memory is always
 * reportable. Every function taking `cap_error_t *err` accepts NULL there. */
typedef struct cap_error_t {
    cap_status status;   // CAP_OK when no error was recorded
    cap_trap trap;       // set when status == CAP_ERR_TRAP
    int32_t exit_code;   // set when trap == CAP_TRAP_EXIT
    uint64_t offset;     // byte offset in the module binary, when known (else UINT64_MAX)
    uint32_t func_index; // function the trap happened in, when known (else UINT32_MAX)
    uint32_t pc;         // offset of the trapping instruction inside that function's body
    char msg[256];       // one line, spec wording first, e.g. "integer divide by zero in fib"
} cap_error_t;

/** Returns the fixed name of a status ("malformed module", ...). Never NULL. */
CAP_API const char *cap_status_name(cap_status st);
/** Returns the spec message of a trap code ("integer divide by zero", ...). Never NULL. */
CAP_API const char *cap_trap_message(cap_trap trap);
/** Clears an error record to CAP_OK. NULL is a no-op. */
CAP_API void cap_error_clear(cap_error_t *err);

/* ===================================================================== Values and types */

typedef enum cap_valtype {
    CAP_I32 = 0x7F,
    CAP_I64 = 0x7E,
    CAP_F32 = 0x7D,
    CAP_F64 = 0x7C,
    CAP_V128 = 0x7B,
    CAP_FUNCREF = 0x70,
    CAP_EXTERNREF = 0x6F,
} cap_valtype;

typedef enum cap_extern_kind {
    CAP_EXTERN_FUNC = 0,
    CAP_EXTERN_TABLE = 1,
    CAP_EXTERN_MEMORY = 2,
    CAP_EXTERN_GLOBAL = 3,
} cap_extern_kind;

typedef struct cap_func_t cap_func_t;
typedef struct cap_memory_t cap_memory_t;
typedef struct cap_table_t cap_table_t;
typedef struct cap_global_t cap_global_t;
typedef struct cap_module_t cap_module_t;
typedef struct cap_store_t cap_store_t;
typedef struct cap_instance_t cap_instance_t;
typedef struct cap_linker_t cap_linker_t;
typedef struct cap_caller_t cap_caller_t;

/* A raw 64-bit value slot, the form values take on the interpreter's stack and in host-function
 * argument arrays: i32 zero-extended in the low 32 bits, i64 as is, f32/f64 as their IEEE bit
 * patterns (NaN payloads preserved), funcref as a (cap_func_t *) cast to uintptr_t (0 = null),
 * externref as the host's value (0 = null). */
typedef uint64_t cap_slot_t;

/* A typed value, for the embedding API. Floats travel as bit patterns so NaNs keep payloads. */
typedef struct cap_val_t {
    cap_valtype type;
    union {
        uint32_t i32;
        uint64_t i64;
        uint32_t f32_bits;
        uint64_t f64_bits;
        cap_func_t *funcref;  // NULL = ref.null func
        uintptr_t externref;  // 0 = ref.null extern
    } of;
} cap_val_t;

/* A function type. Borrowed views point into the owning module, store or caller's arrays. */
typedef struct cap_functype_t {
    uint32_t nparams;
    uint32_t nresults;
    const cap_valtype *params;
    const cap_valtype *results;
} cap_functype_t;

/* An external value: what imports take and exports give. */
typedef struct cap_extern_t {
    cap_extern_kind kind;
    union {
        cap_func_t *func;
        cap_table_t *table;
        cap_memory_t *memory;
        cap_global_t *global;
    } of;
} cap_extern_t;

/* ===================================================================== Modules */

/**
 * Decodes, fully validates and compiles a WebAssembly binary. The bytes are copied; the caller
 * may free them at once. The module is immutable afterwards and may be shared by any number of
 * stores and instances on any threads.
 * Outcomes: CAP_OK; CAP_ERR_MALFORMED or CAP_ERR_INVALID with the spec's wording and byte offset
 * in err; CAP_ERR_NOMEM. On failure *out is NULL.
 */
CAP_API cap_status cap_module_new(const uint8_t *bytes, size_t len, cap_module_t **out,
                                  cap_error_t *err);
/**
 * Like cap_module_new, but compiles each function body lazily, on the function's first call,
 * which makes loading a big module (an interpreter with thousands of functions, most never
 * called by one task) fast. Everything outside function bodies is decoded and checked now, as
 * by cap_module_new (same outcomes); bodies are only located. A body is validated and compiled
 * the first time its function is called, by whichever thread gets there first (once per module,
 * shared by every store, instance and thread afterwards); it never runs unvalidated. If it is
 * malformed or invalid, that call (and every later call of it) fails with CAP_ERR_MALFORMED or
 * CAP_ERR_INVALID, err->msg holding the spec's words followed by " in <function name>" (or
 * " in function <index>") and err->func_index/err->offset set; CAP_ERR_NOMEM if compiling runs
 * out of memory. The guest sees nothing else: results, traps and fuel are exactly as with
 * cap_module_new. Because invalid bodies are found only when called, a lazily loaded module is
 * not checked to the letter of the spec (which rejects the whole module): use cap_module_new,
 * the default, where that matters. Thread-safety and ownership as for cap_module_new.
 */
CAP_API cap_status cap_module_new_lazy(const uint8_t *bytes, size_t len, cap_module_t **out,
                                       cap_error_t *err);
/** Frees a module. Every instance made from it must have been freed (its store freed). */
CAP_API void cap_module_free(cap_module_t *module);

typedef struct cap_import_info_t {
    const char *module; // borrowed; valid until the module is freed
    const char *name;   // borrowed; likewise
    cap_extern_kind kind;
    cap_functype_t functype; // for CAP_EXTERN_FUNC
} cap_import_info_t;

typedef struct cap_export_info_t {
    const char *name; // borrowed; valid until the module is freed
    cap_extern_kind kind;
    uint32_t index;
} cap_export_info_t;

CAP_API uint32_t cap_module_import_count(const cap_module_t *module);
/** Describes import i (< count). Returns CAP_ERR_USAGE when i is out of range. */
CAP_API cap_status cap_module_import(const cap_module_t *module, uint32_t i,
                                     cap_import_info_t *out);
CAP_API uint32_t cap_module_export_count(const cap_module_t *module);
CAP_API cap_status cap_module_export(const cap_module_t *module, uint32_t i,
                                     cap_export_info_t *out);
/** The function's name from the name section, or NULL. Borrowed; valid until module freed. */
CAP_API const char *cap_module_func_name(const cap_module_t *module, uint32_t func_index);

/* ===================================================================== Stores */

/* A store is one sandbox: it owns every instance, memory, table, global and host function made
 * in it, and carries the limits (fuel, memory, call depth) and the interrupt flag. Everything in
 * it is freed together by cap_store_free. A store is used by one thread at a time, except
 * cap_store_interrupt, which any thread may call at any time. */

/** Creates an empty store with no limits (unlimited fuel, memory up to the Wasm maximum). */
CAP_API cap_status cap_store_new(cap_store_t **out, cap_error_t *err);
/** Frees the store and everything it owns. NULL is a no-op. */
CAP_API void cap_store_free(cap_store_t *store);

/** Sets the fuel the store may still spend; UINT64_MAX means unlimited (the default). One unit is
 * charged per executed operator by wasmtime's rule; running out traps CAP_TRAP_OUT_OF_FUEL. */
CAP_API void cap_store_set_fuel(cap_store_t *store, uint64_t fuel);
/** Fuel spent so far in this store, exact and deterministic. */
CAP_API uint64_t cap_store_fuel_consumed(const cap_store_t *store);
/** Caps the total bytes of linear memory of all memories in the store. memory.grow beyond it
 * returns -1; instantiating a module whose initial memory exceeds it fails (CAP_ERR_TRAP with
 * CAP_TRAP_MEMORY_LIMIT). 0 means no cap beyond the Wasm maximum. */
CAP_API void cap_store_set_memory_limit(cap_store_t *store, uint64_t bytes);
/** Total bytes of linear memory currently allocated in the store (the peak is also kept). */
CAP_API uint64_t cap_store_memory_used(const cap_store_t *store);
CAP_API uint64_t cap_store_memory_peak(const cap_store_t *store);
/** Maximum depth of nested Wasm calls (default 10000, at most 100000). Deeper calls trap
 * CAP_TRAP_STACK_EXHAUSTED; the host stack is never at risk. */
CAP_API void cap_store_set_max_call_depth(cap_store_t *store, uint32_t depth);
/** Asks the running guest to stop: it traps CAP_TRAP_TIMEOUT at its next loop back-edge,
 * function entry or interruptible host call. Thread-safe and async-signal-safe. */
CAP_API void cap_store_interrupt(cap_store_t *store);
/** Clears a pending interrupt (before reusing the store). */
CAP_API void cap_store_clear_interrupt(cap_store_t *store);
/** True once cap_store_interrupt was called and not cleared. Host calls that block poll this. */
CAP_API bool cap_store_interrupted(const cap_store_t *store);
/** Embedder data attached to the store (not owned). */
CAP_API void cap_store_set_data(cap_store_t *store, void *data);
CAP_API void *cap_store_data(const cap_store_t *store);

/* ===================================================================== Host objects */

/**
 * A host function. args holds type->nparams slots and results has room for type->nresults
 * (see cap_slot_t for the encoding). Return CAP_OK to continue the guest, or the status from
 * cap_caller_trap / cap_caller_exit to stop it.
 */
typedef cap_status (*cap_host_fn)(cap_caller_t *caller, const cap_slot_t *args,
                                  cap_slot_t *results, void *env);

/** Creates a host function in the store. The type is copied. env is borrowed; free_env (may be
 * NULL) is called on it when the store is freed. */
CAP_API cap_status cap_func_new_host(cap_store_t *store, const cap_functype_t *type,
                                     cap_host_fn fn, void *env, void (*free_env)(void *),
                                     cap_func_t **out, cap_error_t *err);
/** The function's type. Borrowed; valid until its store is freed. */
CAP_API cap_functype_t cap_func_type(const cap_func_t *func);
/**
 * Calls a function (Wasm or host) with nargs typed arguments, writing nresults results.
 * The counts and types must match the function type (else CAP_ERR_USAGE). A trap returns
 * CAP_ERR_TRAP with err->trap set; the store stays usable after a trap.
 */
CAP_API cap_status cap_func_call(cap_store_t *store, cap_func_t *func, const cap_val_t *args,
                                 size_t nargs, cap_val_t *results, size_t nresults,
                                 cap_error_t *err);

/** Creates a memory of min pages (64 KiB each) with an optional maximum (has_max). */
CAP_API cap_status cap_memory_new(cap_store_t *store, uint32_t min_pages, uint32_t max_pages,
                                  bool has_max, cap_memory_t **out, cap_error_t *err);
/** The memory's bytes. Borrowed; valid until the memory grows or the store is freed. */
CAP_API uint8_t *cap_memory_data(cap_memory_t *memory);
CAP_API uint64_t cap_memory_size(const cap_memory_t *memory); // in bytes
/** Grows by delta pages; writes the old size in pages to *out_old, or returns CAP_ERR_NOMEM /
 * CAP_ERR_TRAP(MEMORY_LIMIT) when the maximum or the store's cap forbids it. */
CAP_API cap_status cap_memory_grow(cap_memory_t *memory, uint32_t delta, uint32_t *out_old);

/** Creates a table of refs of elemtype (CAP_FUNCREF or CAP_EXTERNREF), filled with init. */
CAP_API cap_status cap_table_new(cap_store_t *store, cap_valtype elemtype, uint32_t min,
                                 uint32_t max, bool has_max, cap_val_t init, cap_table_t **out,
                                 cap_error_t *err);
CAP_API uint32_t cap_table_size(const cap_table_t *table);
/** Reads element i into *out; CAP_ERR_TRAP (TABLE_OOB) when out of range. */
CAP_API cap_status cap_table_get(const cap_table_t *table, uint32_t i, cap_val_t *out);

/** Creates a global of val.type, mutable or not, holding val. */
CAP_API cap_status cap_global_new(cap_store_t *store, cap_val_t val, bool mutable_,
                                  cap_global_t **out, cap_error_t *err);
CAP_API cap_val_t cap_global_get(const cap_global_t *global);
/** Sets a mutable global; CAP_ERR_USAGE when immutable or of another type. */
CAP_API cap_status cap_global_set(cap_global_t *global, cap_val_t val);

/* ===================================================================== Host-call context */

/** The store of the call. */
CAP_API cap_store_t *cap_caller_store(cap_caller_t *caller);
/** The instance whose code made the call, or NULL when called from the embedder directly. */
CAP_API cap_instance_t *cap_caller_instance(cap_caller_t *caller);
/**
 * Bounds-checked access to the calling instance's memory 0: returns a pointer to len bytes at
 * guest offset ptr, or NULL when [ptr, ptr+len) is not inside the memory (or there is none).
 * Computed in 64-bit arithmetic. Borrowed; valid until the guest runs again or memory grows.
 */
CAP_API uint8_t *cap_caller_mem(cap_caller_t *caller, uint64_t ptr, uint64_t len);
/** Size in bytes of the calling instance's memory 0 (0 when it has none). */
CAP_API uint64_t cap_caller_mem_size(cap_caller_t *caller);
/** Records a trap with a message (printf-style) and returns CAP_ERR_TRAP for the host function
 * to return. */
CAP_API cap_status cap_caller_trap(cap_caller_t *caller, cap_trap trap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Ends the guest with an exit code (WASI proc_exit): returns CAP_ERR_TRAP with
 * trap CAP_TRAP_EXIT and exit_code set, for the host function to return. */
CAP_API cap_status cap_caller_exit(cap_caller_t *caller, int32_t code);

/* ===================================================================== Linking and instances */

/** A linker maps (module name, field name) to external values. Names are copied. */
CAP_API cap_status cap_linker_new(cap_linker_t **out, cap_error_t *err);
CAP_API void cap_linker_free(cap_linker_t *linker);
/** Defines one name; a later definition of the same name replaces the earlier one. */
CAP_API cap_status cap_linker_define(cap_linker_t *linker, const char *module, const char *name,
                                     cap_extern_t ext, cap_error_t *err);
/** Defines every export of an instance under module name `module` (spec `register`). */
CAP_API cap_status cap_linker_define_instance(cap_linker_t *linker, const char *module,
                                              cap_instance_t *instance, cap_error_t *err);
/** Convenience: cap_func_new_host + cap_linker_define. */
CAP_API cap_status cap_linker_define_host(cap_linker_t *linker, cap_store_t *store,
                                          const char *module, const char *name,
                                          const cap_functype_t *type, cap_host_fn fn, void *env,
                                          cap_error_t *err);

/**
 * Instantiates a module in a store: resolves every import through the linker (missing or
 * mismatched: CAP_ERR_LINK "unknown import" / "incompatible import type"), allocates memories,
 * tables and globals, initialises segments in spec order and runs the start function.
 * A trap during initialisation returns CAP_ERR_TRAP; effects on imported objects remain (spec).
 * The instance is owned by the store. linker may be NULL when the module has no imports.
 */
CAP_API cap_status cap_instance_new(cap_store_t *store, const cap_module_t *module,
                                    const cap_linker_t *linker, cap_instance_t **out,
                                    cap_error_t *err);
/** Looks up an export by name; CAP_ERR_LINK when there is none. */
CAP_API cap_status cap_instance_export(const cap_instance_t *instance, const char *name,
                                       cap_extern_t *out, cap_error_t *err);
/** cap_instance_export for a name given by length: Wasm names may contain NUL bytes. */
CAP_API cap_status cap_instance_export_n(const cap_instance_t *instance, const char *name,
                                         size_t name_len, cap_extern_t *out, cap_error_t *err);
/** The module an instance was made from. Borrowed. */
CAP_API const cap_module_t *cap_instance_module(const cap_instance_t *instance);

/* ---------------------------------------------------------------- snapshots
 * A snapshot is the state of an instance at one moment (its memories, globals, tables and
 * dropped segments), saved to a file so that later instances of the same module start from
 * there instead of from scratch: a guest runtime is initialised once, snapshotted, and every
 * task restores it. Restoring maps the memory image copy-on-write: only the pages a task
 * touches are copied. Only an instance that imports no memory, table or global (whose state
 * lives outside it) and whose tables and globals hold no externref can be snapshotted. */
typedef struct cap_snapshot_t cap_snapshot_t;

/**
 * Writes the state of `instance` to the file `fd` (positioned at its start, empty), with an
 * embedder blob `meta` (may be NULL) kept alongside. The file is sparse where memory is zero.
 * CAP_ERR_USAGE when the instance cannot be snapshotted (the message says why), CAP_ERR_IO.
 */
CAP_API cap_status cap_snapshot_write(const cap_instance_t *instance, int fd, const void *meta,
                                      size_t meta_len, cap_error_t *err);
/** Replaces the embedder blob of the snapshot file `fd` (written by cap_snapshot_write). */
CAP_API cap_status cap_snapshot_set_meta(int fd, const void *meta, size_t meta_len,
                                         cap_error_t *err);
/**
 * Reads a snapshot file. The memory image is copied into private in-memory storage (holes stay
 * unallocated), so changing or removing the file afterwards affects nothing. A file that is not
 * a snapshot, a newer format, or one cut short is CAP_ERR_MALFORMED. The snapshot is immutable
 * and may be restored from any thread, any number of times.
 */
CAP_API cap_status cap_snapshot_open(int fd, cap_snapshot_t **out, cap_error_t *err);
CAP_API void cap_snapshot_free(cap_snapshot_t *snapshot);
/** The embedder blob written with the snapshot (borrowed; NULL when empty). */
CAP_API const void *cap_snapshot_meta(const cap_snapshot_t *snapshot, size_t *len);
/** Bytes of linear memory the snapshot restores (the store's memory cap must allow them). */
CAP_API uint64_t cap_snapshot_memory_bytes(const cap_snapshot_t *snapshot);
/**
 * Instantiates `module` in the state saved in `snapshot`: imports are resolved as by
 * cap_instance_new, then memories, globals, tables and segment states come from the snapshot
 * (memory mapped copy-on-write); neither segments nor the start function run. The snapshot
 * must have been taken from an instance of the same module (checked by shape: a snapshot of
 * another module is CAP_ERR_LINK "snapshot does not match the module"). The store's memory cap
 * applies (CAP_ERR_TRAP, CAP_TRAP_MEMORY_LIMIT).
 */
CAP_API cap_status cap_instance_restore(cap_store_t *store, const cap_module_t *module,
                                        const cap_linker_t *linker,
                                        const cap_snapshot_t *snapshot, cap_instance_t **out,
                                        cap_error_t *err);

/* ===================================================================== WASI */

/* WASI preview1 (wasi_snapshot_preview1) for a guest in a store. A guest starts with stdin,
 * stdout and stderr and nothing else: directories are granted as preopens (read-only or
 * read-write), environment variables one by one. Every path is resolved beneath its preopen;
 * stdout and stderr are captured into bounded buffers and optionally streamed.
 *
 * Typical use: cap_wasi_config_new, setters, cap_wasi_new(store, config), then either
 * cap_wasi_run (link, instantiate, call _start, with a timeout) or cap_wasi_link plus
 * cap_instance_new yourself. Free the cap_wasi_t after the guest stops running (it closes every
 * descriptor the guest held), and the config whenever you like (cap_wasi_new copies it). */

typedef struct cap_wasi_config_t cap_wasi_config_t;
typedef struct cap_wasi_t cap_wasi_t;

/** Default cap on captured bytes per output stream (stdout, stderr): 4 MiB. */
#define CAP_WASI_DEFAULT_OUTPUT_LIMIT ((size_t)4 << 20)

/** Receives guest output as it is written: stream 1 = stdout, 2 = stderr. Called on the thread
 * running the guest, only with bytes within the output limit (then once with the truncation
 * marker). Must not call back into the store. */
typedef void (*cap_wasi_output_fn)(void *user, int stream, const uint8_t *data, size_t len);

/** Creates an empty configuration: no arguments, no environment, no preopens, empty stdin,
 * capture on with CAP_WASI_DEFAULT_OUTPUT_LIMIT per stream, no streaming.
 * Outcomes: CAP_OK; CAP_ERR_NOMEM; CAP_ERR_USAGE when out is NULL. */
CAP_API cap_status cap_wasi_config_new(cap_wasi_config_t **out, cap_error_t *err);
/** Frees a configuration. NULL is a no-op. */
CAP_API void cap_wasi_config_free(cap_wasi_config_t *config);
/** Sets the guest's argv (argv[0] is the program name by convention); the strings are copied
 * and replace earlier ones. Outcomes: CAP_OK; CAP_ERR_NOMEM; CAP_ERR_USAGE. */
CAP_API cap_status cap_wasi_config_set_args(cap_wasi_config_t *config, size_t argc,
                                            const char *const *argv, cap_error_t *err);
/** Grants one environment variable NAME=VALUE (copied; replaces an earlier grant of NAME).
 * Outcomes: CAP_OK; CAP_ERR_CONFIG when the name is empty or holds '='; CAP_ERR_NOMEM. */
CAP_API cap_status cap_wasi_config_set_env(cap_wasi_config_t *config, const char *name,
                                           const char *value, cap_error_t *err);
/** Grants the host's own value of environment variable `name`; when the host has no such
 * variable nothing is granted and CAP_OK is returned. */
CAP_API cap_status cap_wasi_config_inherit_env(cap_wasi_config_t *config, const char *name,
                                               cap_error_t *err);
/**
 * Grants the host directory `host_path` to the guest as `guest_path` (e.g. "/data"; NULL means
 * "/" + the host directory's last component), read-only unless `writable`. Preopens get guest
 * descriptors 3, 4, ... in the order added. The host path must name an existing directory now.
 * Outcomes: CAP_OK; CAP_ERR_CONFIG (not a directory, unreadable, bad guest path) with the
 * path and reason in err->msg; CAP_ERR_NOMEM.
 */
CAP_API cap_status cap_wasi_config_preopen_dir(cap_wasi_config_t *config, const char *host_path,
                                               const char *guest_path, bool writable,
                                               cap_error_t *err);
/** stdin reads from this host file (opened read-only by cap_wasi_new). CAP_ERR_CONFIG when it
 * cannot be opened now. */
CAP_API cap_status cap_wasi_config_set_stdin_file(cap_wasi_config_t *config, const char *path,
                                                  cap_error_t *err);
/** stdin reads from host descriptor fd (borrowed: cap_wasi_new duplicates it). */
CAP_API cap_status cap_wasi_config_set_stdin_fd(cap_wasi_config_t *config, int fd,
                                                cap_error_t *err);
/** stdin reads these bytes (copied), then end of file. len 0 = empty stdin (the default). */
CAP_API cap_status cap_wasi_config_set_stdin_bytes(cap_wasi_config_t *config,
                                                   const uint8_t *data, size_t len,
                                                   cap_error_t *err);
/** Caps the bytes accepted from stdout and stderr (each; SIZE_MAX = no cap). Output beyond the
 * cap is dropped (the guest's write still succeeds), a one-line marker
 * "[capsule: output truncated after N bytes]" is appended once and the truncation flag set. */
CAP_API void cap_wasi_config_set_output_limit(cap_wasi_config_t *config, size_t stdout_limit,
                                              size_t stderr_limit);
/** Keeps (true, the default) or drops the captured bytes; limits and streaming apply either
 * way. */
CAP_API void cap_wasi_config_set_capture(cap_wasi_config_t *config, bool capture);
/** Streams output to fn as it comes (NULL turns streaming off). user is borrowed. */
CAP_API void cap_wasi_config_set_output_callback(cap_wasi_config_t *config, cap_wasi_output_fn fn,
                                                 void *user);

/**
 * Creates the WASI context of one guest in `store`: copies args and env, opens the preopened
 * directories and stdin (all O_CLOEXEC). config may be NULL (defaults).
 * Outcomes: CAP_OK; CAP_ERR_CONFIG or CAP_ERR_IO when a preopen or the stdin file cannot be
 * opened (message names it); CAP_ERR_NOMEM. On failure *out is NULL and nothing stays open.
 */
CAP_API cap_status cap_wasi_new(cap_store_t *store, const cap_wasi_config_t *config,
                                cap_wasi_t **out, cap_error_t *err);
/** Defines every wasi_snapshot_preview1 function in linker, bound to this context and its store.
 * Outcomes: CAP_OK; CAP_ERR_NOMEM. */
CAP_API cap_status cap_wasi_link(cap_wasi_t *wasi, cap_linker_t *linker, cap_error_t *err);
/** Closes every descriptor the guest holds and frees the context. Call it once the guest no
 * longer runs; host functions linked from it must not be called afterwards. NULL is a no-op. */
CAP_API void cap_wasi_free(cap_wasi_t *wasi);

/**
 * Runs a WASI command: links the context's imports, instantiates `module` in `store`, and calls
 * its `_start` export. A watchdog thread calls cap_store_interrupt after timeout_ns nanoseconds
 * (0 = no timeout); sleeps and polls in the guest honour it too. Set fuel and memory limits on
 * the store beforehand. The instance stays in the store.
 * Outcomes: CAP_OK when _start returned or the guest called proc_exit (any code: see
 * cap_wasi_exit_code); CAP_ERR_TRAP with err->trap (CAP_TRAP_TIMEOUT when the deadline passed,
 * CAP_TRAP_OUT_OF_FUEL, ...) and the message; CAP_ERR_LINK for an unknown import or a missing
 * `_start`; any other status of cap_instance_new (e.g. the initial memory over the store's cap);
 * CAP_ERR_NOMEM.
 */
CAP_API cap_status cap_wasi_run(cap_store_t *store, const cap_module_t *module, cap_wasi_t *wasi,
                                uint64_t timeout_ns, cap_error_t *err);

/** True once the guest called proc_exit. */
CAP_API bool cap_wasi_exited(const cap_wasi_t *wasi);
/** The guest's exit code: the proc_exit argument, or 0 when it has not called proc_exit. */
CAP_API int32_t cap_wasi_exit_code(const cap_wasi_t *wasi);
/** The captured stdout bytes (not NUL-terminated; NULL when nothing was captured), with the
 * length and whether output was cut. Borrowed; valid until the guest writes again or the
 * context is freed. out_len and out_truncated may be NULL. */
CAP_API const uint8_t *cap_wasi_stdout(const cap_wasi_t *wasi, size_t *out_len,
                                       bool *out_truncated);
/** The captured stderr, as cap_wasi_stdout. */
CAP_API const uint8_t *cap_wasi_stderr(const cap_wasi_t *wasi, size_t *out_len,
                                       bool *out_truncated);

/* ===================================================================== Tasks */

/* A task is a guest plus a policy, run to a result envelope and recorded in the journal. The
 * functions below are the pieces the CLI and SDKs need around a run: policies, capsule.toml, the
 * journal readers, and the stable error types. Strings returned through `char **out` are owned
 * by the caller and freed with cap_string_free. */

/* The stable `error_type` strings of a failed task's envelope. Append only; never rename. */
// clang-format off
#define CAP_ERROR_TYPE_MAP(X)                                                                   \
    X(NONE,           "none",           "no error")                                             \
    X(TASK_ERROR,     "task_error",     "the task reported an error or raised an exception")    \
    X(OUT_OF_FUEL,    "out_of_fuel",    "the task used all the fuel its compute allows")        \
    X(TIMEOUT,        "timeout",        "the task ran past its deadline")                       \
    X(MEMORY_LIMIT,   "memory_limit",   "the task needed more memory than its ram allows")      \
    X(TRAP,           "trap",           "the guest trapped (bad memory access, unreachable, "   \
                                        "stack exhausted, ...)")                                \
    X(EXIT,           "exit",           "the guest exited with a non-zero exit code")           \
    X(DENIED,         "denied",         "the task asked for something its policy does not grant") \
    X(INVALID_CONFIG, "invalid_config", "a policy value or capsule.toml is invalid")            \
    X(INVALID_MODULE, "invalid_module", "the module is malformed, invalid or cannot be linked") \
    X(HOST_ERROR,     "host_error",     "the host failed (out of memory, i/o error, lost run)")
// clang-format on

typedef enum cap_error_type {
#define CAP_X(name, str, desc) CAP_ERRTYPE_##name,
    CAP_ERROR_TYPE_MAP(CAP_X)
#undef CAP_X
} cap_error_type;

/** The envelope string of an error type ("out_of_fuel", ...). Never NULL. */
CAP_API const char *cap_error_type_name(cap_error_type type);
/** A one-line description of an error type, for documentation and --help. Never NULL. */
CAP_API const char *cap_error_type_description(cap_error_type type);
/** Looks an error type up by its envelope string; false when unknown. */
CAP_API bool cap_error_type_parse(const char *name, cap_error_type *out);
/** Classifies an error record: CAP_ERRTYPE_NONE for CAP_OK (and for a trap CAP_TRAP_EXIT with
 * exit code 0); OUT_OF_FUEL, TIMEOUT, MEMORY_LIMIT, EXIT, HOST_ERROR or TRAP for traps;
 * INVALID_MODULE for MALFORMED/INVALID/LINK; DENIED; INVALID_CONFIG; HOST_ERROR otherwise. */
CAP_API cap_error_type cap_error_type_of(const cap_error_t *err);

/** Frees a string the library returned through `char **out`. NULL is a no-op. */
CAP_API void cap_string_free(char *s);

/* A task policy: compute, ram, timeout, max_retries, allowed_files, allowed_hosts,
 * env_variables. A new policy has no field set; unset fields fall back to capsule.toml's
 * defaults and then to the built-in ones (MEDIUM compute, 256MB, 60s, 0 retries, no grants). */
typedef struct cap_policy_t cap_policy_t;

/** Creates an empty policy (no field set). CAP_ERR_NOMEM. */
CAP_API cap_status cap_policy_new(cap_policy_t **out, cap_error_t *err);
/** Frees a policy. NULL is a no-op. */
CAP_API void cap_policy_free(cap_policy_t *policy);
/**
 * Sets one field from the text a user writes (CLI flags, capsule.toml strings):
 * "compute" (LOW | MEDIUM | HIGH | a positive fuel count, any case), "ram" ("512KB", "64MB",
 * "2GB", 1024-based, or a byte count), "timeout" ("500ms", "30s", "5m", "1h"), "max_retries"
 * (0..100) replace the value; "allowed_files" ("./data", "./data:ro", "./out:rw",
 * "./src::/app[:rw]"; read-only by default), "allowed_hosts" ("api.example.com",
 * "*.example.com", "host:8443", "10.0.0.1", "[::1]", "*") and "env_variables" (a name) append one
 * entry, or make the list explicitly empty when value is NULL.
 * Outcomes: CAP_OK; CAP_ERR_CONFIG naming the field and the value (for example
 * `invalid ram "64XB": expected a size like 512KB, 64MB or 2GB`, or an unknown field with a
 * "did you mean" suggestion); CAP_ERR_NOMEM. On failure the policy is unchanged.
 */
CAP_API cap_status cap_policy_set(cap_policy_t *policy, const char *field, const char *value,
                                  cap_error_t *err);
/** Sets fields from a JSON object text such as the SDK decorator's options:
 * {"compute": "LOW", "ram": "64MB", "timeout": "30s", "max_retries": 2,
 *  "allowed_files": ["./data:ro"], "allowed_hosts": [], "env_variables": ["API_KEY"]}.
 * compute and ram also take integers (fuel, bytes); null means "not set". Errors as
 * cap_policy_set, plus CAP_ERR_CONFIG for invalid JSON or wrongly typed values. */
CAP_API cap_status cap_policy_set_json(cap_policy_t *policy, const char *json, cap_error_t *err);
/** Writes the set fields as a JSON object (compute and ram as integers, timeout as a duration
 * string) to *out, a string for cap_string_free. CAP_ERR_NOMEM. */
CAP_API cap_status cap_policy_to_json(const cap_policy_t *policy, char **out, cap_error_t *err);

/* A project's configuration: capsule.toml ([workflow] name, version, entrypoint; [tasks]
 * defaults) and the project's .env file. */
typedef struct cap_config_t cap_config_t;

/**
 * Loads project_dir/capsule.toml and project_dir/.env; either may be missing (an empty
 * configuration). Outcomes: CAP_OK; CAP_ERR_CONFIG with "capsule.toml:LINE:COL: message" (a
 * syntax error, an unknown key with a "did you mean" suggestion, an invalid value naming the
 * key) or ".env:LINE: message"; CAP_ERR_IO when a file exists but cannot be read; CAP_ERR_NOMEM.
 * The process environment is never modified.
 */
CAP_API cap_status cap_config_load(const char *project_dir, cap_config_t **out, cap_error_t *err);
/** Frees a configuration. NULL is a no-op. */
CAP_API void cap_config_free(cap_config_t *config);
/** A [workflow] value: "name", "version" or "entrypoint"; NULL when not set. Borrowed; valid
 * until the configuration is freed. */
CAP_API const char *cap_config_workflow(const cap_config_t *config, const char *key);
/** The [tasks] defaults as a partial policy. Borrowed; valid until the configuration is freed. */
CAP_API const cap_policy_t *cap_config_defaults(const cap_config_t *config);
/** The value of an environment variable as a guest granted it would see it: the real
 * environment first, then the project's .env. NULL when neither has it. Borrowed. */
CAP_API const char *cap_config_env(const cap_config_t *config, const char *name);

/* The lifecycle journal: every task run (sub-tasks included) recorded in SQLite at
 * <project>/.capsule/journal.db. Several processes may use one journal at once. */
typedef struct cap_journal_t cap_journal_t;

/**
 * Opens (creating when needed) the journal of a project and repairs it: runs left `created` or
 * `running` by a process that no longer exists become `lost`. Outcomes: CAP_OK; CAP_ERR_IO
 * (cannot create .capsule/ or open the database; the message says which); CAP_ERR_NOMEM.
 * A journal handle is used by one thread at a time.
 */
CAP_API cap_status cap_journal_open(const char *project_dir, cap_journal_t **out,
                                    cap_error_t *err);
/** Closes a journal. NULL is a no-op. */
CAP_API void cap_journal_close(cap_journal_t *journal);

#define CAP_PS_JSON 1u // JSON instead of a text table
#define CAP_PS_FLAT 2u // list sub-tasks as rows of their own instead of under their parents

/**
 * `capsule ps`: the most recent top-level runs (at most `limit`, 0 = 20), newest first, each with
 * its sub-tasks as a tree, optionally filtered by task name and status ("created", "running",
 * "completed", "failed", "lost"; NULL = any). *out is a text table or, with CAP_PS_JSON, a JSON
 * array of runs {"id", "parent_id", "task_name", "status", "created_at", "duration_ms",
 * "attempts", "fuel_consumed", "ram_used", "error_type", "children": [...]}. CAP_ERR_CONFIG for
 * an unknown status; CAP_ERR_IO; CAP_ERR_NOMEM.
 */
CAP_API cap_status cap_journal_ps(cap_journal_t *journal, const char *task_name,
                                  const char *status, uint32_t limit, unsigned flags, char **out,
                                  cap_error_t *err);
/**
 * `capsule logs ID`: one run's details (policy, status timestamps, attempts, error, result,
 * captured stdout and stderr, log lines, children ids) as text or, with CAP_PS_JSON, one JSON
 * object. CAP_ERR_CONFIG "no run with id N" when there is none; CAP_ERR_IO; CAP_ERR_NOMEM.
 */
CAP_API cap_status cap_journal_logs(cap_journal_t *journal, int64_t id, unsigned flags,
                                    char **out, cap_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* CAPSULE_H */
