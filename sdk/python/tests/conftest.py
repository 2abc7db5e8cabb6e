# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the SDK tests: the real `capsule` binary and a real C guest.

Environment (tests/sdk/CMakeLists.txt sets both under ctest):
  CAPSULE_BIN        the capsule executable (required; falls back to `capsule` on PATH)
  CAPSULE_SDK_GUEST  tests/sdk/guests/sdk_guest.c compiled to wasm32-wasi; when unset it is
                     compiled here with clang for wasm32-wasi and Debian's wasi-libc
  CAPSULE_SDK_INSTALLED=1  test the installed `capsule` package instead of this source tree
"""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(SDK))
if os.environ.get("CAPSULE_SDK_INSTALLED") != "1":
    sys.path.insert(0, SDK)

GUEST_SRC = os.path.join(ROOT, "tests", "sdk", "guests", "sdk_guest.c")


def _compile_guest(out_dir):
    cc = next((c for c in ("clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14")
               if shutil.which(c)), None)
    if not cc or not os.path.exists("/usr/include/wasm32-wasi/stdio.h"):
        pytest.fail("CAPSULE_SDK_GUEST is unset and no clang + wasi-libc to build the guest "
                    "(install clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc)")
    # A private sysroot: --sysroot=/usr would let clang pick glibc headers (TOOLCHAIN notes).
    sysroot = os.path.join(out_dir, "sysroot")
    for d in ("include", "lib"):
        os.makedirs(os.path.join(sysroot, d), exist_ok=True)
        link = os.path.join(sysroot, d, "wasm32-wasi")
        if not os.path.islink(link):
            os.symlink(f"/usr/{d}/wasm32-wasi", link)
    out = os.path.join(out_dir, "sdk_guest.wasm")
    subprocess.run([cc, "--target=wasm32-wasi", f"--sysroot={sysroot}", "-O2", "-mcpu=mvp",
                    "-Wall", "-Werror", "-o", out, GUEST_SRC], check=True)
    return out


@pytest.fixture(scope="session")
def capsule_bin():
    path = os.environ.get("CAPSULE_BIN") or shutil.which("capsule")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("set CAPSULE_BIN to the capsule executable (e.g. build/capsule)")
    os.environ["CAPSULE_BIN"] = os.path.abspath(path)
    return os.environ["CAPSULE_BIN"]


@pytest.fixture(scope="session")
def guest(capsule_bin, tmp_path_factory):
    """The C guest's .wasm: tasks echo, main, fail, spin, sleep, exit3, cat, readfile, env."""
    path = os.environ.get("CAPSULE_SDK_GUEST")
    if path:
        if not os.path.exists(path):
            pytest.fail(f"CAPSULE_SDK_GUEST={path} does not exist (build the tree first)")
        return os.path.abspath(path)
    return _compile_guest(str(tmp_path_factory.mktemp("guest")))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh project directory as the current directory (the journal goes there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
