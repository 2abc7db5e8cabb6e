# SPDX-License-Identifier: Apache-2.0
"""HTTP from a task, made by the host (guest ABI `http_request`; sockets stay closed).

    from capsule import http, task

    @task(name="main", allowed_hosts=["api.example.com"])
    def main():
        r = http.get("https://api.example.com/items", params={"page": 1}, timeout=5)
        r.raise_for_status()
        return r.json()

The host checks every request (and every redirect hop) against the task's `allowed_hosts` and
refuses private addresses that are not listed explicitly. A request that does not get a
response raises HTTPError, or the subclass named after the host's error_type: Denied
("denied"), InvalidURL ("invalid_url"), NetworkError ("network_error"), Timeout ("timeout"),
TooLarge ("too_large"). A response with any status is returned; `raise_for_status()` turns
4xx/5xx into HTTPStatusError.

Outside Capsule (tests on an ordinary Python) the same calls go through urllib, with no policy
checks."""

import json as _json

try:  # Capsule's built-in module; absent in an ordinary Python
    import _capsule
except ImportError:  # pragma: no cover - depends on the interpreter
    _capsule = None

__all__ = [
    "request", "get", "post", "put", "patch", "delete", "head", "Response", "Headers",
    "HTTPError", "Denied", "InvalidURL", "NetworkError", "Timeout", "TooLarge",
    "HTTPStatusError",
]


class HTTPError(Exception):
    """An HTTP request that got no response. `error_type` is the host's stable type
    ("denied", "invalid_url", "network_error", "timeout", "too_large", or "host_error" /
    "limit" / "invalid_request" for a refused ABI call), `message` the host's message and `url`
    the URL asked for."""

    error_type = "host_error"

    def __init__(self, message, url=None, error_type=None):
        if error_type is not None:
            self.error_type = error_type
        # The host's messages already start with their type ("denied: ...").
        prefix = f"{self.error_type}: "
        super().__init__(message if message.startswith(prefix) else prefix + message)
        self.message = message
        self.url = url


class Denied(HTTPError):
    """The host (or a redirect's host) is not in the task's allowed_hosts, or resolves to a
    private address that is not listed explicitly."""

    error_type = "denied"


class InvalidURL(HTTPError, ValueError):
    """Not an absolute http/https URL, a bad host or port."""

    error_type = "invalid_url"


class NetworkError(HTTPError):
    """DNS, connection, TLS or protocol errors; too many redirects."""

    error_type = "network_error"


class Timeout(HTTPError):
    """The request's own timeout (or the task's deadline) passed."""

    error_type = "timeout"


class TooLarge(HTTPError):
    """The body exceeded max_response_bytes, or the headers the host's caps."""

    error_type = "too_large"


class HTTPStatusError(HTTPError):
    """raise_for_status() on a 4xx or 5xx response; `response` is the Response."""

    error_type = "http_status"

    def __init__(self, response):
        super().__init__(f"{response.status} for {response.url}", response.url)
        self.response = response
        self.status = response.status


_ERRORS = {cls.error_type: cls for cls in (Denied, InvalidURL, NetworkError, Timeout, TooLarge)}


def _error(error_type, message, url):
    cls = _ERRORS.get(error_type)
    if cls is None:
        return HTTPError(message, url, error_type or "host_error")
    return cls(message, url)


class Headers:
    """Response headers: case-insensitive lookup, repeated names kept in order."""

    def __init__(self, pairs=()):
        self._pairs = [(str(k).lower(), str(v)) for k, v in pairs]

    def get(self, name, default=None):
        """All values of `name` joined with ", " (like fetch), or default."""
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self._pairs if k == name]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return isinstance(name, str) and any(k == name.lower() for k, _ in self._pairs)

    def __iter__(self):
        seen = []
        for k, _ in self._pairs:
            if k not in seen:
                seen.append(k)
        return iter(seen)

    def __len__(self):
        return len(set(k for k, _ in self._pairs))

    def keys(self):
        return list(self)

    def items(self):
        """(name, value) pairs as received (repeated names repeated)."""
        return list(self._pairs)

    def to_dict(self):
        return {k: self.get(k) for k in self}

    def __repr__(self):
        return f"Headers({self._pairs!r})"


class Response:
    """An HTTP response: status, headers, url (final, after redirects), redirects, content
    (bytes), text, json(), ok."""

    def __init__(self, status, headers, content, url, redirects=0, http_version=None):
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.content = content
        self.url = url
        self.redirects = redirects
        self.http_version = http_version

    @property
    def status_code(self):  # the name requests and httpx use
        return self.status

    @property
    def ok(self):
        return 200 <= self.status < 300

    @property
    def encoding(self):
        """The charset of the content-type header, else utf-8."""
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return "utf-8"

    @property
    def text(self):
        try:
            return self.content.decode(self.encoding, "replace")
        except LookupError:  # an unknown charset
            return self.content.decode("utf-8", "replace")

    def json(self):
        return _json.loads(self.text)

    def raise_for_status(self):
        """Raises HTTPStatusError for a 4xx or 5xx status; returns the response otherwise."""
        if self.status >= 400:
            raise HTTPStatusError(self)
        return self

    def __repr__(self):
        return f"<Response [{self.status}] {self.url}>"


def _header_pairs(headers):
    if headers is None:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    pairs = []
    for item in items:
        k, v = item
        pairs.append([str(k), str(v)])
    return pairs


