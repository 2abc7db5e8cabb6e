# SPDX-License-Identifier: Apache-2.0
"""Python tasks start from a snapshot (src/runtime/prepared.c, docs/tasks.md "Snapshots"):
`capsule run main.py` builds .capsule/snapshots/<key>.snap on the first run and restores it on
every later one; `capsule build` does it ahead of time; the worker shares the mechanism.

    test_snapshot.py CAPSULE PYTHON_DIR

Each check works in a temporary project directory. Nothing here measures time: whether a run
built or restored is read from `capsule run -v` ("snapshot built:" / "snapshot restored from")
and from the files in .capsule/snapshots. Exits 77 (skipped) when the Python runtime has not
been built (scripts/build-python.sh)."""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import snapshot_cli  # noqa: E402
from snapshot_cli import build, check, failures, run, snap_path, snaps, write  # noqa: E402

CAPSULE = None

def new_project(tmp, name, files):
    proj = os.path.join(tmp, name)
    os.makedirs(proj)
    for n, text in files.items():
        write(proj, n, text)
    return proj


# ---------------------------------------------------------------- built, restored, invalidated

LIFE_MAIN = '''from capsule import task
import helper

@task()
def main(*args):
    return {"v": "%s", "h": helper.H, "args": list(args)}
'''


def case_lifecycle(tmp):
    proj = new_project(tmp, "life", {"main.py": LIFE_MAIN % "one", "helper.py": "H = 1\n"})
    r1 = run(proj, "main.py", "a", "b")
    s1 = snaps(proj)
    check("first run builds a snapshot", r1.ok and r1.built and not r1.restored and len(s1) == 1,
          r1)
    check("first run's result", r1.result == {"v": "one", "h": 1, "args": ["a", "b"]}, r1)
    (key1,) = s1 or {"?"}
    path1 = snap_path(proj, key1)
    check("the .snap file is named <entry>-<SHA-256 key>.snap",
          re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]{64}\.snap", key1) is not None, key1)
    st1 = os.stat(path1) if os.path.exists(path1) else None
    check("stderr names the snapshot file", key1 in r1.p.stderr, r1.p.stderr[-800:])

    r2 = run(proj, "main.py", "c")
    st2 = os.stat(path1) if os.path.exists(path1) else None
    check("second run restores it (no build, no new file)",
          r2.ok and r2.restored and not r2.built and snaps(proj) == s1, r2)
    check("second run's result", r2.result == {"v": "one", "h": 1, "args": ["c"]}, r2)
    check("the restored file is not rewritten",
          st1 is not None and st2 is not None and st1.st_ino == st2.st_ino
          and st1.st_mtime_ns == st2.st_mtime_ns, (st1, st2))

    write(proj, "main.py", LIFE_MAIN % "two")
    r3 = run(proj, "main.py")
    new = snaps(proj) - s1
    check("editing main.py builds a new snapshot under a new key",
          r3.ok and r3.built and len(new) == 1, (r3, snaps(proj)))
    check("... of the same entry (same name prefix), and the older one is removed",
          snaps(proj) == new and all(n[:17] == key1[:17] for n in new), snaps(proj))
    check("the edited code runs", r3.result == {"v": "two", "h": 1, "args": []}, r3)
    r4 = run(proj, "main.py")
    check("and is restored next time", r4.ok and r4.restored and not r4.built
          and r4.result == {"v": "two", "h": 1, "args": []}, r4)

    before = snaps(proj)
    write(proj, "helper.py", "H = 2\n")
    r5 = run(proj, "main.py")
    new = snaps(proj) - before
    check("editing an imported helper module builds a new snapshot",
          r5.ok and r5.built and len(new) == 1, (r5, snaps(proj)))
    check("the edited helper runs", r5.result == {"v": "two", "h": 2, "args": []}, r5)

    before = snaps(proj)
    r6 = run(proj, "--no-snapshot", "main.py", "x")
    check("--no-snapshot: the same result", r6.ok and r6.result == {"v": "two", "h": 2,
                                                                   "args": ["x"]}, r6)
    check("--no-snapshot neither builds nor restores",
          not r6.built and not r6.restored and snaps(proj) == before, r6)

    # Back to the first version of the code: the same key as the first run (its file was
    # removed by a newer build, so it is built again under that name).
    write(proj, "main.py", LIFE_MAIN % "one")
    write(proj, "helper.py", "H = 1\n")
    r7 = run(proj, "main.py")
    check("reverting the code comes back to the first key",
          r7.ok and (r7.built or r7.restored) and key1 in r7.p.stderr and snaps(proj) == {key1}
          and r7.result == {"v": "one", "h": 1, "args": []}, (r7, snaps(proj)))


