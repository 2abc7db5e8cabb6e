# SPDX-License-Identifier: Apache-2.0
"""End-to-end checks of build/python/python.wasm (scripts/build-python.sh).

    test_wasm.py node PYTHON_DIR          node's WASI + tests/python/node_guest.mjs (a harness
                                          standing in for the host side of the guest ABI)
    test_wasm.py capsule CAPSULE PYTHON_DIR   our engine: `capsule run` of plain interpreter
                                          commands (print, stdlib imports)

Exits 77 (ctest: skipped) when python.wasm has not been built or the runner is missing."""

import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "app")

COMMON_MODULES = """abc argparse array ast base64 bisect binascii calendar cmath codecs collections
colorsys contextlib copy csv dataclasses datetime decimal difflib enum fnmatch fractions functools
gc gzip hashlib heapq hmac html io ipaddress itertools json keyword linecache locale logging
math operator os pathlib pickle pprint queue random re reprlib secrets shlex statistics string
struct sys tempfile textwrap time timeit tomllib traceback types typing unicodedata urllib.parse
uuid warnings weakref xml.etree.ElementTree zipfile zlib asyncio email.message html.parser
inspect glob shutil""".split()

failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


def node_run(pydir, request, argv=None, timeout=120, wasm="python.wasm"):
    cmd = ["node", "--no-turbo-fast-api-calls", os.path.join(HERE, "node_guest.mjs"), pydir, APP,
           json.dumps(request)]
    if argv:
        cmd += ["--"] + argv
    t0 = time.monotonic()
    env = dict(os.environ, CAPSULE_WASM=wasm)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    dt = time.monotonic() - t0
    result = None
    out_lines = []
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        else:
            out_lines.append(line)
    return p.returncode, "\n".join(out_lines), p.stderr, result, dt


def run_node(pydir):
    if shutil.which("node") is None:
        print("skip: node not found")
        return 77
    code, out, err, _, dt = node_run(pydir, {}, ["-I", "-S", "-c", "print(1+1)"])
    check("node: print(1+1)", code == 0 and out.strip() == "2", f"{code} {out!r} {err[-2000:]}")
    print(f"     ({dt * 1000:.0f} ms wall, node)")
    script = (
        "import importlib, json\n"
        f"mods = {COMMON_MODULES!r}\n"
        "bad = {}\n"
        "for m in mods:\n"
        "    try: importlib.import_module(m)\n"
        "    except Exception as e: bad[m] = repr(e)\n"
        "print(json.dumps(bad))\n"
    )
    code, out, err, _, _ = node_run(pydir, {}, ["-I", "-S", "-c", script])
    bad = json.loads(out.strip().splitlines()[-1]) if code == 0 and out.strip() else {"?": err[-2000:]}
    check(f"node: {len(COMMON_MODULES)} common stdlib modules import", not bad, bad)

    cases = [
        ({"task_name": "main", "args": ["5"]}, lambda r: r == {"result": {"squares": [0, 1, 4, 9, 16]}}),
        ({"task_name": "boom", "args": []},
         lambda r: r["error_type"] == "task_error" and r["exception"] == "ValueError"
         and r["message"] == "ValueError: n must be positive"
         and 'File "/app/main.py", line 25, in helper' in r["traceback"]),
        ({"task_name": "aio", "args": ["3"]}, lambda r: r == {"result": [0, 1, 2]}),
        ({"task_name": "echo", "args": [1, "x", None, [True, 1.5]], "kwargs": {"k": {"a": []}}},
         lambda r: r["result"]["args"] == [1, "x", None, [True, 1.5]]
         and r["result"]["kwargs"] == {"k": {"a": []}}
         and r["result"]["unicode"] == "h\u00e9llo \u2603 \U0001f600"),
        ({"task_name": "catch", "args": []},
         lambda r: r["result"]["error_type"] == "task_error"
         and "n must be positive" in r["result"]["message"]),
        ({"task_name": "stdlib", "args": []},
         lambda r: r["result"]["csv"] == [["a", "b"], ["1", "2"]] and r["result"]["zlib"] is True
         and r["result"]["decimal"] == "3.3"),
        ({"task_name": "nope", "args": []}, lambda r: "no task named 'nope'" in r["message"]),
        ({"describe": True}, lambda r: r["result"]["tasks"]["main"]["ram"] == "64MB"),
    ]
    wasms = ["python.wasm"]
    if os.path.exists(os.path.join(pydir, "capsule-python.wasm")):
        wasms.append("capsule-python.wasm")
    for wasm in wasms:
        for req, ok in cases:
            code, out, err, result, dt = node_run(pydir, req, wasm=wasm)
            try:
                good = code == 0 and result is not None and ok(result)
            except Exception:
                good = False
            check(f"node {wasm}: task {req.get('task_name', 'describe')} ({dt * 1000:.0f} ms)",
                  good, f"exit {code} result {result!r} stderr {err[-1500:]}")
    return 1 if failures else 0


