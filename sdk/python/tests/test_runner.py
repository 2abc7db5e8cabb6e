# SPDX-License-Identifier: Apache-2.0
"""Runner: many tasks through one `capsule worker` process, on the real binary."""
import asyncio
import concurrent.futures
import gc
import os
import signal
import threading
import time

import pytest

import capsule


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_success_error_and_limits(capsule_bin, guest, project):
    with capsule.Runner() as r:
        assert r.pid is None  # started lazily
        env = r.run_sync(guest, ["a"], task_name="echo", kwargs={"k": [1, "ü"]})
        assert env["success"] and env["result"]["args"] == ["a"]
        assert env["result"]["kwargs"] == {"k": [1, "ü"]}
        assert env["stdout"] == "hello from echo\n"
        env = r.run_sync(guest, task_name="fail")
        assert env["error"]["error_type"] == "task_error"
        with pytest.raises(capsule.TaskError) as ei:
            r.run_sync(guest, task_name="fail", check=True)
        assert ei.value.message == "ValueError: bad input"
        env = r.run_sync(guest, task_name="spin", compute=100_000)
        assert env["error"]["error_type"] == "out_of_fuel"
        env = r.run_sync(guest, task_name="sleep", timeout=0.3)
        assert env["error"] == {"error_type": "timeout", "message": "timeout after 300ms"}
        env = r.run_sync(guest, task_name="fail", max_retries=1)
        assert env["execution"]["retries"] == 1
        pid = r.pid
        assert pid and _alive(pid)
    assert r.closed and not _alive(pid)  # close() ends the worker


def test_defaults_from_the_constructor(capsule_bin, guest, project):
    with capsule.Runner(compute=50_000, env_variables={"GREETING": "grüß dich"}) as r:
        assert r.run_sync(guest, task_name="spin")["error"]["error_type"] == "out_of_fuel"
        # A request's policy overrides the worker's default.
        env = r.run_sync(guest, task_name="env", compute="LOW", env_variables=["GREETING"])
        assert env["result"] == {"GREETING": "grüß dich"}
        with pytest.raises(TypeError):
            r.run_sync(guest, task_name="env", env_variables={"GREETING": "x"})


def test_mounts_and_cwd(capsule_bin, guest, tmp_path):
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "in.txt").write_text("via the worker")
    with capsule.Runner(cwd=proj) as r:
        env = r.run_sync(guest, task_name="readfile", mounts=["./data::/data"])
        assert env["result"] == {"found": True, "text": "via the worker"}
        assert r.run_sync(guest, task_name="readfile")["result"] == {"found": False}
    assert (proj / ".capsule").is_dir()


def test_request_errors_raise_capsule_error(capsule_bin, guest, project):
    with capsule.Runner() as r:
        with pytest.raises(capsule.CapsuleError, match="missing.wasm"):
            r.run_sync("missing.wasm")
        with pytest.raises(capsule.CapsuleError, match="ram"):
            r.run_sync(guest, ram="lots")
        assert r.run_sync(guest)["success"]  # the worker is still fine
        assert r.restarts == 0
    with pytest.raises(capsule.CapsuleError, match="closed"):
        r.run_sync(guest)


def test_unicode_and_large_payloads(capsule_bin, guest, project):
    args = ["héllo", "日本語", "🎉", "--json", "", "a\nb", {"nested": ["ü", None, 1.5]}]
    big = "ß" * 2_000_000 + "🐍"  # 4 MB of UTF-8 on one JSON line
    with capsule.Runner() as r:
        assert r.run_sync(guest, args, task_name="echo")["result"]["args"] == args
        env = r.run_sync(guest, [big], task_name="echo")
        assert env["success"] and env["result"]["args"] == [big]