def case_build_command(tmp):
    proj = new_project(tmp, "build", {
        "main.py": 'from capsule import task\n\n@task(compute="LOW", timeout="7s")\n'
                   'def main():\n    return "built"\n\n'
                   '@task(name="other", ram="96MB")\ndef other():\n    return 1\n'})
    p, b1 = build(proj, "main.py")
    b1 = b1 or {}
    check("capsule build --json: built", p.returncode == 0 and b1.get("source") == "built",
          (p.returncode, p.stdout[-800:], p.stderr[-800:]))
    path = os.path.join(proj, b1.get("snapshot", "?"))
    check("capsule build: the snapshot file exists and is named by the key",
          os.path.isfile(path) and os.path.basename(path) == f"{b1.get('key')}.snap"
          and snaps(proj) == {f"{b1.get('key')}.snap"}, (b1, snaps(proj)))
    size = os.stat(path).st_size if os.path.isfile(path) else 0
    check("capsule build: memory_bytes, file_bytes, startup_fuel",
          isinstance(b1.get("memory_bytes"), int) and b1["memory_bytes"] >= 1 << 20
          and b1["memory_bytes"] % 65536 == 0 and b1["memory_bytes"] <= size
          and isinstance(b1.get("file_bytes"), int) and 0 < b1["file_bytes"] < size
          and isinstance(b1.get("startup_fuel"), int) and b1["startup_fuel"] > 10_000_000,
          (b1, size))
    tasks = b1.get("tasks") or {}
    check("capsule build: the tasks' own options",
          (tasks.get("main") or {}).get("compute") == "LOW"
          and (tasks.get("main") or {}).get("timeout") == "7s"
          and (tasks.get("other") or {}).get("ram") == "96MB", tasks)

    mtime = os.stat(path).st_mtime_ns if os.path.isfile(path) else 0
    p, b2 = build(proj, "main.py")
    b2 = b2 or {}
    check("capsule build again: up_to_date, same key, file untouched",
          p.returncode == 0 and b2.get("source") == "up_to_date" and b2.get("key") == b1.get("key")
          and os.path.isfile(path) and os.stat(path).st_mtime_ns == mtime, (b2, p.stderr[-500:]))
    p, b3 = build(proj, "--force", "main.py")
    b3 = b3 or {}
    check("capsule build --force: built again under the same key",
          p.returncode == 0 and b3.get("source") == "built" and b3.get("key") == b1.get("key")
          and snaps(proj) == {f"{b1.get('key')}.snap"}, (b3, p.stderr[-500:]))
    r = run(proj, "main.py")
    check("capsule run after capsule build restores its snapshot",
          r.ok and r.restored and not r.built and r.result == "built"
          and str(b1.get("key")) in r.p.stderr, r)

    # A broken entry: exit 1 and no snapshot.
    write(proj, "bad.py", "from capsule import task\nraise RuntimeError('nope')\n")
    before = snaps(proj)
    p, _ = build(proj, "bad.py")
    check("capsule build of code whose import raises: exit 1, no snapshot",
          p.returncode == 1 and snaps(proj) == before and "nope" in p.stderr,
          (p.returncode, p.stdout[-500:], p.stderr[-800:]))


# ---------------------------------------------------------------- the task's own options

POLICY_MAIN = '''from capsule import task

def work(n):
    total = 0
    for i in range(int(n)):
        total += i
    return total

@task(compute="LOW")
def main(n):
    return work(n)

@task(name="plain")
def plain(n):
    return work(n)

@task(name="spin", timeout="1s")
def spin():
    while True:
        pass

@task(name="small", ram="16MB")
def small():
    return "fits"

@task(name="roomy", ram="64MB")
def roomy():
    return "fits"
'''