def _with_params(url, params):
    if not params:
        return url
    from urllib.parse import urlencode

    query = urlencode(params, doseq=True)
    base, sep, fragment = url.partition("#")
    base += ("&" if "?" in base else "?") + query
    return base + sep + fragment


def request(method, url, *, params=None, headers=None, data=None, json=None, timeout=None,
            allow_redirects=True, max_redirects=None, max_response_bytes=None):
    """Makes one HTTP request through the host and returns a Response.

    params: a dict (or pairs) added to the URL's query; headers: a dict or [name, value] pairs;
    data: bytes, str (UTF-8) or a dict (sent form-encoded); json: any JSON value (sent as
    application/json); timeout: seconds for the whole request, redirects included (default 30,
    never past the task's deadline); allow_redirects=False returns a 3xx as it is;
    max_response_bytes caps the decoded body (TooLarge beyond it)."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, not {type(url).__name__}")
    if data is not None and json is not None:
        raise TypeError("give data or json, not both")
    url = _with_params(url, params)
    pairs = _header_pairs(headers)
    names = {k.lower() for k, _ in pairs}
    body = None
    ctype = None
    if json is not None:
        body = _json.dumps(json, ensure_ascii=False, allow_nan=False).encode("utf-8")
        ctype = "application/json"
    elif isinstance(data, dict):
        from urllib.parse import urlencode

        body = urlencode(data, doseq=True).encode("ascii")
        ctype = "application/x-www-form-urlencoded"
    elif isinstance(data, str):
        body = data.encode("utf-8")
        ctype = "text/plain; charset=utf-8"
    elif data is not None:
        body = bytes(data)
    if ctype and "content-type" not in names:
        pairs.append(["content-type", ctype])
    head = {"method": str(method).upper(), "url": url, "headers": pairs}
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        head["timeout_ms"] = max(1, int(timeout * 1000))
    if not allow_redirects:
        head["max_redirects"] = 0
    elif max_redirects is not None:
        head["max_redirects"] = int(max_redirects)
    if max_response_bytes is not None:
        head["max_response_bytes"] = int(max_response_bytes)
    if _capsule is None:
        return _request_local(head, body)
    return _request_host(head, body)


_ABI_ERRORS = {"ETIMEOUT": "timeout", "ELIMIT": "limit", "EINVAL": "invalid_request",
               "ENOMEM": "too_large"}


def _request_host(head, body):
    url = head["url"]
    req = _json.dumps(head, ensure_ascii=False).encode("utf-8")
    try:
        handle = _capsule.http_request(req, body or b"")
    except _capsule.Error as e:
        name = e.args[1] if len(e.args) > 1 else "EUNKNOWN"
        raise _error(_ABI_ERRORS.get(name, "host_error"),
                     f"http_request refused by the host ({name})", url) from None
    try:
        meta = _json.loads(_capsule.response_read(handle))
        err = meta.get("error")
        if err:
            raise _error(err.get("error_type"), err.get("message", ""), url)
        content = _capsule.http_body_read(handle)
    finally:
        try:
            _capsule.response_close(handle)
        except _capsule.Error:
            pass
    return Response(meta.get("status", 0), meta.get("headers") or [], content,
                    meta.get("url", url), meta.get("redirects", 0), meta.get("http_version"))


def _request_local(head, body):
    """The same request through urllib (outside Capsule: no policy, for local testing)."""
    import socket
    import urllib.error
    import urllib.request

    url = head["url"]
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidURL(f"not an absolute http or https URL: {url}", url)
    req = urllib.request.Request(url, data=body, method=head["method"])
    for k, v in head["headers"]:
        req.add_header(k, v)
    handlers = []
    if head.get("max_redirects") == 0:
        class _NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)
    timeout = head.get("timeout_ms", 30000) / 1000
    cap = head.get("max_response_bytes")
    try:
        try:
            resp = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:  # a status >= 400 is still a response
            resp = e
        with resp:
            content = resp.read()
            # The host decodes compressed bodies; do the same for the common codings.
            coding = (resp.headers.get("content-encoding") or "").strip().lower()
            if coding in ("gzip", "x-gzip", "deflate"):
                import zlib

                try:  # 47: a gzip or zlib header; raw deflate (some servers) has none
                    content = zlib.decompress(content, 47)
                except zlib.error:
                    content = zlib.decompress(content, -15)
            if cap is not None and len(content) > cap:
                raise TooLarge(f"the body exceeds {cap} bytes", url)
            final = resp.geturl()
            return Response(resp.status, list(resp.headers.items()), content, final,
                            0 if final == url else 1)
    except (socket.timeout, TimeoutError) as e:
        raise Timeout(str(e), url) from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            raise Timeout(str(e.reason), url) from None
        raise NetworkError(str(e.reason), url) from None
    except ValueError as e:
        raise InvalidURL(str(e), url) from None


def get(url, **kwargs):
    return request("GET", url, **kwargs)


def head(url, **kwargs):
    return request("HEAD", url, **kwargs)


def delete(url, **kwargs):
    return request("DELETE", url, **kwargs)


def post(url, data=None, json=None, **kwargs):
    return request("POST", url, data=data, json=json, **kwargs)


def put(url, data=None, json=None, **kwargs):
    return request("PUT", url, data=data, json=json, **kwargs)


def patch(url, data=None, json=None, **kwargs):
    return request("PATCH", url, data=data, json=json, **kwargs)
