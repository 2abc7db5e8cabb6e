#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end checks of the JavaScript guest (build/js, scripts/build-quickjs.sh).

    test_js.py node JS_DIR               node's WASI + a JS stand-in host (tests/js/node_guest.mjs)
    test_js.py capsule CAPSULE JS_DIR    our engine: `capsule run --json` of qjs-capsule.wasm
    test_js.py cli CAPSULE JS_DIR        the real CLI on sources: `capsule run extra.ts` (the
                                         host bundles), concurrent runs, bundle.sh's publishing

The test task tests/js/app/main.ts (plus a made-up npm package in a temporary node_modules) is
bundled with guest/js/bundle.sh; the bundle directory is mounted at /app. Exits 77 (skipped)
when the guest or esbuild has not been built."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUNDLE = os.path.join(ROOT, "guest", "js", "bundle.sh")
failures = 0


def _throw_line():
    """main.ts:LINE of the throw the "boom" task's traceback must name."""
    with open(os.path.join(HERE, "app", "main.ts"), encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if "throw new TypeError(`bad input" in line:
                return f"main.ts:{i}:"
    return "main.ts:?"


THROW_AT = _throw_line()


def check(name, ok, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures += 1
        if detail:
            print("     " + str(detail)[:3000])


def timers_ok(t):
    """Microtask first, the 10 ms timer before the 50 ms one, three interval ticks, the cleared
    timer never (exact interleaving depends on the machine's speed)."""
    order = t.get("order") or []
    return (order[:1] == ["micro"] and order.count("iv") == 3 and "never" not in order
            and "t10" in order and "t50" in order and order.index("t10") < order.index("t50"))


def make_project(tmp):
    """A project: the test task, a local module, and an npm ESM package in node_modules."""
    proj = os.path.join(tmp, "proj")
    shutil.copytree(os.path.join(HERE, "app"), proj)
    pkg = os.path.join(proj, "node_modules", "tinypkg")
    os.makedirs(pkg)
    with open(os.path.join(pkg, "package.json"), "w") as f:
        json.dump({"name": "tinypkg", "version": "1.0.0", "type": "module", "module": "index.js",
                   "main": "index.js"}, f)
    with open(os.path.join(pkg, "index.js"), "w") as f:
        f.write("export const shout = (s) => `${s.toUpperCase()}!`;\n")
    out = os.path.join(tmp, "bundle")
    p = subprocess.run([BUNDLE, os.path.join(proj, "main.ts"), out], capture_output=True,
                       text=True)
    if p.returncode != 0:
        print(p.stderr)
        return None, None
    shutil.copy(os.path.join(HERE, "probe.mjs"), out)
    return proj, out


# ---------------------------------------------------------------- node's WASI

def node_run(jsdir, appdir, request, env=None, mounts=None, wasm=None, argv=None):
    # --stack-size: V8 runs wasm on its own stack (~1 MB); QuickJS checks only its shadow stack.
    cmd = ["node", "--no-turbo-fast-api-calls", "--stack-size=4000",
           os.path.join(HERE, "node_guest.mjs"), jsdir,
           appdir, json.dumps(request)]
    if argv:
        cmd += ["--"] + argv
    e = dict(os.environ)
    if env:
        e["CAPSULE_ENV"] = json.dumps(env)
    if mounts:
        e["CAPSULE_MOUNT"] = ",".join(mounts)
    if wasm:
        e["CAPSULE_WASM"] = wasm
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=300)
    result = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
    return p, result


def run_node(jsdir):
    if shutil.which("node") is None:
        print("skip: node not found")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        proj, app = make_project(tmp)
        check("bundle main.ts (TypeScript, local module, npm package)", app is not None)
        if app is None:
            return 1

        def task(name, args=None, **kw):
            t0 = time.monotonic()
            p, r = node_run(jsdir, app, {"task_name": name, "args": args or []}, **kw)
            return p, r, (time.monotonic() - t0) * 1000

        bad = os.path.join(tmp, "bad.ts")
        with open(bad, "w") as f:
            f.write('import path from "path";\nexport const main = () => path.sep;\n')
        p = subprocess.run([BUNDLE, bad, os.path.join(tmp, "badout")], capture_output=True,
                           text=True)
        check("a Node built-in the guest lacks is a clear bundling error", p.returncode == 1
              and 'Could not resolve "path"' in p.stderr and "provides only" in p.stderr,
              p.stderr[-600:])
        p, r, ms = task("main", ["7"])
        check(f"main 7 -> parts [3,12,6] via 3 sub-tasks ({ms:.0f} ms)",
              r == {"result": {"parts": [3, 12, 6]}}, (r, p.stderr[-800:]))
        p, r, _ = task("echo", [1, "a", [True, None], {"k": 2.5}])
        check("echo: every JSON type in", r == {"result": [1, "a", [True, None], {"k": 2.5}]}, r)
        p, r, _ = task("types")
        check("types: every JSON type out", r and r["result"]["str"] == "héllo ☃ 𝄞"
              and r["result"]["big"] == 2**53 - 1 and r["result"]["nil"] is None, r)
        p, r, _ = task("web")
        w = (r or {}).get("result") or {}
        check("web APIs", w.get("dec") == "h€llo" and w.get("bad") == "a\ufffdb"
              and w.get("href") == "https://User:pw@example.com/p/a/b?x=1&y=two&z=a+b#frag"
              and w.get("origin") == "https://example.com" and w.get("b64") == "aGVsbG8="
              and w.get("unb64") == "hello" and w.get("uuid") is True
              and w.get("clone") == [True, True] and w.get("pkg") == "NPM!" and w.get("lib") == 42,
              r)
        p, r, _ = task("timers")
        t = (r or {}).get("result") or {}
        check("timers and microtasks", timers_ok(t) and t.get("waited") is True, r)
        p, r, _ = task("boom", ["x"])
        tb = ((r or {}).get("traceback") or "")
        check("exception -> task_error with the .ts line", r and r.get("message") ==
              "TypeError: bad input: x" and THROW_AT in tb and "capsule:" not in tb, r)
        p, r, _ = task("nosuch")
        check("unknown task name", r and "no task named 'nosuch'" in r.get("message", ""), r)
        p, r, _ = task("env", env={"CAPSULE_TEST_VAR": "v1"})
        check("process.env is what the host gave", r and r["result"]["keys"] == ["CAPSULE_TEST_VAR"]
              and r["result"]["val"] == "v1", r)
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        p, r, _ = task("files", ["/data"], mounts=[f"{data}::/data"])
        f = (r or {}).get("result") or {}
        check("fs inside a granted dir", f.get("text") == "written by js!" and f.get("size") == 14
              and f.get("listing") == ["out.txt", "sub"] and f.get("after") == ["moved.txt"]
              and f.get("outside") in ("ENOENT", "ENOTCAPABLE"), r)
        p, r, _ = task("escalate")
        check("sub-task escalation refused -> TaskError denied",
              r and r["result"]["type"] == "denied", r)
        p, r, _ = task("badopt")
        check("invalid option -> ConfigError naming it", r and "invalid ram '64XB'" in r["result"],
              r)
        p, r, _ = task("fetchit", ["https://example.com/"])
        check("fetch refused by the host -> TypeError with cause.code",
              r and r["result"] == {"error": "fetch failed", "code": "denied"}, r)
        p, r, _ = task("recurse")
        check("deep recursion -> InternalError: stack overflow",
              r and "stack overflow" in r.get("message", ""), (r or {}).get("message"))
        p, r = node_run(jsdir, app, {}, wasm="qjs.wasm", argv=["qjs", "/app/probe.mjs"])
        lines = [x for x in p.stdout.splitlines() if x.startswith(("probe:", "FAIL"))]
        print("     " + "\n     ".join(lines))
        check("feature probe (qjs.wasm command)", p.returncode == 0, p.stderr[-500:])
    return 1 if failures else 0


# ---------------------------------------------------------------- our engine

def capsule_run(capsule, jsdir, app, args, extra=None, timeout=120):
    cmd = [capsule, "run", "--json", "--no-journal", "--code-mount", f"{app}::/app"] + (extra or []) + \
          [os.path.join(jsdir, "qjs-capsule.wasm")] + args
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=app)
    ms = (time.monotonic() - t0) * 1000
    env = None
    lines = p.stdout.strip().splitlines()
    if lines:
        try:
            env = json.loads(lines[-1])
        except ValueError:
            pass
    return p, env, ms


