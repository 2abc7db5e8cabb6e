/* SPDX-License-Identifier: Apache-2.0 */
/* capsule-python.wasm: CPython embedded as a Capsule task module (a WASI reactor).
 *
 * Exports (besides memory and _initialize):
 *   capsule_init()  start the interpreter (stdlib at /usr/local/lib/python3.13) and import
 *                   the user's module ($CAPSULE_PYTHON_MAIN, default /app/main.py).
 *                   Idempotent. This is the start-up a snapshot takes off every run (call it,
 *                   snapshot, restore, run), and the work the host should not charge as fuel.
 *   capsule_run()   the ABI's task entry: capsule_init() if needed, then read the request, run
 *                   the task, write the result (capsule._runner.serve()).
 * Both return nothing and report failures through result_write, so the host's contract is the
 * plain one of docs/guest-abi.md section 2. */
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#define CAPSULE_GUEST_RESUME
#include "capsule_guest.h"

extern char **environ;

static int init_state; /* 0 not started, 1 ready, -1 failed */
static PyObject *runner; /* capsule._runner */

/* Writes a failure result without Python (the interpreter itself did not start). */
static void
fail_result(const char *message)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"error_type\":\"task_error\",\"exception\":\"SystemError\","
                     "\"message\":\"the Python runtime failed to start: %s\"}",
                     message);
    if (n > 0 && (size_t)n < sizeof buf) {
        capsule_result_write((const uint8_t *)buf, (int32_t)n);
    }
}

static int
start_interpreter(void)
{
    PyConfig config;
    PyStatus status;
    PyPreConfig preconfig;
    /* UTF-8 everywhere (file names, stdio), whatever the guest's locale says. */
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.utf8_mode = 1;
    status = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(status)) {
        fail_result(status.err_msg ? status.err_msg : "Py_PreInitialize failed");
        return -1;
    }
    /* Isolated: no PYTHON* environment variables, no user site, no script directory on
     * sys.path. No site import: nothing lives in site-packages inside the sandbox. */
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.write_bytecode = 0;
    config.install_signal_handlers = 0;
    config.buffered_stdio = 1;
    status = PyConfig_SetString(&config, &config.home, L"/usr/local");
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetString(&config, &config.program_name, L"python");
    }
    if (!PyStatus_Exception(status)) {
        status = Py_InitializeFromConfig(&config);
    }
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        fail_result(status.err_msg ? status.err_msg : "Py_InitializeFromConfig failed");
        return -1;
    }
    return 0;
}

__attribute__((export_name("capsule_init"))) void capsule_init(void);

void
capsule_init(void)
{
    if (init_state != 0) {
        return;
    }
    init_state = -1;
    if (start_interpreter() < 0) {
        return;
    }
    runner = PyImport_ImportModule("capsule._runner");
    if (!runner) {
        PyErr_Print();
        fail_result("cannot import capsule._runner");
        return;
    }
    /* The module path: $CAPSULE_PYTHON_MAIN, else /app/main.py (WASI argv carries the task's
     * arguments, so it cannot name the module). */
    PyObject *r = PyObject_CallMethod(runner, "prepare", NULL);
    if (!r) {
        PyErr_Print();
        fail_result("capsule._runner.prepare failed");
        return;
    }
    Py_DECREF(r);
    init_state = 1;
    capsule_resume_mark();
}

/* After a restore: os.environ is a copy made at start-up; make it the task's environment (the
 * C environ has just been re-read by capsule_resume). Keys and values are bytes on POSIX. */
static void
refresh_os_environ(void)
{
    PyObject *os = PyImport_ImportModule("os");
    PyObject *env = os ? PyObject_GetAttrString(os, "environ") : NULL;
    PyObject *data = env ? PyObject_GetAttrString(env, "_data") : NULL;
    if (data && PyDict_Check(data)) {
        PyDict_Clear(data);
        for (char **e = environ; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            if (!eq) {
                continue;
            }
            PyObject *k = PyBytes_FromStringAndSize(*e, (Py_ssize_t)(eq - *e));
            PyObject *v = PyBytes_FromString(eq + 1);
            if (k && v) {
                PyDict_SetItem(data, k, v);
            }
            Py_XDECREF(k);
            Py_XDECREF(v);
        }
    }
    Py_XDECREF(data);
    Py_XDECREF(env);
    Py_XDECREF(os);
    PyErr_Clear();
}

__attribute__((export_name("capsule_run"))) void capsule_run(void);

void
capsule_run(void)
{
    capsule_init();
    if (init_state != 1) {
        return;
    }
    capsule_resume();
    refresh_os_environ();
    PyObject *r = PyObject_CallMethod(runner, "serve", NULL);
    if (!r) {
        /* serve() reports task failures itself; this is a failure of the runner. SystemExit
         * from a task ends up here too: report its code like a WASI exit would. */
        PyErr_Print();
        fail_result("capsule._runner.serve failed");
    } else {
        Py_DECREF(r);
    }
    /* Flush what the task printed: the host captures stdout when the call returns. */
    PyObject *out = PySys_GetObject("stdout");
    if (out) {
        PyObject *f = PyObject_CallMethod(out, "flush", NULL);
        Py_XDECREF(f);
        PyErr_Clear();
    }
    PyObject *err = PySys_GetObject("stderr");
    if (err) {
        PyObject *f = PyObject_CallMethod(err, "flush", NULL);
        Py_XDECREF(f);
        PyErr_Clear();
    }
}
