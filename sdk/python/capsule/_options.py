# SPDX-License-Identifier: Apache-2.0
"""Validation of @task options, mirroring the host's parsers (src/runtime/policy.c).

The host re-validates everything it receives; checking here too gives the author a clear error
at decoration time, naming the option, instead of a refused sub-task later."""

import re

__all__ = ["ConfigError", "normalise_options", "OPTION_NAMES"]

OPTION_NAMES = (
    "compute",
    "ram",
    "timeout",
    "max_retries",
    "allowed_files",
    "allowed_hosts",
    "env_variables",
)

_UINT = r"[0-9](?:_?[0-9])*"
_COMPUTE_RE = re.compile(rf"(?:low|medium|high|{_UINT})", re.IGNORECASE)
_RAM_RE = re.compile(rf"({_UINT})(?: ?(b|kb|mb|gb|tb|k|m|g|t|kib|mib|gib|tib))?", re.IGNORECASE)
_TIMEOUT_RE = re.compile(rf"({_UINT})(ms|s|m|h)", re.IGNORECASE)
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST_RE = re.compile(r"[^\s/,;]+")
MAX_RETRIES_LIMIT = 100
MAX_LIST_ENTRIES = 256
_U64_MAX = (1 << 64) - 1


class ConfigError(ValueError):
    """An invalid @task option (the task fails with error_type "invalid_config")."""

    error_type = "invalid_config"


def _uint(text):
    return int(text.replace("_", ""))


def _fail(task, option, value, why):
    raise ConfigError(f"task {task!r}: invalid {option} {value!r}: {why}")


def _check_compute(task, v):
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        _fail(task, "compute", v, "expected LOW, MEDIUM, HIGH or a positive number of fuel units")
    if isinstance(v, int):
        if v <= 0 or v >= _U64_MAX:
            _fail(task, "compute", v, "the fuel must be a positive number below 2**64-1")
        return v
    if not _COMPUTE_RE.fullmatch(v):
        _fail(task, "compute", v, "expected LOW, MEDIUM, HIGH or a positive number of fuel units")
    if v.upper() in ("LOW", "MEDIUM", "HIGH"):
        return v.upper()
    n = _uint(v)
    if n == 0 or n >= _U64_MAX:
        _fail(task, "compute", v, "the fuel must be a positive number below 2**64-1")
    return v


def _check_ram(task, v):
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        _fail(task, "ram", v, "expected a size like 512KB, 64MB or 2GB")
    if isinstance(v, int):
        if v <= 0 or v > _U64_MAX:
            _fail(task, "ram", v, "the size must be positive")
        return v
    m = _RAM_RE.fullmatch(v)
    if not m:
        _fail(task, "ram", v, "expected a size like 512KB, 64MB or 2GB")
    if _uint(m.group(1)) == 0:
        _fail(task, "ram", v, "the size must be positive")
    return v


def _check_timeout(task, v):
    if isinstance(v, bool) or not isinstance(v, str):
        _fail(task, "timeout", v, "expected a duration like 500ms, 30s, 5m or 1h")
    m = _TIMEOUT_RE.fullmatch(v)
    if not m:
        _fail(task, "timeout", v, "expected a duration like 500ms, 30s, 5m or 1h")
    if _uint(m.group(1)) == 0:
        _fail(task, "timeout", v, "the duration must be positive")
    return v


def _check_retries(task, v):
    if isinstance(v, str) and re.fullmatch(r"[0-9]+", v):
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_RETRIES_LIMIT:
        _fail(task, "max_retries", v, f"expected a number from 0 to {MAX_RETRIES_LIMIT}")
    return v


def _check_list(task, option, v, check_one):
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)):
        _fail(task, option, v, "expected a list of strings")
    if len(v) > MAX_LIST_ENTRIES:
        _fail(task, option, v, f"at most {MAX_LIST_ENTRIES} entries")
    out = []
    for item in v:
        if not isinstance(item, str) or not item:
            _fail(task, option, item, "expected a non-empty string")
        check_one(item)
        out.append(item)
    return out


def _check_file(task, s):
    rest = s[:-3] if s.endswith((":ro", ":rw")) else s
    host, sep, guest = rest.partition("::")
    if not host:
        _fail(task, "allowed_files", s, "the host path is empty")
    if ":" in host or ":" in guest:
        _fail(task, "allowed_files", s, "expected PATH, PATH:ro, PATH:rw or PATH::/GUEST_PATH[:ro|:rw]")
    if sep and not guest.startswith("/"):
        _fail(task, "allowed_files", s, "the guest path after '::' must be absolute, like ./src::/app")
    if sep and any(part in (".", "..") for part in guest.split("/")):
        _fail(task, "allowed_files", s, "the guest path must not contain '.' or '..' components")


def _check_host(task, s):
    if not _HOST_RE.fullmatch(s):
        _fail(task, "allowed_hosts", s, "expected a host pattern like api.example.com or *.example.com")


def _check_env(task, s):
    if not _ENV_RE.fullmatch(s):
        _fail(task, "env_variables", s, "expected a variable name like API_KEY")


def normalise_options(task, options):
    """Checks the @task options of `task`; returns the policy dict (only the options given)."""
    policy = {}
    for key, value in options.items():
        if value is None:
            continue
        if key == "compute":
            policy[key] = _check_compute(task, value)
        elif key == "ram":
            policy[key] = _check_ram(task, value)
        elif key == "timeout":
            policy[key] = _check_timeout(task, value)
        elif key == "max_retries":
            policy[key] = _check_retries(task, value)
        elif key == "allowed_files":
            policy[key] = _check_list(task, key, value, lambda s: _check_file(task, s))
        elif key == "allowed_hosts":
            policy[key] = _check_list(task, key, value, lambda s: _check_host(task, s))
        elif key == "env_variables":
            policy[key] = _check_list(task, key, value, lambda s: _check_env(task, s))
        else:
            import difflib

            near = difflib.get_close_matches(key, OPTION_NAMES, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"task {task!r}: unknown option {key!r}{hint}")
    return policy
