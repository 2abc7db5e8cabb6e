# SPDX-License-Identifier: Apache-2.0
"""One task per process: ``run()`` and ``run_sync()`` over ``capsule run --json``.

The SDK is a thin wrapper over the CLI (docs/tasks.md): it builds the command line, passes
large or non-string arguments through ``--args-file``, and parses the envelope from the last
line of stdout. Exit status 0 and 1 both carry an envelope (1: the task failed); status 2 is a
usage or configuration error and has none, so it raises ``CapsuleError``."""

import asyncio
import json
import math
import os
import shutil
import subprocess
import tempfile
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ._types import Compute, Duration, EnvVariables, Envelope, Mounts, Size

__all__ = [
    "CapsuleError",
    "CapsuleNotFound",
    "TaskError",
    "TaskFailed",
    "find_capsule",
    "run",
    "run_sync",
    "unwrap",
    "ARGS_FILE_THRESHOLD",
]

#: Arguments whose JSON text is longer than this go through ``--args-file`` rather than the
#: command line (Linux caps one argument at 128 KiB and all of them at about 2 MiB).
ARGS_FILE_THRESHOLD = 32 * 1024

#: Exit statuses of ``capsule run`` (docs/tasks.md).
EXIT_OK, EXIT_TASK_FAILED, EXIT_USAGE = 0, 1, 2


class CapsuleError(Exception):
    """Capsule could not run the task at all: the executable is missing, an option or
    capsule.toml is invalid, the file does not exist (``capsule run`` exit status 2, or a worker's
    ``{"error": ...}`` response), or the process died. A task that ran and failed is *not* a
    CapsuleError: its envelope says ``"success": false`` (see ``TaskError``).

    Attributes: ``exit_code`` (the CLI's exit status, when there was one) and ``stderr`` (what
    the CLI printed on stderr)."""

    def __init__(self, message: str, *, exit_code: Optional[int] = None, stderr: str = ""):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.stderr = stderr


class CapsuleNotFound(CapsuleError):
    """The ``capsule`` executable was not found (PATH, ``CAPSULE_BIN`` or ``capsule_bin=``)."""


class TaskError(Exception):
    """A task ran and failed. ``error_type`` is the envelope's stable type ("task_error",
    "out_of_fuel", "timeout", "memory_limit", "trap", "exit", "denied", ...), ``message`` its
    one-line message and ``envelope`` the whole result envelope.

    Raised by ``unwrap()``, by ``run(..., check=True)`` and by in-sandbox sub-task calls (the
    guest package has the same class)."""

    def __init__(self, error_type: str, message: str, envelope: Optional[Dict[str, Any]] = None):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.envelope: Dict[str, Any] = envelope if envelope is not None else {}

    @property
    def error(self) -> Dict[str, Any]:
        """The envelope's error object (with extra fields such as exception and traceback)."""
        return self.envelope.get("error") or {}

    @classmethod
    def from_envelope(cls, envelope: Dict[str, Any]) -> "TaskError":
        """The TaskError a failed envelope describes."""
        err = envelope.get("error") or {}
        return cls(str(err.get("error_type", "task_error")), str(err.get("message", "")), envelope)


#: Another name for TaskError, for code that prefers it.
TaskFailed = TaskError


def unwrap(envelope: Envelope) -> Any:
    """Returns ``envelope["result"]`` when the task succeeded; raises ``TaskError`` otherwise."""
    if envelope.get("success") is True:
        return envelope.get("result")
    raise TaskError.from_envelope(dict(envelope))


