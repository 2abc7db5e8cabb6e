#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of host-mediated HTTP: the real `capsule run` on a C guest that calls
capsule.http_request, against servers on loopback started here (server.py).

Usage: http_test.py --capsule PATH --guest http_guest.wasm CASE
No request in these tests may leave 127.0.0.0/8 or ::1: every URL names localhost, a
*.localhost name (libcurl resolves those to loopback itself, without DNS) or a loopback
literal, and the names that would resolve elsewhere are refused before any connection.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import Server  # noqa: E402

CAPSULE = None
GUEST = None


class Failure(Exception):
    pass


def check(cond, what, *context):
    if not cond:
        raise Failure(what + "".join("\n  " + str(c)[:3000] for c in context))


def run(reqs, hosts=(), extra=(), env=None, task=None, journal=False, cwd=None, raw=None):
    """Runs the guest with requests [(req, body_bytes|None|"-")] (or the raw args list);
    returns the envelope."""
    args = list(raw or [])
    for req, body in reqs:
        args.append(req if isinstance(req, str) else json.dumps(req))
        args.append("-" if body == "-" else (body or b"").hex())
    cmd = [CAPSULE, "run", "--json"]
    if not journal:
        cmd.append("--no-journal")
    for h in hosts:
        cmd += ["--allow-host", h]
    if task:
        cmd += ["--task", task]
    fd, args_file = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(args, f)
    cmd += list(extra) + ["--args-file", args_file, GUEST]
    e = dict(os.environ)
    e.update(env or {})
    # A proxy in the environment must never be used for guest requests.
    e["http_proxy"] = e["HTTPS_PROXY"] = e["ALL_PROXY"] = "http://127.0.0.1:9"
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=120, cwd=cwd)
    finally:
        os.unlink(args_file)
    lines = p.stdout.strip().splitlines()
    check(lines, "no envelope", p.returncode, p.stderr)
    env_ = json.loads(lines[-1])
    env_["_secs"] = time.monotonic() - t0
    # The exit code agrees with the envelope (a sanitizer finding would change it).
    check(p.returncode == (0 if env_["success"] else 1), f"exit code {p.returncode}", p.stderr)
    return env_


def results(env):
    check(env["success"], "the task failed", env)
    return env["result"]


def ok(res, status=200):
    check(res["rc"] > 0, "http_request failed", res)
    check("error" not in res["head"], "the request failed", res)
    check(res["head"]["status"] == status, f"status {res['head'].get('status')}, want {status}",
          res)
    return res


def err(res, error_type, part=None):
    check(res["rc"] > 0, "http_request returned an error code", res)
    e = res["head"].get("error")
    check(e and e["error_type"] == error_type, f"expected {error_type}", res)
    if part:
        check(part in e["message"], f"message lacks {part!r}", res)
    return res


def body(res):
    return bytes.fromhex(res["body_hex"])


# ---- cases ----

def case_allowed(srv):
    env = run([({"url": f"http://localhost:{srv.port}/hello"}, None)], ["localhost"])
    r = ok(results(env)[0])
    check(body(r) == b"hello", "body", r)
    check(r["body_read"] == 5 and r["closed_ok"] == 1, "body_read / close", r)
    check(["content-type", "text/plain"] in r["head"]["headers"], "headers", r)
    check(r["head"]["url"] == f"http://localhost:{srv.port}/hello", "final url", r)
    recs = env["execution"]["host_requests"]
    check(len(recs) == 1, "one record", recs)
    rec = recs[0]
    check(rec["method"] == "GET" and rec["status"] == 200 and rec["bytes_in"] == 5 and
          rec["bytes_out"] == 0 and rec["denied"] is False and rec["error"] is None and
          rec["url"] == f"http://localhost:{srv.port}/hello", "record", rec)


def case_no_hosts(srv):
    env = run([({"url": f"http://localhost:{srv.port}/hello"}, None)])
    err(results(env)[0], "denied", "no allowed_hosts")
    rec = env["execution"]["host_requests"][0]
    check(rec["denied"] is True and rec["status"] is None, "record", rec)
    check(not srv.hits, "a request reached the server", srv.hits)


