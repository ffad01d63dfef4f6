"""Historical stock quotes and trades as Alpaca's Market Data API v2 serves them.

``GET /v2/stocks/{symbol}/quotes`` and ``/trades`` (one symbol: ``{"quotes":
[...], "symbol", "next_page_token"}``) and ``/v2/stocks/quotes`` and ``/trades``
(``symbols=A,B``: ``{"quotes": {"A": [...]}, "next_page_token"}``, by symbol then
time), with ``start``/``end`` (RFC 3339 or a date; both inclusive), ``limit``
(1-10,000, default 1,000), ``page_token``, ``feed`` and ``sort`` (``asc``/``desc``).
Rows are the replay files given to ``serve`` at their recorded times (never
shifted to the exchange's clock): the ``--quotes`` files, the ``--history``
files, their trades files and dataset symbol-days, several days per symbol if
given. A symbol with no file has no rows, as a real symbol without data would.

Requests pass through the server's common steps (keys, faults, the per-minute
budget and its 429s) like every other ``/v2`` route. Page tokens are opaque
base64 of where the next page starts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from better_orders.core.errors import InvalidInputError
from better_orders.data.alpaca_rows import quote_rows, trade_rows
from better_orders.data.csv_files import read_csv
from better_orders.data.dataset import find_trades_file
from better_orders.data.schema import Kind
from better_orders.data.symbol_day import SymbolDay
from better_orders.server.data_api import check_feed
from better_orders.server.errors import bad_request
from better_orders.server.http import Handler, rest
from better_orders.server.venue import PaperVenue
from better_orders.venues.sim.replay import ReplayQuotes

KINDS: tuple[Kind, Kind] = ("quotes", "trades")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class _Series:
    """One symbol's rows of one kind, every file's, sorted by time."""

    ts: Any
    frame: Any


class HistoryStore:
    """The files' rows by symbol, loaded on the first request for a symbol."""

    def __init__(self, files: Sequence[tuple[str | None, Path | ReplayQuotes]]) -> None:
        self._files: dict[str, list[Path]] = {}
        for symbol, given in files:
            if isinstance(given, ReplayQuotes):
                # The venue's quotes, read already: served from the file they came from.
                if given.path is None:
                    continue
                symbol, given = given.symbol, given.path
            path = given
            day = SymbolDay.from_path(path)
            refusal = None if day is None else day.refusal()
            if refusal is not None:  # at start-up, not at the first request for its symbol
                raise InvalidInputError(refusal)
            try:
                name = symbol or _symbol_of(path)
            except Exception as exc:  # pandas and pyarrow raise their own types
                raise InvalidInputError(f"quote file {path} cannot be read: {exc}") from None
            self._files.setdefault(name, []).append(path)
        self._loaded: dict[tuple[str, Kind], _Series] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def symbols(self) -> list[str]:
        return sorted(self._files)

    async def series(self, symbol: str, kind: Kind) -> _Series | None:
        if symbol not in self._files:
            return None
        lock = self._locks.setdefault(symbol, asyncio.Lock())
        async with lock:
            if (symbol, kind) not in self._loaded:
                # Loading a day can take seconds: off the event loop, once per symbol.
                quotes, trades = await asyncio.to_thread(self._load, symbol)
                self._loaded[(symbol, "quotes")] = quotes
                self._loaded[(symbol, "trades")] = trades
        return self._loaded[(symbol, kind)]

    def _load(self, symbol: str) -> tuple[_Series, _Series]:
        import pandas as pd

        quotes, trades = [], []
        for path in self._files[symbol]:
            quotes.append(_read(path, "quotes"))
            companion = find_trades_file(path)
            if companion is not None:
                trades.append(_read(companion, "trades"))
        return _sorted(pd.concat(quotes)), _sorted(pd.concat(trades) if trades else None)


def _symbol_of(path: Path) -> str:
    day = SymbolDay.from_path(path)
    if day is not None:
        return day.symbol
    if _is_parquet(path):
        import pyarrow.parquet as pq

        return str(pq.ParquetFile(path).read(columns=["symbol"]).column(0)[0]).upper()
    import pandas as pd

    first = pd.read_csv(path, nrows=1, usecols=["symbol"], dtype=str)
    return str(first["symbol"].iloc[0]).upper()


def _read(path: Path, kind: Kind) -> Any:
    """A quote or trades file (CSV or Parquet), or a symbol-day's, as a DataFrame."""
    day = SymbolDay.from_path(path)
    file = day.file(kind) if day is not None else path
    if _is_parquet(file):
        import pyarrow.parquet as pq

        return pq.ParquetFile(file).read().to_pandas()
    return read_csv(file, kind)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _sorted(frame: Any) -> _Series:
    import pandas as pd

    if frame is None:
        frame = pd.DataFrame({"ts_utc_ns": np.zeros(0, dtype=np.int64)})
    frame = frame.sort_values("ts_utc_ns", kind="stable").reset_index(drop=True)
    return _Series(frame["ts_utc_ns"].to_numpy(dtype=np.int64), frame)


