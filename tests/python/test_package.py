# SPDX-License-Identifier: Apache-2.0
"""Tests of the pure-Python guest package `capsule` on the host's Python (3.11+): option
validation, in-process runs, the runner's outcomes, the socket-free event loop, and sub-task
scheduling against a fake _capsule module. Run: PYTHONPATH=guest/python python3 THIS_FILE."""

import asyncio
import json
import os
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "guest", "python"))

import capsule  # noqa: E402
from capsule import ConfigError, TaskError, task  # noqa: E402
from capsule import _loop, _runner  # noqa: E402


class FakeABI:
    """A stand-in for the _capsule built-in: records sub-task requests and answers them."""

    class Error(Exception):
        pass

    ELIMIT = -4

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.handles = {}
        self.logs = []

    def task_schedule(self, req):
        self.requests.append(json.loads(req))
        h = len(self.handles) + 1
        self.handles[h] = json.dumps(self.answer(self.requests[-1])).encode()
        return h

    def response_read(self, h):
        return self.handles[h]

    def response_close(self, h):
        del self.handles[h]

    def log(self, level, data):
        self.logs.append((level, data))


class OptionsTest(unittest.TestCase):
    def test_options_valid_forms(self):
        t = task(name="t_ok", compute="low", ram="64 MiB", timeout="500ms", max_retries=3,
                 allowed_files=["./data:ro", "./out::/out:rw"], allowed_hosts="api.example.com",
                 env_variables=["API_KEY"])(lambda: 1)
        self.assertEqual(t.policy["compute"], "LOW")
        self.assertEqual(t.policy["allowed_hosts"], ["api.example.com"])
        self.assertEqual(task(name="t_num", compute=5_000_000, ram=1 << 20)(lambda: 1).policy,
                         {"compute": 5000000, "ram": 1048576})

    def test_options_invalid_name_the_option(self):
        cases = [
            (dict(ram="64XB"), "invalid ram '64XB'"),
            (dict(ram="0MB"), "invalid ram"),
            (dict(compute="ULTRA"), "invalid compute"),
            (dict(compute=0), "invalid compute"),
            (dict(timeout="10"), "invalid timeout"),
            (dict(timeout=10), "invalid timeout"),
            (dict(max_retries=101), "invalid max_retries"),
            (dict(max_retries=True), "invalid max_retries"),
            (dict(allowed_files=["data::rel"]), "invalid allowed_files"),
            (dict(allowed_files=["./a::/x/../y"]), "invalid allowed_files"),
            (dict(allowed_hosts=["a b"]), "invalid allowed_hosts"),
            (dict(env_variables=["1BAD"]), "invalid env_variables"),
            (dict(timout="1s"), "did you mean 'timeout'"),
        ]
        for opts, text in cases:
            with self.subTest(opts=opts):
                with self.assertRaises(ConfigError) as cm:
                    task(name="bad", **opts)(lambda: 1)
                self.assertIn(text, str(cm.exception))
                self.assertEqual(cm.exception.error_type, "invalid_config")

    def test_bare_decorator_uses_function_name(self):
        @task
        def plain_name():
            return 7

        self.assertEqual(plain_name.name, "plain_name")
        self.assertEqual(plain_name(), 7)


USER_MODULE = textwrap.dedent('''
    import asyncio
    from capsule import task

    @task(name="main", compute="LOW", ram="64MB", timeout="10s")
    def main(n):
        return {"squares": [square(i) for i in range(int(n))]}

    @task(name="square", compute="LOW")
    def square(x):
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

    @task(name="types")
    def types():
        return {"s": "h\\u00e9llo \\u2603", "i": 2**62, "f": 1.5, "b": True, "n": None,
                "l": [1, (2, 3)], "d": {"k": []}}

    @task(name="notjson")
    def notjson():
        return {1, 2}

    @task(name="nan")
    def nan():
        return float("nan")
''')


class RunnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.tmp.name, "user_main.py")
        with open(cls.path, "w") as f:
            f.write(USER_MODULE)
        _runner.load(cls.path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_task(self, name, *args):
        return _runner.run_request({"task_name": name, "args": list(args), "kwargs": {}})

    def test_runner_main_runs_subtasks_in_process(self):
        self.assertEqual(self.run_task("main", "5"), {"result": {"squares": [0, 1, 4, 9, 16]}})

    def test_runner_exception_gives_task_error_with_user_traceback(self):
        out = self.run_task("boom")
        self.assertEqual(out["error_type"], "task_error")
        self.assertEqual(out["message"], "ValueError: n must be positive")
        self.assertEqual(out["exception"], "ValueError")
        self.assertIn('user_main.py", line 18, in helper', out["traceback"])
        self.assertNotIn("_runner.py", out["traceback"])

    def test_runner_async_task(self):
        self.assertEqual(self.run_task("aio", "4"), {"result": [0, 1, 2, 3]})

    def test_runner_json_types_roundtrip(self):
        out = self.run_task("types")
        text = json.dumps(out, ensure_ascii=False)
        self.assertEqual(json.loads(text)["result"]["l"], [1, [2, 3]])
        self.assertEqual(out["result"]["s"], "h\u00e9llo \u2603")

    def test_runner_non_json_result_is_task_error(self):
        for name in ("notjson", "nan"):
            out = self.run_task(name)
            self.assertEqual(out["error_type"], "task_error")
            self.assertIn("not JSON-serialisable", out["message"])

    def test_runner_unknown_task_lists_known(self):
        out = self.run_task("nope")
        self.assertIn("no task named 'nope'", out["message"])
        self.assertIn("square", out["message"])

    def test_runner_bad_arguments_are_task_error(self):
        self.assertEqual(self.run_task("square", 1, 2)["exception"], "TypeError")

    def test_runner_describe_lists_options(self):
        tasks = _runner.run_request({"describe": True})["result"]["tasks"]
        self.assertEqual(tasks["main"], {"compute": "LOW", "ram": "64MB", "timeout": "10s"})

    def test_runner_load_error_reports_syntax_error(self):
        path = os.path.join(self.tmp.name, "broken_mod.py")
        with open(path, "w") as f:
            f.write("def f(:\n")
        with self.assertRaises(_runner._LoadError) as cm:
            _runner.load(path)
        self.assertEqual(cm.exception.outcome["exception"], "SyntaxError")

    def test_runner_load_error_config_is_invalid_config(self):
        path = os.path.join(self.tmp.name, "badopt_mod.py")
        with open(path, "w") as f:
            f.write("from capsule import task\n@task(name='x', ram='lots')\ndef x(): pass\n")
        with self.assertRaises(_runner._LoadError) as cm:
            _runner.load(path)
        self.assertEqual(cm.exception.outcome["error_type"], "invalid_config")
        self.assertIn("invalid ram", cm.exception.outcome["message"])


class SubtaskTest(unittest.TestCase):
    def setUp(self):
        self.saved = (capsule._capsule, capsule._state.running)

    def tearDown(self):
        capsule._capsule, capsule._state.running = self.saved

    def test_subtask_call_schedules_with_explicit_policy(self):
        fake = FakeABI(lambda req: {"success": True, "result": req["args"][0] * 10})
        capsule._capsule = fake
        capsule._state.running = "main"
        child = task(name="child", compute="LOW", ram="32MB")(lambda x: 0)
        self.assertEqual(child(4), 40)
        self.assertEqual(fake.requests[0], {"task_name": "child", "args": [4], "kwargs": {},
                                            "policy": {"compute": "LOW", "ram": "32MB"}})
        self.assertEqual(fake.handles, {})

    def test_subtask_failure_raises_task_error(self):
        fake = FakeABI(lambda req: {"success": False, "result": None,
                                    "error": {"error_type": "denied", "message": "no"}})
        capsule._capsule = fake
        capsule._state.running = "main"
        child = task(name="child2")(lambda: 0)
        with self.assertRaises(TaskError) as cm:
            child()
        self.assertEqual(cm.exception.error_type, "denied")
        self.assertEqual(cm.exception.message, "no")

    def test_subtask_args_must_be_json(self):
        capsule._capsule = FakeABI(lambda req: {})
        capsule._state.running = "main"
        with self.assertRaises(TypeError):
            task(name="child3")(lambda x: 0)(object())

    def test_log_goes_to_abi(self):
        fake = FakeABI(None)
        capsule._capsule = fake
        capsule.log("hello", 3, level="warn")
        self.assertEqual(fake.logs, [(2, b"hello 3")])
        with self.assertRaises(ValueError):
            capsule.log("x", level="loud")


class LoopTest(unittest.TestCase):
    def test_loop_asyncio_run_uses_capsule_loop(self):
        _loop.install()
        try:
            async def which():
                await asyncio.sleep(0)
                return type(asyncio.get_running_loop()).__name__

            self.assertEqual(asyncio.run(which()), "CapsuleEventLoop")
        finally:
            asyncio.set_event_loop_policy(None)
            _loop._installed = False

    def test_loop_policy_installed_when_asyncio_is_first_imported(self):
        import subprocess

        code = ("import sys; sys.path.insert(0, %r)\n"
                "from capsule import _runner\n"
                "assert 'asyncio' not in sys.modules\n"
                "_runner._install_loop_policy()\n"
                "assert 'asyncio' not in sys.modules\n"
                "import asyncio\n"
                "print(type(asyncio.get_event_loop_policy()).__name__)\n"
                % os.path.join(HERE, "..", "..", "guest", "python"))
        out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), "CapsuleEventLoopPolicy", out.stderr)

    def test_loop_timers_order_and_wait_for_timeout(self):
        async def go():
            order = []

            async def at(d, tag):
                await asyncio.sleep(d)
                order.append(tag)

            await asyncio.gather(at(0.02, "b"), at(0.01, "a"))
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.sleep(1), 0.01)
            return order

        self.assertEqual(_loop.run(go()), ["a", "b"])

    def test_loop_deadlock_is_reported(self):
        async def stuck():
            await asyncio.get_running_loop().create_future()

        with self.assertRaises(RuntimeError) as cm:
            _loop.run(stuck())
        self.assertIn("deadlock", str(cm.exception))


if __name__ == "__main__":
    unittest.main(verbosity=1)
