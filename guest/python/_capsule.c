/* SPDX-License-Identifier: Apache-2.0 */
/* _capsule: CPython built-in module exposing Capsule's guest ABI (import module "capsule").
 *
 * Compiled into python.wasm by scripts/build-python.sh (Modules/Setup.local). Each function is a
 * thin wrapper over one import of include/capsule_guest.h; the `capsule` Python package builds
 * the user-facing API on top. Negative ABI codes raise _capsule.Error(code, name) so that Python
 * code never mistakes an error for a length or a handle. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "capsule_guest.h"

static const char *
code_name(int32_t code)
{
    switch (code) {
    case CAPSULE_EFAULT:
        return "EFAULT";
    case CAPSULE_EINVAL:
        return "EINVAL";
    case CAPSULE_EBADF:
        return "EBADF";
    case CAPSULE_ELIMIT:
        return "ELIMIT";
    case CAPSULE_ENOMEM:
        return "ENOMEM";
    case CAPSULE_ETIMEOUT:
        return "ETIMEOUT";
    case CAPSULE_ENOSYS:
        return "ENOSYS";
    default:
        return "EUNKNOWN";
    }
}

typedef struct {
    PyObject *error; /* _capsule.Error */
} capsule_state;

static capsule_state *
get_state(PyObject *module)
{
    return (capsule_state *)PyModule_GetState(module);
}

/* Raises _capsule.Error(code, name, what) and returns NULL. */
static PyObject *
raise_code(PyObject *module, int32_t code, const char *what)
{
    PyObject *args = Py_BuildValue("(iss)", (int)code, code_name(code), what);
    if (args) {
        PyErr_SetObject(get_state(module)->error, args);
        Py_DECREF(args);
    }
    return NULL;
}

/* The snprintf rule: ask for the length, allocate, read again. A length that changes between
 * the two calls (it should not) is retried a few times rather than trusted. */
typedef int32_t (*reader_fn)(int32_t arg, uint8_t *buf, int32_t cap);

static int32_t
read_request(int32_t arg, uint8_t *buf, int32_t cap)
{
    (void)arg;
    return capsule_request_read(buf, cap);
}

static int32_t
read_response(int32_t handle, uint8_t *buf, int32_t cap)
{
    return capsule_response_read(handle, buf, cap);
}

static int32_t
read_http_body(int32_t handle, uint8_t *buf, int32_t cap)
{
    return capsule_http_body_read(handle, buf, cap);
}

static PyObject *
read_all(PyObject *module, reader_fn fn, int32_t arg, const char *what)
{
    uint8_t probe[1];
    int32_t n = fn(arg, probe, 0);
    for (int attempt = 0; attempt < 4; attempt++) {
        if (n < 0) {
            return raise_code(module, n, what);
        }
        PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
        if (!bytes) {
            return NULL;
        }
        /* A zero-length read still passes a valid pointer into our memory. */
        uint8_t *buf = n ? (uint8_t *)PyBytes_AS_STRING(bytes) : probe;
        int32_t m = fn(arg, buf, n);
        if (m == n) {
            return bytes;
        }
        Py_DECREF(bytes);
        n = m;
    }
    PyErr_Format(PyExc_RuntimeError, "capsule.%s: the host kept changing the length", what);
    return NULL;
}

static int
as_i32_len(Py_ssize_t len, int32_t *out)
{
    if (len > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "capsule: data larger than 2 GiB");
        return -1;
    }
    *out = (int32_t)len;
    return 0;
}

PyDoc_STRVAR(abi_version_doc, "abi_version() -> int\n\nThe guest ABI version of the host.");

static PyObject *
capsule_abi_version_py(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyLong_FromLong((long)capsule_abi_version());
}

PyDoc_STRVAR(request_read_doc, "request_read() -> bytes\n\nThe task request (JSON).");

static PyObject *
capsule_request_read_py(PyObject *module, PyObject *unused)
{
    (void)unused;
    return read_all(module, read_request, 0, "request_read");
}

PyDoc_STRVAR(result_write_doc,
             "result_write(data: bytes) -> None\n\nSets the task's result (a JSON object "
             "{\"result\": ...} or {\"error_type\": ..., \"message\": ...}).");

