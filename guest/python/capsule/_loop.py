# SPDX-License-Identifier: Apache-2.0
"""An asyncio event loop that needs no sockets, for `async def` tasks inside the sandbox.

asyncio's default loop on Unix-like systems makes a self-pipe with socket.socketpair(), which
WASI does not have, so asyncio.run() fails there. A Capsule guest has no sockets or pipes to
wait on at all: every await ends in a timer (asyncio.sleep, wait_for, call_later) or in
another coroutine. This loop keeps asyncio's scheduler (BaseEventLoop: tasks, futures, timers)
and replaces the selector by a sleep until the next timer. install() makes it the loop that
asyncio.run() and asyncio.new_event_loop() create."""

import asyncio
import time

__all__ = ["CapsuleEventLoop", "CapsuleEventLoopPolicy", "install", "run"]


class _NoIOSelector:
    """The selector interface BaseEventLoop._run_once calls: select(timeout) sleeps."""

    def select(self, timeout=None):
        if timeout is None:
            # Nothing is ready and no timer is due: with no I/O sources nothing can ever
            # wake the loop, so waiting would hang until the task's deadline.
            raise RuntimeError(
                "event loop deadlock: every task is waiting and no timer is scheduled "
                "(there is no I/O to wait for inside a Capsule task)"
            )
        if timeout > 0:
            time.sleep(timeout)
        return []

    def close(self):
        pass


class CapsuleEventLoop(asyncio.BaseEventLoop):
    """BaseEventLoop with a timer-only 'selector'. I/O methods raise NotImplementedError
    (BaseEventLoop's behaviour); threads (run_in_executor) are unavailable on WASI."""

    def __init__(self):
        super().__init__()
        self._selector = _NoIOSelector()

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        # Only needed to wake a loop blocked in select() from another thread: none here.
        pass

    def close(self):
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        self._selector = None


class CapsuleEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = CapsuleEventLoop

    def new_event_loop(self):
        return CapsuleEventLoop()


_installed = False


def install():
    """Makes asyncio.run()/new_event_loop() use CapsuleEventLoop (idempotent)."""
    global _installed
    if not _installed:
        asyncio.set_event_loop_policy(CapsuleEventLoopPolicy())
        _installed = True


def run(coro):
    """Runs a coroutine to completion on a fresh CapsuleEventLoop."""
    with asyncio.Runner(loop_factory=CapsuleEventLoop) as runner:
        return runner.run(coro)