def case_denied_hosts(srv):
    p = srv.port
    env = run([({"url": f"http://evil.localhost:{p}/hello"}, None),
               ({"url": f"http://localhost:{p}/hello"}, None),
               ({"url": f"http://api.localhost.evil.localhost:{p}/"}, None),
               ({"url": f"http://xapi.localhost:{p}/"}, None),
               ({"url": f"http://API.LocalHost:{p}/hello"}, None),
               ({"url": f"http://api.localhost.:{p}/hello"}, None)],
              ["api.localhost"])
    res = results(env)
    for r in res[:4]:
        err(r, "denied", "not in allowed_hosts")
    ok(res[4])  # case folded
    ok(res[5])  # trailing dot
    check([h[2] for h in srv.hits] == [f"api.localhost:{p}"] * 2, "what reached the server",
          srv.hits)


def case_patterns(srv):
    p = srv.port
    u = lambda host: {"url": f"http://{host}:{p}/hello"}  # noqa: E731
    # Pattern -> (URL host, expected outcome). Names under localhost resolve to loopback, so a
    # match that does not name the host exactly is then refused by the SSRF guard ("loopback").
    table = [
        ("*", "api.localhost", "loopback"),
        ("*", "127.0.0.1", "not in allowed_hosts"),
        ("localhost", "localhost", None),
        ("localhost", "api.localhost", "loopback"),
        ("localhost", "a.b.localhost", "loopback"),
        ("*.localhost", "api.localhost", "loopback"),
        ("*.localhost", "a.b.localhost", "not in allowed_hosts"),
        ("*.localhost", "localhost", "not in allowed_hosts"),
        ("api.localhost", "api.localhost", None),
        (f"api.localhost:{p}", "api.localhost", None),
        ("api.localhost:1", "api.localhost", "not in allowed_hosts"),
        ("127.0.0.1", "127.0.0.1", None),
        (f"127.0.0.1:{p}", "127.0.0.1", None),
        ("127.0.0.1", "localhost", "not in allowed_hosts"),
        ("*", "localhost", "loopback"),
    ]
    for pattern, host, want in table:
        srv.hits.clear()
        r = results(run([(u(host), None)], [pattern]))[0]
        if want is None:
            ok(r)
            check(len(srv.hits) == 1, f"{pattern} / {host}: one hit", srv.hits)
        else:
            err(r, "denied", want)
            check(not srv.hits, f"{pattern} / {host}: reached the server", srv.hits)
    # Several patterns: the best match decides.
    r = results(run([(u("localhost"), None)], ["*", "localhost"]))[0]
    ok(r)


def case_ip_forms(srv):
    p = srv.port
    forms = ["0x7f.1", "2130706433", "127.1", "0177.0.0.1", "[::1]", "[::ffff:127.0.0.1]",
             "[::ffff:7f00:1]", "0.0.0.0", "[::]"]
    reqs = [({"url": f"http://{h}:{p}/hello"}, None) for h in forms]
    reqs.append(({"url": f"http://127.0.0.1.nip.io.localhost:{p}/"}, None))
    res = results(run(reqs, ["*", "localhost", "*.localhost"]))
    for h, r in zip(forms, res):
        err(r, "denied", "not in allowed_hosts")
    err(res[-1], "denied", "loopback")  # "*" matches the name, the guard refuses its address
    check(not srv.hits, "a request reached the server", srv.hits)
    # Listed as an IP, the other spellings of 127.0.0.1 are the same host.
    res = results(run([({"url": f"http://0x7f.1:{p}/hello"}, None),
                       ({"url": f"http://2130706433:{p}/hello"}, None)], ["127.0.0.1"]))
    for r in res:
        ok(r)
        check(r["head"]["url"] == f"http://127.0.0.1:{p}/hello", "normalised url", r)
    # An IPv4-mapped literal listed as such reaches the IPv4 loopback; listing 127.0.0.1 does
    # not grant it (IP literals match only as listed).
    res = results(run([({"url": f"http://[::ffff:127.0.0.1]:{p}/hello"}, None)],
                      ["127.0.0.1"]))
    err(res[0], "denied", "not in allowed_hosts")


