#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""capsule.http end to end: a Python task run by the real `capsule run` makes requests through
the host to a loopback server started here (tests/http/server.py), with allowed and refused
hosts; and the same task module on the host's Python (capsule.http's urllib fallback).

    test_http.py CAPSULE PYTHON_DIR

Exits 77 (ctest: skipped) when the Python runtime has not been built. Every URL names
127.0.0.1 or localhost: nothing leaves the machine."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "http"))
from server import Server  # noqa: E402

APP = r'''
import hashlib
import json

from capsule import TaskError, http, task


@task(name="suite")
def suite(base):
    out = {}
    r = http.get(base + "/hello", headers={"X-Test": "1"})
    out["get"] = [r.status, r.ok, r.text, r.headers["Content-Type"], r.url == base + "/hello",
                  r.redirects, "content-type" in r.headers]
    r = http.post(base + "/echo", json={"a": [1, "\u00e9"]}, headers={"X-Trace": "t1"})
    sent = dict(json.loads(r.headers["x-headers"]))
    out["post_json"] = [r.headers["x-method"], r.json(), sent.get("content-type"),
                        sent.get("x-trace")]
    r = http.put(base + "/echo", data={"q": "a b", "n": 2})
    out["put_form"] = [r.headers["x-method"], r.text]
    r = http.request("patch", base + "/echo", data=b"\x00\xff raw")
    out["patch_bytes"] = [r.headers["x-method"], list(r.content)]
    r = http.get(base + "/bytes", params={"n": 1000})
    out["binary"] = [len(r.content), hashlib.sha256(r.content).hexdigest()]
    r = http.get(base + "/gzip?n=5000")
    out["gzip"] = [len(r.text), r.text[:22]]
    r = http.get(base + "/redirect", params={"to": base + "/hello"})
    out["redirect"] = [r.status, r.text, r.url.endswith("/hello")]
    r = http.get(base + "/redirect?to=/hello", allow_redirects=False)
    out["no_redirect"] = [r.status, r.headers.get("location")]
    r = http.get(base + "/missing")
    try:
        r.raise_for_status()
        out["status"] = "no error"
    except http.HTTPStatusError as e:
        out["status"] = [r.status, r.ok, e.status, e.error_type, r.text]
    for key, call in (("timeout", lambda: http.get(base + "/slow?s=5", timeout=0.5)),
                      ("too_large", lambda: http.get(base + "/big?n=100000",
                                                     max_response_bytes=1000)),
                      ("invalid_url", lambda: http.get("ftp://example.com/x"))):
        try:
            call()
            out[key] = "no error"
        except http.HTTPError as e:
            out[key] = [type(e).__name__, e.error_type]
    return out


@task(name="fetch")
def fetch(url):
    try:
        r = http.get(url)
        return {"status": r.status, "text": r.text}
    except http.HTTPError as e:
        return {"error": type(e).__name__, "error_type": e.error_type, "message": e.message,
                "is_http_error": isinstance(e, http.HTTPError)}


@task(name="child_fetch", allowed_hosts=["127.0.0.1"])
def child_fetch(url):
    return http.get(url).text


@task(name="parent")
def parent(url):
    try:
        return {"child": child_fetch(url)}
    except TaskError as e:
        return {"caught": e.error_type, "message": e.message}
'''

EXPECT_SUITE = {
    "get": [200, True, "hello", "text/plain", True, 0, True],
    "post_json": ["POST", {"a": [1, "\u00e9"]}, "application/json", "t1"],
    "put_form": ["PUT", "q=a+b&n=2"],
    "patch_bytes": ["PATCH", [0, 255, 32, 114, 97, 119]],
    "binary": [1000, None],  # the digest is computed below
    "gzip": [5000, "capsule gzip test line"],
    "redirect": [200, "hello", True],
    "no_redirect": [302, "/hello"],
    "status": [404, False, 404, "http_status", "not found"],
    "timeout": ["Timeout", "timeout"],
    "too_large": ["TooLarge", "too_large"],
    "invalid_url": ["InvalidURL", "invalid_url"],
}

failures = []


def check(name, cond, *context):
    print(("ok   " if cond else "FAIL ") + name)
    if not cond:
        for c in context:
            print("     " + str(c)[:2000])
        failures.append(name)


def expected_suite():
    import hashlib

    exp = json.loads(json.dumps(EXPECT_SUITE))
    exp["binary"][1] = hashlib.sha256(bytes(i % 256 for i in range(1000))).hexdigest()
    return exp