def find_capsule(capsule_bin: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
    """The path of the ``capsule`` executable: ``capsule_bin`` if given, else the environment
    variable ``CAPSULE_BIN``, else ``capsule`` on PATH. Raises CapsuleNotFound, saying what was
    tried, when there is none."""
    if capsule_bin is not None:
        return _executable(os.fspath(capsule_bin), "capsule_bin=")
    env = os.environ.get("CAPSULE_BIN")
    if env:
        return _executable(env, "CAPSULE_BIN")
    found = shutil.which("capsule")
    if found:
        return found
    raise CapsuleNotFound(
        "the capsule executable was not found on PATH; install Capsule (build it with "
        "`cmake -S . -B build -G Ninja && ninja -C build`, then put build/capsule on PATH) or "
        "set CAPSULE_BIN=/path/to/capsule"
    )


def _executable(path: str, source: str) -> str:
    resolved = shutil.which(path) if os.sep not in path else path
    if not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        raise CapsuleNotFound(f"{source} names {path!r}, which is not an executable file")
    return resolved


# ------------------------------------------------------------------------ options to flags


def duration_text(value: Duration, option: str = "timeout") -> str:
    """A duration for the CLI: strings pass through ("30s"); numbers are seconds."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{option} must be a duration string like '30s' or a number of seconds, "
                        f"not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{option} must be a positive number of seconds, not {value!r}")
    ms = max(1, int(math.ceil(value * 1000)))
    return f"{ms}ms"


def _scalar_text(value: Union[str, int], option: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{option} must be a string or an integer, not {type(value).__name__}")
    return str(value)


def _str_list(value: Any, option: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    out = []
    for item in value:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"{option} must be a list of strings, not a list holding "
                            f"{type(item).__name__}")
        out.append(os.fspath(item))
    return out


def _env_pairs(value: Optional[EnvVariables]) -> List[Tuple[str, Optional[str]]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [(value, None)]
    if isinstance(value, Mapping):
        pairs = []
        for k, v in value.items():
            if v is not None and not isinstance(v, str):
                raise TypeError(f"env_variables[{k!r}] must be a string or None")
            pairs.append((str(k), v))
        return pairs
    return [(name, None) for name in _str_list(value, "env_variables")]


def policy_flags(
    *,
    compute: Optional[Compute] = None,
    ram: Optional[Size] = None,
    timeout: Optional[Duration] = None,
    max_retries: Optional[int] = None,
    mounts: Optional[Mounts] = None,
    allowed_files: Optional[Mounts] = None,
    allowed_hosts: Optional[Sequence[str]] = None,
    env_variables: Optional[EnvVariables] = None,
) -> List[str]:
    """The CLI flags (``capsule run`` and ``capsule worker`` share them) for a policy."""
    flags: List[str] = []
    if compute is not None:
        flags += ["--compute", _scalar_text(compute, "compute")]
    if ram is not None:
        flags += ["--ram", _scalar_text(ram, "ram")]
    if timeout is not None:
        flags += ["--timeout", duration_text(timeout)]
    if max_retries is not None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise TypeError("max_retries must be an integer")
        flags += ["--max-retries", str(max_retries)]
    for m in _str_list(mounts, "mounts") + _str_list(allowed_files, "allowed_files"):
        flags += ["--mount", m]
    for h in _str_list(allowed_hosts, "allowed_hosts"):
        flags += ["--allow-host", h]
    for name, val in _env_pairs(env_variables):
        flags += ["--env", name if val is None else f"{name}={val}"]
    return flags


def _args_list(args: Optional[Iterable[Any]]) -> List[Any]:
    if args is None:
        return []
    if isinstance(args, (str, bytes)):
        raise TypeError("args must be a list (a single string would be split into characters)")
    return list(args)


def _needs_args_file(args: List[Any]) -> bool:
    """Only strings without NUL fit on a command line; long lists do not fit either."""
    total = 0
    for a in args:
        if not isinstance(a, str) or "\0" in a:
            return True
        total += len(a.encode("utf-8", "surrogatepass")) + 1
    return total > ARGS_FILE_THRESHOLD


class _Prepared:
    """A ready command line, and the temporary --args-file it may use (removed by cleanup)."""

    def __init__(self, argv: List[str], stdin: Optional[bytes], tmpdir: Optional[str]):
        self.argv = argv
        self.stdin = stdin
        self.tmpdir = tmpdir

    def cleanup(self) -> None:
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def _prepare(
    file: Union[str, "os.PathLike[str]"],
    args: Optional[Iterable[Any]],
    *,
    task_name: Optional[str],
    stdin: Optional[Union[str, bytes]],
    max_output: Optional[Size],
    journal: bool,
    capsule_bin: Optional[Union[str, "os.PathLike[str]"]],
    policy: Dict[str, Any],
    code_mounts: Optional[Mounts] = None,
) -> _Prepared:
    exe = find_capsule(capsule_bin)
    argv = [exe, "run", "--json"]
    if task_name is not None:
        if not isinstance(task_name, str) or not task_name:
            raise TypeError("task_name must be a non-empty string")
        argv += ["--task", task_name]
    argv += policy_flags(**policy)
    for m in _str_list(code_mounts, "code_mounts"):
        argv += ["--code-mount", m]
    if max_output is not None:
        argv += ["--max-output", _scalar_text(max_output, "max_output")]
    if not journal:
        argv.append("--no-journal")
    data: Optional[bytes] = None
    if stdin is not None:
        data = stdin.encode("utf-8") if isinstance(stdin, str) else bytes(stdin)
        argv += ["--stdin", "-"]
    arg_list = _args_list(args)
    tmpdir = None
    tail: List[str] = []
    if _needs_args_file(arg_list):
        try:
            text = json.dumps(arg_list, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"args must be JSON-serialisable: {e}") from None
        tmpdir = tempfile.mkdtemp(prefix="capsule-args-")
        path = os.path.join(tmpdir, "args.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        argv += ["--args-file", path]
    else:
        tail = arg_list
    # "--" ends capsule's options: an argument such as "--json" reaches the task unchanged.
    argv += ["--", os.fspath(file), *tail]
    return _Prepared(argv, data, tmpdir)


def _envelope(rc: int, out: bytes, err: bytes, check: bool) -> Envelope:
    """Turns a finished ``capsule run --json`` into its envelope (or an exception)."""
    stderr = err.decode("utf-8", "replace")
    if rc in (EXIT_OK, EXIT_TASK_FAILED):
        for line in reversed(out.splitlines()):
            if line.strip():
                try:
                    env = json.loads(line)
                except ValueError:
                    break
                if isinstance(env, dict) and "success" in env:
                    if check and env.get("success") is not True:
                        raise TaskError.from_envelope(env)
                    return env  # type: ignore[return-value]
                break
        raise CapsuleError(f"capsule run printed no result envelope (exit status {rc})"
                           + (f": {stderr.strip()}" if stderr.strip() else ""),
                           exit_code=rc, stderr=stderr)
    text = stderr.strip() or "no message"
    if rc == EXIT_USAGE:
        raise CapsuleError(text, exit_code=rc, stderr=stderr)
    if rc < 0:
        raise CapsuleError(f"capsule run was killed by signal {-rc}: {text}", exit_code=rc,
                           stderr=stderr)
    raise CapsuleError(f"capsule run failed with exit status {rc}: {text}", exit_code=rc,
                       stderr=stderr)


async def run(
    file: Union[str, "os.PathLike[str]"],
    args: Optional[Iterable[Any]] = None,
    *,
    task_name: Optional[str] = None,
    mounts: Optional[Mounts] = None,
    timeout: Optional[Duration] = None,
    cwd: Optional[Union[str, "os.PathLike[str]"]] = None,
    compute: Optional[Compute] = None,
    ram: Optional[Size] = None,
    max_retries: Optional[int] = None,
    allowed_files: Optional[Mounts] = None,
    allowed_hosts: Optional[Sequence[str]] = None,
    env_variables: Optional[EnvVariables] = None,
    stdin: Optional[Union[str, bytes]] = None,
    max_output: Optional[Size] = None,
    code_mounts: Optional[Mounts] = None,
    journal: bool = True,
    check: bool = False,
    capsule_bin: Optional[Union[str, "os.PathLike[str]"]] = None,
) -> Envelope:
    """Runs one task in a fresh ``capsule run`` process and returns its result envelope::

        env = await run(file="task.wasm", args=["5"], compute="LOW", timeout="10s")
        if env["success"]:
            print(env["result"])
        else:
            print(env["error"]["error_type"], env["error"]["message"])

    Parameters:
        file: the task file (a .wasm module; .py/.js/.ts once their guests are installed),
            relative to ``cwd`` when that is given.
        args: the task's positional arguments. Strings go on the command line; anything else
            (numbers, objects) or more than 32 KiB goes through a temporary ``--args-file``.
        task_name: the task to run (default "main").
        mounts / allowed_files: directories to grant, "HOST[::GUEST][:ro|:rw]" (read-only
            unless ":rw").
        timeout: the task's deadline, "30s" or a number of seconds.
        cwd: the project directory: capsule.toml, .env and the journal (.capsule/) are found
            there, and relative paths resolve against it. Default: the current directory.
        compute: "LOW", "MEDIUM", "HIGH" or a number of fuel units. ram: "64MB" or bytes.
        max_retries: re-run a failed attempt up to this many times.
        allowed_hosts: hosts the task may reach through the host's HTTP.
        env_variables: names to grant (values from the environment or .env), or a mapping of
            names to values.
        stdin: the task's standard input. max_output: cap on captured stdout/stderr each.
        code_mounts: "HOST::/GUEST" directories holding the code a guest runtime runs (a
            JavaScript bundle or Python project at /app), read-only for the task and its
            sub-tasks; not a grant of the policy.
        journal: record the run in .capsule/journal.db (default True).
        check: raise TaskError when the task fails instead of returning the envelope.
        capsule_bin: the capsule executable (default: CAPSULE_BIN, then PATH).

    Returns the envelope dict (``success``, ``result``, ``error``, ``execution``, ``stdout``,
    ``stderr``, ...). Raises CapsuleError when capsule could not run the task at all (bad
    option, missing file, missing executable), and TaskError with ``check=True``. Cancelling
    the coroutine kills the process."""
    prep = _prepare(file, args, task_name=task_name, stdin=stdin, max_output=max_output,
                    journal=journal, capsule_bin=capsule_bin, code_mounts=code_mounts,
                    policy=dict(compute=compute, ram=ram, timeout=timeout,
                                max_retries=max_retries, mounts=mounts,
                                allowed_files=allowed_files, allowed_hosts=allowed_hosts,
                                env_variables=env_variables))
    try:
        proc = await asyncio.create_subprocess_exec(
            *prep.argv,
            stdin=subprocess.PIPE if prep.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=None if cwd is None else os.fspath(cwd),
        )
        try:
            out, err = await proc.communicate(prep.stdin)
        except BaseException:
            if proc.returncode is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
                await asyncio.shield(proc.wait())
            raise
        assert proc.returncode is not None
        return _envelope(proc.returncode, out, err, check)
    finally:
        prep.cleanup()


def run_sync(
    file: Union[str, "os.PathLike[str]"],
    args: Optional[Iterable[Any]] = None,
    *,
    task_name: Optional[str] = None,
    mounts: Optional[Mounts] = None,
    timeout: Optional[Duration] = None,
    cwd: Optional[Union[str, "os.PathLike[str]"]] = None,
    compute: Optional[Compute] = None,
    ram: Optional[Size] = None,
    max_retries: Optional[int] = None,
    allowed_files: Optional[Mounts] = None,
    allowed_hosts: Optional[Sequence[str]] = None,
    env_variables: Optional[EnvVariables] = None,
    stdin: Optional[Union[str, bytes]] = None,
    max_output: Optional[Size] = None,
    code_mounts: Optional[Mounts] = None,
    journal: bool = True,
    check: bool = False,
    capsule_bin: Optional[Union[str, "os.PathLike[str]"]] = None,
) -> Envelope:
    """``run()`` for plain (non-async) code: the same parameters, result and exceptions. Safe to
    call from any thread, including one that runs an event loop (it does not use asyncio)."""
    prep = _prepare(file, args, task_name=task_name, stdin=stdin, max_output=max_output,
                    journal=journal, capsule_bin=capsule_bin, code_mounts=code_mounts,
                    policy=dict(compute=compute, ram=ram, timeout=timeout,
                                max_retries=max_retries, mounts=mounts,
                                allowed_files=allowed_files, allowed_hosts=allowed_hosts,
                                env_variables=env_variables))
    try:
        p = subprocess.run(
            prep.argv,
            input=prep.stdin,
            stdin=None if prep.stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            cwd=None if cwd is None else os.fspath(cwd),
        )
        return _envelope(p.returncode, p.stdout, p.stderr, check)
    finally:
        prep.cleanup()