# Enough loop iterations to need more than LOW's 100M instructions and far less than MEDIUM's
# 2G (about 1200 instructions an iteration: ~180M).
LOOP_N = 150000


def case_own_options(tmp):
    proj = new_project(tmp, "policy", {"main.py": POLICY_MAIN})
    want = LOOP_N * (LOOP_N - 1) // 2
    r = run(proj, "main.py", str(LOOP_N))
    check("@task(compute='LOW') applies to main: out_of_fuel at 100M",
          not r.ok and r.error.get("error_type") == "out_of_fuel"
          and "100000000" in r.error.get("message", "") and 90_000_000 < r.fuel <= 100_000_000,
          r)
    check("(that run was from the snapshot)", r.built or r.restored, r)
    r = run(proj, "--compute", "HIGH", "main.py", str(LOOP_N))
    check("--compute HIGH beats @task(compute='LOW')",
          r.ok and r.result == want and r.fuel > 100_000_000, r)
    r = run(proj, "--task", "plain", "main.py", str(LOOP_N))
    check("a task without options gets the default (MEDIUM): the same loop succeeds",
          r.ok and r.result == want and 100_000_000 < r.fuel < 2_000_000_000, r)
    r = run(proj, "main.py", "10")
    check("a short main under LOW succeeds", r.ok and r.result == 45 and r.restored, r)

    r = run(proj, "--task", "spin", "--compute", "HIGH", "main.py")
    check("@task(timeout='1s') applies: timeout after 1s",
          not r.ok and r.error.get("error_type") == "timeout"
          and r.error.get("message") == "timeout after 1s", r)
    r = run(proj, "--task", "spin", "--compute", "HIGH", "--timeout", "2s", "main.py")
    check("--timeout 2s beats @task(timeout='1s')",
          not r.ok and r.error.get("error_type") == "timeout"
          and r.error.get("message") == "timeout after 2s", r)

    r = run(proj, "--task", "small", "main.py")
    check("@task(ram='16MB') below the snapshot's memory: memory_limit",
          not r.ok and r.error.get("error_type") == "memory_limit", r)
    r = run(proj, "--task", "small", "--ram", "256MB", "main.py")
    check("--ram 256MB beats @task(ram='16MB')", r.ok and r.result == "fits", r)
    r = run(proj, "--task", "roomy", "main.py")
    check("@task(ram='64MB') restores fine", r.ok and r.result == "fits", r)

    # capsule.toml's defaults sit beneath the task's own options.
    write(proj, "capsule.toml", '[tasks]\ndefault_compute = "HIGH"\ndefault_timeout = "5m"\n')
    r = run(proj, "main.py", str(LOOP_N))
    check("capsule.toml default_compute=HIGH does not beat @task(compute='LOW')",
          not r.ok and r.error.get("error_type") == "out_of_fuel"
          and r.fuel <= 100_000_000, r)
    r = run(proj, "--task", "spin", "main.py")
    check("capsule.toml default_timeout=5m does not beat @task(timeout='1s')",
          not r.ok and r.error.get("error_type") == "timeout"
          and r.error.get("message") == "timeout after 1s", r)


# ---------------------------------------------------------------- grants never in a snapshot

GRANTS_MAIN = '''import os
from capsule import task

IMPORT_ENV = os.environ.get("SNAPTEST_V")
try:
    IMPORT_FILES = sorted(os.listdir("/d"))
except OSError as e:
    IMPORT_FILES = type(e).__name__

@task()
def main():
    try:
        with open("/d/secret.txt") as f:
            data = f.read()
    except OSError as e:
        data = "error:" + type(e).__name__
    return {"import_env": IMPORT_ENV, "import_files": IMPORT_FILES,
            "env": os.environ.get("SNAPTEST_V"), "getenv": os.getenv("SNAPTEST_V"),
            "file": data, "environ": sorted(os.environ)}
'''