static PyObject *
capsule_result_write_py(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    int32_t len, rc;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (as_i32_len(view.len, &len) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    rc = capsule_result_write((const uint8_t *)view.buf, len);
    PyBuffer_Release(&view);
    if (rc < 0) {
        return raise_code(module, rc, "result_write");
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(task_schedule_doc,
             "task_schedule(request: bytes) -> int\n\nRuns a sub-task (blocks until it ends) "
             "and returns a handle for response_read/response_close.");

static PyObject *
capsule_task_schedule_py(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    int32_t len, rc;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (as_i32_len(view.len, &len) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    rc = capsule_task_schedule((const uint8_t *)view.buf, len);
    PyBuffer_Release(&view);
    if (rc < 0) {
        return raise_code(module, rc, "task_schedule");
    }
    return PyLong_FromLong((long)rc);
}

PyDoc_STRVAR(response_read_doc, "response_read(handle: int) -> bytes\n\nA handle's response.");

static PyObject *
capsule_response_read_py(PyObject *module, PyObject *arg)
{
    long h = PyLong_AsLong(arg);
    if (h == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (h < INT32_MIN || h > INT32_MAX) {
        return raise_code(module, CAPSULE_EBADF, "response_read");
    }
    return read_all(module, read_response, (int32_t)h, "response_read");
}

PyDoc_STRVAR(response_close_doc, "response_close(handle: int) -> None\n\nReleases a handle.");

static PyObject *
capsule_response_close_py(PyObject *module, PyObject *arg)
{
    long h = PyLong_AsLong(arg);
    if (h == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (h < INT32_MIN || h > INT32_MAX) {
        return raise_code(module, CAPSULE_EBADF, "response_close");
    }
    int32_t rc = capsule_response_close((int32_t)h);
    if (rc < 0) {
        return raise_code(module, rc, "response_close");
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(http_request_doc,
             "http_request(request: bytes, body: bytes = b'') -> int\n\nMakes an HTTP request "
             "through the host (blocks); returns a handle: response_read gives the head JSON, "
             "http_body_read the body, response_close releases it.");

static PyObject *
capsule_http_request_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "http_request(request, body=b'') takes 1 or 2 arguments");
        return NULL;
    }
    Py_buffer req, body = {0};
    int have_body = 0;
    int32_t req_len, body_len = 0, rc;
    if (PyObject_GetBuffer(args[0], &req, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (nargs == 2 && args[1] != Py_None) {
        if (PyObject_GetBuffer(args[1], &body, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&req);
            return NULL;
        }
        have_body = 1;
    }
    if (as_i32_len(req.len, &req_len) < 0 || (have_body && as_i32_len(body.len, &body_len) < 0)) {
        rc = INT32_MIN;
    } else {
        static const uint8_t empty[1];
        rc = capsule_http_request((const uint8_t *)req.buf, req_len,
                                  have_body && body_len ? (const uint8_t *)body.buf : empty,
                                  body_len);
    }
    PyBuffer_Release(&req);
    if (have_body) {
        PyBuffer_Release(&body);
    }
    if (rc == INT32_MIN) {
        return NULL;
    }
    if (rc < 0) {
        return raise_code(module, rc, "http_request");
    }
    return PyLong_FromLong((long)rc);
}

PyDoc_STRVAR(http_body_read_doc, "http_body_read(handle: int) -> bytes\n\nAn HTTP response body.");

static PyObject *
capsule_http_body_read_py(PyObject *module, PyObject *arg)
{
    long h = PyLong_AsLong(arg);
    if (h == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (h < INT32_MIN || h > INT32_MAX) {
        return raise_code(module, CAPSULE_EBADF, "http_body_read");
    }
    return read_all(module, read_http_body, (int32_t)h, "http_body_read");
}

PyDoc_STRVAR(log_doc, "log(level: int, message: str | bytes) -> None\n\nWrites a journal line "
                      "(levels: 0 debug, 1 info, 2 warn, 3 error).");

static PyObject *
capsule_log_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "log(level, message) takes exactly 2 arguments");
        return NULL;
    }
    long level = PyLong_AsLong(args[0]);
    if (level == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (level < INT32_MIN || level > INT32_MAX) {
        return raise_code(module, CAPSULE_EINVAL, "log");
    }
    const char *data;
    Py_ssize_t n;
    Py_buffer view = {0};
    int have_view = 0;
    if (PyUnicode_Check(args[1])) {
        /* surrogatepass-free UTF-8; lone surrogates are an error like anywhere in Python. */
        data = PyUnicode_AsUTF8AndSize(args[1], &n);
        if (!data) {
            return NULL;
        }
    } else {
        if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        have_view = 1;
        data = (const char *)view.buf;
        n = view.len;
    }
    int32_t len;
    if (as_i32_len(n, &len) < 0) {
        if (have_view) {
            PyBuffer_Release(&view);
        }
        return NULL;
    }
    int32_t rc = capsule_log((int32_t)level, (const uint8_t *)data, len);
    if (have_view) {
        PyBuffer_Release(&view);
    }
    if (rc < 0) {
        return raise_code(module, rc, "log");
    }
    Py_RETURN_NONE;
}

static PyMethodDef capsule_methods[] = {
    {"abi_version", capsule_abi_version_py, METH_NOARGS, abi_version_doc},
    {"request_read", capsule_request_read_py, METH_NOARGS, request_read_doc},
    {"result_write", capsule_result_write_py, METH_O, result_write_doc},
    {"task_schedule", capsule_task_schedule_py, METH_O, task_schedule_doc},
    {"response_read", capsule_response_read_py, METH_O, response_read_doc},
    {"response_close", capsule_response_close_py, METH_O, response_close_doc},
    {"log", (PyCFunction)(void (*)(void))capsule_log_py, METH_FASTCALL, log_doc},
    {"http_request", (PyCFunction)(void (*)(void))capsule_http_request_py, METH_FASTCALL,
     http_request_doc},
    {"http_body_read", capsule_http_body_read_py, METH_O, http_body_read_doc},
    {NULL, NULL, 0, NULL},
};

static int
capsule_exec(PyObject *module)
{
    capsule_state *st = get_state(module);
    st->error = PyErr_NewExceptionWithDoc(
        "_capsule.Error",
        "A guest ABI call failed: args are (code, name, function), e.g. (-4, 'ELIMIT', 'log').",
        NULL, NULL);
    if (!st->error || PyModule_AddObjectRef(module, "Error", st->error) < 0) {
        return -1;
    }
    static const struct {
        const char *name;
        int value;
    } consts[] = {
        {"ABI_VERSION", CAPSULE_ABI_VERSION}, {"EFAULT", CAPSULE_EFAULT},
        {"EINVAL", CAPSULE_EINVAL},           {"EBADF", CAPSULE_EBADF},
        {"ELIMIT", CAPSULE_ELIMIT},           {"ENOMEM", CAPSULE_ENOMEM},
        {"ETIMEOUT", CAPSULE_ETIMEOUT},       {"ENOSYS", CAPSULE_ENOSYS},
        {"LOG_DEBUG", CAPSULE_LOG_DEBUG},     {"LOG_INFO", CAPSULE_LOG_INFO},
        {"LOG_WARN", CAPSULE_LOG_WARN},       {"LOG_ERROR", CAPSULE_LOG_ERROR},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
        if (PyModule_AddIntConstant(module, consts[i].name, consts[i].value) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
capsule_traverse(PyObject *module, visitproc visit, void *arg)
{
    Py_VISIT(get_state(module)->error);
    return 0;
}

static int
capsule_clear(PyObject *module)
{
    Py_CLEAR(get_state(module)->error);
    return 0;
}

static void
capsule_free(void *module)
{
    (void)capsule_clear((PyObject *)module);
}

static PyModuleDef_Slot capsule_slots[] = {
    {Py_mod_exec, capsule_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};

static struct PyModuleDef capsule_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_capsule",
    .m_doc = "Capsule's guest ABI (import module \"capsule\"); use the `capsule` package.",
    .m_size = sizeof(capsule_state),
    .m_methods = capsule_methods,
    .m_slots = capsule_slots,
    .m_traverse = capsule_traverse,
    .m_clear = capsule_clear,
    .m_free = capsule_free,
};

PyMODINIT_FUNC PyInit__capsule(void);

PyMODINIT_FUNC
PyInit__capsule(void)
{
    return PyModuleDef_Init(&capsule_module);
}
