# SPDX-License-Identifier: Apache-2.0
"""A small HTTP(S) server for tests/http, bound to loopback only (127.0.0.1 or ::1).

Routes:
  /hello                 "hello"
  /echo                  the request body back; x-method and x-headers (JSON) tell the rest
  /bytes?n=N             N bytes 0, 1, ..., 255, 0, 1, ...
  /gzip?n=N              N bytes of text, sent gzip-encoded
  /redirect?to=URL&code=302   a redirect
  /loop                  redirects to itself forever
  /slow?s=SECONDS        waits, then "slow"
  /endless               a chunked body that never ends
  /big?n=N               N bytes with a Content-Length
  /headers?n=N           N response headers
Every request is counted in Server.hits (path list) so tests can check what arrived.
"""
import gzip
import http.server
import json
import socket
import ssl
import threading
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        self.server.owner.hits.append((self.command, u.path, self.headers.get("Host")))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        p = u.path
        if p == "/hello":
            self._send(200, b"hello", [("Content-Type", "text/plain")])
        elif p == "/echo":
            hdrs = json.dumps([[k.lower(), v] for k, v in self.headers.items()])
            self._send(200, body, [("X-Method", self.command), ("X-Headers", hdrs),
                                   ("Content-Type", "application/octet-stream")])
        elif p == "/bytes":
            n = int(q.get("n", "256"))
            self._send(200, bytes(i % 256 for i in range(n)))
        elif p == "/gzip":
            n = int(q.get("n", "1000"))
            raw = (b"capsule gzip test line\n" * (n // 23 + 1))[:n]
            self._send(200, gzip.compress(raw), [("Content-Encoding", "gzip")])
        elif p == "/redirect":
            self._send(int(q.get("code", "302")), b"", [("Location", q["to"])])
        elif p == "/loop":
            self._send(302, b"", [("Location", "/loop")])
        elif p == "/slow":
            time.sleep(float(q.get("s", "5")))
            self._send(200, b"slow")
        elif p == "/endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                self.server.owner.endless_stopped.set()
                return
        elif p == "/big":
            self._send(200, b"y" * int(q.get("n", "1000")))
        elif p == "/headers":
            self._send(200, b"h", [("X-H%d" % i, "v" * 100) for i in range(int(q.get("n", "10")))])
        else:
            self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _route


class Server:
    """Runs Handler on an ephemeral loopback port in a thread."""

    def __init__(self, host="127.0.0.1", certfile=None, keyfile=None):
        self.hits = []
        self.endless_stopped = threading.Event()
        cls = http.server.ThreadingHTTPServer
        if ":" in host:
            cls = type("V6Server", (http.server.ThreadingHTTPServer,),
                       {"address_family": socket.AF_INET6})
        self.httpd = cls((host, 0), Handler)
        self.httpd.daemon_threads = True
        # Clients that hang up (a capped body, a timeout) are expected: no tracebacks.
        self.httpd.handle_error = lambda request, address: None
        self.httpd.owner = self
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