def run_capsule(capsule, jsdir):
    if not os.path.exists(capsule):
        print(f"skip: {capsule} not found")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        proj, app = make_project(tmp)
        if app is None:
            check("bundle main.ts", False)
            return 1
        p, e, ms = capsule_run(capsule, jsdir, app, ["--task", "types"])
        check(f"types ({ms:.0f} ms wall)", e and e["success"] and e["result"]["str"] == "héllo ☃ 𝄞",
              (e, p.stderr[-800:]))
        if e:
            print(f"     fuel {e['execution']['fuel_consumed']}, ram {e['execution']['ram_used']}")
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "echo", "a", "b"])
        check("CLI args arrive as strings", e and e["result"] == ["a", "b"], e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "web"])
        check("web APIs", e and e["success"] and e["result"]["pkg"] == "NPM!"
              and e["result"]["dec"] == "h€llo", e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "timers"])
        t = (e or {}).get("result") or {}
        check("timers (poll_oneoff sleeps)", timers_ok(t) and t.get("waited") is True, e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "boom", "x"])
        err = (e or {}).get("error") or {}
        check("exception -> task_error with the .ts line", err.get("error_type") == "task_error"
              and THROW_AT in err.get("traceback", ""), e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "env", "--env", "CAPSULE_TEST_VAR=v1"])
        check("process.env shows only granted names",
              e and e["result"] and e["result"]["keys"] == ["CAPSULE_TEST_VAR"], e)
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "files", "/data"],
                              ["--mount", f"{data}::/data:rw"])
        f = (e or {}).get("result") or {}
        check("fs inside a granted rw dir, refused outside", f.get("text") == "written by js!"
              and f.get("after") == ["moved.txt"] and f.get("outside") in ("ENOENT", "ENOTCAPABLE"), e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "readonly", "/data"],
                              ["--mount", f"{data}::/data:ro"])
        check("fs write to a read-only grant refused", e and e["result"] in
              ("EROFS", "ENOTCAPABLE", "EACCES", "EPERM"), e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "spin", "--compute", "100000000"])
        check("while(true) stopped by fuel", e and (e.get("error") or {}).get("error_type") ==
              "out_of_fuel", e)
        p, e, ms = capsule_run(capsule, jsdir, app, ["--task", "spin", "--compute", "HIGH",
                                                     "--timeout", "1s"])
        check(f"while(true) stopped by the timeout ({ms:.0f} ms)", e and
              (e.get("error") or {}).get("error_type") == "timeout", e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "bomb", "--ram", "64MB"])
        et = ((e or {}).get("error") or {}).get("error_type")
        check(f"memory bomb stopped ({et})", et in ("task_error", "memory_limit", "trap"), e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "recurse"])
        err = (e or {}).get("error") or {}
        check(f"deep recursion stopped ({err.get('error_type')}: {err.get('message', '')[:60]})",
              err.get("error_type") in ("task_error", "trap"), e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "logs"])
        check("console.log/error captured", e and e["stdout"] == "to stdout\n"
              and e["stderr"] == "to stderr\n", e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "fetchit", "https://example.com/"])
        check("fetch without allowed_hosts refused", e and e["result"] ==
              {"error": "fetch failed", "code": "denied"}, e)
        served = os.path.join(tmp, "www")
        os.makedirs(served)
        with open(os.path.join(served, "hello.txt"), "w") as f:
            f.write("hello over http")
        srv = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1",
                                "--directory", served], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
        try:
            line = srv.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
            port = line.split(" port ")[1].split()[0]
            p, e, _ = capsule_run(capsule, jsdir, app,
                                  ["--task", "fetchit", f"http://127.0.0.1:{port}/hello.txt"],
                                  ["--allow-host", f"127.0.0.1:{port}"])
            r = (e or {}).get("result") or {}
            check("fetch from an allowed host", r.get("status") == 200 and
                  r.get("text") == "hello over http" and r.get("type", "").startswith("text/plain"),
                  e)
        finally:
            srv.terminate()
            srv.wait()
        p, e, ms = capsule_run(capsule, jsdir, app, ["7"])
        check(f"main 7 -> parts [3,12,6] via 3 sub-tasks ({ms:.0f} ms wall)",
              e and e.get("result") == {"parts": [3, 12, 6]}, e)
        p, e, _ = capsule_run(capsule, jsdir, app, ["--task", "escalate"])
        check("sub-task escalation refused -> TaskError denied",
              e and (e.get("result") or {}).get("type") == "denied", e)
        p = subprocess.run([capsule, "run", "--json", "--no-journal", "--mount", f"{app}::/app",
                            os.path.join(jsdir, "qjs.wasm"), "/app/probe.mjs"],
                           capture_output=True, text=True, timeout=120)
        e = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
        out = (e.get("stdout") or "").strip().splitlines()
        print("     " + "\n     ".join(x for x in out if x.startswith(("probe:", "FAIL"))))
        check("feature probe under capsule", e.get("success") is True, e)
    return 1 if failures else 0


