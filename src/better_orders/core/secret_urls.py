"""Notification URLs carry secrets: how they are shown, and how text is kept clean of them.

An Apprise URL holds its credentials wherever its service puts them: a password
(``mailto://user:PASSWORD@host``), a token in the host's place
(``tgram://BOTTOKEN/chat``), tokens in the path (``slack://A/B/C``) or in the query.
So a URL is only ever shown masked: its scheme, and its host when that is a host
name or an address, nothing else (``mailto://****@smtp.example.com/****``).

As a second line of defence, ``Scrubber`` removes every part of the configured URLs
that could be a secret from any text before it is logged, journalled or raised: an
error message from a library may quote a URL, or a part of one, verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote

MASK = "****"
#: Parts shorter than this are not scrubbed from text (they would mangle it), and are
#: never mistaken for a host name either.
MIN_SECRET_LENGTH = 4

#: RFC 3986: a letter, then letters, digits, "+", "-" or ".".
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HOST_RE = re.compile(
    r"(?:localhost|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d{1,5})?"
)


def _split(url: str) -> tuple[str, str, str, str, str]:
    """(scheme, userinfo, host, path, query) of ``scheme://userinfo@host/path?query``.

    Text before ``://`` that is no scheme (``bo:pw@host://``) is not shown as one.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not _SCHEME_RE.fullmatch(scheme):
        return "", "", "", url, ""
    rest, _, _fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not at:
        userinfo, host = "", netloc
    return scheme, userinfo, host, slash + path, query


def mask_url(url: str) -> str:
    """The URL as it may be shown: scheme, and a host name or address; the rest masked."""
    scheme, userinfo, host, path, query = _split(url.strip())
    if not scheme:
        return MASK
    shown = f"{scheme}://"
    if userinfo:
        shown += f"{MASK}@"
    shown += host if _HOST_RE.fullmatch(host) else MASK
    if path.strip("/"):
        shown += f"/{MASK}"
    if query:
        shown += f"?{MASK}"
    return shown


def secret_parts(url: str) -> set[str]:
    """Every part of ``url`` that may be a secret (as written and URL-decoded)."""
    scheme, userinfo, host, path, query = _split(url.strip())
    parts: set[str] = {url.strip()}
    if userinfo:
        parts.add(userinfo)
        parts.update(userinfo.split(":", 1))
    if not _HOST_RE.fullmatch(host):
        parts.add(host)
        parts.update(host.split(":"))
    parts.update(segment for segment in path.split("/") if segment)
    # Query values may be tokens; their keys (``to``, ``from``, ``smtp``) are names.
    parts.update(value for _key, value in parse_qsl(query, keep_blank_values=True))
    parts |= {unquote(p) for p in parts}
    return {p for p in parts if len(p) >= MIN_SECRET_LENGTH and p != scheme}


class Scrubber:
    """Replaces the configured URLs, and every secret-looking part of them, in text."""

    def __init__(self, urls: Iterable[str]) -> None:
        self._urls = [u.strip() for u in urls if u.strip()]
        parts = {p for u in self._urls for p in secret_parts(u)}
        # Longest first, so a whole URL goes before the token inside it.
        self._parts = sorted(parts, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for url in sorted(self._urls, key=len, reverse=True):
            text = text.replace(url, mask_url(url))
        for part in self._parts:
            text = text.replace(part, MASK)
        return text
