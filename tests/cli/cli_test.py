#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the task commands: the real `capsule` CLI on real C guests.

Usage: cli_test.py --capsule PATH --guests DIR CASE
Each case runs in a fresh temporary project directory (the current directory of every capsule
call, so .capsule/journal.db and capsule.toml live there). The guest task.wasm dispatches on the
task name (`capsule run --task NAME`); see tests/cli/guests/task.c.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CAPSULE = None
GUESTS = None
TASK = None


class Failure(Exception):
    pass


def check(cond, what, *context):
    if not cond:
        raise Failure(what + "".join("\n  " + str(c) for c in context))


def run(*args, env=None, stdin=None, timeout=120):
    """Runs capsule with args; returns (exit code, stdout, stderr, seconds)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    t0 = time.monotonic()
    p = subprocess.run([CAPSULE, *args], input=stdin, capture_output=True, text=True, env=e,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def run_json(*args, expect_rc=None, **kw):
    """Runs `capsule run --json ...` and returns the envelope (the last stdout line)."""
    rc, out, err, secs = run("run", "--json", *args, **kw)
    lines = out.strip().splitlines()
    check(lines, "no envelope on stdout", f"rc={rc}", err)
    env = json.loads(lines[-1])
    for key in ("success", "result", "error", "execution", "stdout", "stderr", "task_id"):
        check(key in env, f"envelope lacks {key}", env)
    for key in ("task_name", "duration_ms", "retries", "fuel_consumed", "ram_used"):
        check(key in env["execution"], f"execution lacks {key}", env)
    if expect_rc is not None:
        check(rc == expect_rc, f"exit code {rc}, expected {expect_rc}", err, env)
    check(rc == (0 if env["success"] else 1), f"exit code {rc} disagrees with the envelope", env)
    env["_secs"] = secs
    env["_stderr"] = err
    return env


def expect_error(env, error_type, message_part=None):
    check(env["success"] is False and env["result"] is None, "expected a failure", env)
    check(env["error"]["error_type"] == error_type,
          f"error_type {env['error']['error_type']!r}, expected {error_type!r}", env)
    if message_part is not None:
        check(message_part in env["error"]["message"],
              f"message {env['error']['message']!r} lacks {message_part!r}", env)


def ps_json(*args):
    rc, out, err, _ = run("ps", "--json", *args)
    check(rc == 0, "capsule ps failed", err)
    return json.loads(out)


def logs_json(task_id):
    rc, out, err, _ = run("logs", "--json", str(task_id))
    check(rc == 0, "capsule logs failed", err)
    return json.loads(out)


def policy_of(task_id):
    pol = logs_json(task_id)["policy"]
    return json.loads(pol) if isinstance(pol, str) else pol


def write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- basic runs and the envelope

def case_hello():
    env = run_json("--task", "hello", TASK, "a", "two words")
    check(env["success"] and env["error"] is None, "hello failed", env)
    check(env["result"] == {"hello": "world", "args": ["a", "two words"]}, "wrong result", env)
    check(env["stdout"] == "hello from hello\n", "stdout not captured", env)
    check(env["stderr"] == "a line on stderr\n", "stderr not captured", env)
    check(env["stdout_truncated"] is False, "truncation flag", env)
    check(env["execution"]["task_name"] == "hello" and env["execution"]["retries"] == 0, "exec", env)
    check(env["execution"]["fuel_consumed"] > 0 and env["execution"]["ram_used"] > 0, "usage", env)
    check(isinstance(env["task_id"], int) and env["task_id"] > 0, "task id", env)
    # Without --json: the guest's output streams through and the result is printed.
    rc, out, err, _ = run("run", TASK, "x")
    check(rc == 0, "plain run failed", err)
    check(out == 'hello from main\n{"hello": "world", "args": ["x"]}\n', "plain output", out)
    check("a line on stderr" in err, "stderr not streamed", err)
    # --verbose: lifecycle lines on stderr; --json keeps stdout to the envelope only.
    env = run_json("--verbose", TASK)
    for word in ("created", "running (attempt 1 of 1)", "completed"):
        check(word in env["_stderr"], f"--verbose lacks {word!r}", env["_stderr"])


def case_args_file():
    write("args.json", '[1, {"k": [true, null]}, "s"]')
    env = run_json("--args-file", "args.json", TASK)
    check(env["result"]["args"] == [1, {"k": [True, None]}, "s"], "args-file", env)
    write("bad.json", '{"not": "an array"}')
    rc, out, err, _ = run("run", "--json", "--args-file", "bad.json", TASK)
    check(rc == 2 and "JSON array" in err, "a non-array args file is a usage error", rc, err)


def case_usage():
    for args, why in ((["run", "--bogus", TASK], "unknown option"),
                      (["run", "missing.wasm"], "No such file"),
                      (["run", "--compute", "EXTREME", TASK], "invalid compute"),
                      (["run", "--ram", "64XB", TASK], "invalid ram"),
                      (["run", "--timeout", "soon", TASK], "invalid timeout"),
                      (["run"], "entrypoint"),
                      (["ps", "--status", "sleeping"], "status"),
                      (["logs", "abc"], "not a run id")):
        rc, out, err, _ = run(*args)
        check(rc == 2, f"{args}: exit {rc}, expected 2", err)
        check(why in err, f"{args}: stderr lacks {why!r}", err)
    write("notwasm.txt", "print('hi')\n")
    rc, out, err, _ = run("run", "notwasm.txt")
    check(rc == 2 and "not a WebAssembly module" in err, "a non-module file", rc, err)
    for cmd in ("run", "ps", "logs", "worker"):
        rc, out, err, _ = run(cmd, "--help")
        check(rc == 0 and "Usage" in out, f"{cmd} --help", out, err)


def case_invalid_module():
    with open("junk.wasm", "wb") as f:
        f.write(b"\0asm\x01\0\0\0\x05garbage")
    env = run_json("junk.wasm", expect_rc=1)
    expect_error(env, "invalid_module")


# ---------------------------------------------------------------- limits

def case_fuel():
    env = run_json("--task", "spin", "--compute", "1000000", TASK, expect_rc=1)
    expect_error(env, "out_of_fuel", "out of fuel after 1000000 units")
    check(env["execution"]["fuel_consumed"] <= 1000000, "fuel over the limit", env)
    env = run_json("--task", "spin", "--fuel", "2000000", TASK)  # the older alias
    expect_error(env, "out_of_fuel", "out of fuel after 2000000 units")


def case_timeout_spin():
    env = run_json("--task", "spin", "--timeout", "300ms", TASK, expect_rc=1)
    expect_error(env, "timeout", "timeout after 300ms")
    # No wall-clock bound here: without pre-emption the spin would end by fuel (out_of_fuel).


def case_sleep_timeout():
    env = run_json("--task", "sleep", "--timeout", "300ms", TASK, expect_rc=1)
    expect_error(env, "timeout", "timeout after 300ms")
    check(env["stdout"] == "sleeping\n", "output before the timeout is kept", env)
    # No wall-clock bound: an unstopped sleep(3600) would hit the subprocess timeout and fail.


def case_memory_limit():
    big = os.path.join(GUESTS, "bigmem_guest.wasm")
    env = run_json("--ram", "64MB", big, expect_rc=1)
    expect_error(env, "memory_limit", "memory limit of 64MB exceeded")
    # A guest that grows memory until refused sees an allocation failure, never more than ram.
    env = run_json("--task", "bomb", "--ram", "16MB", TASK)
    check(env["success"], "the bomb should end by itself", env)
    check(env["result"]["allocated_mb"] < 16, "allocated past the cap", env)
    check(env["execution"]["ram_used"] <= 16 << 20, "ram_used over the cap", env)
    # The same module runs when its ram allows it.
    env = run_json("--ram", "512MB", big)
    check(env["success"], "bigmem under 512MB", env)


def case_recursion():
    env = run_json("--task", "recurse", TASK, expect_rc=1)
    expect_error(env, "trap", "call stack exhausted")


def case_exit_and_task_error():
    env = run_json("--task", "exit3", TASK, expect_rc=1)
    expect_error(env, "exit", "exited with code 3")
    check(env["execution"].get("exit_code") == 3, "exit_code", env)
    check(env["stdout"] == "exiting with 3\n", "stdout of a failed task", env)
    env = run_json("--task", "fail", TASK, expect_rc=1)
    # The guest claimed out_of_fuel: a guest reports only task_error; extra fields are kept.
    expect_error(env, "task_error", "boom")
    check(env["error"].get("exception") == "ValueError", "extra error fields", env)
    rc, out, err, _ = run("run", "--task", "fail", TASK)
    check(rc == 1 and "capsule: task_error: boom" in err, "plain failure line", rc, err)


def case_retries():
    env = run_json("--task", "fail", "--max-retries", "2", TASK, expect_rc=1)
    check(env["execution"]["retries"] == 2, "retries made", env)
    check(logs_json(env["task_id"])["attempts"] == 3, "journal attempts", logs_json(env["task_id"]))
    env = run_json("--task", "exit3", "--max-retries", "1", TASK, expect_rc=1)
    check(env["execution"]["retries"] == 1, "retries of an exit", env)
    env = run_json("--task", "spin", "--compute", "100000", "--max-retries", "3", TASK)
    check(env["execution"]["retries"] == 3, "retries of out_of_fuel", env)
    env = run_json("--max-retries", "3", TASK)
    check(env["success"] and env["execution"]["retries"] == 0, "no retry after success", env)
    with open("junk.wasm", "wb") as f:
        f.write(b"\0asm\x01\0\0\0\x05garbage")
    env = run_json("--max-retries", "3", "junk.wasm")
    check(env["execution"]["retries"] == 0, "an invalid module is not retried", env)


# ---------------------------------------------------------------- the guest ABI

def case_abi():
    env = run_json("--task", "log", TASK)
    check(env["result"] == {"abi": 1, "bad_level": -2, "fault": -1, "rfault": -1, "rbad": -2,
                            "rdbad": -3}, "ABI return codes", env)
    logs = logs_json(env["task_id"])
    text = json.dumps(logs)
    check("first line" in text and "second line" in text, "log lines in the journal", logs)
    rc, out, err, _ = run("logs", str(env["task_id"]))
    check(rc == 0 and "first line" in out, "text logs", out)


def case_env_and_mounts():
    write(".env", "SECRET=from-dotenv\nOTHER=never\n")
    env = run_json("--task", "env", "--env", "SECRET", TASK)
    check(env["result"] == {"SECRET": "from-dotenv", "OTHER": "(unset)"}, ".env value", env)
    env = run_json("--task", "env", "--env", "SECRET=explicit", TASK)
    check(env["result"]["SECRET"] == "explicit", "explicit value", env)
    env = run_json("--task", "env", TASK, env={"SECRET": "x"})
    check(env["result"]["SECRET"] == "(unset)", "an env var never granted leaked", env)
    os.makedirs("data")
    os.makedirs("secret")
    write("data/in.txt", "hi\n")
    write("secret/secret.txt", "no\n")
    os.symlink("../secret", "data/link")
    env = run_json("--task", "readfile", "--mount", "./data", TASK)
    check(env["result"] == {"in": "ok", "via_link": False, "write": False}, "ro mount", env)
    env = run_json("--task", "readfile", "--mount", "./data:rw", TASK)
    check(env["result"]["write"] is True and os.path.exists("data/new.txt"), "rw mount", env)


# ---------------------------------------------------------------- sub-tasks

def parent(requests, *flags, expect_rc=None, env=None):
    write("req.json", json.dumps(requests))
    return run_json("--task", "parent", "--args-file", "req.json", *flags, TASK,
                    expect_rc=expect_rc, env=env)


def child_rows(parent_id):
    runs = ps_json("--all", "-n", "1000")
    return sorted((r for r in runs if r.get("parent_id") == parent_id), key=lambda r: r["id"])


def case_subtasks():
    env = parent([{"task_name": "hello", "args": ["x"]},
                  {"task_name": "exit3"},
                  {"task_name": "spin", "policy": {"compute": "1000000"}},
                  {"task_name": "sleep", "policy": {"timeout": "200ms"}},
                  {"task_name": "bomb", "policy": {"ram": "8MB"}},
                  {"task_name": "fail", "policy": {"max_retries": 1}}],
                 "--compute", "LOW", "--ram", "32MB", "--max-retries", "2")
    check(env["success"], "parent failed", env)
    kids = env["result"]
    check(len(kids) == 6, "six envelopes", env)
    check(kids[0]["success"] and kids[0]["result"]["args"] == ["x"], "child result", kids[0])
    check(kids[0]["stdout"] == "hello from hello\n", "child stdout in its envelope", kids[0])
    check(env["stdout"] == "", "a child's output is not the parent's", env)
    expect_error(kids[1], "exit", "exited with code 3")
    expect_error(kids[2], "out_of_fuel", "out of fuel after 1000000 units")
    expect_error(kids[3], "timeout", "timeout after 200ms")
    check(kids[4]["success"] and kids[4]["result"]["allocated_mb"] < 8, "child ram", kids[4])
    expect_error(kids[5], "task_error", "boom")
    check(kids[5]["execution"]["retries"] == 1, "child retries", kids[5])
    # Each sub-task has its own journal row under the parent.
    rows = child_rows(env["task_id"])
    check([r["task_name"] for r in rows] == ["hello", "exit3", "spin", "sleep", "bomb", "fail"],
          "journal children", rows)
    check([r["status"] for r in rows] ==
          ["completed", "failed", "failed", "failed", "completed", "failed"], "statuses", rows)
    # The parent's fuel includes its children's.
    check(env["execution"]["fuel_consumed"] >= sum(k["execution"]["fuel_consumed"] for k in kids),
          "children's fuel is charged to the parent", env)


def case_subtask_clipping():
    # A child asking for more compute, ram and time than its parent gets at most what is left.
    env = parent([{"task_name": "hello", "policy": {"compute": "HIGH", "ram": "1GB",
                                                    "timeout": "1h", "max_retries": 50}},
                  {"task_name": "bomb", "policy": {"ram": "1GB"}}],
                 "--compute", "LOW", "--ram", "16MB", "--timeout", "20s")
    check(env["success"], "parent failed", env)
    rows = child_rows(env["task_id"])
    pol = policy_of(rows[0]["id"])
    check(pol["compute"] <= 100000000, "compute not clipped", pol)
    check(pol["ram"] <= 16 << 20, "ram not clipped", pol)
    check(pol["max_retries"] == 0, "max_retries not clipped", pol)
    check(pol["timeout"].endswith("ms") or pol["timeout"] in ("20s", "19s"), "timeout", pol)
    check(env["result"][1]["result"]["allocated_mb"] < 16, "child ram beyond the parent's",
          env["result"][1])
    # A parent that uses all of its ram leaves none to a child, however much it asks for.
    env = run_json("--task", "hog_then_child", "--ram", "8MB", TASK)
    check(env["success"], "hog_then_child failed", env)
    # (The parent has no memory left for the response either: the call says ENOMEM.)
    check(env["stdout"] == "ENOMEM\n", "the response needs ram the parent no longer has", env)
    rows = child_rows(env["task_id"])
    check(len(rows) == 1 and rows[0]["error_type"] == "memory_limit", "child with no ram", rows)
    # A child that spins with HIGH compute is stopped within what the parent had left, and the
    # parent cannot outspend its own compute through it.
    env = parent([{"task_name": "spin", "policy": {"compute": "HIGH"}}], "--compute", "20000000",
                 expect_rc=1)
    expect_error(env, "out_of_fuel", "out of fuel after 20000000 units")
    check(env["execution"]["fuel_consumed"] <= 20000000, "parent overspent", env)
    rows = child_rows(env["task_id"])
    check(rows and rows[0]["error_type"] == "out_of_fuel", "child row", rows)
    check(rows[0]["fuel_consumed"] < 20000000, "child fuel not clipped", rows)
    # The parent's deadline covers its children: a child asking for an hour stops with it.
    t0 = time.monotonic()
    env = parent([{"task_name": "sleep", "policy": {"timeout": "1h"}}], "--timeout", "700ms",
                 expect_rc=1)
    expect_error(env, "timeout", "timeout after 700ms")
    check(time.monotonic() - t0 < 5, "the parent's deadline did not stop its child", env)
    rows = child_rows(env["task_id"])
    check(rows and rows[0]["error_type"] == "timeout", "child timed out", rows)


def case_subtask_escalation():
    os.makedirs("data/sub")
    os.makedirs("secret")
    write("data/in.txt", "hi\n")
    write("secret/secret.txt", "no\n")
    os.symlink("../secret", "data/link")
    env = parent([{"task_name": "readfile", "policy": {"allowed_files": ["./data"]}},
                  {"task_name": "readfile", "policy": {"allowed_files": ["./data:rw"]}},
                  {"task_name": "readfile", "policy": {"allowed_files": ["./secret"]}},
                  {"task_name": "readfile", "policy": {"allowed_files": ["./data/../secret"]}},
                  {"task_name": "readfile", "policy": {"allowed_files": ["./data/link::/data"]}},
                  {"task_name": "readfile", "policy": {"allowed_files": ["/"]}},
                  {"task_name": "hello", "policy": {"allowed_hosts": ["evil.com"]}},
                  {"task_name": "hello", "policy": {"allowed_hosts": ["*"]}},
                  {"task_name": "hello", "policy": {"allowed_hosts": ["api.example.com"]}},
                  {"task_name": "env", "policy": {"env_variables": ["OTHER"]}},
                  {"task_name": "env", "policy": {"env_variables": ["SECRET"]}},
                  {"task_name": "readfile", "policy": {"compute": "bogus"}}],
                 "--mount", "./data", "--allow-host", "api.example.com", "--env", "SECRET",
                 env={"SECRET": "s3", "OTHER": "o"})
    check(env["success"], "parent failed", env)
    k = env["result"]
    check(k[0]["success"] and k[0]["result"] == {"in": "ok", "via_link": False, "write": False},
          "a covered mount is granted", k[0])
    expect_error(k[1], "denied", "data:rw")
    expect_error(k[2], "denied", "secret")
    expect_error(k[3], "denied")
    expect_error(k[4], "denied", "resolves outside")
    expect_error(k[5], "denied")
    expect_error(k[6], "denied", "evil.com")
    expect_error(k[7], "denied", "*")
    check(k[8]["success"], "a covered host is granted", k[8])
    expect_error(k[9], "denied", "OTHER")
    check(k[10]["success"] and k[10]["result"] == {"SECRET": "s3", "OTHER": "(unset)"},
          "a granted env var", k[10])
    check(k[11] == {"abi_error": -2}, "a malformed policy is EINVAL", k[11])
    check(not os.path.exists("data/new.txt"), "a refused rw grant wrote a file")
    rows = child_rows(env["task_id"])
    check(sum(r["error_type"] == "denied" for r in rows) == 8, "denied rows journaled", rows)


def case_code_mount():
    # The code a guest runtime runs is mounted read-only for the task and its sub-tasks, even
    # when a sub-task asks for no files: it is the host's, not a grant of the policy.
    os.makedirs("app")
    write("app/in.txt", "code\n")
    env = parent([{"task_name": "readfile"}], "--code-mount", "./app::/data")
    check(env["success"], "parent failed", env)
    kid = env["result"][0]
    check(kid["success"] and kid["result"] == {"in": "ok", "via_link": False, "write": False},
          "the child sees the code mount, read-only", kid)
    env = run_json("--task", "readfile", TASK)
    check(env["result"]["in"] == "missing", "nothing mounted without it", env)


def case_subtask_nesting():
    env = run_json("--task", "nest", "--no-journal", TASK)
    depth = 0  # levels of sub-tasks below the top-level task
    e = env["result"]
    while e["success"]:
        e = e["result"]
        depth += 1
    check(depth == 16, f"nesting stopped at depth {depth}, expected 16", env)
    expect_error(e, "denied", "16")


def case_subtask_fanout():
    env = run_json("--task", "fanout", "--no-journal", TASK)
    check(env["result"] == {"ran": 1024, "denied": 1}, "fan-out limit", env)


# ---------------------------------------------------------------- journal

def case_journal():
    ok = run_json(TASK, "1")
    bad = run_json("--task", "exit3", TASK, expect_rc=1)
    runs = ps_json()
    by_id = {r["id"]: r for r in runs}
    check(by_id[ok["task_id"]]["status"] == "completed", "completed row", runs)
    check(by_id[bad["task_id"]]["status"] == "failed", "failed row", runs)
    check(by_id[bad["task_id"]]["error_type"] == "exit", "error type", runs)
    failed = ps_json("--status", "failed")
    check([r["id"] for r in failed] == [bad["task_id"]], "status filter", failed)
    named = ps_json("--task", "exit3")
    check([r["id"] for r in named] == [bad["task_id"]], "task filter", named)
    log = logs_json(ok["task_id"])
    check("hello from main" in json.dumps(log), "captured stdout in logs", log)
    rc, out, err, _ = run("ps")
    check(rc == 0 and "completed" in out and "failed" in out, "text ps", out)
    rc, out, err, _ = run("logs", "999999")
    check(rc != 0 and "no run" in err, "logs of a missing id", rc, err)


def case_journal_sigkill():
    p = subprocess.Popen([CAPSULE, "run", "--task", "sleep", "--timeout", "1h", TASK],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        running = []
        while time.monotonic() < deadline and not running:
            time.sleep(0.1)
            if os.path.exists(".capsule/journal.db"):
                running = ps_json("--status", "running")
        check(running, "the run never showed as running")
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    runs = ps_json()  # opening the journal repairs it
    check(runs and runs[0]["status"] == "lost", "a killed run is lost", runs)
    log = logs_json(runs[0]["id"])
    check("ended before it finished" in json.dumps(log), "lost message", log)


# ---------------------------------------------------------------- capsule.toml

def case_toml():
    shutil.copy(TASK, "app.wasm")
    write("capsule.toml", '[workflow]\nname = "demo"\nentrypoint = "app.wasm"\n\n'
                          '[tasks]\ndefault_compute = "LOW"\ndefault_ram = "32MB"\n'
                          'default_max_retries = 1\n')
    env = run_json("--task", "fail")
    check(env["execution"]["retries"] == 1, "default_max_retries", env)
    pol = policy_of(env["task_id"])
    check(pol["compute"] == 100000000 and pol["ram"] == 32 << 20, "defaults applied", pol)
    env = run_json("--task", "fail", "--max-retries", "0", "--compute", "HIGH")
    check(env["execution"]["retries"] == 0, "a flag beats the default", env)
    pol = policy_of(env["task_id"])
    check(pol["compute"] == 50000000000, "compute flag", pol)
    for text, where, what in (
            ('[workflow]\nname = "x"\n\n[tasks]\ndefault_compte = "LOW"\n', ":5:", "default_compute"),
            ('[workflow]\nentrypoint = "app.wasm"\n[tasks]\ndefault_ram = "64XB"\n', ":4:", "64XB"),
            ('[workflow]\nname = "unterminated\n', ":2:", ""),
            ('[tasks]\ndefault_timeout = 30\n', ":2:", "default_timeout")):
        write("capsule.toml", text)
        rc, out, err, _ = run("run", "--json", TASK)
        check(rc == 2, f"exit {rc} for a bad capsule.toml", text, err)
        check("capsule.toml" + where in err and what in err, "error location", text, err)
        check(out == "", "no envelope for a configuration error", out)


# ---------------------------------------------------------------- worker

def case_worker():
    reqs = [{"id": i, "file": TASK, "task_name": "sleep", "policy": {"timeout": "600ms"}}
            for i in range(2)]
    reqs += [{"id": 10 + i, "file": TASK, "task_name": "hello", "args": [str(i)]}
             for i in range(20)]
    reqs += [{"id": "bad", "file": 42}, {"id": "nofile", "file": "missing.wasm"},
             {"id": "badpol", "file": TASK, "policy": {"ram": "lots"}}]
    text = "".join(json.dumps(r) + "\n" for r in reqs) + "not json\n"
    t0 = time.monotonic()
    p = subprocess.run([CAPSULE, "worker", "--threads", "4"], input=text, capture_output=True,
                       text=True, timeout=120)
    secs = time.monotonic() - t0
    check(p.returncode == 0, "worker exit code", p.returncode, p.stderr)
    resp = [json.loads(line) for line in p.stdout.splitlines()]
    check(len(resp) == len(reqs) + 1, "one response per request", len(resp), p.stdout[-2000:])
    by_id = {}
    for r in resp:
        by_id.setdefault(json.dumps(r.get("id")), r)
    for i in range(2):
        out = by_id[str(i)]["output"]
        expect_error(out, "timeout", "timeout after 600ms")
    for i in range(20):
        out = by_id[str(10 + i)]["output"]
        check(out["success"] and out["result"]["args"] == [str(i)], "worker result", out)
    check("error" in by_id['"bad"'] and "error" in by_id['"nofile"'], "request errors", by_id)
    check("ram" in by_id['"badpol"']["error"], "policy error", by_id['"badpol"'])
    check(any(r.get("id") is None and "error" in r for r in resp), "a non-JSON line", resp)
    # Two 600 ms sleeps occupy two of the four threads; the quick tasks queued after them run on
    # the other two, so some of their responses come first. A serial worker would answer the
    # sleeps first. (An ordering check, not a wall-clock one: the machine may be slow.)
    order = [r.get("id") for r in resp]
    first_sleep = min(order.index(0), order.index(1))
    check(any(isinstance(x, int) and x >= 10 for x in order[:first_sleep]),
          f"requests did not run concurrently (order {order}, {secs:.2f}s)", p.stderr)
    check(len(ps_json("-n", "100")) == len(reqs) - 3, "worker runs are journaled")


# ---------------------------------------------------------------- guest runtimes: .py, .ts, .js

class Skip(Exception):
    pass


SOURCE = None

ISSUE_PY = """from capsule import TaskError, task


