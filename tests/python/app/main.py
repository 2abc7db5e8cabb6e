# SPDX-License-Identifier: Apache-2.0
# The Python guest's end-to-end test task module (tests/python/test_wasm.py).
import asyncio
import json

from capsule import TaskError, log, task


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


@task(name="aio")
async def aio(k):
    async def one(i):
        await asyncio.sleep(0.001 * i)
        return i

    return await asyncio.gather(*(one(i) for i in range(int(k))))


@task(name="echo")
def echo(*args, **kwargs):
    print("echo:", json.dumps(args, ensure_ascii=False))
    log("echo called with", len(args), "args")
    return {"args": list(args), "kwargs": kwargs, "unicode": "h\u00e9llo \u2603 \U0001f600"}


@task(name="catch")
def catch():
    try:
        boom()
    except TaskError as e:
        return {"error_type": e.error_type, "message": e.message}
    return "no error"


@task(name="stdlib")
def stdlib():
    import collections, csv, dataclasses, datetime, decimal, fractions, functools, hashlib
    import io, itertools, math, random, re, statistics, string, struct, textwrap, zlib, base64
    rows = list(csv.reader(io.StringIO("a,b\n1,2\n")))
    return {
        "csv": rows,
        "sha256": hashlib.sha256(b"abc").hexdigest()[:16],
        "zlib": len(zlib.compress(b"x" * 1000)) < 100,
        "decimal": str(decimal.Decimal("1.1") + decimal.Decimal("2.2")),
        "re": re.findall(r"\d+", "a1b22c333"),
        "mean": statistics.mean([1, 2, 3, 4]),
        "b64": base64.b64encode(b"hi").decode(),
        "date": datetime.date(2024, 2, 29).isoformat(),
    }
