# SPDX-License-Identifier: Apache-2.0
# A Python task with sub-tasks: `capsule run examples/python/main.py 5` prints
# {"squares": [0, 1, 4, 9, 16]}. Each call of square() runs in a fresh sandbox of its own,
# with limits bounded by main's; `capsule ps` shows the tree.
from capsule import task


@task(name="main", compute="LOW", ram="64MB", timeout="30s")
def main(n: str) -> dict:
    return {"squares": [square(i) for i in range(int(n))]}


@task(name="square", compute="LOW")
def square(x: int) -> int:
    return x * x
