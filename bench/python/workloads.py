# SPDX-License-Identifier: Apache-2.0
"""Pure-Python workloads for bench/python/run.sh.

The same file runs under CPython 3.13 in Capsule (python.wasm) and under the native build
Python compiled from the same source, so the ratio of the two is the cost of our interpreter
running CPython's. Each workload times itself, so interpreter start-up and imports are not
counted, and prints one line:

    NAME WALL_MS CPU_MS CHECK WALL,WALL,... CPU,CPU,...

the medians over its repetitions of wall time (time.perf_counter) and of the process's CPU time
(clock_gettime(CLOCK_PROCESS_CPUTIME_ID): on a busy machine wall time also counts waiting for a
core), a value that must be equal on both sides, and every repetition's times. Lines starting
with '#' are comments (the interpreter's version).

    python workloads.py [SCALE] [--reps N] [--only NAME[,NAME...]]

SCALE (default 1.0) multiplies every workload's amount of work; at 1.0 each repetition takes
roughly 0.1-0.4 s on native CPython on a current x86-64 core. SCALE 0.01 is a quick smoke run.
"""

import gc
import json
import re
import sys
import time


def w_loop(scale):
    """Integer and float arithmetic in a plain for/while loop."""
    n = int(1_200_000 * scale)
    s = 0
    f = 0.0
    for i in range(n):
        s = (s + i * 7) % 1000003
        f += (i & 15) * 0.5
    i = 0
    while i < n // 4:
        s ^= i << 3
        i += 1
    return s + int(f)


def w_float(scale):
    """A Mandelbrot set: float multiply/add in nested loops, no complex type."""
    size = max(4, int(260 * scale**0.5))
    inside = 0
    for py in range(size):
        ci = py * 2.0 / size - 1.0
        for px in range(size):
            cr = px * 3.0 / size - 2.0
            zr = zi = 0.0
            for _ in range(50):
                zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                if zr * zr + zi * zi > 4.0:
                    break
            else:
                inside += 1
    return inside


