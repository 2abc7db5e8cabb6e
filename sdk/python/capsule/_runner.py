# SPDX-License-Identifier: Apache-2.0
"""Many tasks per second: ``Runner`` keeps one ``capsule worker`` process and talks JSON lines
to it (docs/tasks.md): ``{"id", "file", "args", "kwargs", "task_name", "mounts", "policy"}`` in,
``{"id", "output": <envelope>}`` or ``{"id", "error": "..."}`` out, in completion order.

One reader thread per worker process routes each response to the ``concurrent.futures.Future``
of its request, so the same Runner serves threads (``run_sync``) and any number of asyncio event
loops (``run``) at once. A worker that dies fails the requests it held (they may or may not have
run: they are never re-sent) and the next request starts a new one."""

import asyncio
import collections
import concurrent.futures
import itertools
import json
import os
import subprocess
import threading
import weakref
from typing import Any, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from ._client import (
    CapsuleError,
    TaskError,
    _args_list,
    _env_pairs,
    _str_list,
    duration_text,
    find_capsule,
    policy_flags,
)
from ._types import Compute, Duration, EnvVariables, Envelope, Mounts, Size

__all__ = ["Runner"]

_STDERR_TAIL = 40  # lines of the worker's stderr kept for error messages


class _Worker:
    """One ``capsule worker`` process, its pending requests and its reader threads."""

    def __init__(self, argv: List[str], cwd: str, env: Optional[Dict[str, str]]):
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        self.pending: Dict[int, "concurrent.futures.Future[Envelope]"] = {}
        self.lock = threading.Lock()  # guards pending and dead
        self.dead = False
        self.stderr_tail: Deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self.reader = threading.Thread(target=self._read, name=f"capsule-worker-{self.proc.pid}",
                                       daemon=True)
        self.err_reader = threading.Thread(target=self._read_stderr, daemon=True,
                                           name=f"capsule-worker-{self.proc.pid}-stderr")
        self.reader.start()
        self.err_reader.start()

    @property
    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None

    def add(self, rid: int, fut: "concurrent.futures.Future[Envelope]") -> bool:
        with self.lock:
            if self.dead:
                return False
            self.pending[rid] = fut
            return True

    def forget(self, rid: int) -> None:
        with self.lock:
            self.pending.pop(rid, None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
                rid = msg["id"]
            except (ValueError, KeyError, TypeError):
                continue  # not ours (a worker prints only responses; be lenient)
            with self.lock:
                fut = self.pending.pop(rid, None) if isinstance(rid, int) else None
            if fut is None or fut.done():
                continue  # abandoned (the caller stopped waiting) or unknown
            try:
                if "output" in msg and isinstance(msg["output"], dict):
                    fut.set_result(msg["output"])
                else:
                    fut.set_exception(CapsuleError(str(msg.get("error", "invalid response"))))
            except concurrent.futures.InvalidStateError:  # cancelled meanwhile
                pass
        # End of output: the worker exited (closed by us, or killed).
        rc = self.proc.wait()
        self.err_reader.join(timeout=5)
        with self.lock:
            self.dead = True
            orphans = list(self.pending.values())
            self.pending.clear()
        if orphans:
            how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
            tail = "\n".join(self.stderr_tail)
            err = CapsuleError(
                f"the capsule worker (pid {self.proc.pid}) {how} before answering; the task may "
                f"or may not have run" + (f"; its stderr:\n{tail}" if tail else ""),
                exit_code=rc, stderr=tail)
            for fut in orphans:
                if not fut.done():
                    try:
                        fut.set_exception(err)
                    except concurrent.futures.InvalidStateError:
                        pass

    def close(self, timeout: Optional[float]) -> None:
        """Ends input (the worker answers what it holds, then exits); kills it after timeout."""
        try:
            if self.proc.stdin and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        if threading.current_thread() is not self.reader:
            self.reader.join(timeout=10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
        self.proc.wait()


def _finalize(workers: List[_Worker]) -> None:
    """Garbage collection or interpreter exit: never leave a worker process behind."""
    for w in workers:
        w.close(timeout=2)


class Runner:
    """A long-lived ``capsule worker`` process serving many tasks::

        with Runner(compute="LOW") as runner:
            env = runner.run_sync("task.wasm", ["5"])
            envs = await asyncio.gather(*(runner.run("task.wasm", [str(i)]) for i in range(100)))

    The worker is started on first use and again after it dies (``restarts`` counts the new
    starts); requests run concurrently on its thread pool and share one compiled-module cache.
    Thread-safe and asyncio-safe: call ``run_sync`` from any thread and ``run`` from any event
    loop. Close it (``close()``, ``with`` or ``async with``); a Runner that is garbage-collected
    or alive at interpreter exit closes its worker too.

    The constructor's policy options (``compute``, ``ram``, ``timeout``, ``max_retries``,
    ``mounts``, ``allowed_hosts``, ``env_variables``) become the worker's defaults, over
    capsule.toml's; each request may override them. ``env_variables`` given here may carry
    values (a mapping); per request only names can be given (their values come from the
    worker's environment, ``.env`` or this constructor).

    ``cwd`` is the project directory of the worker (capsule.toml, .env, .capsule/journal.db);
    relative task files and mounts resolve against it. Default: the current directory at
    construction. ``threads`` sets the worker's pool size (default: the number of CPUs)."""

    def __init__(
        self,
        *,
        cwd: Optional[Union[str, "os.PathLike[str]"]] = None,
        capsule_bin: Optional[Union[str, "os.PathLike[str]"]] = None,
        threads: Optional[int] = None,
        journal: bool = True,
        compute: Optional[Compute] = None,
        ram: Optional[Size] = None,
        timeout: Optional[Duration] = None,
        max_retries: Optional[int] = None,
        mounts: Optional[Mounts] = None,
        allowed_hosts: Optional[Sequence[str]] = None,
        env_variables: Optional[EnvVariables] = None,
        env: Optional[Mapping[str, str]] = None,
    ):
        exe = find_capsule(capsule_bin)
        argv = [exe, "worker"]
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError("threads must be a positive integer")
            argv += ["--threads", str(threads)]
        if not journal:
            argv.append("--no-journal")
        argv += policy_flags(compute=compute, ram=ram, timeout=timeout, max_retries=max_retries,
                             mounts=mounts, allowed_hosts=allowed_hosts,
                             env_variables=env_variables)
        self.argv: List[str] = argv
        self.cwd: str = os.path.abspath(os.fspath(cwd) if cwd is not None else os.getcwd())
        self._env = None if env is None else {**os.environ, **env}
        self._lock = threading.Lock()  # guards _worker, _closed and writes to the worker's stdin
        self._worker: Optional[_Worker] = None
        self._all: List[_Worker] = []  # every worker started, for the finalizer
        self._closed = False
        self._ids = itertools.count(1)
        self._starts = 0
        self._finalizer = weakref.finalize(self, _finalize, self._all)

    # ------------------------------------------------------------------ lifecycle

    @property
    def restarts(self) -> int:
        """How many times a worker was started again after the first one died."""
        return max(0, self._starts - 1)

    @property
    def pid(self) -> Optional[int]:
        """The process id of the current worker, or None before the first request."""
        w = self._worker
        return w.proc.pid if w is not None and w.alive else None

    @property
    def closed(self) -> bool:
        return self._closed

    def start(self) -> "Runner":
        """Starts the worker now rather than on the first request (optional)."""
        with self._lock:
            self._live_worker()
        return self

    def _live_worker(self) -> _Worker:
        if self._closed:
            raise CapsuleError("this Runner is closed")
        w = self._worker
        if w is None or not w.alive:
            try:
                w = _Worker(self.argv, self.cwd, self._env)
            except OSError as e:
                raise CapsuleError(f"cannot start {self.argv[0]} worker: {e}") from None
            self._worker = w
            self._all[:] = [x for x in self._all if x.proc.poll() is None] + [w]
            self._starts += 1
        return w

    def close(self, timeout: Optional[float] = 30) -> None:
        """Stops the worker: it answers the requests it holds, then exits; after ``timeout``
        seconds it is killed (and those requests fail with CapsuleError). Idempotent."""
        with self._lock:
            self._closed = True
            w, self._worker = self._worker, None
        if w is not None:
            w.close(timeout)
        self._finalizer.detach()

    def kill(self) -> None:
        """Kills the current worker at once (its pending requests fail with CapsuleError). The
        Runner stays usable: the next request starts a new worker."""
        with self._lock:
            w = self._worker
        if w is not None:
            w.kill()
            w.reader.join(timeout=10)

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "Runner":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.close)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid={self.pid}"
        return f"<capsule.Runner {state} restarts={self.restarts} cwd={self.cwd!r}>"

    # ------------------------------------------------------------------ requests

    def submit(
        self,
        file: Union[str, "os.PathLike[str]"],
        args: Optional[Iterable[Any]] = None,
        *,
        kwargs: Optional[Mapping[str, Any]] = None,
        task_name: Optional[str] = None,
        mounts: Optional[Mounts] = None,
        timeout: Optional[Duration] = None,
        compute: Optional[Compute] = None,
        ram: Optional[Size] = None,
        max_retries: Optional[int] = None,
        allowed_hosts: Optional[Sequence[str]] = None,
        env_variables: Optional[Sequence[str]] = None,
        code_mounts: Optional[Mounts] = None,
    ) -> "concurrent.futures.Future[Envelope]":
        """Sends one request and returns a Future of its envelope at once (``run`` and
        ``run_sync`` wait on it). The Future fails with CapsuleError when the worker refuses
        the request or dies."""
        req: Dict[str, Any] = {"file": os.fspath(file), "args": _args_list(args)}
        if kwargs is not None:
            req["kwargs"] = dict(kwargs)
        if task_name is not None:
            req["task_name"] = task_name
        m = _str_list(mounts, "mounts")
        if m:
            req["mounts"] = m
        cm = _str_list(code_mounts, "code_mounts")
        if cm:
            req["code_mounts"] = cm
        policy: Dict[str, Any] = {}
        if compute is not None:
            policy["compute"] = compute
        if ram is not None:
            policy["ram"] = ram
        if timeout is not None:
            policy["timeout"] = duration_text(timeout)
        if max_retries is not None:
            policy["max_retries"] = max_retries
        if allowed_hosts is not None:
            policy["allowed_hosts"] = _str_list(allowed_hosts, "allowed_hosts")
        if env_variables is not None:
            pairs = _env_pairs(env_variables)
            if any(v is not None for _, v in pairs):
                raise TypeError("Runner requests take env_variables as names only; give values "
                                "to Runner(env_variables={...}) or Runner(env={...})")
            policy["env_variables"] = [n for n, _ in pairs]
        if policy:
            req["policy"] = policy
        rid = next(self._ids)
        req["id"] = rid
        try:
            line = (json.dumps(req, ensure_ascii=False, allow_nan=False) + "\n").encode(
                "utf-8", "surrogatepass")
        except (TypeError, ValueError) as e:
            raise TypeError(f"args and kwargs must be JSON-serialisable: {e}") from None
        fut: "concurrent.futures.Future[Envelope]" = concurrent.futures.Future()
        with self._lock:
            for attempt in (1, 2):
                w = self._live_worker()
                if not w.add(rid, fut):
                    continue
                try:
                    assert w.proc.stdin is not None
                    w.proc.stdin.write(line)
                    w.proc.stdin.flush()
                    return fut
                except (BrokenPipeError, OSError, ValueError):
                    # The worker died before reading this line: it never saw the request, so
                    # sending it to a new worker cannot run it twice.
                    w.forget(rid)
                    w.dead = True
            raise CapsuleError("the capsule worker keeps exiting at start-up; stderr:\n"
                               + "\n".join(w.stderr_tail))

    def run_sync(
        self,
        file: Union[str, "os.PathLike[str]"],
        args: Optional[Iterable[Any]] = None,
        *,
        kwargs: Optional[Mapping[str, Any]] = None,
        task_name: Optional[str] = None,
        mounts: Optional[Mounts] = None,
        timeout: Optional[Duration] = None,
        compute: Optional[Compute] = None,
        ram: Optional[Size] = None,
        max_retries: Optional[int] = None,
        allowed_hosts: Optional[Sequence[str]] = None,
        env_variables: Optional[Sequence[str]] = None,
        code_mounts: Optional[Mounts] = None,
        check: bool = False,
        wait: Optional[float] = None,
    ) -> Envelope:
        """Runs one task through the worker and returns its envelope (blocking; any thread).
        ``check=True`` raises TaskError on failure; ``wait`` gives up (TimeoutError) after that
        many seconds, leaving the task to finish in the worker. Raises CapsuleError when the
        worker refuses the request (bad file, bad policy value) or dies."""
        fut = self.submit(file, args, kwargs=kwargs, task_name=task_name, mounts=mounts,
                          timeout=timeout, compute=compute, ram=ram, max_retries=max_retries,
                          allowed_hosts=allowed_hosts, env_variables=env_variables,
                          code_mounts=code_mounts)
        try:
            env = fut.result(timeout=wait)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"no answer from the capsule worker within {wait}s") from None
        if check and env.get("success") is not True:
            raise TaskError.from_envelope(dict(env))
        return env

    async def run(
        self,
        file: Union[str, "os.PathLike[str]"],
        args: Optional[Iterable[Any]] = None,
        *,
        kwargs: Optional[Mapping[str, Any]] = None,
        task_name: Optional[str] = None,
        mounts: Optional[Mounts] = None,
        timeout: Optional[Duration] = None,
        compute: Optional[Compute] = None,
        ram: Optional[Size] = None,
        max_retries: Optional[int] = None,
        allowed_hosts: Optional[Sequence[str]] = None,
        env_variables: Optional[Sequence[str]] = None,
        code_mounts: Optional[Mounts] = None,
        check: bool = False,
    ) -> Envelope:
        """``run_sync`` for asyncio: awaits the envelope without blocking the event loop.
        Cancelling the await abandons the answer (the task still finishes in the worker); use
        ``asyncio.wait_for`` for a host-side deadline."""
        fut = self.submit(file, args, kwargs=kwargs, task_name=task_name, mounts=mounts,
                          timeout=timeout, compute=compute, ram=ram, max_retries=max_retries,
                          allowed_hosts=allowed_hosts, env_variables=env_variables,
                          code_mounts=code_mounts)
        env = await asyncio.wrap_future(fut)
        if check and env.get("success") is not True:
            raise TaskError.from_envelope(dict(env))
        return env
