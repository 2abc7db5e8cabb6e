# SPDX-License-Identifier: Apache-2.0
"""The host-side @task decorator: the guest package's API, running in-process."""
import asyncio
import filecmp
import importlib.util
import os
import sys

import pytest

import capsule
from conftest import ROOT

GUEST_PKG = os.path.join(ROOT, "guest", "python", "capsule")


def test_task_runs_in_process():
    @capsule.task(name="double", compute="LOW", ram="64MB", timeout="10s")
    def double(x: int) -> int:
        """Doubles."""
        return x * 2

    assert double(21) == 42
    assert isinstance(double, capsule.Task) and double.name == "double"
    assert double.policy == {"compute": "LOW", "ram": "64MB", "timeout": "10s"}
    assert double.__doc__ == "Doubles." and double.__name__ == "double"
    assert capsule.tasks["double"] is double
    assert capsule.in_sandbox() is False


def test_bare_decorator_and_sub_task_calls():
    @capsule.task
    def square(x):
        return x * x

    @capsule.task(name="main_sq", allowed_files=["./data:ro"], max_retries=2)
    def main(n):
        return [square(i) for i in range(int(n))]

    assert square.name == "square" and square.policy == {}
    assert main("4") == [0, 1, 4, 9]
    assert main.policy == {"allowed_files": ["./data:ro"], "max_retries": 2}


def test_async_tasks_run_to_completion():
    @capsule.task(name="async_inc")
    async def inc(x):
        await asyncio.sleep(0)
        return x + 1

    assert inc.is_async and inc(1) == 2

    async def inside_a_loop():
        return inc(5)  # a call returns the result, as inside Capsule, also under a loop

    assert asyncio.run(inside_a_loop()) == 6


@pytest.mark.parametrize("options,word", [
    ({"ram": "64XB"}, "ram"),
    ({"compute": "EXTREME"}, "compute"),
    ({"timeout": "10"}, "timeout"),
    ({"max_retries": -1}, "max_retries"),
    ({"allowed_files": ["./src::app"]}, "allowed_files"),
    ({"env_variables": ["BAD-NAME"]}, "env_variables"),
    ({"computee": "LOW"}, "did you mean 'compute'"),
])
def test_invalid_options_name_the_option(options, word):
    with pytest.raises(capsule.ConfigError) as ei:
        capsule.task(name="bad", **options)(lambda: None)
    assert word in str(ei.value) and ei.value.error_type == "invalid_config"


def test_log_goes_to_stderr(capsys):
    capsule.log("hello", 42, level="warn")
    assert capsys.readouterr().err == "[warn] hello 42\n"
    with pytest.raises(ValueError):
        capsule.log("x", level="loud")


@pytest.mark.skipif(not os.path.isdir(GUEST_PKG), reason="guest/python is not in this tree")
def test_options_module_is_the_guests():
    """The option checks are the guest package's own file (sdk/python/capsule/_options.py is a
    symbolic link to guest/python/capsule/_options.py, and an installed SDK carries a copy):
    the SDK validates @task options exactly as the sandbox does."""
    sdk = os.path.join(os.path.dirname(capsule.__file__), "_options.py")
    assert filecmp.cmp(sdk, os.path.join(GUEST_PKG, "_options.py"), shallow=False), \
        "sdk/python/capsule/_options.py differs from guest/python/capsule/_options.py"


@pytest.mark.skipif(not os.path.isdir(GUEST_PKG), reason="guest/python is not in this tree")
def test_same_api_as_the_guest_package():
    spec = importlib.util.spec_from_file_location(
        "capsule_guest_pkg", os.path.join(GUEST_PKG, "__init__.py"),
        submodule_search_locations=[GUEST_PKG])
    guest = importlib.util.module_from_spec(spec)
    sys.modules["capsule_guest_pkg"] = guest
    try:
        spec.loader.exec_module(guest)
    finally:
        sys.modules.pop("capsule_guest_pkg", None)
    missing = [name for name in guest.__all__ if not hasattr(capsule, name)]
    assert not missing, f"the guest package exports {missing}, the host SDK does not"
    # Same decorator behaviour: same policy from the same options, same errors.
    for opts in ({"compute": "low", "ram": 1 << 20}, {"timeout": "5m", "max_retries": "3"},
                 {"allowed_hosts": "api.example.com", "env_variables": ["A", "B"]}):
        assert capsule.task(name="p", **opts)(len).policy == guest.task(name="p", **opts)(len).policy
    for bad in ({"ram": "0"}, {"compute": True}, {"nope": 1}):
        with pytest.raises(capsule.ConfigError) as h:
            capsule.task(name="p", **bad)(len)
        with pytest.raises(guest.ConfigError) as g:
            guest.task(name="p", **bad)(len)
        assert str(h.value) == str(g.value)