def capsule_task(capsule, pydir, task, args, extra=()):
    cmd = [capsule, "run", "--no-journal", "--json", "--task", task, *extra,
           "--code-mount", f"{pydir}/lib::/usr/local/lib", "--code-mount", f"{APP}::/app",
           os.path.join(pydir, "capsule-python.wasm"), *args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    dt = time.monotonic() - t0
    lines = p.stdout.strip().splitlines()
    env = json.loads(lines[-1]) if lines else None
    return env, dt, p


def run_capsule(capsule, pydir):
    if not os.path.exists(capsule):
        print(f"skip: {capsule} not found")
        return 77
    base = [capsule, "run", "--no-journal", "--mount", f"{pydir}/lib::/usr/local/lib",
            os.path.join(pydir, "python.wasm")]
    t0 = time.monotonic()
    p = subprocess.run(base + ["-I", "-S", "-c", "print(1+1)"], capture_output=True, text=True,
                       timeout=300)
    dt = time.monotonic() - t0
    check("capsule run python.wasm: print(1+1)", p.returncode == 0 and p.stdout.strip() == "2",
          f"exit {p.returncode} {p.stdout[-500:]!r} {p.stderr[-2000:]!r}")
    print(f"     ({dt * 1000:.0f} ms wall)")
    if not os.path.exists(os.path.join(pydir, "capsule-python.wasm")):
        return 1 if failures else 0
    cases = [
        ("aio", ["3"], lambda e: e["success"] and e["result"] == [0, 1, 2]),
        ("boom", [], lambda e: not e["success"] and e["error"]["error_type"] == "task_error"
         and e["error"]["exception"] == "ValueError"
         and 'File "/app/main.py", line 25, in helper' in e["error"]["traceback"]),
        ("echo", ["a", "\u00e9\u2603"], lambda e: e["success"]
         and e["result"]["args"] == ["a", "\u00e9\u2603"] and "echo:" in e["stdout"]),
        ("stdlib", [], lambda e: e["success"] and e["result"]["decimal"] == "3.3"),
        ("nope", [], lambda e: not e["success"] and "no task named" in e["error"]["message"]),
    ]
    for task, args, ok in cases:
        env, dt, p = capsule_task(capsule, pydir, task, args)
        try:
            good = env is not None and ok(env)
        except Exception:
            good = False
        check(f"capsule run capsule-python.wasm: task {task} ({dt * 1000:.0f} ms, "
              f"fuel {env and env['execution'].get('fuel_consumed')})", good,
              f"{env!r} {p.stderr[-1500:]!r}")
    # Sub-tasks with compute="LOW" need the host to leave start-up uncharged (capsule_init
    # before the fuel budget, or a snapshot): reported, not failed, until it does.
    env, dt, p = capsule_task(capsule, pydir, "main", ["3"])
    if env and env["success"]:
        check("capsule run: main with LOW sub-tasks", env["result"] == {"squares": [0, 1, 4]})
    else:
        print("note main with LOW sub-tasks: " + (env["error"]["message"] if env else p.stderr))
    return 1 if failures else 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    mode = sys.argv[1]
    pydir = os.path.abspath(sys.argv[-1])
    if not os.path.exists(os.path.join(pydir, "python.wasm")):
        print(f"skip: {pydir}/python.wasm not built (scripts/build-python.sh)")
        return 77
    if mode == "node":
        return run_node(pydir)
    if mode == "capsule" and len(sys.argv) == 4:
        return run_capsule(os.path.abspath(sys.argv[2]), pydir)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