def case_grants(tmp):
    proj = new_project(tmp, "grants", {"main.py": GRANTS_MAIN})
    os.makedirs(os.path.join(proj, "d"))
    write(proj, "d/secret.txt", "topsecret")
    grants = ["--mount", "d::/d", "--env", "SNAPTEST_V=granted"]
    r1 = run(proj, *grants, "main.py")
    res = r1.result or {}
    check("a run with grants builds the snapshot and sees its grants",
          r1.ok and r1.built and res.get("env") == "granted" and res.get("getenv") == "granted"
          and res.get("file") == "topsecret" and "SNAPTEST_V" in res.get("environ", []), r1)
    check("the import (in the snapshot) saw no grant",
          r1.ok and res.get("import_env") is None
          and not isinstance(res.get("import_files"), list), r1)

    # The host has the variable too: without --env it must still not reach the guest.
    r2 = run(proj, "main.py", env={"SNAPTEST_V": "host-value"})
    res = r2.result or {}
    check("a restored run without grants: no variable, the file refused",
          r2.ok and r2.restored and not r2.built and res.get("env") is None
          and res.get("getenv") is None and "SNAPTEST_V" not in res.get("environ", ["?"])
          and str(res.get("file")).startswith("error:"), r2)

    r3 = run(proj, *grants, "main.py")
    res = r3.result or {}
    check("a restored run with grants sees them",
          r3.ok and r3.restored and res.get("env") == "granted" and res.get("file") == "topsecret",
          r3)
    r4 = run(proj, "--env", "SNAPTEST_V", "main.py", env={"SNAPTEST_V": "from-host"})
    res = r4.result or {}
    check("--env NAME (the host's value) after a restore",
          r4.ok and r4.restored and res.get("env") == "from-host"
          and str(res.get("file")).startswith("error:"), r4)
    r5 = run(proj, "--env", "SNAPTEST_V=other", "main.py")
    res = r5.result or {}
    check("a different value in the next run", r5.ok and res.get("env") == "other"
          and res.get("environ") == ["SNAPTEST_V"], r5)
    check("grants did not change the key (one snapshot)", len(snaps(proj)) == 1, snaps(proj))


# ---------------------------------------------------------------- every run starts pristine

STATE_MAIN = '''import os
import random
import uuid
from capsule import task

COUNTER = 0
SEEN = []
CACHE = {}

@task()
def main():
    global COUNTER
    COUNTER += 1
    SEEN.append(len(SEEN))
    CACHE.setdefault("first", os.urandom(4).hex())
    return {"counter": COUNTER, "seen": SEEN, "cache": CACHE["first"],
            "random": [random.random() for _ in range(3)], "randint": random.getrandbits(62),
            "urandom": os.urandom(16).hex(), "uuid": str(uuid.uuid4())}

@task(name="sq", compute="LOW")
def sq(x):
    return x * x

@task(name="fan")
def fan(n):
    return [sq(i) for i in range(int(n))]
'''


def case_fresh_state(tmp):
    proj = new_project(tmp, "state", {"main.py": STATE_MAIN})
    runs = [run(proj, "main.py") for _ in range(3)]
    check("three runs: built once, then restored",
          all(r.ok for r in runs) and runs[0].built and runs[1].restored and runs[2].restored
          and not runs[1].built and not runs[2].built, runs)
    res = [r.result or {} for r in runs]
    check("module-level state is not carried from run to run",
          all(x.get("counter") == 1 and x.get("seen") == [0] for x in res), res)
    check("a module-level cache filled by one run is empty in the next",
          len({x.get("cache") for x in res}) == 3, [x.get("cache") for x in res])
    for k in ("random", "randint", "urandom", "uuid"):
        vals = [json.dumps(x.get(k)) for x in res]
        check(f"{k} differs between restored runs", len(set(vals)) == 3 and "null" not in vals,
              vals)
    check("random.random() values are in [0, 1)",
          all(0 <= v < 1 for x in res for v in (x.get("random") or [-1])), res)
    r = run(proj, "--task", "fan", "main.py", "5")
    check("sub-tasks (restored from the same snapshot) work",
          r.ok and r.result == [0, 1, 4, 9, 16] and r.restored, r)
    # (A new .py file in the directory: every entry's key changes from here on.)
    write(proj, "printer.py", 'from capsule import task\nprint("at import")\n\n'
                              '@task()\ndef main():\n    print("in main")\n    return 1\n')
    outs = [run(proj, "printer.py") for _ in range(3)]
    check("stdout of the building run and of restored runs is the same (the task's own once)",
          all(r.ok for r in outs) and outs[1].restored and outs[2].restored
          and len({r.env.get("stdout") for r in outs}) == 1
          and outs[0].env.get("stdout", "").count("in main") == 1
          and outs[0].env.get("stdout", "").count("at import") <= 1, outs)


