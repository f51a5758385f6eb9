"""The Scrapy item pipeline that turns spider items into raw-store lines, fetching files on the way.

Spider items (see ``crawlers.engine``) carry download descriptions, not bodies. For each item the
pipeline runs the streaming :class:`~crawlers.engine.download.Downloader` on a thread pool (the
reactor never blocks), then appends one :class:`manifests.raw.RawItem` to ``items.jsonl``. Items
already ``ok`` in the store whose file still verifies are skipped; an id seen twice in one run is
written once. Every item reaches ``items.jsonl`` (an unexpected error becomes ``status="error"``).
Each file path belongs to one download URL (several items may share it: one report for the images
of a study); a download whose name cleans to a path another URL holds gets ``<name>-<hash>.<ext>``
instead (:func:`~crawlers.engine.integrity.disambiguate`), recorded in ``names.jsonl``.
A full disk stops the crawl with a "disk full" message; what was written stays, a re-run resumes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from manifests.raw import RawItem, RawStore, now_iso

from crawlers.engine.download import Downloader, FileRequest, FileResult, is_disk_full, local_error
from crawlers.engine.integrity import disambiguate, file_digest, safe_relpath

log = logging.getLogger(__name__)
NAMES = "names.jsonl"   # which download URL (its sha256) each file path belongs to: see DownloadPipeline._claim


def verified_done(store: RawStore, *, rehash: bool = False) -> set[str]:
    """Ids ``ok`` in the store whose file is still on disk with its recorded size (and sha256 if ``rehash``)."""
    done = set()
    for sid, it in store.latest().items():
        if it.status != "ok":
            continue
        try:
            path = store.resolve(it)
        except ValueError:   # manifests.paths.OutsideRoot: not ours to keep
            continue
        size = (it.meta or {}).get("size")
        if path is not None and (not path.is_file() or (size is not None and path.stat().st_size != size)):
            continue
        if rehash and path is not None and it.sha256 and file_digest(path) != it.sha256:
            log.warning("%s: %s no longer matches its sha256; fetching it again", sid, it.file)
            continue
        done.add(sid)
    return done


def first_sight(sid: str, done: set[str], seen: set[str], counts) -> bool:
    """True the first time a run meets ``sid`` and it is not done before (then it is marked seen);
    otherwise counts it as ``skipped_done`` or ``skipped_duplicate``. Shared by the local pipeline and
    the Ray plan writer, so both skip the same items."""
    if sid in done or sid in seen:
        counts["skipped_done" if sid in done else "skipped_duplicate"] += 1
        return False
    seen.add(sid)
    return True


#: PDFium is not thread-safe (concurrent documents crash the process with a double free), and the
#: pipeline fetches on a thread pool: every PDFium call goes through this lock.
_PDFIUM_LOCK = threading.Lock()


def extract_text(path: Path, fmt: str) -> str:
    if fmt == "pdf":
        import pypdfium2 as pdfium  # lazy: only sources with PDF reports need it

        with _PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(str(path))
            try:
                parts = []
                for page in pdf:
                    textpage = page.get_textpage()
                    parts.append(textpage.get_text_range())
                    textpage.close()
                    page.close()
                return "\n".join(parts).strip()
            finally:
                pdf.close()
    return path.read_text(encoding="utf-8", errors="replace")


def store_body(url: str, dest: Path, body: bytes) -> FileResult:
    """Write bytes a spider already holds to ``dest`` atomically (``.part`` then rename); unchanged: skipped."""
    import hashlib
    import os

    sha = hashlib.sha256(body).hexdigest()
    if dest.is_file() and dest.stat().st_size == len(body) and file_digest(dest) == sha:
        return FileResult(url=url, path=str(dest), sha256=sha, size=len(body), skipped=True)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        with open(part, "wb") as fh:
            fh.write(body)
        os.replace(part, dest)
    except OSError as err:   # disk full: said so, and the crawl stops (DownloadPipeline._stop)
        return FileResult(url=url, status="error", disk_full=is_disk_full(err),
                          error=local_error(err, dest) or f"cannot write {dest.name}: {err.strerror or err}")
    return FileResult(url=url, path=str(dest), sha256=sha, size=len(body))


class NameClaims:
    """Which download URL (its sha256, never the URL: no secrets on disk) each path under ``files/``
    belongs to. Several items may share one URL's file (one report for the images of a study); a
    download whose name cleans to a path another URL holds gets ``<name>-<hash>.<ext>``
    (:func:`~crawlers.engine.integrity.disambiguate`). Kept in ``<store>/names.jsonl`` so a re-run
    picks the same names whatever the order. Thread-safe; one per crawl (Ray shards: one per shard
    process, so two shards on different machines are not guarded against each other)."""

    def __init__(self, store: RawStore):
        self.lock = threading.Lock()
        self.path = store.root / NAMES
        self.owners: dict[str, str | None] = {}   # None: a file of an older run, owner unknown
        for it in store.latest().values():
            meta = it.meta or {}
            for f in (it.file, meta.get("text_file"), *(meta.get("files") or [])):
                if f and str(f).startswith("files/"):
                    self.owners.setdefault(str(f)[len("files/"):], None)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    path, owner = json.loads(line)
                except (ValueError, TypeError):
                    continue   # a partial last line (killed run)
                self.owners[path] = owner

    def claim(self, rel: str, url: str) -> str:
        """``rel`` if it is free or already ``url``'s file, else a name no other URL holds."""
        owner = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
        with self.lock:
            cand = rel
            while self.owners.get(cand, owner) not in (owner, None):
                cand = disambiguate(cand, owner)
            if self.owners.get(cand) != owner:
                self.owners[cand] = owner
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps([cand, owner]) + "\n")
            return cand


