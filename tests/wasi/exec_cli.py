#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`capsule exec` (a WASI command run as is): options, usage errors, exit codes, mounts.

Usage: exec_cli.py CAPSULE GUESTDIR CASE (GUESTDIR holds the tests/wasi guests)."""
import os
import subprocess
import sys
import tempfile

def wasm_module(imports=(), export_start=True):
    """Builds a tiny module: type ()->(), the given (module, name) function imports, one
    function, exported as _start when asked."""
    def leb(n):
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def name(s):
        return leb(len(s)) + s.encode()

    def section(sid, body):
        return bytes([sid]) + leb(len(body)) + body

    m = b"\0asm\1\0\0\0"
    m += section(1, leb(1) + b"\x60\x00\x00")
    if imports:
        body = leb(len(imports))
        for mod, fn in imports:
            body += name(mod) + name(fn) + b"\x00" + leb(0)
        m += section(2, body)
    m += section(3, leb(1) + leb(0))
    if export_start:
        m += section(7, leb(1) + name("_start") + b"\x00" + leb(len(imports)))
    m += section(10, leb(1) + leb(2) + b"\x00\x0b")
    return m


def main():
    capsule, guests, case = sys.argv[1], sys.argv[2], sys.argv[3]
    tmp = tempfile.mkdtemp(prefix="capsule-cli-")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    mounts = os.path.join(guests, "mounts.wasm")
    exitcode = os.path.join(guests, "exitcode.wasm")
    stdio = os.path.join(guests, "stdio.wasm")

    def write(name, content):
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(content)
        return p

    # case: (argv after capsule, expected exit, stdout must contain, stderr must contain)
    cases = {
        "help": (["--help"], 0, ["capsule exec", "--mount"], []),
        "exec_help": (["exec", "--help"], 0, ["--max-memory", "Exit status"], []),
        "version": (["--version"], 0, ["capsule 0.1.0"], []),
        "no_args": ([], 2, [], ["Usage"]),
        "unknown_command": (["frobnicate"], 2, [], ["unknown command 'frobnicate'"]),
        "unknown_option": (["exec", "--frob", exitcode], 2, [], ["unknown option '--frob'"]),
        "missing_file_arg": (["exec"], 2, [], ["exec: missing FILE.wasm"]),
        "missing_value": (["exec", "--fuel"], 2, [], ["'--fuel' needs a value"]),
        "bad_fuel": (["exec", "--fuel", "lots", exitcode], 2, [], ["--fuel: 'lots'"]),
        "bad_memory": (["exec", "--max-memory", "64XB", exitcode], 2, [], ["--max-memory: '64XB'"]),
        "bad_timeout": (["exec", "--timeout", "30", exitcode], 2, [], ["--timeout: '30'"]),
        "bad_env": (["exec", "--env", "=x", exitcode], 2, [], ["--env"]),
        "file_not_found": (["exec", os.path.join(tmp, "nope.wasm")], 127, [],
                           ["No such file or directory"]),
        "not_wasm": (["exec", write("junk.wasm", b"#!/bin/sh\n")], 126, [],
                     ["magic header not detected"]),
        "unknown_import": (["exec", write("ui.wasm", wasm_module(
            [("wasi_snapshot_preview1", "no_such_fn")]))], 126, [], ["unknown import"]),
        "foreign_import": (["exec", write("fi.wasm", wasm_module([("env", "host_fn")]))], 126, [],
                           ["unknown import"]),
        "no_start": (["exec", write("ns.wasm", wasm_module(export_start=False))], 126, [],
                     ["no exported function _start"]),
        "mount_missing": (["exec", "--mount", os.path.join(tmp, "absent"), exitcode], 126, [],
                          ["mount:"]),
        "mount_file": (["exec", "--mount", stdio, exitcode], 126, [], ["not a directory"]),
        "mount_default": (["exec", "--mount", data, mounts], 0, ["mount /data ro"], []),
        "mount_rw": (["exec", "--mount", data + ":rw", mounts], 0, ["mount /data rw"], []),
        "mount_ro_explicit": (["exec", "--mount", data + ":ro", mounts], 0, ["mount /data ro"], []),
        "mount_guest_path": (["exec", "--mount", data + "::/srv/in:rw", "--mount",
                              tmp + "::/top", mounts], 0,
                             ["mount /srv/in rw", "mount /top ro"], []),
        "mount_trailing_slash": (["exec", "--mount", data + "/", mounts], 0, ["mount /data ro"],
                                 []),
        "args_after_file": (["exec", mounts, "--fuel", "x", "--", "y"], 0,
                            ["arg --fuel", "arg x", "arg --", "arg y"], []),
        "double_dash": (["exec", "--", mounts, "a"], 0, ["arg a"], []),
        "exit_code": (["exec", exitcode, "5"], 5, ["exiting with 5"], []),
        "equals_syntax": (["exec", "--timeout=5s", "--fuel=100000000", "--max-memory=16MB",
                           exitcode, "3"], 3, ["exiting with 3"], []),
        "stdin_file": (["exec", "--stdin", write("in.txt", b"abc\n"), stdio], 0, ["abc",
                       "read 4 bytes"], []),
        "stdin_missing": (["exec", "--stdin", os.path.join(tmp, "none.txt"), stdio], 126, [],
                          ["stdin:"]),
        "fuel_exhausted": (["exec", "--fuel", "1000", stdio], 134, [], ["capsule: trap: out of fuel"]),
        "max_output": (["exec", "--max-output", "8", mounts, "0123456789abcdef"], 0,
                       ["arg 0123", "[capsule: output truncated after 8 bytes]"], []),
    }
    if case not in cases:
        print("unknown case", case)
        return 2
    args, want_exit, want_out, want_err = cases[case]
    p = subprocess.run([capsule] + args, capture_output=True, timeout=60, input=b"")
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    ok = p.returncode == want_exit
    ok = ok and all(s in out for s in want_out) and all(s in err for s in want_err)
    if case == "max_output":
        ok = ok and "abcdef" not in out
    print(f"$ capsule {' '.join(args)}\nexit {p.returncode} (want {want_exit})")
    print("--- stdout\n" + out[:2000] + "--- stderr\n" + err[:2000])
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
