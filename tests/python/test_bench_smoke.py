# SPDX-License-Identifier: Apache-2.0
"""Smoke check of bench/python/workloads.py (bench/python/run.sh's workloads); times nothing.

    test_bench_smoke.py CAPSULE PYTHON_DIR [NATIVE_PYTHON]

Runs every workload once at a tiny scale under `capsule run` (python.wasm, the way run.sh does)
and checks that each printed its line; when the native build Python exists, its check values
must equal the guest's (the same computation on two builds of one CPython source).
Exits 77 (ctest: skipped) when python.wasm or the capsule binary is missing."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "bench", "python")
SCALE = "0.01"


def parse(stdout):
    rows = {}
    for line in stdout.splitlines():
        f = line.split()
        if len(f) == 6 and not line.startswith("#"):
            rows[f[0]] = f[3]
    return rows


def main(argv):
    capsule, pydir = argv[1], argv[2]
    native = os.path.abspath(argv[3]) if len(argv) > 3 and argv[3] else ""
    if not os.access(capsule, os.X_OK) or not os.path.isfile(os.path.join(pydir, "python.wasm")):
        print(f"skip: {capsule} or {pydir}/python.wasm missing (scripts/build-python.sh)")
        return 77
    sys.dont_write_bytecode = True
    sys.path.insert(0, BENCH)
    import workloads  # the host Python only reads the list of names

    names = [n for n, _ in workloads.WORKLOADS]
    failures = []
    with tempfile.TemporaryDirectory() as app:
        shutil.copy(os.path.join(BENCH, "workloads.py"), app)
        cmd = [capsule, "run", "--json", "--no-journal", "--compute", "HIGH", "--timeout", "5m",
               "--code-mount", f"{pydir}/lib::/usr/local/lib", "--code-mount", f"{app}::/app",
               os.path.join(pydir, "python.wasm"), "-I", "-S", "/app/workloads.py", SCALE,
               "--reps", "1"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        try:
            env = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            print(f"FAIL capsule printed no envelope: {p.returncode} {p.stderr[-2000:]}")
            return 1
        guest = parse(env.get("stdout") or "")
        ok = env.get("success") and all(n in guest for n in names)
        print(("ok   " if ok else "FAIL ") + f"capsule: {len(guest)}/{len(names)} workloads printed"
              + ("" if ok else f": {env.get('error')} {(env.get('stderr') or '')[-2000:]}"))
        if not ok:
            failures.append("capsule")
        if native and os.access(native, os.X_OK):
            q = subprocess.run([native, "-I", "-S", "workloads.py", SCALE, "--reps", "1"], cwd=app,
                               capture_output=True, text=True, timeout=300)
            host = parse(q.stdout)
            same = q.returncode == 0 and all(guest.get(n) == host.get(n) for n in names)
            print(("ok   " if same else "FAIL ") + "check values equal native CPython's"
                  + ("" if same else f": guest {guest} native {host} {q.stderr[-2000:]}"))
            if not same:
                failures.append("native")
        else:
            print(f"skip: native comparison ({native or 'no native python'} missing)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
