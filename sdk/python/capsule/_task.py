# SPDX-License-Identifier: Apache-2.0
"""The ``@task`` decorator on the host: the same API as the guest package
(guest/python/capsule/__init__.py), so one ``main.py`` both runs in Capsule and imports in an
ordinary Python for unit tests. Outside a sandbox a task function simply runs in-process.

The option checks are the guest's own (``_options.py`` is a symbolic link to
guest/python/capsule/_options.py; an installed SDK carries a copy of it)."""

import asyncio
import concurrent.futures
import inspect
import sys
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union, overload

from ._client import TaskError  # shared: a failed envelope and a failed sub-task are one type
from ._options import OPTION_NAMES, ConfigError, normalise_options

__all__ = ["task", "Task", "tasks", "log", "in_sandbox", "ConfigError", "TaskError", "OPTION_NAMES"]

F = TypeVar("F", bound=Callable[..., Any])

_LEVELS = {"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3}

#: The tasks declared in this process, by name, in definition order.
tasks: Dict[str, "Task"] = {}


def in_sandbox() -> bool:
    """False: this is the host SDK (the guest package answers True inside Capsule)."""
    return False


class Task:
    """A function registered with ``@task``. Calling it runs the function in this process (on
    the host there is no sandbox to schedule a sub-task in); an ``async def`` task runs to
    completion and its result is returned, as inside Capsule.

    ``name`` is the task's name and ``policy`` the options given explicitly, in the host's JSON
    form (what a sub-task request carries)."""

    def __init__(self, func: Callable[..., Any], name: str, policy: Dict[str, Any]):
        self.func = func
        self.name = name
        self.policy = policy
        self.is_async = inspect.iscoroutinefunction(func)
        self.__wrapped__ = func
        self.__name__ = getattr(func, "__name__", name)
        self.__qualname__ = getattr(func, "__qualname__", name)
        self.__doc__ = func.__doc__
        self.__module__ = getattr(func, "__module__", None)  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<capsule task {self.name!r} {self.policy!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.run_local(*args, **kwargs)

    def run_local(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the task function in this process (async functions to completion, also when
        called from inside a running event loop: then on a helper thread)."""
        result = self.func(*args, **kwargs)
        if not inspect.isawaitable(result):
            return result
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_as_coroutine(result))
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            return ex.submit(asyncio.run, _as_coroutine(result)).result()


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable


@overload
def task(name: F) -> Task: ...


@overload
def task(
    name: Optional[str] = None,
    compute: Optional[Union[str, int]] = None,
    ram: Optional[Union[str, int]] = None,
    timeout: Optional[str] = None,
    max_retries: Optional[int] = None,
    allowed_files: Optional[List[str]] = None,
    allowed_hosts: Optional[List[str]] = None,
    env_variables: Optional[List[str]] = None,
    **unknown: Any,
) -> Callable[[Callable[..., Any]], Task]: ...


def task(name=None, compute=None, ram=None, timeout=None, max_retries=None, allowed_files=None,
         allowed_hosts=None, env_variables=None, **unknown):
    """Declares a task. Options (all optional; the host's defaults and capsule.toml fill in):
    compute ("LOW", "MEDIUM", "HIGH" or a number of fuel units), ram ("64MB"), timeout ("10s"),
    max_retries (0-100), allowed_files (["./data:ro", "./out:rw"]), allowed_hosts
    (["api.example.com"]), env_variables (["API_KEY"]). The task named "main" is the entry.
    Invalid options raise ConfigError naming the option, exactly as inside Capsule."""
    if callable(name) and not isinstance(name, str):  # bare @task
        return task()(name)
    if name is not None and (not isinstance(name, str) or not name or len(name) > 128):
        raise ConfigError(f"invalid task name {name!r}: expected a non-empty string")
    options = dict(compute=compute, ram=ram, timeout=timeout, max_retries=max_retries,
                   allowed_files=allowed_files, allowed_hosts=allowed_hosts,
                   env_variables=env_variables)
    options.update(unknown)
    label = name or "?"

    def decorate(func: Callable[..., Any]) -> Task:
        if not callable(func):
            raise ConfigError(f"@task({label!r}) must decorate a function")
        task_name = name or func.__name__
        policy = normalise_options(task_name, options)
        t = Task(func, task_name, policy)
        tasks[task_name] = t
        return t

    return decorate


def log(*parts: Any, level: Union[str, int] = "info", sep: str = " ") -> None:
    """Inside Capsule, one line in the run's journal; on the host, a line on stderr.
    level: "debug", "info", "warn" or "error"."""
    lvl = _LEVELS.get(level if isinstance(level, str) else "", level)
    if not isinstance(lvl, int) or not 0 <= lvl <= 3:
        raise ValueError(f"invalid log level {level!r}: expected debug, info, warn or error")
    text = sep.join(str(p) for p in parts)
    print(f"[{('debug', 'info', 'warn', 'error')[lvl]}] {text}", file=sys.stderr)

