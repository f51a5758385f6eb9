"""A loopback HTTP replay server for crawler tests (stdlib only, port 0, threaded, HTTP/1.1).

It serves recorded responses at the paths of the real URLs, and misbehaves on purpose::

    from tests.crawlers.replay import ReplayServer, Response

    with ReplayServer() as srv:                                   # binds 127.0.0.1:<free port>
        srv.add("/files/a.jpg", jpeg_bytes, content_type="image/jpeg",
                faults=["429", "reset", "truncate"])               # 1st..3rd request fail, 4th ok
        srv.add("/files/b.jpg", b"...", always="404")              # every request fails
        srv.add_file("/api/search", Path("recorded.json"))         # a recorded body (type guessed)
        srv.add_handler("/crn/graphql", fn, methods=("POST",))     # fn(Request) -> Response
        srv.add_handler("/data/", fn, prefix=True)                 # every path under /data/
        base = srv.url()                                           # "http://127.0.0.1:PORT"
        ...
        srv.hits["/files/a.jpg"]                                   # requests seen per path
        srv.log                                                    # [(method, path, headers), ...]
        srv.gate = fn                                              # fn(Request) -> Response | None, runs
                                                                   # before routing (auth checks: 401/403)

Static bodies honour ``Range: bytes=N-`` / ``N-M`` (206 + Content-Range). A handler may return a
:class:`Response` whose ``body`` is bytes or ``(iterator_of_chunks, length)`` for large streams.

Faults (a route's ``faults`` list is consumed one per request; ``always`` applies to every one):
``429`` (Retry-After: ``retry_after`` seconds), ``429-date`` (Retry-After as an HTTP date),
``500``/``502``/``503``, ``401``/``403``/``404``, ``reset`` (TCP RST before any byte),
``truncate`` (Content-Length of the whole body, half of it sent, connection closed), ``html``
(200 with an HTML error page), ``json-error`` (200 with a JSON error message), ``corrupt`` (200,
right length, flipped bytes: a wrong checksum), ``empty`` (200 with zero bytes), ``slow`` (waits
``slow_seconds`` before answering), ``norange`` (ignores Range, answers 200 with the whole body).
Hostile servers: ``trickle`` (the right headers, then the body at ``trickle_per_byte`` seconds a
byte after the first 64 bytes, for as long as the client listens), ``retry-after-huge`` (429 with
``Retry-After: 999999``), ``short-first`` (a good response whose first network read is 3 bytes: a
flush and a pause follow them).
"""

from __future__ import annotations

import email.utils
import json
import mimetypes
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HTML_ERROR = (b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>"
              b"<body><h1>Sorry, something went wrong</h1><p>Please try again later.</p></body></html>\n")
JSON_ERROR = b'{"message": "Internal server error", "status": 500}\n'


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"))


@dataclass
class Response:
    status: int = 200
    body: bytes | tuple[Iterator[bytes], int] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"


@dataclass
class Route:
    body: bytes | None = None
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    faults: list[str | None] = field(default_factory=list)
    always: str | None = None
    handler: Callable[[Request], Response] | None = None
    methods: tuple[str, ...] = ("GET", "HEAD")


