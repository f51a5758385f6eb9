"""The streaming downloader: one file per request, never held in memory, verified, atomic.

Flow of :meth:`Downloader.fetch` (one :class:`FileRequest` in, one :class:`FileResult` out —
network and content problems become ``status="error"`` results, they are never raised)::

    dest exists and verifies? -> ok (skipped)
    wait for a host slot + rate token -> GET (Range: bytes=N- when <dest>.part holds N bytes)
    429/5xx/reset/timeout -> backoff with jitter (Retry-After honoured, host paused) -> retry
    206 + matching Content-Range -> append (prefix re-hashed) | 200 -> start over
    first chunk sniffed (HTML/JSON error page served with 200, unknown magic for images, zero bytes)
    chunks -> <dest>.part while sha256 (+ md5/sha1 if published) update
    short body -> retry with Range; size/checksum mismatch -> delete .part, retry from zero
    os.replace(<dest>.part, <dest>)

Secrets (``auth``, ``Authorization``/``X-Auth-Token`` headers) go to the server only; every
message carries the URL with credential-like query parameters masked.
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from crawlers.engine.credentials import SecretSafeSession, redact_url
from crawlers.engine.integrity import (
    Hashes,
    content_disposition_filename,
    file_digest,
    parse_checksum,
    safe_name,
    sniff,
)
from crawlers.engine.politeness import HostGate, backoff_delay, parse_retry_after
from crawlers.engine.stream import Sink, chunks, pump_ring, raw_body

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "medharvest/0.1 (+https://github.com/medharvest; mailto:medharvest@example.org)"
#: HTTP statuses worth retrying (with backoff), for file downloads and Scrapy's metadata requests alike.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 522, 524})
_NET_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
               requests.exceptions.ContentDecodingError, urllib3.exceptions.HTTPError, OSError)


@dataclass(frozen=True)
class FileRequest:
    """What to fetch and where. ``dest`` is the final file (a directory when ``name_from_header``)."""

    url: str
    dest: str | os.PathLike
    checksum: str | None = None        # "sha256:<hex>" | "md5:<hex>" | "sha1:<hex>" | bare hex
    size: int | None = None            # published size in bytes
    expect: str = "binary"             # image | binary | text | json | any (see integrity.sniff)
    headers: Mapping[str, str] = field(default_factory=dict)   # may hold secrets: never logged
    name_from_header: bool = False     # final name from Content-Disposition (sanitised)
    fallback_name: str = "file"        # name used when the header has none (and for the .part)


@dataclass
class FileResult:
    url: str
    path: str | None = None
    status: str = "ok"                 # ok | error
    error: str | None = None
    sha256: str | None = None
    size: int | None = None
    attempts: int = 0
    resumed: bool = False              # continued a .part with Range
    skipped: bool = False              # already on disk and verified
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class DownloadError(Exception):
    """A metadata request failed for good (raised by :meth:`Downloader.request` only)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Retry(Exception):
    def __init__(self, message: str, wait: float | None = None, status: int | None = None):
        super().__init__(message)
        self.wait, self.status = wait, status


