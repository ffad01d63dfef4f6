"""Alpaca keys from the environment, and the explicit opt-in that live trading needs.

Keys come from Alpaca's own variables (``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``;
``APCA_API_BASE_URL`` and ``APCA_API_DATA_URL`` point elsewhere, e.g. at the local
paper exchange of ``better-orders serve``). The secret lives in a ``Secret``
whose ``repr``/``str`` is a mask, so it cannot leak into a log line, a report, the
journal or an exception message by accident: the only way to read it is
``Secret.reveal()``, which the Alpaca adapter calls when it builds its clients.

Paper is the default. Live trading needs ``--live`` *and* either a typed
confirmation or ``--yes`` (``require_live_opt_in``), and a live URL without
``--live`` is refused outright.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from better_orders.core.errors import BetterOrdersError, ConfigError

KEY_ID_VAR = "APCA_API_KEY_ID"
SECRET_KEY_VAR = "APCA_API_SECRET_KEY"
BASE_URL_VAR = "APCA_API_BASE_URL"
DATA_URL_VAR = "APCA_API_DATA_URL"

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
DATA_STREAM_URL = "wss://stream.data.alpaca.markets"
_LIVE_HOST = "api.alpaca.markets"
_PAPER_HOST = "paper-api.alpaca.markets"

#: What a user types to confirm live trading when not passing ``--yes``.
LIVE_CONFIRMATION_WORD = "LIVE"


class LiveTradingRefused(BetterOrdersError):
    """Live trading was asked for without the explicit opt-in (``--live`` plus confirmation)."""

    exit_code = 2


class Secret:
    """A string that never shows itself: ``repr``/``str``/format give a fixed mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("a Secret cannot be pickled")


def mask_key_id(key_id: str) -> str:
    """All but the last 4 characters hidden (``****ABCD``); short ids are hidden entirely."""
    if len(key_id) <= 4:
        return "****"
    return "****" + key_id[-4:]


def _http_to_ws(url: str) -> str:
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    return url


def _host(url: str) -> str:
    """A URL's host name as DNS reads it: no port, no user, no trailing dot, lower case
    (``https://api.alpaca.markets.:443`` is the live API too)."""
    return (urlsplit(url).hostname or "").rstrip(".").lower()


def _check_url(url: str, variable: str) -> str:
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{variable} must be an http(s) URL such as {PAPER_URL}, got {url!r}")
    if parts.username is not None or parts.password is not None:
        # Alpaca takes its keys in headers; a password in the URL would reach messages.
        raise ConfigError(
            f"{variable} must not carry a user or password: the keys go in "
            "APCA_API_KEY_ID and APCA_API_SECRET_KEY"
        )
    if parts.path not in ("", "/"):
        # The adapter appends /v2/...: a URL ending in /v2 would request /v2/v2/...
        raise ConfigError(
            f"{variable} must be the API root without a path (e.g. {PAPER_URL}), got {url!r}"
        )
    return text


