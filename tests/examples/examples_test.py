#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs every example of examples/ through the real CLI, with the commands the README shows,
and checks the actual results (not just success).

Usage: examples_test.py --capsule PATH --source DIR [--python-dir DIR] [--js-dir DIR] CASE

Each case copies examples/ into a fresh temporary directory and runs `capsule run ... --json`
there, so relative paths (`--mount examples/python/data_cleaning/data::/data`) mean what they
mean in the README and the journal stays out of the source tree. Exits 77 (ctest: skipped) when
the guest runtime an example needs has not been built."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

CAPSULE = SOURCE = PYTHON_DIR = JS_DIR = None


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, what, *context):
    if not cond:
        raise Failure(what + "".join("\n  " + str(c)[:3000] for c in context))


def run(*args, timeout=240):
    p = subprocess.run([CAPSULE, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def run_json(*args, expect_success=True):
    """`capsule run --json ARGS`: the envelope, checked against the exit code."""
    rc, out, err = run("run", "--json", *args)
    lines = out.strip().splitlines()
    check(lines, "no envelope on stdout", f"rc={rc}", err)
    env = json.loads(lines[-1])
    check(rc == (0 if env["success"] else 1), f"exit code {rc} disagrees with the envelope", env,
          err)
    if expect_success:
        check(env["success"], "the example failed", env, err)
    else:
        check(not env["success"], "the example should have failed", env)
    return env


def need(kind):
    if kind == "python":
        if not os.path.exists(os.path.join(PYTHON_DIR, "capsule-python.wasm")):
            raise Skip(f"the Python runtime is not built ({PYTHON_DIR}): "
                       "run bash scripts/build-python.sh")
        os.environ["CAPSULE_PYTHON_DIR"] = PYTHON_DIR
    else:
        if not os.path.exists(os.path.join(JS_DIR, "qjs-capsule.wasm")):
            raise Skip(f"the JavaScript runtime is not built ({JS_DIR}): "
                       "run bash scripts/build-quickjs.sh")
        if not os.path.exists(os.path.join(SOURCE, "guest/js/node_modules/.bin/esbuild")):
            raise Skip("esbuild is not installed in guest/js: run bash scripts/build-quickjs.sh")
        os.environ["CAPSULE_JS_DIR"] = JS_DIR


def children(task_id):
    rc, out, err = run("ps", "--json", "--all", "-n", "1000")
    check(rc == 0, "capsule ps failed", err)
    return sorted((r for r in json.loads(out) if r.get("parent_id") == task_id),
                  key=lambda r: r["id"])


# ---------------------------------------------------------------- the cases

def case_py_squares():
    need("python")
    rc, out, err = run("run", "examples/python/main.py", "5")
    check(rc == 0 and out == '{"squares": [0, 1, 4, 9, 16]}\n', "plain output", rc, out, err)
    env = run_json("examples/python/main.py", "3")
    check(env["result"] == {"squares": [0, 1, 4]}, "result", env)
    check(len(children(env["task_id"])) == 3, "three square sub-tasks journaled")


DATA = "examples/python/data_cleaning"


def case_data_cleaning():
    need("python")
    os.makedirs("clean")
    env = run_json("--mount", f"{DATA}/data::/data", "--mount", "clean::/out:rw",
                   f"{DATA}/main.py", "/data/orders.csv", "/out/orders_clean.csv")
    want = {
        "input": "/data/orders.csv", "rows_in": 11, "rows_out": 6, "duplicates_removed": 2,
        "invalid": [
            {"line": 7, "order_id": "1005", "reason": "invalid email 'eva.novak@example'"},
            {"line": 8, "order_id": "1006", "reason": "missing amount"},
            {"line": 11, "order_id": "1008", "reason": "unparseable date '2024-13-01'"},
        ],
        "total_amount": "5094.96",
        "by_country": {"ES": {"orders": 1, "amount": "1234.56"},
                       "FR": {"orders": 1, "amount": "45.50"},
                       "GB": {"orders": 1, "amount": "2500.00"},
                       "US": {"orders": 3, "amount": "1314.90"}},
        "date_range": ["2024-03-05", "2024-03-15"],
        "output": "/out/orders_clean.csv",
    }
    check(env["result"] == want, "summary", json.dumps(env["result"], indent=1, ensure_ascii=False))
    with open("clean/orders_clean.csv", encoding="utf-8") as f:
        text = f.read()
    check(text.replace("\r\n", "\n") == (
        "order_id,customer,email,country,order_date,amount\n"
        "1001,Alice Martin,alice@example.com,US,2024-03-05,1200.00\n"
        "1002,Bob Lee,bob@example.org,US,2024-03-07,99.90\n"
        "1003,Chlo\u00e9 Dubois,chloe@exemple.fr,FR,2024-03-09,45.50\n"
        "1004,David Kim,david.kim@example.com,US,2024-03-12,15.00\n"
        "1007,Grace Ho,grace@example.com,GB,2024-03-15,2500.00\n"
        "1009,Ines Garc\u00eda,ines@example.es,ES,2024-03-09,1234.56\n"), "the cleaned CSV", text)
    # The README's command (no output file).
    env = run_json("--mount", f"{DATA}/data::/data", f"{DATA}/main.py", "/data/orders.csv")
    check(env["result"]["output"] is None and env["result"]["rows_out"] == 6, "no output", env)
    # Without the grant the task cannot see the data, and a read-only grant cannot be written.
    env = run_json(f"{DATA}/main.py", "/data/orders.csv", expect_success=False)
    check(env["error"]["error_type"] == "task_error"
          and "FileNotFoundError: cannot read /data/orders.csv" in env["error"]["message"],
          "refused without --mount", env)
    os.makedirs("ro")
    env = run_json("--mount", f"{DATA}/data::/data", "--mount", "ro::/out",
                   f"{DATA}/main.py", "/data/orders.csv", "/out/x.csv", expect_success=False)
    check(env["error"]["error_type"] == "task_error" and not os.listdir("ro"),
          "writing to a read-only grant", env)


TEXT = "examples/python/text_stats"


def case_text_stats():
    need("python")
    env = run_json(f"{TEXT}/main.py", "The cat sat on the mat. The cat ran! Did the dog see the cat?")
    want = {"source": "arguments", "characters": 61, "words": 15, "unique_words": 9,
            "sentences": 3, "paragraphs": 1, "avg_words_per_sentence": 5.0,
            "avg_word_length": 2.93, "lexical_diversity": 0.6,
            "longest_sentence": {"words": 6, "text": "The cat sat on the mat."},
            "top_words": [["cat", 3], ["did", 1], ["dog", 1], ["mat", 1], ["ran", 1]],
            "flesch_reading_ease": 117.2, "reading_time_s": 4}
    check(env["result"] == want, "stats of the arguments", env["result"])
    # Several arguments are one text (the shell split it).
    env = run_json(f"{TEXT}/main.py", "One", "two", "three.")
    check(env["result"]["words"] == 3 and env["result"]["sentences"] == 1, "joined args", env)
    env = run_json("--mount", f"{TEXT}/texts::/texts", f"{TEXT}/main.py", "/texts/report.txt")
    r = env["result"]
    want = {"source": "/texts/report.txt", "characters": 540, "words": 104, "unique_words": 69,
            "sentences": 9, "paragraphs": 3, "avg_words_per_sentence": 11.6,
            "avg_word_length": 4.04, "lexical_diversity": 0.663,
            "top_words": [["own", 3], ["task", 3], ["code", 2], ["file", 2], ["fuel", 2]],
            "flesch_reading_ease": 82.0, "reading_time_s": 31}
    check({k: r.get(k) for k in want} == want, "stats of the granted file", r)
    check(r["longest_sentence"]["words"] == 24
          and r["longest_sentence"]["text"].startswith("Each task gets its own memory"),
          "longest sentence", r)
    env = run_json(f"{TEXT}/main.py", "/texts/report.txt", expect_success=False)
    check("not a file this task can read" in env["error"]["message"], "refused without --mount",
          env)
    env = run_json(f"{TEXT}/main.py", expect_success=False)
    check("ValueError" in env["error"]["message"], "no input", env)


FAN = "examples/python/fan_out"


def case_fan_out():
    need("python")
    env = run_json(f"{FAN}/main.py")
    r = env["result"]
    want = {"reviews": 7, "scored": 6,
            "failed": [{"index": 4, "error_type": "task_error",
                        "message": "ValueError: empty review"}],
            "labels": {"positive": 4, "neutral": 0, "negative": 2},
            "scores": [9, -5, 1, 1, 11, -6], "average_score": 1.83,
            "most_positive": {"index": 5, "score": 11, "text":
                              "Absolutely love it: excellent build quality and really quiet."},
            "most_negative": {"index": 6, "score": -6, "text":
                              "Arrived broken and the refund was slow. Disappointed."}}
    check(r == want, "aggregate", json.dumps(r, indent=1))
    kids = children(env["task_id"])
    check(len(kids) == 7 and all(k["task_name"] == "score" for k in kids),
          "one score sub-task per review", kids)
    check(sum(k["status"] == "failed" for k in kids) == 1, "the empty review's sub-task failed",
          kids)
    # Each sub-task ran under its own limits: LOW compute and 32MB, recorded in the journal.
    rc, out, err = run("logs", "--json", str(kids[0]["id"]))
    pol = json.loads(out)["policy"] if rc == 0 else None
    pol = json.loads(pol) if isinstance(pol, str) else pol
    print("sub-task policy:", pol)
    check(pol and pol.get("compute") in (100000000, "100000000", "LOW")
          and pol.get("ram") in (33554432, "32MB", "33554432"), "the sub-task's own policy",
          pol, err)
    env = run_json(f"{FAN}/main.py", "Great value, works well", "Broke after a day")
    check(env["result"]["scores"] == [4, -2] and env["result"]["labels"] ==
          {"positive": 1, "neutral": 0, "negative": 1}, "reviews from the arguments", env)


def case_js_logs():
    need("js")
    env = run_json("examples/js/main.ts")
    want = {"batches": 3, "failed": [], "requests": 9, "malformed": 1, "bytes": 3681,
            "status": {"2xx": 4, "3xx": 2, "4xx": 2, "5xx": 1}, "errorRate": "33.3%",
            "uniqueClients": 5,
            "topPaths": [["/api/items", 4], ["/index.html", 2], ["/api/items/7", 1]]}
    check(env["result"] == want, "summary of the sample log", env["result"])
    kids = children(env["task_id"])
    check(len(kids) == 3 and all(k["task_name"] == "summarise" for k in kids),
          "one summarise sub-task per batch", kids)
    rc, out, err = run("run", "examples/js/main.ts",
                       '1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 10')
    check(rc == 0 and json.loads(out) == {
        "batches": 1, "failed": [], "requests": 1, "malformed": 0, "bytes": 10,
        "status": {"2xx": 1}, "errorRate": "0.0%", "uniqueClients": 1, "topPaths": [["/", 1]]},
        "a log line from the arguments", rc, out, err)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    global CAPSULE, SOURCE, PYTHON_DIR, JS_DIR
    ap = argparse.ArgumentParser()
    ap.add_argument("--capsule", required=True)
    ap.add_argument("--source", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--python-dir")
    ap.add_argument("--js-dir")
    ap.add_argument("case", choices=sorted(CASES))
    a = ap.parse_args()
    CAPSULE = os.path.abspath(a.capsule)
    SOURCE = os.path.abspath(a.source)
    PYTHON_DIR = os.path.abspath(a.python_dir or os.path.join(SOURCE, "build", "python"))
    JS_DIR = os.path.abspath(a.js_dir or os.path.join(SOURCE, "build", "js"))
    tmp = tempfile.mkdtemp(prefix="capsule-examples-")
    cwd = os.getcwd()
    try:
        shutil.copytree(os.path.join(SOURCE, "examples"), os.path.join(tmp, "examples"),
                        ignore=shutil.ignore_patterns("__pycache__", ".capsule"))
        os.chdir(tmp)
        CASES[a.case]()
    except Failure as f:
        print(f"FAIL examples.{a.case}: {f}")
        return 1
    except Skip as s:
        print(f"SKIP examples.{a.case}: {s}")
        return 77
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ok examples.{a.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
