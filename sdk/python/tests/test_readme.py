# SPDX-License-Identifier: Apache-2.0
"""The README's examples run, and print what the README says."""
import os
import re
import shutil
import subprocess
import sys

from conftest import SDK

README = os.path.join(SDK, "README.md")


def _blocks(lang):
    with open(README, encoding="utf-8") as f:
        return re.findall(rf"```{lang}\n(.*?)```", f.read(), re.S)


def _run_example(code, tmp_path, guest, installed=False):
    shutil.copy(guest, tmp_path / "hello.wasm")
    (tmp_path / "example.py").write_text(code, encoding="utf-8")
    env = dict(os.environ)
    if not installed and os.environ.get("CAPSULE_SDK_INSTALLED") != "1":
        env["PYTHONPATH"] = SDK + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_readme_example_runs(capsule_bin, guest, tmp_path):
    example = _blocks("python")[0]
    assert len(example.strip().splitlines()) <= 12, "the example should stay about 10 lines"
    p = _run_example(example, tmp_path, guest)
    assert p.returncode == 0, p.stderr
    assert p.stdout == _blocks("text")[0]


def test_readme_task_example_runs(tmp_path, guest):
    p = _run_example(_blocks("python")[1], tmp_path, guest)
    assert p.returncode == 0, p.stderr


def test_offline_install_runs_the_example(capsule_bin, guest, tmp_path):
    """`pip install --no-index` of this directory works (no index, no setuptools, no wheel) and
    the installed package runs the example."""
    site = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
                        "--disable-pip-version-check", "--target", str(site), SDK],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"pip install failed (Debian package python3-pip):\n{p.stderr}"
    assert (site / "capsule" / "py.typed").exists() and (site / "capsule" / "_runner.py").exists()
    assert not os.path.exists(os.path.join(SDK, "build"))  # the source tree stays clean
    code = (f"import sys; sys.path.insert(0, {str(site)!r})\n"
            f"import capsule; assert capsule.__file__.startswith({str(site)!r}), capsule.__file__\n"
            + _blocks("python")[0])
    p = _run_example(code, tmp_path, guest, installed=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == _blocks("text")[0]
