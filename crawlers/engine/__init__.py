"""The crawler engine shared by every source: discovery with Scrapy, files with a streaming downloader.

Reads: the network (or a mirror / loopback replay server given as ``base_url``), credentials from the
environment or ``~/.netrc`` (:mod:`crawlers.engine.credentials`). Writes one raw store
(:class:`manifests.raw.RawStore`): ``<out>/raw/<source>/files/…``, ``items.jsonl`` (one line per
image–text pair), ``stats.json`` (last), plus ``<out>/raw/<source>/.jobdir/`` (Scrapy JOBDIR) and
``<out>/run.json`` (resolved config, secrets redacted).

Public API
----------
``crawl(source, out_dir, *, query=None, limit=None, base_url=None, resume=True, options=None, in_process=False) -> dict``
    Run one source end to end and return the summary (also in ``stats.json`` / ``run.json``).
    ``source`` is a key of :func:`crawlers.registry.sources`. A re-run resumes: items whose file is
    on disk with its recorded size are skipped (``options={"verify": True}``: sha256 re-checked too),
    ``.part`` files continue with HTTP Range. ``in_process=False``
    runs Scrapy in a child process (``python -m crawlers.engine.run_spider``) because a Twisted
    reactor starts once per process; the CLI runs it in-process.
    ``executor=`` (a started :mod:`manifests.executor` executor, ``shard_size=500``): with ``ray``,
    discovery stays here and the downloads run as shard tasks on the cluster
    (:mod:`crawlers.engine.shards`; politeness across the cluster: :mod:`crawlers.engine.cluster_gate`).
``Downloader`` / ``FileRequest`` / ``FileResult`` (:mod:`crawlers.engine.download`)
    ``Downloader(user_agent=…, auth=…, secret_headers=…, credential_origin=base_url, headers=…, per_host=8,
    rate=None, retries=5, backoff=0.5, max_retry_after=300, retry_budget=600, file_deadline=6 h,
    min_rate=1024, rate_window=60, error_hint=fn).fetch(FileRequest(url, dest, checksum="md5:…",
    size=…, expect="image"))`` streams
    one file to ``<dest>.part`` and renames it when size + checksum + content sniffing pass
    (bodies >= ``big_body`` bytes, 32 MiB: ``readinto`` a ring of ``big_chunk`` buffers, sha256 on the
    receiving thread, the write on a helper thread, :mod:`crawlers.engine.stream`). Credentials go
    to ``credential_origin`` only (scheme, host and port compared exactly on every request and
    redirect hop, :func:`crawlers.engine.credentials.same_origin`); a body slower than ``min_rate``
    over ``rate_window`` s or past ``file_deadline`` is cut (:mod:`crawlers.engine.watchdog`); a
    ``Retry-After`` over ``max_retry_after`` is not slept on; a full disk is ``disk_full`` (no retry);
    ``fetch_many(reqs, workers=16, processes=1)`` runs a thread pool (``processes>1``: forked worker
    processes, for many small files); ``request(method, url, **kw)`` is an API call
    with the same retries (raises ``DownloadError``). Failures come back as ``status="error"``.
``SourceSpider`` (:mod:`crawlers.engine.spider`)
    Base class of every source's spider; see below.

Writing a source (``crawlers/<name>.py``: nothing else to edit)
----------------------------------------------------------------
The module docstring is the datasheet (first paragraph = one-line access terms for ``crawl --list``,
or a ``terms`` class attribute). Define ``class Spider(SourceSpider)`` with ``name = "<name>"``,
``default_base_url``, and declare ``credentials`` (env var names read), ``option_names`` and, for a
source whose records need no provenance, ``provenance_required = False``; override the hooks
documented on :class:`~crawlers.engine.spider.SourceSpider` as needed. Add its crawl case to
``tests/crawlers/source_cases.py`` (the source contract test fails without one). The engine passes ``base_url`` (no trailing slash), ``query``, ``limit``,
``options`` (dict) and ``done_ids`` (ids already ``ok`` in the store) as attributes. Parse responses
with pure functions (bytes in, items out) so tests need no server. Yield items made with
``self.item(source_id, downloads=[...], text=..., license=..., ...)`` — any
:class:`manifests.raw.RawItem` field as keyword — where each download is a dict::

    {"url": ..., "path": "relative/under/files/x.jpg", "checksum": "sha256:…" | "md5:…" | None,
     "size": int | None, "expect": "image" | "binary" | "text" | "json" | "any",
     "role": "file" | "text" | "extra",      # file -> RawItem.file/sha256; text -> RawItem.text
     "text_format": "plain" | "pdf",         # for role=text (pdf: text layer via pypdfium2)
     "name_from_header": False,              # final name from Content-Disposition (sanitised)
     "body": bytes | None}                   # bytes the spider already fetched through Scrapy (small
                                             # page images): written atomically, no second request

``self.item`` returns None once ``limit`` items were emitted (stop paging then). File names are
cleaned to one path component of at most 200 UTF-8 bytes with the extension kept; a name that
cleans to a path another download URL holds gets a ``-<hash>`` suffix. Big files never
pass through Scrapy: the pipeline (:mod:`crawlers.engine.pipeline`) fetches the downloads with the
streaming downloader on a thread pool and appends the RawItem (``status="error"`` + ``error`` when
a download failed for good). Source-wide settings are spider class attributes:
``source_user_agent``, ``download_rate`` (requests/s per host), ``download_per_host``,
``metadata_delay`` (Scrapy delay; ``user_agent``/``download_delay`` are accepted and renamed, since
Scrapy 2.19 deprecates them as spider attributes), ``robots_txt``; ``scrapy_settings(options)`` (classmethod) may return Scrapy settings that depend on
the run's options (e.g. per-host concurrency and delays); ``downloader_kwargs()`` may add ``auth``/``headers``/``error_hint`` (secrets stay
in memory; the engine sends them to the spider's ``base_url`` origin only). A fatal source error (bad credentials) is ``raise self.fatal("message")``: the run stops
and the CLI exits 1 with that message.

Tests use :mod:`tests.crawlers.replay` (loopback replay server with fault routes) via ``base_url``.
"""

from __future__ import annotations

from crawlers.engine.download import DEFAULT_USER_AGENT, Downloader, DownloadError, FileRequest, FileResult


def crawl(source, out_dir, **kw):
    """See :func:`crawlers.engine.run.crawl` (imported lazily: Scrapy is heavy)."""
    from crawlers.engine.run import crawl as _crawl

    return _crawl(source, out_dir, **kw)


__all__ = ["DEFAULT_USER_AGENT", "Downloader", "DownloadError", "FileRequest", "FileResult", "crawl"]