class ReplayServer:
    """See the module docstring. Thread-safe; routes may be added while it runs."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, retry_after: str = "1", slow_seconds: float = 2.0,
                 trickle_per_byte: float = 0.25):
        self.routes: dict[str, Route] = {}
        self.prefixes: list[tuple[str, Route]] = []
        self.hits: Counter[str] = Counter()
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.trickle_per_byte = trickle_per_byte
        self.gate: Callable[[Request], Response | None] | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- routes -------------------------------------------------------------------------------
    def add(self, path: str, body: bytes = b"", *, content_type: str | None = None, status: int = 200,
            headers: dict[str, str] | None = None, faults: list[str | None] | None = None, always: str | None = None) -> Route:
        ctype = content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
        route = Route(body=body, content_type=ctype, headers=dict(headers or {}), status=status,
                      faults=list(faults or []), always=always)
        with self._lock:
            self.routes[path] = route
        return route

    def add_file(self, path: str, file: str | Path, **kw) -> Route:
        kw.setdefault("content_type", mimetypes.guess_type(str(file))[0])
        return self.add(path, Path(file).read_bytes(), **kw)

    def add_handler(self, path: str, fn: Callable[[Request], Response], *, methods: tuple[str, ...] = ("GET", "HEAD", "POST"),
                    prefix: bool = False, faults: list[str | None] | None = None) -> Route:
        route = Route(handler=fn, methods=methods, faults=list(faults or []))
        with self._lock:
            if prefix:  # a prefix registered again replaces the old route
                self.prefixes = [(p, r) for p, r in self.prefixes if p != path] + [(path, route)]
                self.prefixes.sort(key=lambda pr: -len(pr[0]))
            else:
                self.routes[path] = route
        return route

    def find(self, path: str) -> Route | None:
        with self._lock:
            if path in self.routes:
                return self.routes[path]
            for pre, route in self.prefixes:
                if path.startswith(pre):
                    return route
        return None

    def next_fault(self, route: Route) -> str | None:
        with self._lock:
            if route.faults:
                return route.faults.pop(0)
            return route.always

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> "ReplayServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _parse_range(value: str | None, length: int) -> tuple[int, int] | None:
    if not value or not value.startswith("bytes=") or "," in value:
        return None
    a, _, b = value[6:].partition("-")
    if not a.isdigit():
        return None
    start, end = int(a), (int(b) if b.isdigit() else length - 1)
    return start, min(end, length - 1)


def _make_handler(server: ReplayServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive connections

        def log_message(self, *args) -> None:  # quiet
            return None

        def do_GET(self):
            self._serve()

        def do_POST(self):
            self._serve()

        def do_HEAD(self):
            self._serve()

        # -- plumbing -----------------------------------------------------------------------
        def _serve(self):
            parts = urlsplit(self.path)
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            headers = {k: v for k, v in self.headers.items()}
            with server._lock:
                server.hits[parts.path] += 1
                server.log.append((self.command, parts.path, headers))
            if server.gate is not None:
                denied = server.gate(Request(self.command, parts.path, parse_qs(parts.query), headers, body))
                if denied is not None:
                    return self._send(denied.status, denied.body, denied.content_type, denied.headers)
            route = server.find(parts.path)
            if route is None or self.command not in route.methods:
                return self._send(404 if route is None else 405, b"not found\n", "text/plain")
            fault = server.next_fault(route)
            if fault == "slow":
                time.sleep(server.slow_seconds)
                fault = None
            if fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return None
            if fault == "retry-after-huge":
                return self._send(429, b"Too Many Requests\n", "text/plain", {"Retry-After": "999999"})
            if fault in ("429", "429-date"):
                ra = server.retry_after if fault == "429" else email.utils.formatdate(time.time() + float(server.retry_after), usegmt=True)
                return self._send(429, b"Too Many Requests\n", "text/plain", {"Retry-After": ra})
            if fault and fault.isdigit():
                return self._send(int(fault), f"HTTP {fault}\n".encode(), "text/plain")
            if fault == "html":
                return self._send(200, HTML_ERROR, "text/html; charset=utf-8")
            if fault == "json-error":
                return self._send(200, JSON_ERROR, "application/json")
            if fault == "empty":
                return self._send(200, b"", route.content_type)
            if route.handler is not None:
                resp = route.handler(Request(self.command, parts.path, parse_qs(parts.query), headers, body))
                return self._send(resp.status, resp.body, resp.content_type, resp.headers, truncate=fault == "truncate")
            data = route.body or b""
            if fault == "corrupt" and data:
                mid = len(data) // 2  # keep the magic number: only a checksum can tell
                data = data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 64]) + data[mid + 64:]
            rng = None if fault == "norange" else _parse_range(self.headers.get("Range"), len(data))
            extra = {"Accept-Ranges": "bytes", **route.headers}
            if rng is not None and route.status == 200:
                start, end = rng
                if start >= len(data):
                    return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                extra["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                return self._send(206, data[start:end + 1], route.content_type, extra, truncate=fault == "truncate")
            if fault == "trickle":
                return self._send(route.status, _trickle(data, server.trickle_per_byte), route.content_type, extra)
            if fault == "short-first":
                return self._send(route.status, _short_first(data), route.content_type, extra)
            return self._send(route.status, data, route.content_type, extra, truncate=fault == "truncate")

        def _send(self, status, body, ctype, headers=None, *, truncate=False):
            if isinstance(body, tuple):
                chunks, length = body
            else:
                chunks, length = iter([body]), len(body)
            flush_each = isinstance(body, _Paced)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            limit = length // 2 if truncate else length
            sent = 0
            try:
                for chunk in chunks:
                    if sent + len(chunk) > limit:
                        chunk = chunk[: limit - sent]
                    self.wfile.write(chunk)
                    if flush_each:
                        self.wfile.flush()
                    sent += len(chunk)
                    if sent >= limit:
                        break
                if truncate:
                    self.wfile.flush()
                    self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


class _Paced(tuple):
    """``(chunks, length)`` whose chunks are flushed one by one (each is its own network read)."""


def _trickle(data: bytes, per_byte: float) -> _Paced:
    def gen():
        yield data[:64]
        for i in range(64, len(data)):
            time.sleep(per_byte)
            yield data[i:i + 1]
    return _Paced((gen(), len(data)))


def _short_first(data: bytes) -> _Paced:
    def gen():
        yield data[:3]
        time.sleep(0.05)
        yield data[3:]
    return _Paced((gen(), len(data)))


def serve_forever_in_process(setup: Callable[[ReplayServer], None], port_queue) -> None:  # pragma: no cover - benches
    """Target for ``multiprocessing.Process``: build a server, report its port, serve until killed."""
    srv = ReplayServer()
    setup(srv)
    port_queue.put(srv.port)
    srv._httpd.serve_forever(poll_interval=0.05)