# -- request parameters -------------------------------------------------------------------------


def parse_time(text: str, what: str) -> int:
    """RFC 3339 (any number of decimals, ``Z`` or an offset) or ``YYYY-MM-DD``, in ns."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9
        head, fraction, zone = raw, "", ""
        for sign in ("Z", "z", "+", "-"):
            at = raw.rfind(sign)
            if at > 10:
                head, zone = raw[:at], raw[at:]
                break
        if "." in head:
            head, fraction = head.split(".", 1)
            if not fraction.isdigit() or len(fraction) > 9:
                raise ValueError
        zone = "+00:00" if zone in ("Z", "z") else zone
        whole = datetime.fromisoformat(head + zone)
        if whole.tzinfo is None:
            raise ValueError
    except ValueError:
        raise bad_request(f"invalid {what}: {text!r} is not RFC-3339") from None
    seconds = (whole - _EPOCH) // timedelta(seconds=1)
    return seconds * 10**9 + int(fraction.ljust(9, "0") or 0)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if not raw:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise bad_request(f"invalid limit: {raw!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"invalid limit: must be between 1 and {MAX_LIMIT}")
    return limit


def _token(raw: str | None) -> tuple[str, int] | None:
    if not raw:
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return str(body["s"]), int(body["i"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request("invalid page_token") from None


def _make_token(symbol: str, index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": symbol, "i": index}).encode()).decode()


# -- handlers ----------------------------------------------------------------------------------


async def _pages(
    request: Request, kind: Kind, symbols: list[str]
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """Up to ``limit`` rows across ``symbols`` (in order), and the token of what follows."""
    params = request.query_params
    store: HistoryStore = request.app.state.history
    start = parse_time(params["start"], "start") if params.get("start") else None
    end = parse_time(params["end"], "end") if params.get("end") else None
    if start is not None and end is not None and end < start:
        raise bad_request("end must not be before start")
    sort = params.get("sort") or "asc"
    if sort not in ("asc", "desc"):
        raise bad_request(f"invalid sort: {sort!r}")
    limit = _limit(request)
    resume = _token(params.get("page_token"))
    if resume is not None and resume[0] not in symbols:
        raise bad_request("invalid page_token")
    out: dict[str, list[dict[str, Any]]] = {}
    first = symbols.index(resume[0]) if resume is not None else 0
    for k in range(first, len(symbols)):
        symbol = symbols[k]
        series = await store.series(symbol, kind)
        lo, hi = 0, 0
        if series is not None:
            lo = 0 if start is None else int(np.searchsorted(series.ts, start, side="left"))
            hi = len(series.ts) if end is None else int(np.searchsorted(series.ts, end, "right"))
        if resume is not None and symbol == resume[0] and resume[1] >= 0:
            lo, hi = (resume[1], hi) if sort == "asc" else (lo, resume[1])
        take = min(max(0, hi - lo), limit - sum(len(v) for v in out.values()))
        if take > 0 and series is not None:
            a, b = (lo, lo + take) if sort == "asc" else (hi - take, hi)
            rows = (quote_rows if kind == "quotes" else trade_rows)(series.frame, a, b)
            out[symbol] = rows if sort == "asc" else rows[::-1]
            if take < hi - lo:
                return out, _make_token(symbol, b if sort == "asc" else a)
        if sum(len(v) for v in out.values()) >= limit and k + 1 < len(symbols):
            return out, _make_token(symbols[k + 1], -1)
    return out, None


def _symbols(request: Request) -> list[str]:
    names = [s.strip().upper() for s in (request.query_params.get("symbols") or "").split(",")]
    names = [s for s in names if s]
    if not names:
        raise bad_request("missing symbols")
    return sorted(dict.fromkeys(names))


def market_data_routes() -> list[Route]:
    """The four routes, each through the server's common request steps (``http.rest``)."""

    def single(kind: Kind) -> Handler:
        async def handler(request: Request, venue: PaperVenue) -> Response:
            check_feed(request)
            symbol = request.path_params["symbol"].upper()
            rows, token = await _pages(request, kind, [symbol])
            return JSONResponse(
                {kind: rows.get(symbol, []), "symbol": symbol, "next_page_token": token}
            )

        return handler

    def multi(kind: Kind) -> Handler:
        async def handler(request: Request, venue: PaperVenue) -> Response:
            check_feed(request)
            rows, token = await _pages(request, kind, _symbols(request))
            return JSONResponse({kind: rows, "next_page_token": token})

        return handler

    return [
        Route(f"/v2/stocks/{kind}", rest("data", f"GET /v2/stocks/{kind}", multi(kind)))
        for kind in KINDS
    ] + [
        Route(
            f"/v2/stocks/{{symbol}}/{kind}",
            rest("data", f"GET /v2/stocks/{{symbol}}/{kind}", single(kind)),
        )
        for kind in KINDS
    ]
