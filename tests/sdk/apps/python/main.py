# SPDX-License-Identifier: Apache-2.0
"""A Python task file for the SDK tests: run by `capsule run main.py` once the Python guest is
installed, and imported in-process by the host SDK's @task (tests need neither)."""
from capsule import task


@task(name="main", compute="LOW")
def main(*args):
    return {"hello": list(args)}


@task(name="boom")
def boom(x):
    raise ValueError(f"bad input: {x}")


@task(name="spin")
def spin():
    while True:
        pass


@task(name="double", compute="LOW")
def double(x):
    return x * 2


@task(name="sub")
def sub(n):
    return {"double": double(int(n))}  # a sub-task inside Capsule, a plain call outside