# ---------------------------------------------------------------- damaged files

def snapshot_layout(path):
    """(memory image offset, pages, meta offset) of a snapshot file (src/wasm/snapshot.c)."""
    with open(path, "rb") as f:
        head = f.read(96)  # format 2: the checksum at 48, then the offsets
        state_off, state_len, meta_off = struct.unpack_from("<QQQ", head, 56)
        f.seek(state_off + state_len - 12)
        pages, image = struct.unpack("<IQ", f.read(12))
    return image, pages, meta_off


def case_damaged(tmp):
    proj = new_project(tmp, "damaged", {"main.py": 'from capsule import task\n\n@task()\n'
                                                   'def main(x):\n    return {"ok": x}\n'})
    r = run(proj, "main.py", "0")
    (name,) = snaps(proj) or {"?"}
    path = snap_path(proj, name)
    check("damaged: the first run builds", r.ok and r.built and os.path.isfile(path), r)
    if not os.path.isfile(path):
        return
    with open(path, "rb") as f:
        good = f.read()
    size = len(good)

    def damage(how, fn):
        with open(path, "wb") as f:
            f.write(good)
        fn()
        r = run(proj, "main.py", how)
        check(f"damaged ({how}): ignored and rebuilt, the run succeeds",
              r.ok and r.result == {"ok": how} and r.built and not r.restored, r)
        ok = os.path.isfile(path) and os.stat(path).st_size == size
        r2 = run(proj, "main.py", how + "-again")
        check(f"damaged ({how}): the rebuilt file is restored next time",
              ok and r2.ok and r2.restored and not r2.built
              and r2.result == {"ok": how + "-again"}, r2)

    def patch(off, data):
        def fn():
            with open(path, "r+b") as f:
                f.seek(off)
                f.write(data)
        return fn

    def cut(n):
        def fn():
            os.truncate(path, n)
        return fn

    image, pages, meta_off = snapshot_layout(path)
    damage("truncated to half", cut(size // 2))
    damage("truncated to 10 bytes", cut(10))
    damage("empty", cut(0))
    damage("magic overwritten", patch(0, b"XXXX"))
    damage("a count in the header overwritten", patch(28, b"\xff\xff\x00\x00"))
    damage("state section overwritten", patch(88, b"\xee" * 64))
    damage("meta overwritten", patch(meta_off, b"\x00garbage"))
    damage("one byte appended", lambda: open(path, "ab").write(b"\0"))

    # A stale file: another version's snapshot under this key's name is not restored.
    write(proj, "main.py", 'from capsule import task\n\n@task()\n'
                           'def main(x):\n    return {"stale": x}\n')
    r = run(proj, "main.py", "s")
    other = snaps(proj) - {name}
    check("damaged: an edited version builds its own snapshot", r.ok and len(other) == 1, r)
    write(proj, "main.py", 'from capsule import task\n\n@task()\n'
                           'def main(x):\n    return {"ok": x}\n')
    if other:
        shutil.copyfile(snap_path(proj, other.pop()), path)
        r = run(proj, "main.py", "swapped")
        check("damaged: another key's snapshot under this name is ignored and rebuilt",
              r.ok and r.result == {"ok": "swapped"} and r.built, r)

    # The memory image: 4 MiB of pages that hold the interpreter's state overwritten. Nothing
    # in the header notices; the run must still not succeed with a wrong result.
    with open(path, "rb") as f:
        data = bytearray(f.read())
    image, pages, meta_off = snapshot_layout(path)
    used = [i for i in range(pages)
            if any(data[image + i * 65536:image + (i + 1) * 65536])]
    if used:
        start = image + used[0] * 65536
        end = min(start + (4 << 20), image + pages * 65536)
        data[start:end] = b"\x5a" * (end - start)
        with open(path, "wb") as f:
            f.write(data)
        r = run(proj, "main.py", "image")
        check("damaged (memory image overwritten): the run succeeds with the right result",
              r.ok and r.result == {"ok": "image"}, r)


# ---------------------------------------------------------------- failing imports

def case_import_error(tmp):
    main = ('from capsule import task\nimport helper\n\n@task()\n'
            'def main():\n    return helper.H\n')
    proj = new_project(tmp, "importerr", {
        "main.py": main, "helper.py": "H = 1\nraise KeyError('boom at import')\n"})

    def is_boom(r):
        e = r.error
        return (not r.ok and e.get("error_type") == "task_error" and e.get("exception") == "KeyError"
                and "boom at import" in e.get("message", "")
                and 'helper.py", line 2' in e.get("traceback", ""))

    r = run(proj, "main.py")
    check("import raises (no snapshot yet): task_error with the exception", is_boom(r), r)
    check("import raises: no snapshot is saved", snaps(proj) == set(), snaps(proj))
    r = run(proj, "main.py")
    check("import raises, second run: the same task_error", is_boom(r) and snaps(proj) == set(), r)
    r = run(proj, "--no-snapshot", "main.py")
    check("import raises, --no-snapshot: the same task_error", is_boom(r), r)

    write(proj, "helper.py", "H = 1\n")
    r = run(proj, "main.py")
    good = snaps(proj)
    check("fixed: builds and runs", r.ok and r.result == 1 and r.built and len(good) == 1, r)
    write(proj, "helper.py", "H = 1\nraise KeyError('boom at import')\n")
    r = run(proj, "main.py")
    check("import raises with an older snapshot present: task_error (not the old code)",
          is_boom(r) and snaps(proj) == good, r)
    write(proj, "helper.py", "H = 1\n")
    r = run(proj, "main.py")
    check("fixed again: the earlier snapshot is restored", r.ok and r.result == 1 and r.restored,
          r)

    write(proj, "main.py", "from capsule import task\n\ndef main(:\n    pass\n")
    r = run(proj, "main.py")
    check("a syntax error in main.py: task_error SyntaxError",
          not r.ok and r.error.get("error_type") == "task_error"
          and r.error.get("exception") == "SyntaxError", r)
    write(proj, "main.py", 'from capsule import task\n\n@task(ram="64XB")\ndef main():\n'
                           '    return 1\n')
    r = run(proj, "main.py")
    check("a bad @task option: the run fails and names it",
          not r.ok and r.error.get("error_type") in ("invalid_config", "task_error")
          and "64XB" in r.error.get("message", ""), r)


# ---------------------------------------------------------------- the worker

WORKER_MAIN = '''from capsule import task

COUNTER = 0

@task(compute="LOW")
def main(x):
    global COUNTER
    COUNTER += 1
    return {"double": int(x) * 2, "counter": COUNTER}

@task(name="loop", compute="LOW")
def loop(n):
    total = 0
    for i in range(int(n)):
        total += i
    return total
'''


def case_worker(tmp):
    proj = new_project(tmp, "worker", {"main.py": WORKER_MAIN})
    reqs = [{"id": i, "file": "main.py", "args": [str(i * 7)]} for i in range(5)]
    reqs.append({"id": "low", "file": "main.py", "task_name": "loop", "args": [str(LOOP_N)]})
    reqs.append({"id": "high", "file": "main.py", "task_name": "loop", "args": [str(LOOP_N)],
                 "policy": {"compute": "HIGH"}})
    text = "".join(json.dumps(r) + "\n" for r in reqs)
    p = subprocess.run([CAPSULE, "worker", "--threads", "2", "--no-journal"], input=text,
                       capture_output=True, text=True, cwd=proj, timeout=600)
    got = {}
    for line in p.stdout.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        got[json.dumps(r.get("id"))] = r.get("output") or {"request_error": r.get("error")}
    check("worker: exit 0 and one response per request",
          p.returncode == 0 and len(got) == len(reqs), (p.returncode, p.stdout[-1500:],
                                                       p.stderr[-1500:]))
    bad = {i: got.get(str(i)) for i in range(5)
           if not ((got.get(str(i)) or {}).get("success")
                   and got[str(i)].get("result") == {"double": i * 14, "counter": 1})}
    check("worker: 5 requests of one main.py, each from a pristine snapshot", not bad, bad)
    low, high = got.get('"low"') or {}, got.get('"high"') or {}
    check("worker: the task's own @task(compute='LOW') applies",
          not low.get("success") and (low.get("error") or {}).get("error_type") == "out_of_fuel",
          low)
    check("worker: a request's policy beats it",
          high.get("success") and high.get("result") == LOOP_N * (LOOP_N - 1) // 2, high)
    check("worker: one snapshot file", len(snaps(proj)) == 1, snaps(proj))


# ---------------------------------------------------------------- entries, data files, races

ENTRY = '''import json
import os
from capsule import task

with open(os.path.join(os.path.dirname(__file__), "config.json")) as f:
    CONFIG = json.load(f)

@task()
def main():
    return {"entry": "%s", "config": CONFIG}
'''


def case_entries(tmp):
    proj = new_project(tmp, "entries", {"main.py": ENTRY % "main", "other.py": ENTRY % "other",
                                        "config.json": '{"v": 1}'})
    # Three first runs at once (separate processes) all succeed and leave one whole file.
    procs = [subprocess.Popen([CAPSULE, "run", "--json", "--no-journal", "main.py"], cwd=proj,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    envs = []
    for out, _ in outs:
        try:
            envs.append(json.loads(out.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            envs.append(None)
    check("three concurrent first runs all succeed",
          all(e and e.get("success") and e.get("result") == {"entry": "main", "config": {"v": 1}}
              for e in envs), (envs, [err[-500:] for _, err in outs]))
    left = os.listdir(os.path.join(proj, ".capsule", "snapshots"))
    check("... and leave one snapshot, no temporary files",
          len(snaps(proj)) == 1 and len(left) == 1, left)
    r = run(proj, "main.py")
    check("... which the next run restores", r.ok and r.restored, r)

    before = snaps(proj)
    r = run(proj, "other.py")
    check("another entry in the same directory has its own snapshot",
          r.ok and r.built and len(snaps(proj) - before) == 1
          and r.result == {"entry": "other", "config": {"v": 1}}, r)
    r = run(proj, "main.py")
    check("... and main.py still restores its own",
          r.ok and r.restored and r.result == {"entry": "main", "config": {"v": 1}}, r)

    # No place to keep snapshots (.capsule is a file): the run still works.
    nowhere = new_project(tmp, "nowhere", {"main.py": ENTRY % "nowhere", "config.json": "[]",
                                           ".capsule": "not a directory"})
    r = run(nowhere, "main.py")
    check("no .capsule directory can be made: the run still succeeds",
          r.ok and r.result == {"entry": "nowhere", "config": []}, r)

    # A data file the code reads at import time is part of the snapshot's state: a run after
    # editing it must see the new contents, as a run without a snapshot does.
    write(proj, "config.json", '{"v": 2}')
    r0 = run(proj, "--no-snapshot", "main.py")
    r = run(proj, "main.py")
    check("editing a data file read at import time: the next run sees it",
          r0.ok and r0.result == {"entry": "main", "config": {"v": 2}}
          and r.ok and r.result == r0.result, (r0, r))


CASES = [case_lifecycle, case_build_command, case_own_options, case_grants, case_fresh_state,
         case_damaged, case_import_error, case_worker, case_entries]


def main():
    global CAPSULE
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    CAPSULE = snapshot_cli.CAPSULE = os.path.abspath(sys.argv[1])
    pydir = os.path.abspath(sys.argv[2])
    if not os.path.exists(CAPSULE):
        print(f"skip: {CAPSULE} not found")
        return 77
    if not os.path.exists(os.path.join(pydir, "capsule-python.wasm")):
        print(f"skip: {pydir}/capsule-python.wasm not built (scripts/build-python.sh)")
        return 77
    os.environ["CAPSULE_PYTHON_DIR"] = pydir
    os.environ.pop("SNAPTEST_V", None)
    only = os.environ.get("SNAPTEST_ONLY")  # e.g. SNAPTEST_ONLY=grants,worker for one case
    with tempfile.TemporaryDirectory(prefix="capsule-snaptest-") as tmp:
        for case in CASES:
            if only and case.__name__[5:] not in only.split(","):
                continue
            print(f"-- {case.__name__[5:]}")
            try:
                case(tmp)
            except Exception as e:  # a crash in one case must not hide the others
                check(f"{case.__name__} raised {type(e).__name__}: {e}", False)
    print(f"{len(failures)} failure(s)" if failures else "all ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
