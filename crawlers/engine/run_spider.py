"""``python -m crawlers.engine.run_spider``: one crawl per process (the job arrives as JSON on stdin).

Dies with its parent (a watchdog thread) so a killed ``medharvest crawl`` leaves no orphan.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


FATAL_PREFIX = "medharvest-fatal: "


def _watch_parent(ppid: int) -> None:
    while True:
        if os.getppid() != ppid:
            os._exit(137)
        time.sleep(0.2)


def main() -> int:
    job = json.loads(sys.stdin.read())
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    from crawlers.engine.scrapy_run import run_in_process
    from crawlers.registry import spider_class

    message = run_in_process(spider_class(job["source"]), job["settings"], job["spider_kwargs"])
    if message:
        print(FATAL_PREFIX + json.dumps({"message": message}), flush=True)   # also readable when the disk is full
        try:
            with open(job["fatal_file"], "w", encoding="utf-8") as fh:
                json.dump({"message": message}, fh)
        except OSError:
            pass
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
