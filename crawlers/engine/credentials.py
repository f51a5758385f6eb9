"""Credentials from the environment or ``~/.netrc`` only; never logged, never written, never sent elsewhere.

Values are returned to the caller, who hands them to the HTTP layer; the objects' ``repr`` hides them.
A credential belongs to one origin (scheme, host, port: :func:`origin`); every layer that attaches one
(the streaming downloader, Scrapy's secret-header and API-key middlewares) asks :func:`same_origin`
on every request and every redirect hop, so ``https://host.evil.tld`` or ``http://host:55311`` never
gets the credential of ``https://host`` / ``http://host:5531``.
"""

from __future__ import annotations

import netrc
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

_SECRET_PARAMS = ("token", "key", "api_key", "apikey", "password", "passwd", "secret", "sig", "signature", "auth")


@dataclass(frozen=True)
class Secret:
    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


def basic_auth(host: str, user_env: str, password_env: str) -> tuple[str, str] | None:
    """(user, password) from ``user_env``/``password_env``, else the netrc entry of ``host``."""
    user, pw = os.environ.get(user_env), os.environ.get(password_env)
    if user and pw:
        return user, pw
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError, PermissionError):
        return None
    if entry and entry[0] and entry[2]:
        return entry[0], entry[2]
    return None


def token(env: str, file_env: str | None = None) -> Secret | None:
    """A token from ``env``, or read from the file named by ``file_env``."""
    if os.environ.get(env):
        return Secret(os.environ[env].strip())
    if file_env and os.environ.get(file_env):
        p = Path(os.environ[file_env]).expanduser()
        if p.is_file():
            return Secret(p.read_text(encoding="utf-8").strip())
    return None


def present() -> dict[str, bool]:
    """Per source that reads credentials: whether they are configured (booleans only: safe for
    run.json). Derived from each spider's ``credentials`` / ``credentials_present()``."""
    from crawlers.registry import present as _present

    return _present()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, default ports filled in, host lower-cased; else None.

    ``None`` for anything that is not a well-formed absolute http(s) URL (no host, a bad port): such a
    URL matches no origin, so it never gets a credential.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def same_origin(url: str, base: str) -> bool:
    """True only when ``url`` and ``base`` have exactly the same scheme, host and port."""
    a, b = origin(url), origin(base)
    return a is not None and a == b


def redact_url(url: str) -> str:
    """``url`` without user:password and with credential-like query values masked."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode([(k, "***" if any(s in k.lower() for s in _SECRET_PARAMS) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class SecretSafeSession(requests.Session):
    """A session that drops every secret header (``Authorization`` and ``secret_names``) on a redirect
    hop whose target is not exactly ``credential_origin`` (once dropped, later hops never regain it)."""

    secret_names: tuple[str, ...] = ()
    credential_origin: str | None = None

    def rebuild_auth(self, prepared_request, response):
        super().rebuild_auth(prepared_request, response)
        if self.credential_origin is None or not same_origin(prepared_request.url, self.credential_origin) \
                or not same_origin(response.request.url, self.credential_origin):
            for name in ("Authorization", *self.secret_names):
                prepared_request.headers.pop(name, None)