# ---------------------------------------------------------------- the real CLI on sources

def make_cli_project(tmp):
    """make_project plus what extra.ts imports: a CommonJS npm package, a large generated module
    (so bundling takes long enough for concurrent runs to overlap), and a native addon."""
    proj = os.path.join(tmp, "proj")
    shutil.copytree(os.path.join(HERE, "app"), proj)
    pkg = os.path.join(proj, "node_modules", "cjspkg")
    os.makedirs(pkg)
    with open(os.path.join(pkg, "package.json"), "w") as f:
        json.dump({"name": "cjspkg", "version": "1.0.0", "main": "lib.js"}, f)
    with open(os.path.join(pkg, "lib.js"), "w") as f:
        f.write('const helper = require("./helper");\n'
                "exports.twice = (x) => helper.mul(x, 2);\nexports.kind = typeof module;\n")
    with open(os.path.join(pkg, "helper.js"), "w") as f:
        f.write("module.exports = { mul: (a, b) => a * b };\n")
    addon = os.path.join(proj, "node_modules", "nativeaddon")
    os.makedirs(os.path.join(addon, "build", "Release"))
    with open(os.path.join(addon, "package.json"), "w") as f:
        json.dump({"name": "nativeaddon", "version": "1.0.0", "main": "index.js"}, f)
    with open(os.path.join(addon, "index.js"), "w") as f:
        f.write('module.exports = require("./build/Release/addon.node");\n')
    with open(os.path.join(addon, "build", "Release", "addon.node"), "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01not really a shared object")
    with open(os.path.join(proj, "addon.ts"), "w") as f:
        f.write('import a from "nativeaddon";\nexport const main = () => a;\n')
    with open(os.path.join(proj, "data.ts"), "w") as f:
        f.write("export const DATA = [\n")
        for i in range(6000):
            f.write(f'  {{ id: {i}, name: "item{i}", tags: ["a{i % 7}", "b{i % 11}"] }},\n')
        f.write("];\n")
    return proj