@task(name="main", compute="LOW", ram="64MB", timeout="10s")
def main(n: str) -> dict:
    return {"squares": [square(i) for i in range(int(n))]}


@task(name="square", compute="LOW")
def square(x: int) -> int:
    return x * x


@task(name="boom")
def boom():
    return helper()


def helper():
    raise ValueError("n must be positive")


@task(name="spin", compute="LOW")
def spin():
    while True:
        pass


@task(name="parent")
def parent(catch: str):
    if catch == "yes":
        try:
            spin()
        except TaskError as e:
            return {"caught": e.error_type, "message": e.message}
    return spin()
"""

ISSUE_TS = """import { task, TaskError } from "capsule";
import { chunk } from "./util";

export const main = task({ name: "main", compute: "LOW", ram: "64MB" }, async (n: string) => {
  const parts = await Promise.all(chunk([...Array(Number(n)).keys()], 3).map(sum));
  return { parts };
});
const sum = task({ name: "sum", compute: "LOW" }, (xs: number[]) => xs.reduce((a, b) => a + b, 0));

export const boom = task({ name: "boom" }, () => { throw new RangeError("too big"); });

const spin = task({ name: "spin", compute: "LOW" }, () => { for (;;) {} });
export const parent = task({ name: "parent" }, async () => {
  try {
    await spin();
    return "no error";
  } catch (e) {
    return { caught: e instanceof TaskError ? e.errorType ?? e.error_type : String(e) };
  }
});
"""

UTIL_TS = """export function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
"""


def need_runtime(kind):
    """Points capsule at the source tree's build/python or build/js (when capsule does not find
    it next to its own build directory); skips when the runtime is not built."""
    sub, probe, script = {"python": ("python", "capsule-python.wasm", "build-python.sh"),
                          "js": ("js", "qjs-capsule.wasm", "build-quickjs.sh")}[kind]
    d = os.path.join(SOURCE, "build", sub)
    if not os.path.exists(os.path.join(d, probe)):
        raise Skip(f"the {kind} runtime is not built ({d}/{probe}): run bash scripts/{script}")
    if kind == "js" and not os.path.exists(os.path.join(SOURCE, "guest/js/node_modules/.bin/esbuild")):
        raise Skip("esbuild is not installed in guest/js: run bash scripts/build-quickjs.sh")
    os.environ["CAPSULE_PYTHON_DIR" if kind == "python" else "CAPSULE_JS_DIR"] = d


def case_py_issue():
    need_runtime("python")
    write("app/main.py", ISSUE_PY)
    rc, out, err, _ = run("run", "app/main.py", "5")
    check(rc == 0 and out == '{"squares": [0, 1, 4, 9, 16]}\n', "the issue's example", rc, out, err)
    env = run_json("app/main.py", "3", expect_rc=0)
    check(env["result"] == {"squares": [0, 1, 4]}, "envelope result", env)
    check(env["execution"]["task_name"] == "main" and env["execution"]["fuel_consumed"] > 0,
          "envelope execution", env)
    kids = child_rows(env["task_id"])
    check(len(kids) == 3, "three square sub-tasks journaled", kids)
    # Not a Python file of ours: clear errors, exit 2.
    rc, out, err, _ = run("run", "app/missing.py")
    check(rc == 2 and "missing.py" in err, "a missing file", rc, err)


def case_py_errors():
    need_runtime("python")
    write("app/main.py", ISSUE_PY)
    env = run_json("--task", "boom", "app/main.py", expect_rc=1)
    expect_error(env, "task_error", "ValueError: n must be positive")
    tb = env["error"].get("traceback", "")
    check('File "/app/main.py", line 20, in helper' in tb, "traceback names the user's line", tb)
    # A sub-task with its own limits (LOW compute) that runs out of fuel: out_of_fuel in the
    # child, a TaskError in the parent (caught, or the parent's task_error).
    env = run_json("--task", "parent", "app/main.py", "yes", expect_rc=0)
    check(env["result"]["caught"] == "out_of_fuel", "the child's out_of_fuel as TaskError", env)
    env = run_json("--task", "parent", "app/main.py", "no", expect_rc=1)
    expect_error(env, "task_error", "out_of_fuel")
    kids = child_rows(env["task_id"])
    check(kids and kids[0]["status"] == "failed", "the child failed", kids)
    rc, out, err, _ = run("run", "--no-journal", "--", "app/main.py")
    check(rc == 1 and "capsule: task_error" in err, "plain failure line", rc, out, err)


def case_js_issue():
    need_runtime("js")
    write("app/main.ts", ISSUE_TS)
    write("app/util.ts", UTIL_TS)
    rc, out, err, _ = run("run", "app/main.ts", "7")
    check(rc == 0 and out == '{"parts": [3, 12, 6]}\n', "the issue's example", rc, out, err)
    env = run_json("app/main.ts", "4", expect_rc=0)
    check(env["result"] == {"parts": [3, 3]}, "envelope result", env)
    # .js and .mjs entries too, bundled into .capsule/js/<key>/.
    write("app/plain.mjs", 'import { task } from "capsule";\n'
          'export const main = task({ name: "main" }, (a) => ({ got: a }));\n')
    shutil.copy("app/plain.mjs", "app/plain.js")
    for f in ("app/plain.mjs", "app/plain.js"):
        env = run_json(f, "x", expect_rc=0)
        check(env["result"] == {"got": "x"}, f"{f} result", env)
    check(os.path.isdir(".capsule/js") and len(os.listdir(".capsule/js")) >= 3, "bundle dirs")
    # A build error is a configuration error (exit 2) with esbuild's message.
    write("app/bad.ts", 'import "path";\n')
    rc, out, err, _ = run("run", "app/bad.ts")
    check(rc == 2 and "Could not resolve" in err, "a bundle error", rc, err)


def case_js_errors():
    need_runtime("js")
    write("app/main.ts", ISSUE_TS)
    write("app/util.ts", UTIL_TS)
    env = run_json("--task", "boom", "app/main.ts", expect_rc=1)
    expect_error(env, "task_error", "too big")
    env = run_json("--task", "parent", "app/main.ts", expect_rc=0)
    check(env["result"] == {"caught": "out_of_fuel"}, "the child's out_of_fuel as TaskError", env)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    global CAPSULE, GUESTS, TASK, SOURCE
    ap = argparse.ArgumentParser()
    ap.add_argument("--capsule", required=True)
    ap.add_argument("--source", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--guests", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    a = ap.parse_args()
    CAPSULE = os.path.abspath(a.capsule)
    GUESTS = os.path.abspath(a.guests)
    TASK = os.path.join(GUESTS, "task_guest.wasm")
    SOURCE = os.path.abspath(a.source)
    tmp = tempfile.mkdtemp(prefix="capsule-cli-")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        CASES[a.case]()
    except Failure as f:
        print(f"FAIL cli.{a.case}: {f}")
        return 1
    except Skip as s:
        print(f"SKIP cli.{a.case}: {s}")
        return 77
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ok cli.{a.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