def test_many_concurrent_tasks_one_worker(capsule_bin, guest, project):
    n = 400
    with capsule.Runner(threads=4) as r:
        async def gather():
            return await asyncio.gather(*(r.run(guest, [str(i)], task_name="echo")
                                          for i in range(n)))

        t0 = time.monotonic()
        envs = asyncio.run(gather())
        secs = time.monotonic() - t0
        assert [e["result"]["args"] for e in envs] == [[str(i)] for i in range(n)]
        pid = r.pid
        # The same worker from many threads at once (run_sync) while asyncio also uses it.
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            got = list(ex.map(lambda i: r.run_sync(guest, [f"t{i}"], task_name="echo"),
                              range(n)))
        assert [e["result"]["args"] for e in got] == [[f"t{i}"] for i in range(n)]
        assert r.pid == pid and r.restarts == 0
    print(f"{n} tasks through one worker in {secs:.2f}s ({n / secs:.0f} tasks/s)")


def test_several_event_loops_share_a_runner(capsule_bin, guest, project):
    results = {}
    with capsule.Runner() as r:
        def loop_thread(k):
            async def go():
                return await asyncio.gather(*(r.run(guest, [f"{k}-{i}"], task_name="echo")
                                              for i in range(20)))

            results[k] = [e["result"]["args"][0] for e in asyncio.run(go())]

        threads = [threading.Thread(target=loop_thread, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == {k: [f"{k}-{i}" for i in range(20)] for k in range(4)}


def test_killed_worker_is_restarted(capsule_bin, guest, project):
    with capsule.Runner() as r:
        assert r.run_sync(guest)["success"]
        first = r.pid
        # Requests in flight when the worker dies fail with CapsuleError, promptly.
        sleepers = [r.submit(guest, task_name="sleep", timeout="60s") for _ in range(3)]
        time.sleep(0.3)
        os.kill(first, signal.SIGKILL)
        for f in sleepers:
            with pytest.raises(capsule.CapsuleError, match="killed by signal 9"):
                f.result(timeout=10)
        # The next request starts a new worker.
        env = r.run_sync(guest, ["again"], task_name="echo")
        assert env["result"]["args"] == ["again"]
        assert r.pid != first and r.restarts == 1
        assert not _alive(first)
        # Killed between requests (nothing in flight): also restarted, asyncio this time.
        r.kill()
        env = asyncio.run(r.run(guest, ["async"], task_name="echo"))
        assert env["result"]["args"] == ["async"] and r.restarts == 2


def test_close_waits_for_pending_requests(capsule_bin, guest, project):
    r = capsule.Runner()
    futs = [r.submit(guest, [str(i)], task_name="echo") for i in range(10)]
    pid = r.pid
    r.close()
    assert [f.result(timeout=0)["result"]["args"] for f in futs] == [[str(i)] for i in range(10)]
    assert not _alive(pid)
    r.close()  # idempotent


def test_close_kills_a_stuck_worker(capsule_bin, guest, project):
    r = capsule.Runner().start()
    fut = r.submit(guest, task_name="sleep", timeout="60s")
    pid = r.pid
    t0 = time.monotonic()
    r.close(timeout=0.5)
    assert time.monotonic() - t0 < 10 and not _alive(pid)
    with pytest.raises(capsule.CapsuleError):
        fut.result(timeout=10)


def test_garbage_collected_runner_ends_its_worker(capsule_bin, guest, project):
    r = capsule.Runner()
    r.run_sync(guest)
    pid = r.pid
    del r
    gc.collect()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_async_context_manager_and_wait(capsule_bin, guest, project):
    async def go():
        async with capsule.Runner() as r:
            env = await r.run(guest, ["ctx"], task_name="echo")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.run(guest, task_name="sleep", timeout="1s"), 0.2)
            return env, r

    env, r = asyncio.run(go())
    assert env["result"]["args"] == ["ctx"] and r.closed
    with capsule.Runner() as r2:
        with pytest.raises(TimeoutError):
            r2.run_sync(guest, task_name="sleep", timeout="1s", wait=0.2)


def test_worker_missing(guest, project, monkeypatch):
    monkeypatch.setenv("CAPSULE_BIN", str(project / "nope"))
    with pytest.raises(capsule.CapsuleNotFound):
        capsule.Runner()
