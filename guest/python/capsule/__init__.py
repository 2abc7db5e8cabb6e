# SPDX-License-Identifier: Apache-2.0
"""Capsule's Python guest package.

    from capsule import task

    @task(name="main", compute="LOW", ram="64MB", timeout="10s")
    def main(n: str) -> dict:
        return {"squares": [square(i) for i in range(int(n))]}

    @task(name="square", compute="LOW")
    def square(x: int) -> int:       # each call runs in a fresh sandbox with its own limits
        return x * x

Inside a Capsule sandbox, calling a task function from a running task schedules it as a
sub-task through the host (guest ABI `task_schedule`) and returns its result, or raises
TaskError. Outside a sandbox (plain `python3 main.py`, tests), task functions run in-process."""

import json

from ._options import OPTION_NAMES, ConfigError, normalise_options

try:  # the built-in module of Capsule's python.wasm; absent in an ordinary Python
    import _capsule
except ImportError:  # pragma: no cover - depends on the interpreter
    _capsule = None

__all__ = ["task", "Task", "TaskError", "ConfigError", "log", "tasks", "in_sandbox"]
__version__ = "0.1.0"

_LEVELS = {"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3}


class TaskError(Exception):
    """A sub-task failed. `error_type` is the envelope's type ("task_error", "out_of_fuel",
    "timeout", "denied", ...), `message` its message, `envelope` the whole result envelope."""

    def __init__(self, error_type, message, envelope=None):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.envelope = envelope if envelope is not None else {}

    @property
    def error(self):
        """The envelope's error object (extra fields such as exception and traceback)."""
        return self.envelope.get("error") or {}


# The registry of this module's tasks, by name, in definition order.
tasks = {}


class _State:
    """Per-process state the runner sets while a task executes inside the sandbox."""

    running = None  # name of the task this sandbox runs, or None


_state = _State()


def in_sandbox():
    """True when this interpreter runs inside Capsule (the _capsule built-in is present)."""
    return _capsule is not None


class Task:
    """A function registered with @task. Calling it runs the task: as a sub-task when called
    from a running task inside Capsule, in-process otherwise."""

    def __init__(self, func, name, policy):
        self.func = func
        self.name = name
        self.policy = policy  # the options given explicitly, in the host's JSON form
        self.is_async = _is_coroutine_function(func)
        self.__wrapped__ = func
        self.__name__ = getattr(func, "__name__", name)
        self.__qualname__ = getattr(func, "__qualname__", name)
        self.__doc__ = func.__doc__
        self.__module__ = getattr(func, "__module__", None)

    def __repr__(self):
        return f"<capsule task {self.name!r} {self.policy!r}>"

    def __call__(self, *args, **kwargs):
        if _capsule is not None and _state.running is not None:
            return self.schedule(*args, **kwargs)
        return self.run_local(*args, **kwargs)

    def run_local(self, *args, **kwargs):
        """Runs the task function in this process (async functions to completion)."""
        result = self.func(*args, **kwargs)
        if hasattr(result, "__await__"):
            from . import _loop

            result = _loop.run(_as_coroutine(result))
        return result

    def request(self, args, kwargs):
        """The task_schedule request for a call with these arguments (JSON text)."""
        try:
            return json.dumps(
                {"task_name": self.name, "args": list(args), "kwargs": dict(kwargs),
                 "policy": self.policy},
                ensure_ascii=False, allow_nan=False,
            )
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"arguments of task {self.name!r} must be JSON-serialisable: {e}"
            ) from None

    def schedule(self, *args, **kwargs):
        """Runs the task as a sub-task in a fresh sandbox; returns its result or raises
        TaskError."""
        req = self.request(args, kwargs).encode("utf-8")
        try:
            handle = _capsule.task_schedule(req)
        except _capsule.Error as e:
            raise TaskError("host_error", f"task_schedule({self.name!r}) failed: {e.args[1]}") from None
        try:
            raw = _capsule.response_read(handle)
        finally:
            try:
                _capsule.response_close(handle)
            except _capsule.Error:
                pass
        env = json.loads(raw)
        if env.get("success"):
            return env.get("result")
        err = env.get("error") or {}
        raise TaskError(err.get("error_type", "task_error"), err.get("message", ""), env)


def _is_coroutine_function(func):
    # inspect.iscoroutinefunction without importing inspect (its import costs ~150M
    # instructions inside the sandbox, charged to every task that is not snapshotted).
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    return bool(code is not None and code.co_flags & 0x80)  # CO_COROUTINE


async def _as_coroutine(awaitable):
    return await awaitable


def task(name=None, compute=None, ram=None, timeout=None, max_retries=None, allowed_files=None,
         allowed_hosts=None, env_variables=None, **unknown):
    """Declares a task. Options (all optional; the host's defaults and capsule.toml fill in):
    compute ("LOW", "MEDIUM", "HIGH" or a number of fuel units), ram ("64MB"), timeout ("10s"),
    max_retries (0-100), allowed_files (["./data:ro", "./out:rw"]), allowed_hosts
    (["api.example.com"]), env_variables (["API_KEY"]). The task named "main" is the entry.
    Invalid options raise ConfigError naming the option."""
    if callable(name) and not isinstance(name, str):  # bare @task
        return task()(name)
    if name is not None and (not isinstance(name, str) or not name or len(name) > 128):
        raise ConfigError(f"invalid task name {name!r}: expected a non-empty string")
    options = dict(compute=compute, ram=ram, timeout=timeout, max_retries=max_retries,
                   allowed_files=allowed_files, allowed_hosts=allowed_hosts,
                   env_variables=env_variables)
    options.update(unknown)
    label = name or "?"

    def decorate(func):
        if not callable(func):
            raise ConfigError(f"@task({label!r}) must decorate a function")
        task_name = name or func.__name__
        policy = normalise_options(task_name, options)
        t = Task(func, task_name, policy)
        tasks[task_name] = t
        return t

    return decorate


def log(*parts, level="info", sep=" "):
    """Writes one line to the journal of this run (`capsule logs ID`); outside Capsule, to
    stderr. level: "debug", "info", "warn" or "error"."""
    lvl = _LEVELS.get(level if isinstance(level, str) else "", level)
    if not isinstance(lvl, int) or not 0 <= lvl <= 3:
        raise ValueError(f"invalid log level {level!r}: expected debug, info, warn or error")
    text = sep.join(str(p) for p in parts)
    if _capsule is None:
        import sys

        print(f"[{('debug', 'info', 'warn', 'error')[lvl]}] {text}", file=sys.stderr)
        return
    try:
        _capsule.log(lvl, text.encode("utf-8", "replace"))
    except _capsule.Error as e:
        if e.args[0] != _capsule.ELIMIT:  # a full log quota drops lines silently
            raise