def fetch_item(downloader: Downloader, store: RawStore, item: dict, counts: Counter, *,
               provenance_required=None, claims: NameClaims | None = None) -> RawItem:
    """Fetch one spider item's downloads into ``store`` and return its RawItem (the per-record
    function of a crawl: the pipeline and the Ray shard tasks both call it).
    ``provenance_required``: the source's declaration (``SourceSpider.provenance_required``).
    ``claims``: which download URL each file path belongs to (:class:`NameClaims`; the pipeline
    holds one per crawl)."""
    fields = dict(item.get("fields") or {})
    meta = dict(fields.pop("meta", None) or {})
    raw = RawItem(source=store.source, source_id=item["source_id"], retrieved_at=now_iso(), meta=meta, **fields)
    raw.provenance_required = provenance_required   # from the source's declaration
    errors, extras = [], []
    for d in item.get("downloads") or []:
        rel = safe_relpath(d["path"])
        if claims is not None:
            rel = claims.claim(rel, d["url"])
        dest = store.files_dir / rel
        body = d.get("body")
        if body is None and d.get("body_b64") is not None:  # a body carried through a distributed crawl's plan
            import base64

            body = base64.b64decode(d["body_b64"])
        if body is not None:      # fetched by the spider already (small page images)
            res = store_body(d["url"], dest, body)
        else:
            res = downloader.fetch(FileRequest(
                url=d["url"], dest=dest, checksum=d.get("checksum"), size=d.get("size"), expect=d.get("expect", "binary"),
                name_from_header=bool(d.get("name_from_header")), fallback_name=d.get("fallback_name", Path(rel).name)))
        counts["files_skipped" if res.skipped else ("files_ok" if res.ok else "files_error")] += 1
        counts["files_resumed"] += int(res.resumed)
        counts["bytes"] += (res.size or 0) if not res.skipped else 0
        if not res.ok:
            errors.append(res.error or "download failed")
            if res.disk_full:
                raw.meta["disk_full"] = True
                break
            continue
        relpath = str(Path(res.path).relative_to(store.root))
        role = d.get("role", "file")
        if role == "file":
            raw.file, raw.sha256 = relpath, res.sha256
            raw.meta["size"] = res.size
        elif role == "text":
            try:
                text = extract_text(Path(res.path), d.get("text_format", "plain"))
            except (OSError, ValueError, RuntimeError) as err:  # pypdfium2.PdfiumError is a RuntimeError
                raw.meta["text_error"] = f"{relpath}: {err}"
                text = ""
            if text.strip():
                raw.text = text
                raw.text_kind = d.get("text_kind", "report")
            raw.meta["text_file"] = relpath
        else:
            extras.append(relpath)
    if extras:
        raw.meta["files"] = extras
    if errors:
        raw.status, raw.error = "error", "; ".join(errors)
    return raw


