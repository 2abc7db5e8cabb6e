# SPDX-License-Identifier: Apache-2.0
"""The guest entry: what the host runs inside python.wasm for a Python task.

    python.wasm -I -S -m capsule /app/main.py

reads the task request through the guest ABI ({"task_name", "args", "kwargs", "task_id"}),
imports the user's module, runs the named task (plain or async) and writes the result:
{"result": <JSON>} or {"error_type": "task_error", "message", "exception", "traceback"}.

Outside Capsule (no _capsule module) the same command runs a task in-process for testing:

    python3 -m capsule main.py [TASK_NAME=main] [ARGS...]      (prints the result JSON)

load() and run_request() are separate so that an embedding can import the user's module once
(for a snapshot) and run many requests later."""

import importlib.util
import json
import os
import sys

from . import ConfigError, TaskError, _state, tasks

try:
    import _capsule
except ImportError:  # pragma: no cover
    _capsule = None

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MAIN = "/app/main.py"


class _LoadError(Exception):
    def __init__(self, outcome):
        super().__init__(outcome.get("message", ""))
        self.outcome = outcome


def _user_frames_only(te, seen=None):
    """Drops this package's frames (the runner, the Task wrapper) from a TracebackException and
    everything it chains to, so tracebacks show the user's code."""
    import traceback

    seen = set() if seen is None else seen
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not os.path.abspath(f.filename).startswith(_PKG_DIR + os.sep)]
    )
    _user_frames_only(te.__cause__, seen)
    _user_frames_only(te.__context__, seen)


def error_outcome(exc, error_type="task_error"):
    """The result_write object for an uncaught exception."""
    import traceback

    name = type(exc).__name__
    text = str(exc)
    message = f"{name}: {text}" if text else name
    try:
        te = traceback.TracebackException.from_exception(exc)
        _user_frames_only(te)
        tb = "".join(te.format())
    except Exception:  # formatting can fail under MemoryError: keep the essentials
        tb = message + "\n"
    out = {"error_type": error_type, "message": message, "exception": name, "traceback": tb}
    if isinstance(exc, TaskError):
        out["task_error_type"] = exc.error_type
    return out


_loaded = {}


def load(path=DEFAULT_MAIN):
    """Imports the user's module from `path` once (as a module named after the file) and
    returns it. Raises _LoadError with an error outcome if the import fails."""
    path = os.path.abspath(path)
    if path in _loaded:
        return _loaded[path]
    directory, filename = os.path.split(path)
    modname = os.path.splitext(filename)[0] or "main"
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        spec.loader.exec_module(module)
    except FileNotFoundError as e:
        raise _LoadError({"error_type": "task_error",
                          "message": f"FileNotFoundError: no task module at {path}",
                          "exception": "FileNotFoundError", "traceback": ""}) from e
    except ConfigError as e:
        raise _LoadError(error_outcome(e, "invalid_config")) from e
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise
        raise _LoadError(error_outcome(e)) from e
    _loaded[path] = module
    return module


def describe():
    """Every task of the loaded module with its explicit options (the host reads the main
    task's limits from here)."""
    return {"tasks": {name: t.policy for name, t in tasks.items()}}


def run_request(request):
    """Runs one request (a dict) against the loaded module; returns the result_write object."""
    if request.get("describe"):
        return {"result": describe()}
    name = request.get("task_name", "main")
    args = request.get("args", [])
    kwargs = request.get("kwargs", {})
    if not isinstance(name, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
        return {"error_type": "task_error", "exception": "TypeError",
                "message": "TypeError: malformed task request", "traceback": ""}
    t = tasks.get(name)
    if t is None:
        known = ", ".join(sorted(tasks)) or "none"
        return {"error_type": "task_error", "exception": "LookupError",
                "message": f"LookupError: no task named {name!r} (tasks: {known})",
                "traceback": ""}
    _state.running = name
    try:
        value = t.run_local(*args, **kwargs)
    except ConfigError as e:
        return error_outcome(e, "invalid_config")
    except Exception as e:
        return error_outcome(e)
    finally:
        _state.running = None
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        return {"error_type": "task_error", "exception": type(e).__name__,
                "message": f"the result of task {name!r} is not JSON-serialisable: {e}",
                "traceback": ""}
    return {"result": value}


def _encode(outcome):
    return json.dumps(outcome, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _write(outcome):
    try:
        _capsule.result_write(_encode(outcome))
    except _capsule.Error as e:
        fallback = {"error_type": "task_error", "exception": "CapsuleError",
                    "message": f"the host refused the result ({e.args[1]})"}
        _capsule.result_write(_encode(fallback))


_prepared = {"error": None, "done": False}


class _AsyncioHook:
    """A meta path finder that installs Capsule's event loop policy right after asyncio is
    imported, so that asyncio.run() works inside tasks without importing asyncio (about 350M
    instructions) for tasks that never use it."""

    def find_spec(self, name, path=None, target=None):
        if name != "asyncio":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec("asyncio")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_install(module):
            exec_module(module)
            from . import _loop

            _loop.install()

        spec.loader.exec_module = exec_then_install
        return spec


def _install_loop_policy():
    if "asyncio" in sys.modules:
        from . import _loop

        _loop.install()
    elif not any(isinstance(f, _AsyncioHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _AsyncioHook())


def prepare(path=None):
    """Start-up work that a snapshot keeps: the event loop policy hook, the user's module
    (`path`, else $CAPSULE_PYTHON_MAIN, else /app/main.py). A load failure is kept and
    reported by serve()."""
    path = path or os.environ.get("CAPSULE_PYTHON_MAIN") or DEFAULT_MAIN
    _install_loop_policy()
    try:
        load(path)
    except _LoadError as e:
        _prepared["error"] = e.outcome
    _prepared["done"] = True


def _reseed():
    # A run restored from a snapshot must not replay the snapshot's random state.
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()


def serve():
    """Reads the request through the guest ABI, runs it, writes the result."""
    if not _prepared["done"]:
        prepare()
    _reseed()
    try:
        request = json.loads(_capsule.request_read())
        if not isinstance(request, dict):
            raise ValueError("the request is not a JSON object")
    except Exception as e:
        _write({"error_type": "task_error", "exception": type(e).__name__,
                "message": f"cannot read the task request: {e}"})
        return
    if _prepared["error"] is not None:
        _write(_prepared["error"])
        return
    _write(run_request(request))


def _sandbox_main(path):
    prepare(path)
    serve()
    return 0


def _local_main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m capsule MAIN.py [TASK] [ARGS...]   (runs a task in-process)")
        return 2
    path, rest = argv[0], argv[1:]
    name = rest[0] if rest else "main"
    try:
        load(path)
    except _LoadError as e:
        print(json.dumps(e.outcome, ensure_ascii=False, indent=2))
        return 1
    outcome = run_request({"task_name": name, "args": rest[1:], "kwargs": {}})
    print(json.dumps(outcome, ensure_ascii=False))
    return 0 if "result" in outcome else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if _capsule is not None:
        return _sandbox_main(argv[0] if argv else None)
    return _local_main(argv)