class _Fatal(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


ErrorHint = Callable[[int, bytes], "str | None"]


class Downloader:
    """Thread-safe streaming downloader with per-host politeness (see module docstring).

    ``secret_headers`` (tokens) are sent like ``headers`` but stripped when a redirect leaves the host.
    ``error_hint(status, body_head)`` lets a source turn a 401/403/404 into a sentence a user can act
    on (PhysioNet: credentials vs. data use agreement; GDC: token).
    """

    def __init__(self, *, user_agent: str = DEFAULT_USER_AGENT, auth=None, headers: Mapping[str, str] | None = None,
                 secret_headers: Mapping[str, str] | None = None,
                 per_host: int = 8, rate: float | None = None, retries: int = 5, backoff: float = 0.5,
                 max_backoff: float = 60.0, max_retry_after: float = 300.0, timeout: tuple[float, float] = (10.0, 60.0),
                 chunk_size: int = 1 << 16, resume: bool = True, error_hint: ErrorHint | None = None,
                 big_body: int = 32 << 20, big_chunk: int = 1 << 20, rng: random.Random | None = None):
        self._init_kwargs = {k: v for k, v in locals().items() if k not in ("self", "rng", "__class__")}
        self.user_agent = user_agent
        self.auth = auth
        self.headers = dict(headers or {})
        self.secret_headers = dict(secret_headers or {})   # e.g. X-Auth-Token: never logged, dropped on cross-host redirects
        self.gate = HostGate(concurrency=per_host, rate=rate)
        self.per_host = per_host
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.chunk_size = chunk_size
        self.big_body = big_body      # bodies at least this long take the readinto ring (stream.pump_ring)
        self.big_chunk = big_chunk
        self.resume = resume
        self.error_hint = error_hint
        self.rng = rng or random.Random()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._dest_locks = [threading.Lock() for _ in range(64)]   # striped: one file is fetched by one thread
        self._made_dirs: set[Path] = set()

    # -- sessions ---------------------------------------------------------------------------
    def session(self) -> requests.Session:
        """This thread's pooled session (keep-alive per host)."""
        s = getattr(self._local, "session", None)
        if s is None:
            s = SecretSafeSession()
            s.secret_names = tuple(self.secret_headers)
            adapter = HTTPAdapter(pool_connections=16, pool_maxsize=max(4, self.per_host), max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers.update({"User-Agent": self.user_agent, **self.headers, **self.secret_headers})
            s.auth = self.auth
            s.trust_env = False  # no proxies / netrc surprises: credentials come from the caller
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

    def __enter__(self) -> "Downloader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- metadata requests ------------------------------------------------------------------
    def request(self, method: str, url: str, **kw) -> requests.Response:
        """A small request (API call) with the same politeness and retries; raises DownloadError."""
        host = urlsplit(url).netloc
        last: _Retry | None = None
        for attempt in range(self.retries + 1):
            try:
                with self.gate.slot(host):
                    resp = self.session().request(method, url, timeout=self.timeout, **kw)
            except _NET_ERRORS as err:
                last = _Retry(f"{type(err).__name__} from {redact_url(url)}")
            else:
                if resp.status_code in RETRY_STATUS:
                    last = _Retry(f"HTTP {resp.status_code} from {redact_url(url)}",
                                  parse_retry_after(resp.headers.get("Retry-After")), resp.status_code)
                elif resp.status_code >= 400:
                    raise DownloadError(self._explain(resp.status_code, resp.content[:2048], url), resp.status_code)
                else:
                    return resp
            if attempt < self.retries:
                self._wait(host, attempt, last)
        raise DownloadError(f"{last} (gave up after {self.retries + 1} attempts)", last.status if last else None)

    # -- files ------------------------------------------------------------------------------
    def fetch(self, req: FileRequest) -> FileResult:
        """Download one file (see module docstring). Never raises for network/content problems."""
        try:
            algo_digest = parse_checksum(req.checksum)
        except ValueError as err:
            return FileResult(req.url, status="error", error=str(err))
        dest = Path(req.dest)
        with self._dest_locks[hash(str(dest)) % len(self._dest_locks)]:
            if not req.name_from_header:
                done = self._verify_existing(req, dest, algo_digest)
                if done is not None:
                    return done
            host = urlsplit(req.url).netloc
            last: _Retry | None = None
            for attempt in range(self.retries + 1):
                try:
                    res = self._attempt(req, dest, algo_digest)
                    res.attempts = attempt + 1
                    return res
                except _Fatal as err:
                    return FileResult(req.url, status="error", error=str(err), attempts=attempt + 1, http_status=err.status)
                except _Retry as err:
                    last = err
                    log.debug("retry %d of %s: %s", attempt + 1, redact_url(req.url), err)
                if attempt < self.retries:
                    self._wait(host, attempt, last)
            return FileResult(req.url, status="error", attempts=self.retries + 1, http_status=last.status if last else None,
                              error=f"{last} (gave up after {self.retries + 1} attempts)")

    def fetch_many(self, reqs: Iterable[FileRequest], *, workers: int = 16,
                   processes: int = 1) -> Iterator[tuple[FileRequest, FileResult]]:
        """Many files on a thread pool; yields ``(request, result)`` as they complete.

        ``processes > 1`` shards the list over forked worker processes (each with ``workers`` threads and
        its own connection pools) for many small files, where one interpreter's GIL is the limit; the
        per-host concurrency and rate are divided between the processes.
        """
        if processes > 1:
            from crawlers.engine.pool import fetch_in_processes

            yield from fetch_in_processes(self, list(reqs), workers, processes)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medharvest-dl") as pool:
            futures = {pool.submit(self.fetch, r): r for r in reqs}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()

    # -- internals --------------------------------------------------------------------------
    def _wait(self, host: str, attempt: int, err: _Retry | None) -> None:
        if err is not None and err.wait is not None:
            wait = min(err.wait, self.max_retry_after) + self.rng.uniform(0, 0.1)
            self.gate.pause(host, wait)  # every thread of this host waits; the slot() call sleeps
        else:
            time.sleep(backoff_delay(attempt, base=self.backoff, cap=self.max_backoff, rng=self.rng))

    def _verify_existing(self, req: FileRequest, dest: Path, algo_digest) -> FileResult | None:
        if not dest.is_file():
            return None
        size = dest.stat().st_size
        if size == 0 or (req.size is not None and size != req.size):
            dest.unlink()
            return None
        if algo_digest is not None and file_digest(dest, algo_digest[0]) != algo_digest[1]:
            dest.unlink()
            return None
        if algo_digest is None and req.size is None:
            return None  # nothing to verify against: fetch again
        sha = algo_digest[1] if algo_digest and algo_digest[0] == "sha256" else file_digest(dest)
        return FileResult(req.url, str(dest), sha256=sha, size=size, skipped=True)

    def _explain(self, status: int, head: bytes, url: str) -> str:
        hint = self.error_hint(status, head) if self.error_hint else None
        return f"HTTP {status} from {redact_url(url)}" + (f": {hint}" if hint else "")

    def _attempt(self, req: FileRequest, dest: Path, algo_digest) -> FileResult:
        part_dir = dest if req.name_from_header else dest.parent
        if part_dir not in self._made_dirs:
            part_dir.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(part_dir)
        part = part_dir / (safe_name(req.fallback_name) + ".part") if req.name_from_header else dest.with_name(dest.name + ".part")
        offset = part.stat().st_size if (self.resume and part.exists()) else 0
        headers = {"Accept-Encoding": "identity", **req.headers}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        host = urlsplit(req.url).netloc
        try:
            with self.gate.slot(host):
                s = self.session()
                # prepared by hand: Session.request() re-merges settings per call, measurable with many small files
                prep = requests.Request("GET", req.url, headers={**s.headers, **headers}, auth=s.auth).prepare()
                resp = s.send(prep, stream=True, timeout=self.timeout, allow_redirects=True)
        except _NET_ERRORS as err:
            raise _Retry(f"{type(err).__name__} connecting to {redact_url(req.url)}") from None
        with resp:
            return self._receive(req, dest, part, offset, resp, algo_digest)

    def _receive(self, req, dest: Path, part: Path, offset: int, resp: requests.Response, algo_digest) -> FileResult:
        code = resp.status_code
        url = redact_url(req.url)
        if code in RETRY_STATUS:
            raise _Retry(f"HTTP {code} from {url}", parse_retry_after(resp.headers.get("Retry-After")), code)
        if code == 416 and offset:
            part.unlink(missing_ok=True)
            raise _Retry(f"HTTP 416 for Range {offset}- of {url}; starting over", status=code)
        if code >= 400:
            raise _Fatal(self._explain(code, resp.raw.read(2048, decode_content=True) or b"", req.url), code)
        if code not in (200, 206):
            raise _Fatal(f"unexpected HTTP {code} from {url}", code)
        hashes = Hashes(algo_digest[0] if algo_digest else None)
        resumed = False
        if code == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Retry(f"Content-Range {resp.headers.get('Content-Range')!r} does not start at {offset}; starting over")
            hashes.feed_file(part)
            mode, resumed = "ab", True
            expected_total = total
        else:
            offset, mode = 0, "wb"
            cl = resp.headers.get("Content-Length")
            expected_total = int(cl) if cl and cl.isdigit() else None
        if req.size is not None and expected_total is not None and expected_total != req.size:
            if code == 200:
                head = next(resp.iter_content(512), b"")
                problem = sniff(head, resp.headers.get("Content-Type"), req.expect)
                if problem:
                    raise _Retry(f"{problem} ({url})", status=code)
            part.unlink(missing_ok=True)
            raise _Retry(f"server announces {expected_total} bytes, published size is {req.size} ({url})", status=code)
        written = offset
        first = code == 200
        ctype = resp.headers.get("Content-Type")

        def check(head: bytes) -> None:
            problem = sniff(head, ctype, req.expect)
            if problem:
                raise _Retry(f"{problem} ({url})", status=code)

        big = (expected_total or 0) >= self.big_body
        fp = raw_body(resp) if big else None
        try:
            if fp is not None:
                # big body: readinto a ring of buffers; hash here, write on a helper thread
                with open(part, mode, buffering=0) as fh:
                    written += pump_ring(fp, fh, hashes, chunk=self.big_chunk, check=check if first else None)
            else:
                with open(part, mode) as fh, Sink(fh, hashes, threaded=big) as sink:
                    # small chunks lose little when a connection drops mid-body
                    for chunk in chunks(resp, max(self.chunk_size, 1 << 20) if big else self.chunk_size, whole=big):
                        if not chunk:
                            continue
                        if first:
                            first = False
                            check(chunk[:512])
                        sink.put(chunk)
                        written += len(chunk)
        except (*_NET_ERRORS, http.client.HTTPException) as err:
            if fp is not None:
                written = part.stat().st_size
            raise _Retry(f"body cut short after {written} bytes ({type(err).__name__}) from {url}", status=code) from None
        except _Retry:
            part.unlink(missing_ok=True)
            raise
        if written == 0:
            part.unlink(missing_ok=True)
            raise _Retry(f"empty body (0 bytes) from {url}", status=code)
        if expected_total is not None and written < expected_total:
            raise _Retry(f"body cut short: {written} of {expected_total} bytes from {url}", status=code)
        if req.size is not None and written != req.size:
            if written < req.size:
                raise _Retry(f"body cut short: {written} of {req.size} published bytes from {url}", status=code)
            part.unlink(missing_ok=True)
            raise _Retry(f"size mismatch: got {written} bytes, published {req.size} ({url})", status=code)
        if algo_digest is not None:
            got = hashes.digest(algo_digest[0])
            if got != algo_digest[1]:
                part.unlink(missing_ok=True)
                raise _Retry(f"{algo_digest[0]} mismatch: expected {algo_digest[1]}, got {got} ({url})", status=code)
        final = dest
        if req.name_from_header:
            name = content_disposition_filename(resp.headers.get("Content-Disposition")) or req.fallback_name
            final = dest / safe_name(name, fallback=safe_name(req.fallback_name))
        os.replace(part, final)
        return FileResult(req.url, str(final), sha256=hashes.sha256.hexdigest(), size=written, resumed=resumed, http_status=code)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` -> (100, 1000); ``*`` total -> None."""
    if not value or not value.startswith("bytes "):
        return None, None
    rng, _, total = value[6:].partition("/")
    start = rng.split("-")[0]
    return (int(start) if start.isdigit() else None), (int(total) if total.isdigit() else None)
