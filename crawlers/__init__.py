"""Getting data into raw stores: crawlers for public sources, importers for local copies, the sample.

Reads: public web sources / APIs (or a mirror or loopback replay server given as ``--base-url``),
datasets a user already holds on disk. Writes: raw stores (:class:`manifests.raw.RawStore`),
``<data>/raw/<source>/{files/, items.jsonl, stats.json}`` — one item per image–text pair.

Public API
----------
- :mod:`crawlers.registry` — ``SOURCES`` (name -> module path, imported lazily), ``load(name)``,
  ``spider_class(name)``, ``terms(name)`` / ``listing()`` for ``medharvest crawl --list``.
- :mod:`crawlers.engine` — ``crawl(source, out_dir, ...)``, the streaming ``Downloader``, the
  ``SourceSpider`` base class and the Scrapy runner/pipeline every source uses (see its docstring).
- One module per source, each a Scrapy spider whose module docstring is the datasheet:
  ``physionet``, ``gdc``, ``openneuro``, ``openi``, ``medpix`` (+ ``browser``: Selenium middleware;
  ``medpix_case``: the fields a MedPix case holds, shared with the ``medpix2`` importer),
  ``wikimedia``, ``pmc``.
- :mod:`crawlers.importers` — importers for local datasets; :mod:`crawlers.sample` — the synthetic
  sample dataset generator.

Spokes rule: ``crawlers`` imports ``manifests`` and third-party libraries only.
"""
