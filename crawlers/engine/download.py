"""The streaming downloader: one file per request, never held in memory, verified, atomic.

Flow of :meth:`Downloader.fetch` (one :class:`FileRequest` in, one :class:`FileResult` out —
network and content problems become ``status="error"`` results, they are never raised)::

    dest exists and verifies? -> ok (skipped)
    wait for a host slot + rate token -> GET (Range: bytes=N- when <dest>.part holds N bytes)
    429/5xx/reset/timeout -> backoff with jitter (Retry-After honoured, host paused) -> retry; a Retry-After
    over max_retry_after, or waits past retry_budget / the file's deadline -> give up now (a re-run resumes)
    206 + matching Content-Range -> append (prefix re-hashed) | 200 -> start over
    first 512 bytes sniffed, whatever the read sizes (HTML/JSON error page served with 200, unknown magic
    for images, zero bytes); a watchdog cuts a body slower than ``min_rate`` or past ``file_deadline``
    chunks -> <dest>.part while sha256 (+ md5/sha1 if published) update
    short body -> retry with Range; size/checksum mismatch -> delete .part, retry from zero
    os.replace(<dest>.part, <dest>)

Secrets (``auth``, ``Authorization``/``X-Auth-Token`` headers) go to ``credential_origin`` only —
the same scheme, host and port (:func:`crawlers.engine.credentials.same_origin`), checked on every
request and every redirect hop; every message carries the URL with credential-like query parameters
masked.
"""

from __future__ import annotations

import errno
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

from crawlers.engine.credentials import SecretSafeSession, redact_url, same_origin
from crawlers.engine.integrity import (
    Hashes,
    content_disposition_filename,
    file_digest,
    parse_checksum,
    safe_name,
    sniff,
)
from crawlers.engine.politeness import HostGate, backoff_delay, parse_retry_after
from crawlers.engine.stream import SNIFF_BYTES, Head, Sink, chunks, pump_ring, raw_body
from crawlers.engine.watchdog import Watchdog

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
    disk_full: bool = False            # the local disk is full (ENOSPC/EDQUOT): the .part is kept for a resume

    @property
    def ok(self) -> bool:
        return self.status == "ok"


#: ``OSError`` numbers that come from our own disk, not from the network: never retried as "cut short".
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_LOCAL_ERRNOS = _DISK_FULL | {errno.ENAMETOOLONG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                              errno.EISDIR, errno.ENOTDIR}


def local_error(err: BaseException, path: str | os.PathLike) -> str | None:
    """A sentence for an error of the local file system (disk full, name too long…), else None."""
    if not isinstance(err, OSError) or isinstance(err, (ConnectionError, requests.RequestException)) \
            or err.errno not in _LOCAL_ERRNOS:
        return None
    if err.errno in _DISK_FULL:
        return (f"disk full writing {path} ({os.strerror(err.errno)}); what was downloaded is kept: "
                "free space and run again to resume")
    if err.errno == errno.ENAMETOOLONG:
        name = Path(err.filename or path).name
        return f"file name too long ({len(name.encode('utf-8', 'replace'))} bytes) for this file system: {name[:60]}…"
    return f"cannot write {err.filename or path}: {os.strerror(err.errno)}"


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in _DISK_FULL


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
    def __init__(self, message: str, status: int | None = None, disk_full: bool = False):
        super().__init__(message)
        self.status, self.disk_full = status, disk_full


ErrorHint = Callable[[int, bytes], "str | None"]