def case_ipv6(srv):
    v6 = Server("::1")
    try:
        p = v6.port
        res = results(run([({"url": f"http://[::1]:{p}/hello"}, None),
                           ({"url": f"http://[0:0::1]:{p}/hello"}, None)], ["[::1]"]))
        ok(res[0])
        ok(res[1])
        res = results(run([({"url": f"http://[::1]:{p}/hello"}, None)], ["*", "localhost"]))
        err(res[0], "denied")
        check(len(v6.hits) == 2, "hits", v6.hits)
    finally:
        v6.close()


def case_redirects(srv):
    p = srv.port
    base = f"http://localhost:{p}"
    to = lambda url, code=302: f"{base}/redirect?to={url}&code={code}"  # noqa: E731
    env = run([({"url": to(f"{base}/hello")}, None),
               ({"url": to("/hello", 301)}, None),
               ({"url": to(f"http://evil.localhost:{p}/hello")}, None),
               ({"url": to(f"http://127.0.0.1:{p}/hello", 307)}, None),
               ({"url": f"{base}/loop"}, None),
               ({"url": to(f"{base}/hello"), "max_redirects": 0}, None),
               ({"url": to(f"{base}/echo", 303), "method": "POST",
                 "headers": {"content-type": "text/plain"}}, b"data"),
               ({"url": to(f"{base}/echo", 307), "method": "POST",
                 "headers": {"content-type": "text/plain"}}, b"data"),
               ({"url": to("ftp://localhost/x")}, None)],
              ["localhost"])
    res = results(env)
    r = ok(res[0])
    check(body(r) == b"hello" and r["head"]["redirects"] == 1 and
          r["head"]["url"] == f"{base}/hello", "followed", r)
    check(body(ok(res[1])) == b"hello", "relative redirect", res[1])
    err(res[2], "denied", "evil.localhost")
    err(res[3], "denied", "127.0.0.1")
    err(res[4], "network_error", "more than 10 redirects")
    r = ok(res[5], 302)
    check(["location", f"{base}/hello"] in r["head"]["headers"], "location kept", r)
    r = ok(res[6])
    hdrs = dict((k, v) for k, v in r["head"]["headers"])
    check(hdrs["x-method"] == "GET" and body(r) == b"", "303 turns POST into GET", r)
    check("content-type" not in dict(json.loads(hdrs["x-headers"])), "body headers dropped", r)
    r = ok(res[7])
    hdrs = dict((k, v) for k, v in r["head"]["headers"])
    check(hdrs["x-method"] == "POST" and body(r) == b"data", "307 keeps POST and body", r)
    err(res[8], "invalid_url", "only http and https")
    recs = env["execution"]["host_requests"]
    denied = [x for x in recs if x["denied"]]
    check(len(denied) == 2 and denied[0]["url"] == f"http://evil.localhost:{p}/hello",
          "denied hops recorded", denied)
    check(not any("evil" in (h[2] or "") or h[2].startswith("127.") for h in srv.hits),
          "a denied hop reached the server", srv.hits)
    check(len(recs) == 2 + 2 + 2 + 2 + 11 + 1 + 2 + 2 + 1, "one record per hop",
          len(recs), recs)


def case_credentials(srv):
    """Authorization and Cookie go to the origin they were meant for, not across a redirect."""
    p = srv.port
    base = f"http://localhost:{p}"
    hdrs = [["authorization", "Bearer secret"], ["cookie", "a=1"], ["x-keep", "yes"]]
    res = results(run([({"url": f"{base}/echo", "headers": hdrs}, None),
                       ({"url": f"{base}/redirect?to=http://api.localhost:{p}/echo",
                         "headers": hdrs}, None)], ["localhost", "api.localhost"]))
    sent = dict(json.loads(dict(ok(res[0])["head"]["headers"])["x-headers"]))
    check(sent.get("authorization") == "Bearer secret" and sent.get("x-keep") == "yes", "sent",
          sent)
    sent = dict(json.loads(dict(ok(res[1])["head"]["headers"])["x-headers"]))
    check("authorization" not in sent and "cookie" not in sent and sent.get("x-keep") == "yes",
          "credentials dropped across origins", sent)


