# SPDX-License-Identifier: Apache-2.0
"""A PEP 517 build backend in the standard library only, so `pip install ./sdk/python` works
offline in any environment (a plain venv has no `wheel`, which setuptools' backend needs, and
no index to fetch one from). It builds a pure-Python wheel of the `capsule` package, an editable
wheel (PEP 660, a .pth file) and an sdist. Metadata comes from pyproject.toml's [project]."""

import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "capsule"
TAG = "py3-none-any"


def _project():
    """The simple `key = "value"` entries of [project] (all this package uses)."""
    fields, section = {}, None
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]").strip()
                continue
            m = re.fullmatch(r'([A-Za-z0-9_-]+)\s*=\s*"([^"]*)"', line)
            if section == "project" and m:
                fields[m.group(1)] = m.group(2)
    return fields


def _metadata():
    p = _project()
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}", f"Version: {p['version']}"]
    if "description" in p:
        lines.append(f"Summary: {p['description']}")
    if "requires-python" in p:
        lines.append(f"Requires-Python: {p['requires-python']}")
    lines.append("License: Apache-2.0")
    readme = os.path.join(ROOT, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = "\n" + f.read()
    return p["name"], p["version"], ("\n".join(lines) + "\n" + body).encode("utf-8")


def _dist_info(name, version):
    return f"{name.replace('-', '_')}-{version}.dist-info"


def _wheel_text():
    return (f"Wheel-Version: 1.0\nGenerator: capsule_build\nRoot-Is-Purelib: true\n"
            f"Tag: {TAG}\n").encode()


def _package_files():
    base = os.path.join(ROOT, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".py", ".typed")):
                full = os.path.join(dirpath, fn)
                yield os.path.relpath(full, ROOT).replace(os.sep, "/"), full


def _write_wheel(wheel_directory, files):
    """files: list of (archive name, bytes). Adds METADATA, WHEEL and RECORD."""
    name, version, metadata = _metadata()
    info = _dist_info(name, version)
    files = list(files) + [(f"{info}/METADATA", metadata), (f"{info}/WHEEL", _wheel_text())]
    record = []
    wheel_name = f"{name.replace('-', '_')}-{version}-{TAG}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            z.writestr(zipfile.ZipInfo(arc, date_time=(2024, 1, 1, 0, 0, 0)), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arc},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        z.writestr(zipfile.ZipInfo(f"{info}/RECORD", date_time=(2024, 1, 1, 0, 0, 0)),
                   ("\n".join(record) + "\n").encode())
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, metadata = _metadata()
    info = _dist_info(name, version)
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "wb") as f:
        f.write(metadata)
    with open(os.path.join(metadata_directory, info, "WHEEL"), "wb") as f:
        f.write(_wheel_text())
    return info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for arc, full in _package_files():
        with open(full, "rb") as f:
            files.append((arc, f.read()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """A wheel holding only a .pth file that puts this source directory on sys.path."""
    return _write_wheel(wheel_directory, [(f"_{PACKAGE}_editable.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    base = f"{name}-{version}"
    out = f"{base}.tar.gz"
    paths = ["pyproject.toml", "README.md", "build_backend/capsule_build.py"]
    paths += [arc for arc, _ in _package_files()]
    with tarfile.open(os.path.join(sdist_directory, out), "w:gz") as t:
        for rel in paths:
            full = os.path.join(ROOT, rel)
            if os.path.exists(full):
                t.add(full, arcname=f"{base}/{rel}", recursive=False)
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size, info.mtime = len(metadata), int(time.time())
        t.addfile(info, io.BytesIO(metadata))
    return out