def w_strings(scale):
    """String building: f-strings, join, split, methods, slicing, concatenation."""
    n = int(120_000 * scale)
    parts = []
    for i in range(n):
        parts.append(f"line {i}: {'x' * (i % 20)} end")
    s = "\n".join(parts)
    lines = s.split("\n")
    hits = sum(1 for line in lines if line.endswith("xxx end"))
    up = s.upper().replace("LINE", "L")
    acc = ""
    for i in range(n // 10):
        acc += str(i)[-1]
    return hits + len(up) + len(acc) + lines[n // 2].count("x")


def w_dict(scale):
    """Dictionary work: counting, get/setdefault, comprehension, items iteration."""
    n = int(400_000 * scale)
    counts = {}
    for i in range(n):
        k = "k" + str(i % 5000)
        counts[k] = counts.get(k, 0) + 1
    groups = {}
    for i in range(n // 4):
        groups.setdefault(i % 97, []).append(i)
    by_len = {k: len(k) for k in counts}
    total = 0
    for i in range(n // 2):
        k = "k" + str(i % 7000)
        if k in counts:
            total += counts[k] + by_len[k]
    merged = {**counts, **{str(k): len(v) for k, v in groups.items()}}
    return total + len(merged) + sum(len(v) for v in groups.values())


def w_json(scale):
    """json.dumps / json.loads of a list of small records."""
    n = max(10, int(5000 * scale))
    data = [
        {"id": i, "name": f"item {i}", "ok": i % 2 == 0, "vals": [i, i / 2, None],
         "tags": {"a": i % 3, "b": "x" * (i % 7)}}
        for i in range(n)
    ]
    total = 0
    for _ in range(10):
        text = json.dumps(data)
        back = json.loads(text)
        total += len(text) + len(back)
    return total + len(json.dumps(back[: min(50, n)], indent=2, sort_keys=True))


def w_regex(scale):
    """re: compile, findall with groups, sub with a callback, split."""
    n = max(10, int(25_000 * scale))
    text = "; ".join(f"user{i}@example{i % 7}.com, id={i}, date=2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}"
                     for i in range(n))
    pat = re.compile(r"(\w+)@(\w+)\.com, id=(\d+)")
    found = pat.findall(text)
    dates = re.findall(r"\d{4}-(\d\d)-(\d\d)", text)
    swapped = re.sub(r"id=(\d+)", lambda m: "ID:" + m.group(1)[::-1], text)
    pieces = re.split(r"[;,]\s*", text)
    return len(found) + len(dates) + len(swapped) + len(pieces)


def w_fib(scale):
    """Recursive calls: naive Fibonacci (calls grow ~1.6x per step of n)."""
    n = 29
    while scale < 1.0 and n > 5:
        scale *= 1.618
        n -= 1

    def fib(k):
        return k if k < 2 else fib(k - 1) + fib(k - 2)

    return fib(n)


def w_sort(scale):
    """Sorting and list comprehensions: an LCG list, sort with a key, sorted tuples."""
    n = max(10, int(80_000 * scale))
    x = 12345
    a = []
    for _ in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
        a.append(x)
    b = sorted(a)
    c = sorted(a, key=lambda v: (v % 1000, v))
    pairs = sorted([(v % 101, -v) for v in a[: n // 2]])
    evens = [v // 2 for v in b if v % 2 == 0]
    return b[n // 3] + c[n // 3] + pairs[n // 5][1] + len(evens)


def w_objects(scale):
    """Classes: instance creation, attribute access, method calls, a small tree."""
    n = int(150_000 * scale)

    class Vec:
        __slots__ = ("x", "y")

        def __init__(self, x, y):
            self.x = x
            self.y = y

        def add(self, o):
            return Vec(self.x + o.x, self.y + o.y)

        def dot(self, o):
            return self.x * o.x + self.y * o.y

    class Node:
        def __init__(self, value, left=None, right=None):
            self.value = value
            self.left = left
            self.right = right

        def total(self):
            t = self.value
            if self.left:
                t += self.left.total()
            if self.right:
                t += self.right.total()
            return t

    acc = Vec(0, 0)
    d = 0
    for i in range(n):
        v = Vec(i, -i)
        acc = acc.add(v)
        d += v.dot(acc) % 7

    def build(depth, v):
        if depth == 0:
            return Node(v)
        return Node(v, build(depth - 1, 2 * v), build(depth - 1, 2 * v + 1))

    depth = 6
    while (1 << depth) < n // 4 and depth < 16:
        depth += 1
    return acc.x + acc.y + d + build(depth, 1).total()


def cpu_time():
    """Seconds of CPU time of this process. Not time.process_time(): wasi-libc emulates clock()
    with the monotonic clock, while WASI's PROCESS_CPUTIME clock is the host process's."""
    return time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID)


def median(xs):
    xs = sorted(xs)
    k = len(xs) // 2
    return xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2


WORKLOADS = [
    ("loop", w_loop),
    ("float", w_float),
    ("strings", w_strings),
    ("dict", w_dict),
    ("json", w_json),
    ("regex", w_regex),
    ("fib", w_fib),
    ("sort", w_sort),
    ("objects", w_objects),
]


def main(argv):
    scale, reps, only = 1.0, 3, None
    it = iter(argv)
    for a in it:
        if a == "--reps":
            reps = int(next(it))
        elif a.startswith("--reps="):
            reps = int(a[7:])
        elif a == "--only":
            only = next(it).split(",")
        elif a.startswith("--only="):
            only = a[7:].split(",")
        else:
            scale = float(a)
    impl = sys.implementation
    print(f"# {impl.name} {sys.version.split()[0]} on {sys.platform}"
          f" ({sys.version.split('[')[-1].rstrip(']')}) scale={scale} reps={reps}", flush=True)
    for name, fn in WORKLOADS:
        if only and name not in only:
            continue
        walls, cpus = [], []
        check = None
        for _ in range(reps):
            gc.collect()
            t0, c0 = time.perf_counter(), cpu_time()
            check = fn(scale)
            c1, t1 = cpu_time(), time.perf_counter()
            walls.append((t1 - t0) * 1000.0)
            cpus.append((c1 - c0) * 1000.0)
        print(f"{name} {median(walls):.2f} {median(cpus):.2f} {check}"
              f" {','.join(f'{t:.1f}' for t in walls)} {','.join(f'{t:.1f}' for t in cpus)}",
              flush=True)

if __name__ == "__main__":
    main(sys.argv[1:])