def case_binary(srv):
    p = srv.port
    blob = bytes(range(256)) * 3 + bytes([0, 255, 13, 10, 0])
    big = os.urandom(300000)
    res = results(run([({"url": f"http://localhost:{p}/echo", "method": "POST"}, blob),
                       ({"url": f"http://localhost:{p}/echo", "method": "PUT"}, big),
                       ({"url": f"http://localhost:{p}/bytes?n=100000"}, None),
                       ({"url": f"http://localhost:{p}/echo", "method": "POST"}, None),
                       ({"url": f"http://localhost:{p}/hello", "method": "HEAD"}, None)],
                      ["localhost"]))
    check(body(ok(res[0])) == blob, "binary POST body round trip", res[0]["body_hex"][:100])
    check(body(ok(res[1])) == big, "300 KB PUT body round trip")
    check(body(ok(res[2])) == bytes(i % 256 for i in range(100000)), "binary response")
    r = ok(res[3])
    check(body(r) == b"" and dict(r["head"]["headers"])["x-method"] == "POST", "empty POST", r)
    r = ok(res[4])
    check(body(r) == b"" and r["head"]["body_size"] == 0, "HEAD has no body", r)


def case_gzip(srv):
    p = srv.port
    res = results(run([({"url": f"http://localhost:{p}/gzip?n=50000"}, None)], ["localhost"]))
    r = ok(res[0])
    want = (b"capsule gzip test line\n" * (50000 // 23 + 1))[:50000]
    check(body(r) == want, "gzip decoded", len(body(r)))
    check(["content-encoding", "gzip"] in r["head"]["headers"], "content-encoding", r["head"])


def case_body_cap(srv):
    p = srv.port
    res = results(run([({"url": f"http://localhost:{p}/big?n=2000000",
                         "max_response_bytes": 1000000}, None),
                       ({"url": f"http://localhost:{p}/big?n=1000000",
                         "max_response_bytes": 1000000}, None),
                       ({"url": f"http://localhost:{p}/endless",
                         "max_response_bytes": 3000000}, None),
                       ({"url": f"http://localhost:{p}/endless"}, None)],
                      ["localhost"], extra=["--ram", "64MB"]))
    err(res[0], "too_large", "1000000")
    check(len(body(ok(res[1]))) == 1000000, "exactly the cap is fine")
    err(res[2], "too_large", "3000000")
    # The default cap (16 MiB), and never more than half the task's free ram.
    r = err(res[3], "too_large")
    n = int(r["head"]["error"]["message"].split("exceeds ")[1].split()[0])
    check(n <= 16 << 20 and n < 32 << 20, "cap within ram", n)
    check(srv.endless_stopped.wait(5), "the endless response was stopped")
    # A small ram makes a small cap.
    res = results(run([({"url": f"http://localhost:{p}/big?n=6000000"}, None)], ["localhost"],
                      extra=["--ram", "8MB"]))
    err(res[0], "too_large")
    # Too many response headers.
    res = results(run([({"url": f"http://localhost:{p}/headers?n=150"}, None)], ["localhost"]))
    err(res[0], "too_large", "headers")


def case_request_timeout(srv):
    p = srv.port
    env = run([({"url": f"http://localhost:{p}/slow?s=5", "timeout_ms": 500}, None),
               ({"url": f"http://localhost:{p}/hello"}, None)], ["localhost"])
    res = results(env)
    err(res[0], "timeout", "500 ms")
    ok(res[1])
    # The "timeout" error (not a 200 after 5 s) proves the request was cut: no wall-clock bound.


def case_task_deadline(srv):
    p = srv.port
    env = run([({"url": f"http://localhost:{p}/slow?s=20"}, None)], ["localhost"],
              extra=["--timeout", "1s"])
    check(env["success"] is False and env["error"]["error_type"] == "timeout", "timeout", env)
    # The request's own record says it was interrupted: no wall-clock bound needed.
    recs = env["execution"].get("host_requests") or []
    check(len(recs) == 1 and recs[0]["error"] in ("timeout", "interrupted"), "record", recs)


def case_records_journal(srv):
    p = srv.port
    with tempfile.TemporaryDirectory() as d:
        env = run([({"url": f"http://localhost:{p}/hello"}, None),
                   ({"url": f"http://evil.localhost:{p}/"}, None),
                   ({"url": f"http://localhost:{p}/echo", "method": "POST"}, b"12345")],
                  ["localhost"], journal=True, cwd=d)
        recs = env["execution"]["host_requests"]
        check([(r["method"], r["status"], r["denied"], r["bytes_out"]) for r in recs] ==
              [("GET", 200, False, 0), ("GET", None, True, 0), ("POST", 200, False, 5)],
              "records", recs)
        for r in recs:
            for k in ("method", "url", "status", "bytes_in", "bytes_out", "duration_ms", "denied",
                      "error"):
                check(k in r, f"record lacks {k}", r)
        out = subprocess.run([CAPSULE, "logs", str(env["task_id"])], capture_output=True,
                             text=True, cwd=d, timeout=60)
        check(out.returncode == 0, "capsule logs", out.stderr)
        check(f"http GET http://localhost:{p}/hello -> 200" in out.stdout, "journal: request",
              out.stdout)
        check("evil.localhost" in out.stdout and "denied" in out.stdout, "journal: denied",
              out.stdout)
        check("12345" not in out.stdout, "request bodies are not journaled", out.stdout)


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def case_https(srv):
    with tempfile.TemporaryDirectory() as d:
        cert, key = make_cert(d)
        tls = Server(certfile=cert, keyfile=key)
        try:
            url = f"https://localhost:{tls.port}/echo"
            req = [({"url": url, "method": "POST"}, b"\x00tls\xff")]
            # The system CA store does not know the test's certificate.
            err(results(run(req, ["localhost"]))[0], "network_error", "certificate")
            env = run(req, ["localhost"], env={"CAPSULE_CA_BUNDLE": cert})
            r = ok(results(env)[0])
            check(body(r) == b"\x00tls\xff", "https body", r)
            # The certificate names localhost, not api.localhost: refused.
            r = results(run([({"url": f"https://api.localhost:{tls.port}/hello"}, None)],
                            ["api.localhost"], env={"CAPSULE_CA_BUNDLE": cert}))[0]
            err(r, "network_error")
        finally:
            tls.close()


def case_invalid(srv):
    p = srv.port
    env = run([({"url": "ftp://localhost/x"}, None),
               ({"url": "not a url"}, None),
               ({"url": "http://"}, None),
               ({"url": f"http://[fe80::1%25lo]:{p}/"}, None),
               ({"url": f"http://a..b.localhost:{p}/"}, None),
               ({"url": f"http://exa mple.localhost:{p}/"}, None),
               ({"url": "http://localhost:99999/"}, None),
               ({"url": f"http://bücher.localhost:{p}/"}, None)],
              ["localhost", "xn--bcher-kva.localhost"])
    res = results(env)
    for r in res[:7]:
        err(r, "invalid_url")
    # The IDN name is matched (and requested) in its punycode form; it is loopback, and listed.
    r = ok(res[7], 404)
    check(r["head"]["url"] == f"http://xn--bcher-kva.localhost:{p}/", "punycode url", r)
    check(srv.hits and srv.hits[-1][2] == f"xn--bcher-kva.localhost:{p}", "host header",
          srv.hits)


def case_abi_errors(srv):
    p = srv.port
    url = f"http://localhost:{p}/hello"
    res = results(run([("{not json", None),
                       ({"url": url, "headers": {"Host": "evil"}}, None),
                       ({"url": url, "headers": {"x-a": "b\r\nInjected: 1"}}, None),
                       ({"url": url, "headers": [["bad name", "v"]]}, None),
                       ({"url": url, "headers": {"content-length": "3"}}, None),
                       ({"url": url, "method": "CONNECT"}, None),
                       ({"url": url, "method": "GE T"}, None),
                       ({"url": url, "nope": 1}, None),
                       ({"url": url, "max_redirects": 21}, None),
                       ({"url": url, "timeout_ms": 0}, None),
                       ({"url": 5}, None),
                       ({"url": url}, "-"),
                       ({"url": url, "headers": {"X-Fine": "", "user-agent": "guest/1"},
                         "method": "DELETE"}, None)],
                      ["localhost"]))
    for r in res[:11]:
        check(r["rc"] == -2, "EINVAL expected", r)
    check(res[11]["rc"] == -1, "EFAULT for a body outside memory", res[11])
    ok(res[12])
    check(not any(h[0] == "GET" for h in srv.hits) and srv.hits == [("DELETE", "/hello",
          f"localhost:{p}")], "only the valid request was sent", srv.hits)


def case_request_limit(srv):
    # Denied requests count too (and are quick: nothing is sent).
    env = run([], raw=[json.dumps({"url": "http://evil.localhost/"}), "1005"], task="count")
    seen = results(env)
    check(seen == [[0, 1], [1000, -4]], "1000 requests, then ELIMIT", seen)
    check(len(env["execution"]["host_requests"]) == 1000, "records",
          len(env["execution"]["host_requests"]))


def case_proxy_ignored(srv):
    # run() always sets http_proxy & co. to a dead proxy: reaching the server proves they are
    # ignored, and an https URL with CONNECT-style proxies is never attempted.
    r = results(run([({"url": f"http://localhost:{srv.port}/hello"}, None)], ["localhost"]))[0]
    check(body(ok(r)) == b"hello", "direct", r)


def case_subtask_hosts(srv):
    """A sub-task may only narrow its parent's hosts; its requests are recorded in its own
    envelope (which the parent receives)."""
    p = srv.port
    req = json.dumps({"url": f"http://localhost:{p}/hello"})
    child = run([], raw=[json.dumps({"allowed_hosts": ["localhost"]}), req], task="sub",
                hosts=["localhost"])
    env = results(child)
    check(env["success"], "child ran", env)
    r = ok(env["result"][0])
    check(body(r) == b"hello", "child body", r)
    check(len(env["execution"]["host_requests"]) == 1, "child's records", env)
    check("host_requests" not in child["execution"], "the parent made no request", child)
    # Asking for a host the parent lacks is refused outright.
    env = results(run([], raw=[json.dumps({"allowed_hosts": ["example.com"]}), req],
                      task="sub", hosts=["localhost"]))
    check(env["success"] is False and env["error"]["error_type"] == "denied" and
          "example.com" in env["error"]["message"], "escalation refused", env)
    # A narrower grant is fine: the parent's "localhost" covers api.localhost, and the child's
    # request to localhost itself is then outside its own grant.
    env = results(run([], raw=[json.dumps({"allowed_hosts": ["api.localhost"]}), req],
                      task="sub", hosts=["localhost"]))
    err(env["result"][0], "denied", "not in allowed_hosts")
    # "*" in the parent does not let a child list a loopback address it lacks.
    env = results(run([], raw=[json.dumps({"allowed_hosts": ["127.0.0.1"]}), req],
                      task="sub", hosts=["*"]))
    check(env["success"] is False and env["error"]["error_type"] == "denied", "IP escalation",
          env)
    # A child that asks for nothing gets no network.
    env = results(run([], raw=["{}", req], task="sub", hosts=["localhost"]))
    err(env["result"][0], "denied", "no allowed_hosts")
    check(len(srv.hits) == 1, "only the granted child request arrived", srv.hits)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    global CAPSULE, GUEST
    ap = argparse.ArgumentParser()
    ap.add_argument("--capsule", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("case", nargs="*")
    a = ap.parse_args()
    CAPSULE, GUEST = os.path.abspath(a.capsule), os.path.abspath(a.guest)
    names = a.case or sorted(CASES)
    failed = 0
    for name in names:
        srv = Server()
        t0 = time.monotonic()
        try:
            CASES[name](srv)
            print(f"ok   {name} ({time.monotonic() - t0:.1f}s)")
        except Failure as e:
            failed += 1
            print(f"FAIL {name}: {e}")
        finally:
            srv.close()
    print(f"http: {len(names) - failed} passed, {failed} failed")
    return 1 if failed or not names else 0


if __name__ == "__main__":
    sys.exit(main())
