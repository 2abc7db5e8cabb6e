#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""JavaScript/TypeScript tasks start from a snapshot (src/runtime/prepared.c, docs/tasks.md
"Snapshots"): `capsule run main.ts` bundles the entry, builds .capsule/snapshots/<key>.snap on
the first run and restores it on every later one.

    test_snapshot_js.py CAPSULE JS_DIR

Each check works in a temporary project directory. Nothing here measures time: whether a run
built or restored is read from `capsule run -v` ("snapshot built:" / "snapshot restored from")
and from the files in .capsule/snapshots. Exits 77 (skipped) when the JavaScript runtime or
esbuild has not been built (scripts/build-quickjs.sh)."""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import snapshot_cli  # noqa: E402
from snapshot_cli import check, failures, run, snaps, write  # noqa: E402

CAPSULE = None

# QuickJS spends about 3500 instructions an iteration of this loop: ~210M, more than LOW's
# 100M and far less than MEDIUM's 2G.
LOOP_N = 60000

MAIN_TS = '''import { task } from "capsule";
import * as fs from "node:fs";
import { H } from "./lib";

let counter = 0;
const seen: number[] = [];
const cache: Record<string, number> = {};
const importEnv = process.env.SNAPTEST_V ?? null;
let importFiles: unknown;
try { importFiles = fs.readdirSync("/d"); } catch (e: any) { importFiles = "error:" + e.code; }

export const main = task({ name: "main" }, (...args: unknown[]) => {
  counter += 1;
  seen.push(seen.length);
  cache.first ??= Math.random();
  let file: string;
  try { file = fs.readFileSync("/d/secret.txt", "utf8"); } catch (e: any) { file = "error:" + e.code; }
  return {
    v: "%VERSION%", h: H, args, counter, seen, cache: cache.first, importEnv, importFiles,
    env: process.env.SNAPTEST_V ?? null, envKeys: Object.keys(process.env).sort(), file,
    random: [Math.random(), Math.random(), Math.random()], uuid: crypto.randomUUID(),
    bytes: Array.from(crypto.getRandomValues(new Uint8Array(8))),
  };
});

export const loop = task({ name: "loop", compute: "LOW" }, (n: string) => {
  let t = 0;
  for (let i = 0; i < Number(n); i++) t += i;
  return t;
});

export const plain = task({ name: "plain" }, (n: string) => {
  let t = 0;
  for (let i = 0; i < Number(n); i++) t += i;
  return t;
});

export const spin = task({ name: "spin", timeout: "1s" }, () => {
  for (;;) {}
});
'''


def main_ts(version):
    return MAIN_TS.replace("%VERSION%", version)


def case_lifecycle(proj):
    r1 = run(proj, "main.ts", "a")
    s1 = snaps(proj)
    check("first run of main.ts bundles and builds a snapshot",
          r1.ok and r1.built and not r1.restored and len(s1) == 1, r1)
    res = r1.result or {}
    check("first run's result", res.get("v") == "one" and res.get("h") == 1
          and res.get("args") == ["a"], r1)
    r2 = run(proj, "main.ts", "b")
    check("second run restores it (no build, no new file)",
          r2.ok and r2.restored and not r2.built and snaps(proj) == s1
          and (r2.result or {}).get("args") == ["b"], r2)

    write(proj, "main.ts", main_ts("two"))
    r3 = run(proj, "main.ts")
    new = snaps(proj) - s1
    check("editing main.ts builds a new snapshot under a new key",
          r3.ok and r3.built and len(new) == 1, (r3, snaps(proj)))
    check("the edited code runs", (r3.result or {}).get("v") == "two", r3)
    r4 = run(proj, "main.ts")
    check("and is restored next time", r4.ok and r4.restored and not r4.built
          and (r4.result or {}).get("v") == "two", r4)

    before = snaps(proj)
    write(proj, "lib.ts", "export const H = 2;\n")
    r5 = run(proj, "main.ts")
    check("editing an imported module builds a new snapshot",
          r5.ok and r5.built and len(snaps(proj) - before) == 1
          and (r5.result or {}).get("h") == 2, (r5, snaps(proj)))

    before = snaps(proj)
    r6 = run(proj, "--no-snapshot", "main.ts", "x")
    res = r6.result or {}
    check("--no-snapshot: the same result, neither built nor restored",
          r6.ok and res.get("v") == "two" and res.get("h") == 2 and res.get("args") == ["x"]
          and not r6.built and not r6.restored and snaps(proj) == before, r6)

    p = subprocess.run([CAPSULE, "build", "--json", "main.ts"], capture_output=True, text=True,
                       cwd=proj, timeout=600)
    try:
        b = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        b = {}
    check("capsule build --json main.ts: up_to_date, with the tasks' own options",
          p.returncode == 0 and b.get("source") == "up_to_date"
          and f"{b.get('key')}.snap" in snaps(proj)
          and ((b.get("tasks") or {}).get("loop") or {}).get("compute", "").upper() == "LOW"
          and ((b.get("tasks") or {}).get("spin") or {}).get("timeout") == "1s",
          (p.returncode, p.stdout[-1000:], p.stderr[-800:]))


def case_grants(proj):
    # A fresh key (a new version), built by a run WITH grants.
    write(proj, "main.ts", main_ts("grants"))
    grants = ["--mount", "d::/d", "--env", "SNAPTEST_V=granted"]
    r1 = run(proj, *grants, "main.ts")
    res = r1.result or {}
    check("a run with grants builds the snapshot and sees its grants",
          r1.ok and r1.built and res.get("env") == "granted" and res.get("file") == "topsecret"
          and res.get("envKeys") == ["SNAPTEST_V"], r1)
    check("the import (in the snapshot) saw no grant",
          r1.ok and res.get("importEnv") is None
          and not isinstance(res.get("importFiles"), list), r1)
    r2 = run(proj, "main.ts", env={"SNAPTEST_V": "host-value"})
    res = r2.result or {}
    check("a restored run without grants: no variable, the file refused",
          r2.ok and r2.restored and not r2.built and res.get("env") is None
          and res.get("envKeys") == [] and str(res.get("file")).startswith("error:"), r2)
    r3 = run(proj, "--mount", "d::/d", "--env", "SNAPTEST_V=again", "main.ts")
    res = r3.result or {}
    check("a restored run with grants sees them",
          r3.ok and r3.restored and res.get("env") == "again" and res.get("file") == "topsecret",
          r3)


def case_fresh_state(proj):
    write(proj, "main.ts", main_ts("state"))
    runs = [run(proj, "main.ts") for _ in range(3)]
    check("three runs: built once, then restored",
          all(r.ok for r in runs) and runs[0].built and runs[1].restored and runs[2].restored,
          runs)
    res = [r.result or {} for r in runs]
    check("module-level state is not carried from run to run",
          all(x.get("counter") == 1 and x.get("seen") == [0] for x in res), res)
    check("a module-level cache filled by one run is empty in the next",
          len({x.get("cache") for x in res}) == 3, [x.get("cache") for x in res])
    for k in ("random", "uuid", "bytes"):
        vals = [json.dumps(x.get(k)) for x in res]
        check(f"{k} differs between restored runs", len(set(vals)) == 3 and "null" not in vals,
              vals)


def case_own_options(proj):
    want = LOOP_N * (LOOP_N - 1) // 2
    r = run(proj, "--task", "loop", "main.ts", str(LOOP_N))
    check("task({compute: 'LOW'}) applies: out_of_fuel at 100M",
          not r.ok and r.error.get("error_type") == "out_of_fuel"
          and 90_000_000 < r.fuel <= 100_000_000 and r.restored, r)
    r = run(proj, "--task", "loop", "--compute", "HIGH", "main.ts", str(LOOP_N))
    check("--compute HIGH beats it", r.ok and r.result == want and r.fuel > 100_000_000, r)
    r = run(proj, "--task", "plain", "main.ts", str(LOOP_N))
    check("without options (MEDIUM) the same loop succeeds",
          r.ok and r.result == want and r.fuel > 100_000_000, r)
    r = run(proj, "--task", "spin", "--compute", "HIGH", "main.ts")
    check("task({timeout: '1s'}) applies: timeout after 1s",
          not r.ok and r.error.get("error_type") == "timeout"
          and r.error.get("message") == "timeout after 1s", r)


def case_import_error(proj):
    write(proj, "boom.ts", 'import { task } from "capsule";\n'
                           'if (!globalThis.nothing) throw new RangeError("boom at import");\n'
                           'export const main = task({ name: "main" }, () => 1);\n')
    before = snaps(proj)
    for label, extra in (("", []), (" (again)", []), (", --no-snapshot", ["--no-snapshot"])):
        r = run(proj, *extra, "boom.ts")
        check(f"an import that throws: task_error{label}",
              not r.ok and r.error.get("error_type") == "task_error"
              and "boom at import" in r.error.get("message", "") and snaps(proj) == before, r)


def case_damaged(proj):
    write(proj, "main.ts", main_ts("damaged"))
    r = run(proj, "main.ts")
    new = [n for n in snaps(proj) if n[:-5] in r.p.stderr]
    check("damaged: a new version builds", r.ok and r.built and len(new) == 1, r)
    if not new:
        return
    path = os.path.join(proj, ".capsule", "snapshots", new[0])
    size = os.stat(path).st_size
    for label, n in (("truncated to half", size // 2), ("empty", 0)):
        os.truncate(path, n)
        r = run(proj, "main.ts", label)
        check(f"damaged ({label}): ignored and rebuilt, the run succeeds",
              r.ok and r.built and not r.restored and (r.result or {}).get("args") == [label]
              and (r.result or {}).get("v") == "damaged", r)
        r = run(proj, "main.ts")
        check(f"damaged ({label}): the rebuilt file is restored next time",
              r.ok and r.restored and os.stat(path).st_size == size, r)


def main():
    global CAPSULE
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    CAPSULE = snapshot_cli.CAPSULE = os.path.abspath(sys.argv[1])
    jsdir = os.path.abspath(sys.argv[2])
    if not os.path.exists(CAPSULE):
        print(f"skip: {CAPSULE} not found")
        return 77
    if not os.path.exists(os.path.join(jsdir, "qjs-capsule.wasm")):
        print(f"skip: {jsdir}/qjs-capsule.wasm not built (scripts/build-quickjs.sh)")
        return 77
    if not os.access(os.path.join(ROOT, "guest", "js", "node_modules", ".bin", "esbuild"),
                     os.X_OK):
        print("skip: esbuild not installed (scripts/build-quickjs.sh runs npm ci in guest/js)")
        return 77
    os.environ["CAPSULE_JS_DIR"] = jsdir
    os.environ.pop("SNAPTEST_V", None)
    with tempfile.TemporaryDirectory(prefix="capsule-snaptest-js-") as tmp:
        proj = os.path.join(tmp, "proj")
        write(proj, "main.ts", main_ts("one"))
        write(proj, "lib.ts", "export const H = 1;\n")
        write(proj, "d/secret.txt", "topsecret")
        for case in (case_lifecycle, case_grants, case_fresh_state, case_own_options,
                     case_import_error, case_damaged):
            print(f"-- {case.__name__[5:]}")
            try:
                case(proj)
            except Exception as e:  # a crash in one case must not hide the others
                check(f"{case.__name__} raised {type(e).__name__}: {e}", False)
    print(f"{len(failures)} failure(s)" if failures else "all ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
