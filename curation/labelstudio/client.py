"""Connecting to Label Studio (SDK 2.x) with one clear sentence per failure.

The token is never logged nor put in an error message. :func:`connect` checks the server and the
token once; :func:`call` wraps later SDK calls so a 401, a refused connection or a 4xx become a
:class:`~manifests.errors.StageError` that names the URL and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from manifests.errors import StageError, UsageError

T = TypeVar("T")

URL_ENV, TOKEN_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Connection:
    """Where the server is and the API token (``repr`` hides the token)."""

    url: str
    token: str = field(repr=False)

    @classmethod
    def resolve(cls, url: str | None = None, token: str | None = None) -> Connection:
        """Flags first, then ``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY``."""
        url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get(TOKEN_ENV)
        if not token:
            raise UsageError(f"no Label Studio API token: pass --token or set {TOKEN_ENV}")
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"Label Studio URL '{url}' must start with http:// or https://")
        return cls(url, token)


def _describe(err: BaseException, url: str) -> str | None:
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    if isinstance(err, ApiError):
        if err.status_code == 401:
            return f"Label Studio at {url} rejected the API token (401 Unauthorized); check --token or {TOKEN_ENV}"
        if err.status_code == 403:
            return f"Label Studio at {url} refused the request (403 Forbidden): the token's user lacks permission"
        detail = err.body if isinstance(err.body, (str, dict, list)) else ""
        if isinstance(detail, dict):
            detail = detail.get("detail") or detail.get("validation_errors") or detail
        return f"Label Studio at {url} answered {err.status_code}: {str(detail)[:400]}"
    if isinstance(err, httpx.ConnectError):
        return f"cannot reach Label Studio at {url} (connection refused); is it running? (medharvest annotate serve)"
    if isinstance(err, httpx.TimeoutException):
        return f"Label Studio at {url} did not answer in time"
    if isinstance(err, httpx.HTTPError):
        return f"HTTP error talking to Label Studio at {url}: {type(err).__name__}"
    return None


def call(conn: Connection, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with SDK/HTTP failures turned into one-sentence StageErrors."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        return fn(*args, **kwargs)
    except (ApiError, httpx.HTTPError) as err:
        raise StageError(_describe(err, conn.url)) from None


def connect(conn: Connection, timeout: float = 120.0):
    """An SDK client, after checking the server answers and accepts the token."""
    from label_studio_sdk import LabelStudio

    client = call(conn, LabelStudio, base_url=conn.url, api_key=conn.token, timeout=timeout)
    call(conn, client.users.whoami)
    return client


def find_project(conn: Connection, client, title: str):
    """The project with this exact title, or None (several with the title: the oldest)."""
    found = [p for p in call(conn, lambda: list(client.projects.list(title=title, page_size=100))) if p.title == title]
    if not found:
        found = [p for p in call(conn, lambda: list(client.projects.list(page_size=100))) if p.title == title]
    return min(found, key=lambda p: p.id) if found else None


def user_names(conn: Connection, client) -> dict[int, str]:
    """User id -> email (or username), to name annotators."""
    out: dict[int, str] = {}
    for u in call(conn, lambda: list(client.users.list())):
        out[u.id] = u.email or u.username or str(u.id)
    return out
