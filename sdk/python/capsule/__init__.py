# SPDX-License-Identifier: Apache-2.0
"""Capsule's host SDK for Python: run sandboxed tasks from your own program.

    import asyncio
    from capsule import run, Runner, unwrap

    async def main():
        env = await run(file="task.wasm", args=["5"], compute="LOW", timeout="10s")
        print(env["success"], env["result"], env["execution"]["fuel_consumed"])
        async with Runner() as runner:          # one long-lived `capsule worker` process
            envs = await asyncio.gather(*(runner.run("task.wasm", [str(i)]) for i in range(50)))
        print([unwrap(e) for e in envs])        # unwrap raises TaskError on a failure

    asyncio.run(main())

- ``run`` (coroutine) and ``run_sync`` run one task in a fresh ``capsule run --json`` process
  and return the result envelope (a dict: success, result, error, execution, stdout, stderr).
- ``Runner`` keeps one ``capsule worker`` and sends it many requests (thread- and asyncio-safe).
- ``unwrap(envelope)`` returns the result or raises ``TaskError`` (alias ``TaskFailed``).
- ``CapsuleError``: capsule could not run the task at all (bad option, missing file or
  executable). ``CapsuleNotFound``: no ``capsule`` on PATH and no ``CAPSULE_BIN``.
- ``task``: the guest-side decorator; on the host a decorated function runs in-process.

The ``capsule`` executable is found through ``capsule_bin=``, ``$CAPSULE_BIN`` or PATH."""

from ._client import (
    ARGS_FILE_THRESHOLD,
    CapsuleError,
    CapsuleNotFound,
    TaskError,
    TaskFailed,
    find_capsule,
    run,
    run_sync,
    unwrap,
)
from ._runner import Runner
from ._task import OPTION_NAMES, ConfigError, Task, in_sandbox, log, task, tasks
from ._types import ERROR_TYPES, Envelope, ErrorInfo, ErrorType, Execution

__all__ = [
    "run",
    "run_sync",
    "Runner",
    "unwrap",
    "find_capsule",
    "CapsuleError",
    "CapsuleNotFound",
    "TaskError",
    "TaskFailed",
    "ConfigError",
    "Envelope",
    "ErrorInfo",
    "ErrorType",
    "Execution",
    "ERROR_TYPES",
    "ARGS_FILE_THRESHOLD",
    "task",
    "Task",
    "tasks",
    "log",
    "in_sandbox",
    "OPTION_NAMES",
]
__version__ = "0.1.0"
