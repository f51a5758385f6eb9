"""A Scrapy downloader middleware that renders flagged requests in headless Chromium (Selenium).

Only pages that build their content in JavaScript need it (MedPix case pages). A request opts in
with ``meta={"browser": True}`` and may add ``meta["browser_wait"]`` (a CSS selector that must be
present before the page counts as rendered; default ``body``) and ``meta["browser_timeout"]``
(seconds). Every other request goes through Scrapy's normal downloader.

One WebDriver per crawl: started on the first flagged request, shared by all of them (a lock
keeps it to one page at a time; the blocking Selenium calls run in a thread so the reactor keeps
going), quit on ``spider_closed`` together with its temporary profile directory.

Binaries are never downloaded: Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``
(settings ``BROWSER_BINARY`` / ``BROWSER_DRIVER``, or env ``MEDHARVEST_CHROMIUM`` /
``MEDHARVEST_CHROMEDRIVER``) are passed explicitly and ``SE_OFFLINE=true`` keeps Selenium
Manager from going online. Selenium is imported only when a browser is actually started.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from scrapy import signals
from scrapy.http import HtmlResponse

from manifests.errors import StageError

log = logging.getLogger(__name__)

DEFAULT_BINARY = "/usr/bin/chromium"
DEFAULT_DRIVER = "/usr/bin/chromedriver"
DEFAULT_TIMEOUT = 20.0
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-extensions", "--disable-default-apps", "--mute-audio",
    "--window-size=1280,1024",
)


class BrowserUnavailable(StageError):
    """Chromium or chromedriver is missing or would not start."""


def browser_paths(binary: str | None = None, driver: str | None = None) -> tuple[str, str]:
    """The Chromium and chromedriver paths to use (settings > env > Debian defaults)."""
    return (binary or os.environ.get("MEDHARVEST_CHROMIUM") or DEFAULT_BINARY,
            driver or os.environ.get("MEDHARVEST_CHROMEDRIVER") or DEFAULT_DRIVER)


def missing_browser(binary: str | None = None, driver: str | None = None) -> str | None:
    """Why a browser cannot start (one sentence), or ``None`` when both binaries are there."""
    b, d = browser_paths(binary, driver)
    gone = [p for p in (b, d) if not (Path(p).is_file() and os.access(p, os.X_OK))]
    if gone:
        return (f"headless Chromium is needed but {', '.join(gone)} is missing "
                "(apt-get install -y chromium chromium-driver)")
    return None


def start_driver(binary: str | None = None, driver: str | None = None, *, user_agent: str | None = None,
                 profile_dir: str | None = None):
    """A headless Chrome WebDriver on the given binaries (raises :class:`BrowserUnavailable`)."""
    why = missing_browser(binary, driver)
    if why:
        raise BrowserUnavailable(why)
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    b, d = browser_paths(binary, driver)
    opts = webdriver.ChromeOptions()
    opts.binary_location = b
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    if profile_dir:
        opts.add_argument(f"--user-data-dir={profile_dir}")
    if user_agent:
        opts.add_argument(f"--user-agent={user_agent}")
    try:
        return webdriver.Chrome(service=Service(executable_path=d), options=opts)
    except WebDriverException as err:
        raise BrowserUnavailable(f"headless Chromium ({b}) would not start: {err.msg or err}") from err


class BrowserMiddleware:
    """Downloader middleware: ``meta["browser"]`` requests are rendered by one shared WebDriver."""

    def __init__(self, *, binary: str | None = None, driver: str | None = None, user_agent: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT):
        self.binary, self.driver_path = binary, driver
        self.user_agent = user_agent
        self.timeout = timeout
        self._driver = None
        self._profile: str | None = None
        self._lock = threading.Lock()
        self.pages = 0

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        mw = cls(binary=s.get("BROWSER_BINARY"), driver=s.get("BROWSER_DRIVER"),
                 user_agent=s.get("USER_AGENT"), timeout=s.getfloat("BROWSER_TIMEOUT", DEFAULT_TIMEOUT))
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    # -- Scrapy hooks ---------------------------------------------------------------------------
    async def process_request(self, request, spider=None):
        if not request.meta.get("browser"):
            return None
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet.threads import deferToThread

        # Selenium blocks: render in a worker thread so the reactor keeps serving other requests
        return await maybe_deferred_to_future(deferToThread(self.render, request))

    def spider_closed(self, spider=None) -> None:
        self.close()

    # -- work -----------------------------------------------------------------------------------
    def _ensure(self):
        if self._driver is None:
            self._profile = tempfile.mkdtemp(prefix="medharvest-chromium-")
            self._driver = start_driver(self.binary, self.driver_path, user_agent=self.user_agent,
                                        profile_dir=self._profile)
            self._driver.set_page_load_timeout(self.timeout)
        return self._driver

    def render(self, request) -> HtmlResponse:
        """Load ``request.url``, wait for ``browser_wait``, return the rendered DOM as an HtmlResponse.

        A page whose content never appears comes back with status 504 and
        ``meta["browser_error"]`` set, so the spider records the case as failed (data, not a crash).
        """
        from selenium.common.exceptions import TimeoutException, WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait

        wait_for = request.meta.get("browser_wait") or "body"
        timeout = float(request.meta.get("browser_timeout") or self.timeout)
        with self._lock:
            driver = self._ensure()
            status, error = 200, None
            try:
                driver.get(request.url)
                WebDriverWait(driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, wait_for)))
            except TimeoutException:
                status, error = 504, f"content {wait_for!r} did not appear within {timeout:g}s"
            except WebDriverException as err:
                status, error = 502, f"browser error: {(err.msg or str(err)).splitlines()[0]}"
            try:
                body = driver.page_source.encode("utf-8")
                url = driver.current_url or request.url
            except WebDriverException:
                body, url = b"", request.url
            self.pages += 1
        if error:
            request.meta["browser_error"] = error
            log.warning("browser: %s: %s", request.url, error)
        return HtmlResponse(url=url, status=status, body=body, encoding="utf-8", request=request)

    def close(self) -> None:
        with self._lock:
            if self._driver is not None:
                from selenium.common.exceptions import WebDriverException

                try:
                    self._driver.quit()
                except (WebDriverException, OSError) as err:
                    log.warning("browser: quit failed: %s", err)
                self._driver = None
            if self._profile:
                shutil.rmtree(self._profile, ignore_errors=True)
                self._profile = None