def cli_run(capsule, proj, *args, env=None, timeout=180):
    cmd = [capsule, "run", "--json", "--no-journal", *args]
    e = dict(os.environ)
    e.update(env or {})
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=proj, env=e)
    ms = (time.monotonic() - t0) * 1000
    out = None
    lines = p.stdout.strip().splitlines()
    if lines:
        try:
            out = json.loads(lines[-1])
        except ValueError:
            pass
    return p, out, ms


def line_of(path, needle):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if needle in line:
                return i
    return -1


def bundle_publish_race(proj, tmp):
    """Two bundle.sh loops re-bundle one entry into one OUTDIR while this thread keeps reading
    it, as a guest does: every read must see whole files (main.mjs ends with its source map
    comment, main.mjs.qbc is there with its full size). Returns a list of problems."""
    out = os.path.join(tmp, "race-bundle")
    entry = os.path.join(proj, "extra.ts")
    p = subprocess.run([BUNDLE, entry, out], capture_output=True, text=True)
    if p.returncode != 0:
        return [f"bundle.sh failed: {p.stderr[-500:]}"]
    qbc_size = os.path.getsize(os.path.join(out, "main.mjs.qbc"))
    stop = threading.Event()
    problems = []
    writes = [0]

    def writer():
        while not stop.is_set():
            r = subprocess.run([BUNDLE, entry, out], capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f"concurrent bundle.sh failed: {r.stderr[-300:]}")
            writes[0] += 1

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 8
    reads = 0
    while time.monotonic() < deadline and writes[0] < 12 and len(problems) < 5:
        try:
            with open(os.path.join(out, "main.mjs"), "rb") as f:
                text = f.read()
            if not text.rstrip().endswith(b"//# sourceMappingURL=main.mjs.map"):
                problems.append(f"main.mjs read half-written ({len(text)} bytes)")
            n = os.path.getsize(os.path.join(out, "main.mjs.qbc"))
            if n != qbc_size:
                problems.append(f"main.mjs.qbc read half-written ({n} of {qbc_size} bytes)")
        except OSError as e:
            problems.append(f"read failed: {e}")
        reads += 1
    stop.set()
    for t in threads:
        t.join()
    left = [x for x in os.listdir(tmp) if x.startswith(".race-bundle.")]
    if left:
        problems.append(f"temporary directories left behind: {left}")
    print(f"     {reads} reads during {writes[0]} concurrent bundles")
    return problems