@dataclass(frozen=True, slots=True)
class Credentials:
    """An Alpaca key pair and where to use it. ``repr``/``str`` never show the secret."""

    key_id: str
    secret_key: Secret
    paper: bool = True
    base_url: str | None = None
    data_url: str | None = None

    def __post_init__(self) -> None:
        if not self.key_id or not self.secret_key:
            raise ConfigError("an Alpaca key id and secret key are both needed")
        host = _host(self.trading_url)
        if self.paper and host == _LIVE_HOST:
            raise ConfigError(
                f"{BASE_URL_VAR} points at the live API ({LIVE_URL}) but live trading was not "
                "asked for: pass --live to trade real money, or use the paper URL "
                f"{PAPER_URL}"
            )
        if not self.paper and host == _PAPER_HOST:
            raise ConfigError(
                f"--live was given but {BASE_URL_VAR} points at the paper API ({PAPER_URL}); "
                f"unset it or set it to {LIVE_URL}"
            )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        live: bool = False,
        base_url: str | None = None,
        data_url: str | None = None,
    ) -> Credentials:
        """Keys from ``APCA_API_*`` variables; ``base_url``/``data_url`` override theirs.

        A missing variable is a ``ConfigError`` naming it (never showing any value).
        """
        environ = os.environ if env is None else env
        key_id = environ.get(KEY_ID_VAR, "").strip()
        secret = environ.get(SECRET_KEY_VAR, "").strip()
        pairs = ((KEY_ID_VAR, key_id), (SECRET_KEY_VAR, secret))
        missing = [name for name, value in pairs if not value]
        if missing:
            raise ConfigError(
                f"Alpaca keys not found: set {' and '.join(missing)} in the environment "
                f"(paper keys from the Alpaca dashboard; {BASE_URL_VAR} to point elsewhere)"
            )
        trading = base_url or environ.get(BASE_URL_VAR) or None
        data = data_url or environ.get(DATA_URL_VAR) or None
        return cls(
            key_id=key_id,
            secret_key=Secret(secret),
            paper=not live,
            base_url=_check_url(trading, BASE_URL_VAR) if trading else None,
            data_url=_check_url(data, DATA_URL_VAR) if data else None,
        )

    def with_urls(self, *, base_url: str | None = None, data_url: str | None = None) -> Credentials:
        """The same keys pointed at other API roots (``None`` keeps the current one)."""
        return Credentials(
            key_id=self.key_id,
            secret_key=self.secret_key,
            paper=self.paper,
            base_url=_check_url(base_url, "base URL") if base_url else self.base_url,
            data_url=_check_url(data_url, "data URL") if data_url else self.data_url,
        )

    # -- where to connect ---------------------------------------------------------------------

    @property
    def masked_key_id(self) -> str:
        return mask_key_id(self.key_id)

    @property
    def trading_url(self) -> str:
        """REST root of the Trading API (paper or live unless overridden)."""
        if self.base_url:
            return self.base_url
        return PAPER_URL if self.paper else LIVE_URL

    @property
    def trading_stream_url(self) -> str:
        """The ``trade_updates`` websocket (``wss://<trading host>/stream``)."""
        return _http_to_ws(self.trading_url) + "/stream"

    @property
    def market_data_url(self) -> str:
        return self.data_url or DATA_URL

    def data_stream_url(self, feed: str) -> str:
        """The market data websocket for ``feed`` (``iex`` or ``sip``)."""
        root = _http_to_ws(self.data_url) if self.data_url else DATA_STREAM_URL
        return f"{root}/v2/{feed}"

    @property
    def overridden(self) -> bool:
        """True when pointed away from Alpaca's own hosts (e.g. at the local server)."""
        if not self.base_url:
            return False
        return _host(self.base_url) not in (_LIVE_HOST, _PAPER_HOST)

    def describe(self) -> str:
        mode = "paper" if self.paper else "LIVE"
        return f"{mode} key {self.masked_key_id} at {self.trading_url}"

    def __repr__(self) -> str:
        return (
            f"Credentials(key_id={self.masked_key_id!r}, secret_key='********', "
            f"paper={self.paper}, base_url={self.base_url!r}, data_url={self.data_url!r})"
        )

    __str__ = describe


# -- live opt-in ----------------------------------------------------------------------------------


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def require_live_opt_in(
    live: bool,
    yes: bool,
    account_summary: str,
    confirm: Callable[[str], bool],
    *,
    echo: Callable[[str], None] = _stderr,
) -> None:
    """Return only when live trading was asked for explicitly; raise ``LiveTradingRefused`` else.

    Needs ``live`` (``--live``) and then either ``yes`` (``--yes``) or ``confirm(prompt)``
    returning True (a typed confirmation). The account about to be traded is shown
    through ``echo`` before anything is asked.
    """
    if not live:
        raise LiveTradingRefused(
            "live trading needs --live (and a typed confirmation or --yes); "
            "without it Better Orders trades the paper account only; no order sent"
        )
    echo(f"LIVE trading on account: {account_summary}")
    if yes:
        echo("--yes given: live trading confirmed")
        return
    prompt = (
        f"Type {LIVE_CONFIRMATION_WORD} to send real orders on this account "
        "(anything else cancels): "
    )
    try:
        accepted = confirm(prompt)
    except (EOFError, KeyboardInterrupt):
        accepted = False
    if not accepted:
        raise LiveTradingRefused(
            "live trading not confirmed (type LIVE at the prompt or pass --yes); no order sent"
        )


def typed_confirmation(
    word: str = LIVE_CONFIRMATION_WORD, read: Callable[[str], str] = input
) -> Callable[[str], bool]:
    """A ``confirm`` for ``require_live_opt_in`` that accepts exactly ``word`` typed back."""

    def confirm(prompt: str) -> bool:
        return read(prompt).strip() == word

    return confirm