class Downloader:
    """Thread-safe streaming downloader with per-host politeness (see module docstring).

    ``secret_headers`` (tokens) and ``auth`` (Basic) are sent only to URLs of ``credential_origin``
    (required with either) and stripped on a redirect hop to any other origin.
    ``error_hint(status, body_head)`` lets a source turn a 401/403/404 into a sentence a user can act
    on (PhysioNet: credentials vs. data use agreement; GDC: token).
    """

    def __init__(self, *, user_agent: str = DEFAULT_USER_AGENT, auth=None, headers: Mapping[str, str] | None = None,
                 secret_headers: Mapping[str, str] | None = None, credential_origin: str | None = None,
                 per_host: int = 8, rate: float | None = None, retries: int = 5, backoff: float = 0.5,
                 max_backoff: float = 60.0, max_retry_after: float = 300.0, retry_budget: float = 600.0,
                 file_deadline: float | None = 6 * 3600.0, min_rate: float | None = 1024.0, rate_window: float = 60.0,
                 timeout: tuple[float, float] = (10.0, 60.0),
                 chunk_size: int = 1 << 16, resume: bool = True, error_hint: ErrorHint | None = None,
                 big_body: int = 32 << 20, big_chunk: int = 1 << 20, rng: random.Random | None = None):
        self._init_kwargs = {k: v for k, v in locals().items() if k not in ("self", "rng", "__class__")}
        self.user_agent = user_agent
        self.auth = auth
        self.headers = dict(headers or {})
        self.secret_headers = dict(secret_headers or {})   # e.g. X-Auth-Token: never logged, dropped on cross-origin redirects
        if (auth or self.secret_headers) and not credential_origin:
            raise ValueError("Downloader: auth/secret_headers need credential_origin (the one origin they belong to)")
        self.credential_origin = credential_origin
        self._credentials = dict(self.secret_headers)
        if auth:
            self._credentials["Authorization"] = requests.auth._basic_auth_str(*auth)
        self.gate = HostGate(concurrency=per_host, rate=rate)
        self.per_host = per_host
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after   # a Retry-After above this: give up now ("run again later")
        self.retry_budget = retry_budget         # total seconds one file (or request) may spend waiting to retry
        self.file_deadline = file_deadline       # total seconds for one file, all attempts and waits together
        self.watchdog = Watchdog(min_rate=min_rate, window=rate_window)   # + bodies slower than min_rate B/s
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
            s.secret_names = tuple(self._credentials)
            s.credential_origin = self.credential_origin
            adapter = HTTPAdapter(pool_connections=16, pool_maxsize=max(4, self.per_host), max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers.update({"User-Agent": self.user_agent, **self.headers})   # credentials: per request, see _creds
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

    def _creds(self, url: str) -> dict[str, str]:
        """The credential headers for ``url``: all of them for ``credential_origin``, none elsewhere."""
        if self._credentials and same_origin(url, self.credential_origin):
            return self._credentials
        return {}

    # -- metadata requests ------------------------------------------------------------------
    def request(self, method: str, url: str, **kw) -> requests.Response:
        """A small request (API call) with the same politeness and retries; raises DownloadError."""
        host = urlsplit(url).netloc
        creds = self._creds(url)
        if creds:
            kw["headers"] = {**(kw.get("headers") or {}), **creds}
        last: _Retry | None = None
        waited = 0.0
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
            if attempt == self.retries:
                break
            wait, why = self._next_wait(attempt, last, waited, None)
            if why:
                raise DownloadError(f"{last}; {why}", last.status if last else None)
            self._sleep(host, wait, last)
            waited += wait
        raise DownloadError(f"{last} (gave up after {self.retries + 1} attempts)", last.status if last else None)

    # -- files ------------------------------------------------------------------------------
    def fetch(self, req: FileRequest) -> FileResult:
        """Download one file (see module docstring). Never raises for network/content problems."""
        try:
            algo_digest = parse_checksum(req.checksum)
        except ValueError as err:
            return FileResult(req.url, status="error", error=str(err))
        dest = Path(req.dest)
        try:
            return self._fetch(req, dest, algo_digest)
        except OSError as err:   # our own disk (name too long, disk full, read-only): a result, never raised
            message = local_error(err, dest)
            if message is None:
                raise
            return FileResult(req.url, status="error", error=message, disk_full=is_disk_full(err))

    def _fetch(self, req: FileRequest, dest: Path, algo_digest) -> FileResult:
        with self._dest_locks[hash(str(dest)) % len(self._dest_locks)]:
            if not req.name_from_header:
                done = self._verify_existing(req, dest, algo_digest)
                if done is not None:
                    return done
            host = urlsplit(req.url).netloc
            last: _Retry | None = None
            deadline = time.monotonic() + self.file_deadline if self.file_deadline else None
            waited, why, attempt = 0.0, None, 0
            for attempt in range(self.retries + 1):
                try:
                    res = self._attempt(req, dest, algo_digest, deadline)
                    res.attempts = attempt + 1
                    return res
                except _Fatal as err:
                    return FileResult(req.url, status="error", error=str(err), attempts=attempt + 1, http_status=err.status,
                                      disk_full=err.disk_full)
                except _Retry as err:
                    last = err
                    log.debug("retry %d of %s: %s", attempt + 1, redact_url(req.url), err)
                if attempt == self.retries:
                    break
                wait, why = self._next_wait(attempt, last, waited, deadline)
                if why:
                    break
                self._sleep(host, wait, last)
                waited += wait
            error = f"{last}; {why}" if why else f"{last} (gave up after {attempt + 1} attempts)"
            return FileResult(req.url, status="error", attempts=attempt + 1, http_status=last.status if last else None,
                              error=error)

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
    def _next_wait(self, attempt: int, err: _Retry | None, waited: float, deadline: float | None) -> tuple[float, str | None]:
        """Seconds to wait before the next attempt, or a reason to give up now (no sleep at all).

        A ``Retry-After`` above ``max_retry_after`` is not slept on (``999999`` with 5 retries parked a
        file ~25 min); the waits of one file never add up past ``retry_budget`` nor past its deadline.
        """
        if err is not None and err.wait is not None:
            if err.wait > self.max_retry_after:
                return 0.0, (f"the server asks to retry after {err.wait:g} s (Retry-After), over the "
                             f"{self.max_retry_after:g}-s limit: not retried now; run again later to resume")
            wait = err.wait + self.rng.uniform(0, 0.1)
        else:
            wait = backoff_delay(attempt, base=self.backoff, cap=self.max_backoff, rng=self.rng)
        if waited + wait > self.retry_budget:
            return 0.0, f"retry waits would pass the {self.retry_budget:g}-s budget after {attempt + 1} attempts"
        if deadline is not None and time.monotonic() + wait >= deadline:
            return 0.0, f"the download deadline of {self.file_deadline:g} s would pass before the next attempt"
        return wait, None

    def _sleep(self, host: str, wait: float, err: _Retry | None) -> None:
        if err is not None and err.wait is not None:
            self.gate.pause(host, wait)  # every thread of this host waits; the slot() call sleeps
        else:
            time.sleep(wait)

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

    def _attempt(self, req: FileRequest, dest: Path, algo_digest, deadline: float | None = None) -> FileResult:
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
                prep = requests.Request("GET", req.url, headers={**s.headers, **headers, **self._creds(req.url)}).prepare()
                resp = s.send(prep, stream=True, timeout=self.timeout, allow_redirects=True)
        except _NET_ERRORS as err:
            raise _Retry(f"{type(err).__name__} connecting to {redact_url(req.url)}") from None
        xfer = self.watchdog.watch(resp, deadline)
        try:
            with resp:
                return self._receive(req, dest, part, offset, resp, algo_digest, xfer)
        finally:
            self.watchdog.done(xfer)

    def _receive(self, req, dest: Path, part: Path, offset: int, resp: requests.Response, algo_digest, xfer) -> FileResult:
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
                head = resp.raw.read(SNIFF_BYTES, decode_content=True) or b""
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
                    written += pump_ring(fp, fh, hashes, chunk=self.big_chunk, check=check if first else None, progress=xfer)
            else:
                head = Head(check if first else None)   # sniffs SNIFF_BYTES whatever the read sizes
                with open(part, mode) as fh, Sink(fh, hashes, threaded=big) as sink:
                    # small chunks lose little when a connection drops mid-body
                    for chunk in chunks(resp, max(self.chunk_size, 1 << 20) if big else self.chunk_size, whole=big):
                        if not chunk:
                            continue
                        head.feed(chunk)
                        sink.put(chunk)
                        written += len(chunk)
                        xfer.n = written - offset
                    if xfer.reason is None:
                        head.finish()
        except (*_NET_ERRORS, http.client.HTTPException) as err:
            if xfer.reason is not None:   # the watchdog cut it: too slow, or past the file's deadline
                if fp is not None:
                    written = part.stat().st_size
                raise _Retry(f"{xfer.reason} ({url})", status=code) from None
            message = local_error(err, part)
            if message is not None:   # our disk, not the network: retrying would not help
                if not is_disk_full(err):
                    part.unlink(missing_ok=True)
                raise _Fatal(message, code, disk_full=is_disk_full(err)) from None
            if fp is not None:
                written = part.stat().st_size
            raise _Retry(f"body cut short after {written} bytes ({type(err).__name__}) from {url}", status=code) from None
        except _Retry:
            part.unlink(missing_ok=True)
            raise
        if xfer.reason is not None:
            raise _Retry(f"{xfer.reason} ({url})", status=code)
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
