# SPDX-License-Identifier: Apache-2.0
"""Types of the result envelope (docs/guest-abi.md, section 5) and of the SDK's options.

At run time an envelope is a plain dict parsed from JSON; these TypedDicts only describe it for
type checkers. Fields may be added by later Capsule versions, never removed."""

import os
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, TypedDict, Union

__all__ = [
    "ErrorType",
    "ErrorInfo",
    "Execution",
    "Envelope",
    "Compute",
    "Size",
    "Duration",
    "Mounts",
    "EnvVariables",
    "ERROR_TYPES",
]

#: The stable set of error types (``CAP_ERROR_TYPE_MAP`` in include/capsule.h).
ERROR_TYPES = (
    "task_error",
    "out_of_fuel",
    "timeout",
    "memory_limit",
    "trap",
    "exit",
    "denied",
    "invalid_config",
    "invalid_module",
    "host_error",
)

ErrorType = Literal[
    "task_error",
    "out_of_fuel",
    "timeout",
    "memory_limit",
    "trap",
    "exit",
    "denied",
    "invalid_config",
    "invalid_module",
    "host_error",
]


class _ErrorRequired(TypedDict):
    error_type: str
    message: str


class ErrorInfo(_ErrorRequired, total=False):
    """The envelope's ``error`` object. Guests may add fields (``exception``, ``traceback``)."""

    exception: str
    traceback: str


class _ExecutionRequired(TypedDict):
    task_name: str
    duration_ms: int
    retries: int
    fuel_consumed: int
    ram_used: int


class Execution(_ExecutionRequired, total=False):
    """How the task ran. ``exit_code`` is present when the guest exited through WASI."""

    exit_code: int


class _EnvelopeRequired(TypedDict):
    success: bool
    result: Any
    error: Optional[ErrorInfo]
    execution: Execution


class Envelope(_EnvelopeRequired, total=False):
    """The result envelope: what ``capsule run --json`` prints and what ``run()`` returns."""

    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    task_id: int


#: ``compute``: "LOW", "MEDIUM", "HIGH" (case-insensitive) or a number of fuel units.
Compute = Union[str, int]
#: ``ram``: "512KB", "64MB", "2GB" (1024-based) or a number of bytes.
Size = Union[str, int]
#: ``timeout``: "500ms", "30s", "5m", "1h", or a number of seconds (int or float).
Duration = Union[str, int, float]
#: ``mounts``: "HOST[::GUEST][:ro|:rw]" strings (read-only unless ":rw"); a path alone is allowed.
Mounts = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]
#: ``env_variables``: names whose values come from the environment (or .env), or a mapping of
#: names to values (a value of None takes it from the environment).
EnvVariables = Union[Sequence[str], Mapping[str, Optional[str]]]

JSONList = List[Any]
JSONDict = Dict[str, Any]
