"""Getting data into raw stores: crawlers for public sources, importers for local copies, the sample.

Reads: public web sources / APIs (or a mirror or loopback replay server given as ``--base-url``),
datasets a user already holds on disk. Writes: raw stores (:class:`manifests.raw.RawStore`),
``<data>/raw/<source>/{files/, items.jsonl, stats.json}`` — one item per image–text pair.

Public API
----------
- :mod:`crawlers.registry` — ``sources()`` (name -> spider class, discovered by walking this
  package: a source is one module with one ``SourceSpider``), ``spider_class(name)`` (did you mean),
  ``terms(cls)`` / ``listing()`` for ``medharvest crawl --list``, ``present()`` (credentials set?).
- :mod:`crawlers.engine` — ``crawl(source, out_dir, ...)``, the streaming ``Downloader``, the
  ``SourceSpider`` base class and the Scrapy runner/pipeline every source uses (see its docstring).
- One module per source, each a Scrapy spider whose module docstring is the datasheet (today
  physionet, gdc, openneuro, openi, medpix, wikimedia, pmc, web; ``crawl --list`` is the truth). Other
  modules here (``browser``, ``jats``, ``licences``, ``webitems``, ``webtext``, ``medpix_case``: the fields a MedPix case holds, shared with the ``medpix2``
  importer; ``webfigures``: the web source's page parsing) are helpers.
- :mod:`crawlers.importers` — importers for local datasets; :mod:`crawlers.sample` — the synthetic
  sample dataset generator.

Spokes rule: ``crawlers`` imports ``manifests`` and third-party libraries only.
"""