def run_cli(capsule, jsdir):
    if not os.path.exists(capsule):
        print(f"skip: {capsule} not found")
        return 77
    os.environ["CAPSULE_JS_DIR"] = jsdir
    with tempfile.TemporaryDirectory() as tmp:
        proj = make_cli_project(tmp)
        extra = os.path.join(proj, "extra.ts")

        # Concurrent runs of one entry share .capsule/js/<key>/: all must succeed.
        for rnd in range(2):
            results = [None] * 4

            def one(i):
                results[i] = cli_run(capsule, proj, "extra.ts", f"run{i}")

            threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
            for i, t in enumerate(threads):
                t.start()
                time.sleep(0.05 * i)  # staggered: some bundle while others already run
            for t in threads:
                t.join()
            bad = [(i, r[0].returncode, (r[1] or {}).get("error"), r[0].stderr[-300:])
                   for i, r in enumerate(results)
                   if not (r[1] and r[1].get("result") == {"args": [f"run{i}"], "n": 6000})]
            check(f"4 concurrent `capsule run extra.ts` of one entry (round {rnd + 1})", not bad, bad)
        # The same through one `capsule worker` (requests run on its thread pool).
        reqs = "".join(json.dumps({"id": i, "file": "extra.ts", "args": [f"w{i}"]}) + "\n"
                       for i in range(8))
        p = subprocess.run([capsule, "worker", "--threads", "4", "--no-journal"], input=reqs,
                           capture_output=True, text=True, timeout=300, cwd=proj)
        got = {}
        for line in p.stdout.splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            got[r.get("id")] = ((r.get("output") or {}).get("result"), r.get("error"),
                                ((r.get("output") or {}).get("error")))
        bad = {i: got.get(i) for i in range(8) if (got.get(i) or (None,))[0] !=
               {"args": [f"w{i}"], "n": 6000}}
        check("8 requests of one .ts entry through `capsule worker --threads 4`", not bad,
              (bad, p.stderr[-500:]))
        left = [x for x in os.listdir(os.path.join(proj, ".capsule", "js")) if ".tmp." in x]
        check("no temporary bundle directories left", not left, left)
        problems = bundle_publish_race(proj, tmp)
        check("bundle.sh publishes whole files while others re-bundle", not problems, problems[:5])

        # After a snapshot restore the guest must not replay: two runs, two sequences.
        p, a, _ = cli_run(capsule, proj, "--task", "random", "extra.ts")
        p2, b, _ = cli_run(capsule, proj, "--task", "random", "extra.ts")
        ra, rb = (a or {}).get("result") or {}, (b or {}).get("result") or {}
        check("Math.random and randomUUID differ between runs", ra.get("math") and rb.get("math")
              and ra["math"] != rb["math"] and ra["uuid"] != rb["uuid"]
              and ra.get("inRange") is True and len(set(ra["math"])) == 4, (a, b))

        # Once `capsule build` exists, the same after it (runs restored from its snapshot).
        h = subprocess.run([capsule, "--help"], capture_output=True, text=True)
        if "capsule build" in h.stdout + h.stderr:
            b = subprocess.run([capsule, "build", "extra.ts"], capture_output=True, text=True,
                               cwd=proj, timeout=300)
            check("capsule build extra.ts", b.returncode == 0, b.stderr[-800:])
            runs = [cli_run(capsule, proj, "--task", "random", "extra.ts") for _ in range(2)]
            seqs = [((r[1] or {}).get("result") or {}).get("math") for r in runs]
            check("after capsule build: Math.random differs between runs", seqs[0] and seqs[1]
                  and seqs[0] != seqs[1], [r[1] for r in runs])
            p, e, _ = cli_run(capsule, proj, "--task", "proc", "--env", "CAPSULE_JS_T=2",
                              "extra.ts", "after")
            r = (e or {}).get("result") or {}
            check("after capsule build: process.argv/env are this run's",
                  (r.get("argv") or [None])[1:] == ["after"] and r.get("env") == {"CAPSULE_JS_T": "2"}
                  and 0 <= r.get("now", -1) < 10000, e)

        p, e, _ = cli_run(capsule, proj, "--task", "proc", "--env", "CAPSULE_JS_T=1", "extra.ts",
                          "x", "y z")
        r = (e or {}).get("result") or {}
        check("process.argv ends with the task's args; process.env only the granted name",
              r.get("args") == ["x", "y z"] and (r.get("argv") or [None])[1:] == ["x", "y z"]
              and r.get("env") == {"CAPSULE_JS_T": "1"} and 0 <= r.get("now", -1) < 10000, e)

        p, e, _ = cli_run(capsule, proj, "--task", "cjs", "extra.ts")
        check("require() and default import of a CommonJS npm package; TS types not checked",
              e and e.get("result") == {"twice": 42, "viaDefault": 10, "kind": "object",
                                        "notANumber": "typed wrong"}, e)

        p, e, _ = cli_run(capsule, proj, "--task", "boomTs", "extra.ts", "3")
        err = (e or {}).get("error") or {}
        want = [f"extra.ts:{line_of(extra, 'throw new RangeError')}:",
                f"extra.ts:{line_of(extra, 'return deeper(n)')}:"]
        tb = err.get("traceback", "")
        check("an exception's stack names the .ts file and lines (source map, via the CLI)",
              err.get("error_type") == "task_error" and err.get("message") ==
              "RangeError: deep failure 3" and all(w in tb for w in want)
              and "main.mjs" not in tb, (want, err))

        p, e, ms = cli_run(capsule, proj, "--task", "sleepy", "--timeout", "1s", "extra.ts",
                           "30000")
        check(f"a 30 s setTimeout ends at the 1 s task deadline ({ms:.0f} ms)",
              e and (e.get("error") or {}).get("error_type") == "timeout" and ms < 15000, e)
        p, e, _ = cli_run(capsule, proj, "--task", "sleepy", "extra.ts", "20")
        check("a short setTimeout completes", e and e.get("result") == "woke", e)

        values = [0, -7, 2.5, 1e300, 2 ** 53 - 1, "", "héllo ☃ 𝄞 \"q\" \\ \n", True, False, None,
                  [], [1, [2, [3]]], {}, {"k": {"nested": [None, {"deep": "x"}]}, "n": -0.5}]
        with open(os.path.join(tmp, "args.json"), "w", encoding="utf-8") as f:
            json.dump(values, f, ensure_ascii=False)
        p, e, _ = cli_run(capsule, proj, "--task", "roundtrip", "--args-file",
                          os.path.join(tmp, "args.json"), "extra.ts")
        r = (e or {}).get("result") or {}
        check("every JSON type in (--args-file) and out unchanged", r.get("args") == values and
              r.get("types") == ["number"] * 5 + ["string"] * 2 + ["boolean"] * 2 + ["null"] +
              ["array"] * 2 + ["object"] * 2, e)

        p, e, _ = cli_run(capsule, proj, "--task", "options", "extra.ts")
        r = (e or {}).get("result") or {}
        pol = {"compute": "LOW", "ram": "32MB", "timeout": "5s", "max_retries": 2,
               "allowed_files": ["./data:ro"], "allowed_hosts": ["api.example.com"],
               "env_variables": ["API_KEY"]}
        check("task options: camelCase and snake_case give the same policy",
              r.get("camel") == pol and r.get("snake") == pol and r.get("registered"), e)
        errs = r.get("errors") or {}
        expect = {"compute": "invalid compute 'SUPER'", "ram": "invalid ram '64XB'",
                  "timeout": "invalid timeout '5 parsecs'", "retries": "invalid max_retries 1000",
                  "files": "must be absolute", "hosts": "invalid allowed_hosts 'a b'",
                  "env": "invalid env_variables '1BAD'",
                  "unknown": "unknown option 'rma' (did you mean 'ram'?)",
                  "name": "invalid task name ''"}
        wrong = {k: errs.get(k) for k, v in expect.items()
                 if not (errs.get(k, "").startswith("ConfigError: ") and v in errs.get(k, ""))}
        check("task options: each bad value is a ConfigError naming it", not wrong, wrong)
        check("task(options, notAFunction) is refused", "must be a function" in
              str(r.get("notFn")), r.get("notFn"))
        with open(os.path.join(proj, "badtop.ts"), "w") as f:
            f.write('import { task } from "capsule";\n'
                    'export const main = task({ name: "main", envVariables: ["A-B"] }, () => 1);\n')
        p, e, _ = cli_run(capsule, proj, "badtop.ts")
        err = (e or {}).get("error") or {}
        check("a bad option at module level fails the run naming it", p.returncode == 1
              and err.get("exception") == "ConfigError"
              and "invalid env_variables 'A-B'" in err.get("message", ""), e)

        data = os.path.join(tmp, "data")
        os.makedirs(data)
        p, e, _ = cli_run(capsule, proj, "--task", "fsPromises", "--mount", f"{data}::/data:rw",
                          "extra.ts", "/data")
        r = (e or {}).get("result") or {}
        check("fs/promises: mkdir, writeFile, stat, rename, readdir, readFile, rm in a grant",
              r.get("size") == 8 and r.get("isFile") is True and r.get("listing") == ["b", "g.txt"]
              and r.get("text") == "promised" and r.get("viaNode") == "promised"
              and r.get("gone") is True and os.listdir(data) == [], e)
        check("fs/promises: write and read outside the grants refused",
              r.get("outsideWrite") in ("ENOENT", "ENOTCAPABLE", "EACCES", "EPERM", "EROFS")
              and r.get("outsideRead") in ("ENOENT", "ENOTCAPABLE", "EACCES", "EPERM"), e)

        p, e, _ = cli_run(capsule, proj, "--task", "consoleOut", "extra.ts")
        check("console: format, inspect, group, count, dir, stdout/stderr split",
              e and e.get("stdout") == "x=42 { a: [ 1, { b: 2 } ], s: 'q' }\n"
              "info [ 1, 2 ] Map(1) { 1 => 'a' } Set(1) { 1 } null undefined 3n\n"
              "G\n  inner\ndefault: 1\ndefault: 2\n{ deep: [Object] }\nraw\n"
              and e.get("stderr", "").startswith("warned\nRangeError: bad\n    at "), e)

        p, e, _ = cli_run(capsule, proj, "--task", "gaps", "extra.ts")
        check("prelude gap fills work (Array.fromAsync, Promise.withResolvers, toWellFormed, "
              "Set methods, iterator helpers, Promise.try)",
              e and e.get("result") == {"fromAsync": [10, 20], "fromPromises": [3, 4],
                                        "withResolvers": "resolved", "wellFormed": [False, True],
                                        "sets": [1, 2, 3, 1, 3], "iters": [10, 30, 50],
                                        "tried": "tried"}, e)

        tsc = os.environ.get("TSC") or shutil.which("tsc")
        local = os.path.join(ROOT, "guest", "js", "node_modules", ".bin", "tsc")
        if not tsc and os.access(local, os.X_OK):
            tsc = local
        if tsc:
            dts = os.path.join(ROOT, "guest", "js", "capsule.d.ts")
            flags = ["--noEmit", "--strict", "--target", "es2022", "--module", "esnext",
                     "--moduleResolution", "bundler"]
            good = subprocess.run([tsc, *flags, dts, os.path.join(HERE, "dts", "good.ts")],
                                  capture_output=True, text=True, timeout=300)
            bad = subprocess.run([tsc, *flags, dts, os.path.join(HERE, "dts", "bad.ts")],
                                 capture_output=True, text=True, timeout=300)
            check("capsule.d.ts: tsc accepts good.ts and rejects each error in bad.ts",
                  good.returncode == 0 and bad.returncode != 0 and "'maxRetry' does not exist"
                  in bad.stdout and '"ULTRA"' in bad.stdout and "bad.ts(8," in bad.stdout,
                  (good.stdout[-800:], bad.stdout[-1500:]))
        else:
            print("     (capsule.d.ts not type-checked: no tsc; set TSC=/path/to/tsc)")

        p, e, _ = cli_run(capsule, proj, "addon.ts")
        check("a native addon is a clear bundling error (exit 2)", p.returncode == 2
              and "native addon" in p.stderr and ".node" in p.stderr, (p.returncode, p.stderr[-800:]))
    return 1 if failures else 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    jsdir = os.path.abspath(sys.argv[-1])
    if not os.path.exists(os.path.join(jsdir, "qjs-capsule.wasm")):
        print(f"skip: {jsdir}/qjs-capsule.wasm not built (scripts/build-quickjs.sh)")
        return 77
    if not os.access(os.path.join(ROOT, "guest", "js", "node_modules", ".bin", "esbuild"), os.X_OK):
        print("skip: esbuild not installed (scripts/build-quickjs.sh runs npm ci in guest/js)")
        return 77
    if sys.argv[1] == "node":
        return run_node(jsdir)
    if sys.argv[1] == "capsule" and len(sys.argv) == 4:
        return run_capsule(os.path.abspath(sys.argv[2]), jsdir)
    if sys.argv[1] == "cli" and len(sys.argv) == 4:
        return run_cli(os.path.abspath(sys.argv[2]), jsdir)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
