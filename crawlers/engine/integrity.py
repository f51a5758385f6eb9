"""Content checks of downloaded bytes: checksums, error-page sniffing, safe file names.

Pure functions and one small hashing class; no network. Used by :mod:`crawlers.engine.download`.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from email.message import Message
from pathlib import PurePosixPath

ALGORITHMS = ("sha256", "md5", "sha1")

# Magic numbers of the payloads the sources serve (expect="image").
_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),            # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),       # PNG
    (0, b"GIF87a"), (0, b"GIF89a"),  # GIF
    (0, b"II*\x00"), (0, b"MM\x00*"),  # TIFF / SVS
    (0, b"II+\x00"), (0, b"MM\x00+"),  # BigTIFF
    (0, b"\x1f\x8b"),                # gzip (.dcm.gz, .nii.gz)
    (128, b"DICM"),                  # DICOM part 10
    (0, b"BM"),                      # BMP
    (0, b"RIFF"),                    # WEBP (RIFF....WEBP)
    (0, b"\x00\x00\x00\x0cjP  "),    # JPEG 2000
    (0, b"\x5c\x01\x00\x00"),        # NIfTI-1 little endian (sizeof_hdr 348)
    (0, b"\x00\x00\x01\x5c"),        # NIfTI-1 big endian
    (0, b"\x1c\x02\x00\x00"),        # NIfTI-2 (540)
    (0, b"%PDF-"),                   # PDF (pathology reports)
)
_ERROR_TYPES = ("text/html", "application/xhtml", "application/json", "application/problem+json", "text/xml", "application/xml")
_ERROR_HEADS = (b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body", b"{\"message\"", b"{\"error", b"{\"detail", b"{\n")


class ChecksumError(ValueError):
    """A published checksum is malformed or names an unknown algorithm."""


def parse_checksum(spec: str | None) -> tuple[str, str] | None:
    """``"md5:abc..."`` -> ``("md5", "abc...")``; a bare hex string is guessed by its length."""
    if not spec:
        return None
    algo, _, digest = spec.partition(":") if ":" in spec else ("", "", spec)
    digest = digest.strip().lower()
    if not algo:
        algo = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(digest), "")
    algo = algo.lower().replace("-", "")
    if algo not in ALGORITHMS or not re.fullmatch(r"[0-9a-f]+", digest) or len(digest) != hashlib.new(algo).digest_size * 2:
        raise ChecksumError(f"bad checksum {spec!r} (want sha256:/md5:/sha1: + hex)")
    return algo, digest


class Hashes:
    """sha256 always, plus the published checksum's algorithm, updated in one pass."""

    def __init__(self, extra: str | None = None):
        self.sha256 = hashlib.sha256()
        self.extra = hashlib.new(extra) if extra and extra != "sha256" else None

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        if self.extra is not None:
            self.extra.update(chunk)

    def digest(self, algo: str) -> str:
        if algo == "sha256" or self.extra is None:
            return self.sha256.hexdigest()
        return self.extra.hexdigest()

    def feed_file(self, path: str | os.PathLike, chunk_size: int = 1 << 20) -> int:
        """Hash an existing prefix (a resumed ``.part``); returns its size."""
        n = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(chunk_size):
                self.update(chunk)
                n += len(chunk)
        return n


def file_digest(path: str | os.PathLike, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def looks_like_error_page(head: bytes, content_type: str | None) -> bool:
    """True when the first bytes / Content-Type say HTML, XML or a JSON message, not a payload."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype.startswith(_ERROR_TYPES):
        return True
    lead = head.lstrip()[:64].lower()
    return any(lead.startswith(h) for h in _ERROR_HEADS)


def has_known_magic(head: bytes) -> bool:
    return any(head[off:off + len(m)] == m for off, m in _MAGIC)


def sniff(head: bytes, content_type: str | None, expect: str) -> str | None:
    """An error sentence when the start of a body cannot be the expected payload, else None.

    ``expect``: ``image`` (a known image/scan/PDF magic number is required), ``binary`` (anything
    but an HTML/XML/JSON error page), ``text``/``json``/``any`` (no check beyond non-emptiness).
    """
    if expect in ("text", "json", "any"):
        return None
    if expect == "image":
        if has_known_magic(head):
            return None
        if looks_like_error_page(head, content_type):
            return f"server sent an error page ({content_type or 'no Content-Type'}) with status 200 instead of the file"
        return f"content is not a known image format (first bytes {head[:8].hex()}, Content-Type {content_type or '-'})"
    if looks_like_error_page(head, content_type) and not has_known_magic(head):
        return f"server sent an error page ({content_type or 'no Content-Type'}) with status 200 instead of the file"
    return None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"|?*\\]")
_EXT = re.compile(r"(?:\.[A-Za-z0-9]{1,8}){1,2}$")   # ".png", ".nii.gz", ".dcm.gz"
#: A name's limit in UTF-8 bytes: file systems allow 255, and the downloader adds ``.part`` (5) and
#: the pipeline may add a ``-<10 hex>`` collision suffix (11).
MAX_NAME_BYTES = 200


def _clip_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode("utf-8")[:max(0, limit)].decode("utf-8", "ignore")


def fit_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` within ``limit`` UTF-8 bytes: the extension kept, a hash of the whole name added when cut
    (two long names that share their first bytes stay two names)."""
    if len(name.encode("utf-8")) <= limit:
        return name
    m = _EXT.search(name)
    ext = m.group(0) if m and m.start() > 0 else ""
    tag = "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return _clip_bytes(name[: len(name) - len(ext)], limit - len(tag) - len(ext)) + tag + ext


def safe_name(name: str, *, fallback: str = "file") -> str:
    """One path component that cannot escape a directory (no ``/``, ``..``, NUL, control chars), at most
    :data:`MAX_NAME_BYTES` UTF-8 bytes with its extension kept (:func:`fit_name`)."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    if name in ("", ".", ".."):
        return fallback
    return fit_name(name)


def disambiguate(relpath: str, owner: str) -> str:
    """``relpath`` with ``-<hash of owner>`` before its extension: the name of a second item whose name
    cleaned to a file another item already holds (``a_b.png`` -> ``a_b-1f2e3d4c5b.png``)."""
    head, _, name = relpath.rpartition("/")
    m = _EXT.search(name)
    ext = m.group(0) if m and m.start() > 0 else ""
    stem = name[: len(name) - len(ext)]
    new = f"{stem}-{hashlib.sha256(owner.encode('utf-8')).hexdigest()[:10]}{ext}"
    return f"{head}/{new}" if head else new


def safe_relpath(path: str, *, fallback: str = "file") -> str:
    """A relative POSIX path kept inside its root: every component sanitised, ``..``/absolute dropped."""
    parts = [p for p in str(path).replace("\\", "/").split("/") if p not in ("", ".", "..")]
    cleaned = [safe_name(p, fallback=fallback) for p in parts]
    return str(PurePosixPath(*cleaned)) if cleaned else fallback


def content_disposition_filename(header: str | None) -> str | None:
    """The file name a ``Content-Disposition`` header proposes (``filename*`` preferred), unsanitised."""
    if not header:
        return None
    msg = Message()
    msg["content-disposition"] = header
    name = msg.get_filename()
    return name or None