def capsule_run(capsule, app, *args):
    p = subprocess.run([capsule, "run", "--json", "--no-journal", *args], cwd=app,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, http_proxy="http://127.0.0.1:9",
                                HTTPS_PROXY="http://127.0.0.1:9"))
    lines = p.stdout.strip().splitlines()
    if not lines:
        return {"success": False, "error": {"error_type": "none", "message": p.stderr},
                "result": None, "execution": {}}
    env = json.loads(lines[-1])
    if p.returncode != (0 if env["success"] else 1):
        env["_rc_mismatch"] = p.returncode
    return env


def compare_suite(label, got):
    exp = expected_suite()
    for key, want in exp.items():
        check(f"{label}: {key}", got.get(key) == want, f"got  {got.get(key)!r}", f"want {want!r}")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    capsule, pydir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.path.exists(os.path.join(pydir, "capsule-python.wasm")):
        print(f"skip: {pydir}/capsule-python.wasm is not built (bash scripts/build-python.sh)")
        return 77
    if not os.path.exists(os.path.join(pydir, "lib", "python3.13", "capsule", "http.py")):
        print(f"skip: {pydir} has no capsule/http.py yet (bash scripts/build-python.sh copies it)")
        return 77
    os.environ["CAPSULE_PYTHON_DIR"] = pydir
    tmp = tempfile.mkdtemp(prefix="capsule-pyhttp-")
    server = Server("127.0.0.1")
    try:
        with open(os.path.join(tmp, "main.py"), "w") as f:
            f.write(APP)
        base = f"http://127.0.0.1:{server.port}"

        # Allowed: every feature of the wrapper through the host.
        env = capsule_run(capsule, tmp, "--allow-host", "127.0.0.1", "--task", "suite",
                          "main.py", base)
        check("capsule: suite succeeded", env["success"] and "_rc_mismatch" not in env, env)
        if env["success"]:
            compare_suite("capsule", env["result"])
        recs = env["execution"].get("host_requests") or []
        check("capsule: host_requests recorded",
              any(r.get("url") == base + "/hello" and r.get("status") == 200 for r in recs)
              and any(r.get("error") == "timeout" for r in recs), recs)

        # Denied: no allowed_hosts at all, then a list that does not cover the URL (a loopback
        # address is granted only when listed itself), then a redirect leaving the list.
        url = base + "/hello"
        hits = len(server.hits)
        for label, flags, part in (
                ("no hosts", [], "no allowed_hosts"),
                ("other host", ["--allow-host", "example.com"], "not in allowed_hosts"),
                ("wildcard", ["--allow-host", "*"], "")):
            env = capsule_run(capsule, tmp, *flags, "--task", "fetch", "main.py", url)
            res = env.get("result") or {}
            check(f"capsule: denied ({label})",
                  env["success"] and res.get("error") == "Denied"
                  and res.get("error_type") == "denied" and res.get("is_http_error") is True
                  and part in res.get("message", ""), env)
        check("capsule: denied requests never reached the server", len(server.hits) == hits,
              server.hits[hits:])
        env = capsule_run(capsule, tmp, "--allow-host", "127.0.0.1", "--task", "fetch", "main.py",
                          f"{base}/redirect?to=http://localhost:{server.port}/hello")
        res = env.get("result") or {}
        check("capsule: denied redirect", res.get("error_type") == "denied"
              and "localhost" in res.get("message", ""), env)
        # Allowed through the same task (the grant is what changes the outcome).
        env = capsule_run(capsule, tmp, "--allow-host", "127.0.0.1", "--task", "fetch", "main.py",
                          url)
        check("capsule: allowed fetch", env.get("result") == {"status": 200, "text": "hello"},
              env)

        # Sub-tasks: a child asking for a host its parent lacks is refused (TaskError denied);
        # granted to the parent, the child's request goes through.
        env = capsule_run(capsule, tmp, "--task", "parent", "main.py", url)
        res = env.get("result") or {}
        check("capsule: sub-task escalation refused", res.get("caught") == "denied", env)
        env = capsule_run(capsule, tmp, "--allow-host", "127.0.0.1", "--task", "parent",
                          "main.py", url)
        check("capsule: sub-task with a covered host", env.get("result") == {"child": "hello"},
              env)

        # The same module on the host's Python: capsule.http falls back to urllib.
        p = subprocess.run([sys.executable, "-m", "capsule", "main.py", "suite", base], cwd=tmp,
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, PYTHONPATH=os.path.join(SOURCE, "guest", "python"),
                                    PYTHONDONTWRITEBYTECODE="1", no_proxy="*"))
        try:
            got = json.loads(p.stdout.strip().splitlines()[-1])["result"]
        except (IndexError, ValueError, KeyError, TypeError):
            got = None
        check("host python: suite ran", isinstance(got, dict), p.stdout, p.stderr)
        if isinstance(got, dict):
            compare_suite("host python", got)
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