class DownloadPipeline:
    def __init__(self, out_dir: str, workers: int, crawler=None):
        self.crawler = crawler
        self.out_dir = out_dir
        self.workers = workers
        self.counts: Counter[str] = Counter()

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        return cls(s.get("MEDHARVEST_OUT"), s.getint("MEDHARVEST_WORKERS", 8), crawler)

    def open_spider(self) -> None:
        self.spider = spider = self.crawler.spider
        self.store = RawStore(self.out_dir, spider.name).open()
        self.done = verified_done(self.store, rehash=bool(spider.options.get("verify")))
        spider.done_ids = set(self.done)  # spiders may skip requests for finished items
        self.seen: set[str] = set()
        self.claims = NameClaims(self.store)
        kw = {"user_agent": spider.source_user_agent, "per_host": spider.download_per_host, "rate": spider.download_rate}
        kw.update(spider.downloader_kwargs())
        if kw.get("auth") or kw.get("secret_headers"):
            kw.setdefault("credential_origin", spider.base_url)
        kw.update(spider.settings.getdict("MEDHARVEST_DOWNLOADER"))
        self.downloader = Downloader(**kw)
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="medharvest-dl")

    async def process_item(self, item):
        if not isinstance(item, dict) or "source_id" not in item:
            return item
        if not first_sight(item["source_id"], self.done, self.seen, self.counts):
            return item
        if self.spider.fatal_message:   # disk full: the crawl is stopping; this item stays to do
            return item
        raw = await asyncio.wrap_future(self.pool.submit(self._fetch_item_safe, item))
        try:
            self.store.append(raw)
        except OSError as err:
            if not is_disk_full(err):
                raise
            self._stop(local_error(err, self.store.items_path))
            return item
        self.counts[raw.status] += 1
        if (raw.meta or {}).get("disk_full"):
            self._stop(raw.error)
        return item

    def _stop(self, message: str) -> None:
        """The disk is full: stop the crawl (the CLI exits 1 with ``message``); a re-run resumes."""
        if self.spider.fatal_message:
            return
        self.spider.fatal_message = message
        engine = self.crawler.engine
        asyncio.ensure_future(engine.close_spider_async(reason="disk full"))

    def _fetch_item_safe(self, item: dict) -> RawItem:
        """:meth:`_fetch_item`, with any unexpected error kept as the item's error (never lost)."""
        try:
            return self._fetch_item(item)
        except Exception as err:  # noqa: BLE001 - recorded on the item, the run goes on
            log.exception("%s: unexpected error", item.get("source_id"))
            message = local_error(err, self.store.files_dir) or f"{type(err).__name__}: {err}"
            return RawItem(source=self.spider.name, source_id=item["source_id"], retrieved_at=now_iso(),
                           status="error", error=message, meta={"disk_full": True} if is_disk_full(err) else {})

    def _fetch_item(self, item: dict) -> RawItem:
        return fetch_item(self.downloader, self.store, item, self.counts, provenance_required=self.spider.provenance_required,
                          claims=self.claims)

    def close_spider(self) -> None:
        spider = self.spider
        self.pool.shutdown(wait=True)
        self.downloader.close()
        stats = {k: v for k, v in self.counts.items() if not k.startswith(("ok", "error"))}
        stats.update(spider.run_stats)
        if spider.fatal_message:
            stats["fatal"] = spider.fatal_message
        try:
            self.store.close({"run": stats})
        except OSError as err:   # a full disk: items.jsonl keeps every complete line; a re-run resumes
            if not is_disk_full(err):
                raise
            spider.fatal_message = spider.fatal_message or local_error(err, self.store.root)
            log.error("%s", spider.fatal_message)
