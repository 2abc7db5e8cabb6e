# SPDX-License-Identifier: Apache-2.0
"""run() and run_sync(): one `capsule run --json` process per task, on the real binary."""
import asyncio
import json
import os
import tempfile
import time

import pytest

import capsule
from capsule import _client


def test_run_success_envelope(capsule_bin, guest, project):
    env = asyncio.run(capsule.run(file=guest, args=["a", "two words"], task_name="echo"))
    assert env["success"] is True and env["error"] is None
    assert env["result"]["args"] == ["a", "two words"]
    assert env["result"]["task_name"] == "echo"
    assert env["stdout"] == "hello from echo\n"
    ex = env["execution"]
    assert ex["task_name"] == "echo" and ex["retries"] == 0
    assert ex["fuel_consumed"] > 0 and ex["ram_used"] > 0 and ex["duration_ms"] >= 0
    assert isinstance(env["task_id"], int)
    assert os.path.exists(project / ".capsule" / "journal.db")  # journaled in the project


def test_run_sync_default_task_is_main(capsule_bin, guest, project):
    env = capsule.run_sync(guest, ["x"])
    assert env["success"] and env["result"]["task_name"] == "main"
    assert capsule.unwrap(env)["args"] == ["x"]


def test_task_error(capsule_bin, guest, project):
    env = capsule.run_sync(guest, task_name="fail")
    assert env["success"] is False and env["result"] is None
    assert env["error"]["error_type"] == "task_error"
    assert env["error"]["message"] == "ValueError: bad input"
    assert env["error"]["exception"] == "ValueError"
    assert env["stderr"] == "about to fail\n"
    with pytest.raises(capsule.TaskError) as ei:
        capsule.unwrap(env)
    assert ei.value.error_type == "task_error" and ei.value.message == "ValueError: bad input"
    assert ei.value.error["exception"] == "ValueError" and ei.value.envelope is not env
    with pytest.raises(capsule.TaskFailed) as ei:  # the alias, and check=True
        asyncio.run(capsule.run(guest, task_name="fail", check=True))
    assert ei.value.envelope["execution"]["task_name"] == "fail"


def test_exit_code(capsule_bin, guest, project):
    env = capsule.run_sync(guest, task_name="exit3")
    assert env["error"]["error_type"] == "exit" and env["execution"]["exit_code"] == 3


def test_out_of_fuel(capsule_bin, guest, project):
    env = capsule.run_sync(guest, task_name="spin", compute=200_000)
    assert env["error"] == {"error_type": "out_of_fuel",
                            "message": "out of fuel after 200000 units"}
    assert env["execution"]["fuel_consumed"] <= 200_000


@pytest.mark.parametrize("timeout,text", [(0.3, "300ms"), ("250ms", "250ms")])
def test_timeout(capsule_bin, guest, project, timeout, text):
    t0 = time.monotonic()
    env = asyncio.run(capsule.run(guest, task_name="spin", timeout=timeout, compute="HIGH"))
    assert env["error"]["error_type"] == "timeout"
    assert env["error"]["message"] == f"timeout after {text}"
    assert time.monotonic() - t0 < 10


def test_retries_counted(capsule_bin, guest, project):
    env = capsule.run_sync(guest, task_name="fail", max_retries=2)
    assert env["execution"]["retries"] == 2


UNICODE = ["héllo", "日本語", "emoji 🎉🐍", "עברית", "e\u0301", "", " spaced ", "line\nbreak",
           "--json", "-", "--", "quote \" and \\ backslash", "tab\there"]


def test_unicode_args_on_the_command_line(capsule_bin, guest, project):
    prep = _client._prepare(guest, UNICODE, task_name="echo", stdin=None, max_output=None,
                            journal=True, capsule_bin=None, policy={})
    assert "--args-file" not in prep.argv  # small string args go on the command line
    env = capsule.run_sync(guest, UNICODE, task_name="echo")
    assert env["result"]["args"] == UNICODE


def test_json_args_go_through_args_file(capsule_bin, guest, project):
    args = [1, 2.5, None, True, {"k": ["v", {"ü": 1}]}, "s"]
    env = asyncio.run(capsule.run(guest, args, task_name="echo"))
    assert env["result"]["args"] == args


def test_large_payload_args_file(capsule_bin, guest, project, tmp_path, monkeypatch):
    # A private temporary directory: other tests running at the same time (ctest -j) make their
    # own capsule-args-* directories in the shared one, which the leak check would count.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    before = {d for d in os.listdir(tempfile.gettempdir()) if d.startswith("capsule-args-")}
    big = "ü" * 1_500_000 + "🎉"  # 3 MB of UTF-8: far beyond one command-line argument
    many = [f"arg {i}" for i in range(20_000)]
    prep = _client._prepare(guest, [big], task_name="echo", stdin=None, max_output=None,
                            journal=True, capsule_bin=None, policy={})
    assert "--args-file" in prep.argv
    args_path = prep.argv[prep.argv.index("--args-file") + 1]
    assert json.load(open(args_path, encoding="utf-8")) == [big]
    prep.cleanup()
    assert not os.path.exists(args_path)  # the temporary file is removed
    env = capsule.run_sync(guest, [big, "tail"], task_name="echo")
    assert env["success"] and env["result"]["args"] == [big, "tail"]
    env = asyncio.run(capsule.run(guest, many, task_name="echo"))
    assert env["result"]["args"] == many
    after = {d for d in os.listdir(tempfile.gettempdir()) if d.startswith("capsule-args-")}
    assert after <= before  # every run removed its --args-file


