#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs one guest under `capsule run` (or node's WASI) inside a fresh fixture and checks it.

The fixture is a temporary directory with:
  outside/   never granted: secret.txt, dir/; must be unchanged afterwards
  ro/        mounted read-only as /ro (guest fd 3): hello.txt, sub/inner.txt, symlinks
  rw/        mounted read-write as /rw (guest fd 4): empty but for two symlinks
Both `outside/` and `ro/` are snapshotted before the run and compared after it, so every case
also proves that nothing outside was changed and that the read-only mount stayed read-only.

Usage: run_case.py [checks] -- CAPSULE [capsule options] FILE.wasm [guest args]
  "{tmp}" in any argument is replaced by the fixture directory.
  --node: run FILE.wasm under node:wasi instead (CAPSULE is `node`), for comparison.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77


def make_fixture(tmp):
    out = os.path.join(tmp, "outside")
    os.makedirs(os.path.join(out, "dir"))
    with open(os.path.join(out, "secret.txt"), "w") as f:
        f.write("TOP SECRET\n")
    ro = os.path.join(tmp, "ro")
    os.makedirs(os.path.join(ro, "sub"))
    with open(os.path.join(ro, "hello.txt"), "w") as f:
        f.write("hello world\n")
    with open(os.path.join(ro, "sub", "inner.txt"), "w") as f:
        f.write("inner\n")
    links = {
        "abs_link": os.path.join(out, "secret.txt"),
        "abs_dir_link": out,
        "rel_link": "../outside/secret.txt",
        "rel_dir_link": "../outside",
        "chain1": "chain2",
        "chain2": "chain3",
        "chain3": "../outside",
        "loop_a": "loop_b",
        "loop_b": "loop_a",
        "inside_link": "hello.txt",
        "inside_dir_link": "sub",
        "deep_link": "sub/../../outside/secret.txt",
    }
    for name, target in links.items():
        os.symlink(target, os.path.join(ro, name))
    rw = os.path.join(tmp, "rw")
    os.makedirs(rw)
    os.symlink(os.path.join(out, "secret.txt"), os.path.join(rw, "abs_link"))
    os.symlink("../outside", os.path.join(rw, "rel_dir_link"))
    os.symlink("../outside/secret.txt", os.path.join(rw, "rel_link"))


def snapshot(root):
    """Names, types, modes, sizes, mtimes and content hashes of a tree (symlinks not followed)."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            entry = (st.st_mode, st.st_size, st.st_mtime_ns)
            if os.path.islink(p):
                entry += (os.readlink(p),)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    entry += (hashlib.sha256(f.read()).hexdigest(),)
            snap[os.path.relpath(p, root)] = entry
    return snap


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect-exit", type=int, default=0)
    ap.add_argument("--expect-stdout", help="file whose content stdout must equal")
    ap.add_argument("--expect-stdout-contains", action="append", default=[])
    ap.add_argument("--expect-stderr-contains", action="append", default=[])
    ap.add_argument("--max-stdout-bytes", type=int)
    ap.add_argument("--max-seconds", type=float, help="fail when the run takes longer")
    ap.add_argument("--stdin-text", help="text fed to capsule's own stdin")
    ap.add_argument("--hold-stdin", action="store_true",
                    help="give capsule a stdin pipe that stays open (never reaches EOF)")
    ap.add_argument("--node", action="store_true", help="run under node:wasi for comparison")
    ap.add_argument("--node-runner", help="path of node_run.mjs")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the host env")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("missing command")
    if a.node and shutil.which(cmd[0]) is None and not os.path.exists(cmd[0]):
        print("SKIP: node not found")
        return SKIP

    tmp = tempfile.mkdtemp(prefix="capsule-wasi-")
    try:
        make_fixture(tmp)
        before_out = snapshot(os.path.join(tmp, "outside"))
        before_ro = snapshot(os.path.join(tmp, "ro"))
        cmd = [c.replace("{tmp}", tmp) for c in cmd]
        if a.node:
            cmd = [cmd[0], "--no-warnings", a.node_runner, tmp] + cmd[1:]
        env = dict(os.environ)
        env["CAPSULE_TEST_HOST_ONLY"] = "host-secret"
        for kv in a.env:
            k, v = kv.split("=", 1)
            env[k] = v
        t0 = time.monotonic()
        if a.hold_stdin:
            r, w = os.pipe()
            try:
                p = subprocess.run(cmd, stdin=r, capture_output=True, env=env, timeout=120)
            finally:
                os.close(r)
                os.close(w)
        else:
            p = subprocess.run(cmd, input=(a.stdin_text or "").encode(), capture_output=True,
                               env=env, timeout=120)
        elapsed = time.monotonic() - t0
        ok = True

        def fail(msg):
            nonlocal ok
            ok = False
            print("FAIL:", msg)

        out = p.stdout.decode("utf-8", "replace").replace(tmp, "{tmp}")
        err = p.stderr.decode("utf-8", "replace").replace(tmp, "{tmp}")
        if p.returncode != a.expect_exit:
            fail(f"exit code {p.returncode}, expected {a.expect_exit}")
        if a.expect_stdout:
            with open(a.expect_stdout, encoding="utf-8") as f:
                want = f.read()
            if out != want:
                fail("stdout differs from " + a.expect_stdout)
                import difflib
                sys.stdout.writelines(difflib.unified_diff(
                    want.splitlines(True), out.splitlines(True), "expected", "actual"))
        for s in a.expect_stdout_contains:
            if s not in out:
                fail(f"stdout lacks {s!r}")
        for s in a.expect_stderr_contains:
            if s not in err:
                fail(f"stderr lacks {s!r}")
        if a.max_stdout_bytes is not None and len(p.stdout) > a.max_stdout_bytes:
            fail(f"stdout has {len(p.stdout)} bytes, more than {a.max_stdout_bytes}")
        if a.max_seconds is not None and elapsed > a.max_seconds:
            fail(f"took {elapsed:.2f}s, more than {a.max_seconds}s")
        if snapshot(os.path.join(tmp, "outside")) != before_out:
            fail("ESCAPE: the directory outside the mounts changed")
        if not a.node and snapshot(os.path.join(tmp, "ro")) != before_ro:
            fail("ESCAPE: the read-only mount changed")
        if not ok or os.environ.get("VERBOSE"):
            print("command:", " ".join(cmd))
            print("--- stdout (first 4000 chars)\n" + out[:4000])
            print("--- stderr (first 4000 chars)\n" + err[:4000])
        print(f"{'ok' if ok else 'FAILED'} ({elapsed:.2f}s)")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
