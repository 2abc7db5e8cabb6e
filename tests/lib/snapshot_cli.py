# SPDX-License-Identifier: Apache-2.0
"""What the snapshot tests of both guest languages share (tests/python/test_snapshot.py,
tests/js/test_snapshot_js.py): named checks, one `capsule run --json -v` with what it did with
snapshots, `capsule build --json`, and the snapshot files of a project. Set CAPSULE first."""

import json
import os
import subprocess

CAPSULE = None  # the capsule executable, set by the test's main()
failures = []

BUILT = "snapshot built:"
RESTORED = "snapshot restored from"


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name)
    if not cond:
        failures.append(name)
        if detail != "":
            print("     " + str(detail)[:3000])


class Run:
    """One `capsule run --json -v`: the process, its envelope, and what it did with snapshots."""

    def __init__(self, proj, args, env=None, timeout=600):
        e = dict(os.environ)
        e.update(env or {})
        cmd = [CAPSULE, "run", "--json", "--no-journal", "-v", *args]
        self.p = subprocess.run(cmd, capture_output=True, text=True, cwd=proj, env=e,
                                timeout=timeout)
        self.env = None
        lines = self.p.stdout.strip().splitlines()
        if lines:
            try:
                self.env = json.loads(lines[-1])
            except ValueError:
                pass
        self.built = BUILT in self.p.stderr
        self.restored = RESTORED in self.p.stderr

    @property
    def ok(self):
        return bool(self.env and self.env.get("success"))

    @property
    def result(self):
        return (self.env or {}).get("result")

    @property
    def error(self):
        return (self.env or {}).get("error") or {}

    @property
    def fuel(self):
        return ((self.env or {}).get("execution") or {}).get("fuel_consumed", -1)

    def __repr__(self):
        return (f"exit {self.p.returncode} built={self.built} restored={self.restored} "
                f"envelope={json.dumps(self.env)[:1500]} stderr={self.p.stderr[-1500:]!r}")


def run(proj, *args, env=None):
    return Run(proj, list(args), env=env)


def build(proj, *args):
    p = subprocess.run([CAPSULE, "build", "--json", *args], capture_output=True, text=True,
                       cwd=proj, timeout=600)
    out = None
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pass
    return p, out


def snaps(proj):
    d = os.path.join(proj, ".capsule", "snapshots")
    if not os.path.isdir(d):
        return set()
    return {f for f in os.listdir(d) if f.endswith(".snap")}


def snap_path(proj, name):
    return os.path.join(proj, ".capsule", "snapshots", name)


def write(proj, name, text):
    path = os.path.join(proj, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