def test_stdin(capsule_bin, guest, project):
    env = capsule.run_sync(guest, task_name="cat", stdin="über\n")
    assert env["stdout"] == "über\n"
    env = asyncio.run(capsule.run(guest, task_name="cat", stdin=b"bytes"))
    assert env["stdout"] == "bytes"
    env = capsule.run_sync(guest, task_name="cat")  # no stdin: empty, never the caller's
    assert env["stdout"] == ""


def test_mounts_and_cwd(capsule_bin, guest, tmp_path):
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "in.txt").write_text("from the host")
    env = capsule.run_sync(guest, task_name="readfile", cwd=proj, mounts=["./data::/data:ro"])
    assert env["result"] == {"found": True, "text": "from the host"}
    env = asyncio.run(capsule.run(guest, task_name="readfile", cwd=proj))
    assert env["result"] == {"found": False}  # no grant, no file
    assert (proj / ".capsule").is_dir()  # cwd is the project: the journal is there


def test_env_variables(capsule_bin, guest, project, monkeypatch):
    env = capsule.run_sync(guest, task_name="env", env_variables={"GREETING": "hallo"})
    assert env["result"] == {"GREETING": "hallo"}
    monkeypatch.setenv("GREETING", "from the environment")
    env = capsule.run_sync(guest, task_name="env", env_variables=["GREETING"])
    assert env["result"] == {"GREETING": "from the environment"}
    env = capsule.run_sync(guest, task_name="env")  # not granted: not visible
    assert env["result"] == {"GREETING": None}


def test_usage_errors_raise_capsule_error(capsule_bin, guest, project):
    with pytest.raises(capsule.CapsuleError) as ei:
        capsule.run_sync(guest, ram="lots")
    assert ei.value.exit_code == 2 and "ram" in str(ei.value) and "lots" in str(ei.value)
    with pytest.raises(capsule.CapsuleError) as ei:
        asyncio.run(capsule.run("missing.wasm"))
    assert ei.value.exit_code == 2 and "missing.wasm" in str(ei.value)
    with pytest.raises(TypeError):
        capsule.run_sync(guest, "not a list")
    with pytest.raises(ValueError):
        capsule.run_sync(guest, timeout=-1)


def test_capsule_not_found(guest, project, monkeypatch):
    monkeypatch.setenv("CAPSULE_BIN", str(project / "no-such-capsule"))
    with pytest.raises(capsule.CapsuleNotFound, match="CAPSULE_BIN"):
        capsule.run_sync(guest)
    monkeypatch.delenv("CAPSULE_BIN")
    monkeypatch.setenv("PATH", str(project))
    with pytest.raises(capsule.CapsuleNotFound) as ei:
        asyncio.run(capsule.run(guest))
    assert "PATH" in str(ei.value) and "CAPSULE_BIN" in str(ei.value)
    assert isinstance(ei.value, capsule.CapsuleError)


def test_capsule_bin_argument(capsule_bin, guest, project, monkeypatch):
    monkeypatch.delenv("CAPSULE_BIN")
    monkeypatch.setenv("PATH", str(project))
    env = capsule.run_sync(guest, capsule_bin=capsule_bin)
    assert env["success"]
    assert capsule.find_capsule(capsule_bin) == capsule_bin


def test_concurrent_runs(capsule_bin, guest, project):
    async def many():
        return await asyncio.gather(*(capsule.run(guest, [str(i)], task_name="echo")
                                      for i in range(16)))

    envs = asyncio.run(many())
    assert [e["result"]["args"] for e in envs] == [[str(i)] for i in range(16)]


def test_cancel_kills_the_process(capsule_bin, guest, project, monkeypatch):
    procs = []
    real = asyncio.create_subprocess_exec

    async def spy(*a, **kw):
        p = await real(*a, **kw)
        procs.append(p)
        return p

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)

    async def cancelled():
        t = asyncio.ensure_future(capsule.run(guest, task_name="sleep", timeout="60s"))
        await asyncio.sleep(0.5)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    t0 = time.monotonic()
    asyncio.run(cancelled())
    assert time.monotonic() - t0 < 10
    assert len(procs) == 1 and procs[0].returncode is not None


def test_run_sync_inside_an_event_loop(capsule_bin, guest, project):
    async def inside():
        return capsule.run_sync(guest, ["in loop"], task_name="echo")

    assert asyncio.run(inside())["result"]["args"] == ["in loop"]


def test_envelope_fields_are_typed(capsule_bin, guest, project):
    env: capsule.Envelope = capsule.run_sync(guest)
    assert set(capsule.Envelope.__required_keys__) <= set(env)
    assert set(capsule.Execution.__required_keys__) <= set(env["execution"])
    assert "task_error" in capsule.ERROR_TYPES
