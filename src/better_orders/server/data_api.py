"""The Market Data API v2 stock routes: latest quotes, trades and bars, bars, snapshots.

Quotes are the exchange's (``venue.latest_quote``); trades and bars its tape's
(``tape``, which says where the trades come from). Shapes are Alpaca's: one symbol
``{"symbol", "quote" | "trade" | "bar"}``, several ``{"quotes" | "trades" | "bars":
{SYMBOL: ...}}``; bars ``{"bars": [...], "symbol", "next_page_token"}`` or
``{"bars": {SYMBOL: [...]}, "next_page_token"}`` (by symbol, then time); a
snapshot ``{"latestTrade", "latestQuote", "minuteBar", "dailyBar", "prevDailyBar"}``
(several: keyed by symbol). Symbols without data are left out (an empty list for
one symbol's bars), as Alpaca leaves them out.

Bars: ``timeframe`` (``bars``), ``start`` (default: 00:00 New York today, or
when the symbol's data begins if later), ``end``
(default: now), ``limit`` (1-10,000, default 1,000), ``page_token``, ``sort``,
``adjustment`` (the exchange has no corporate actions, so every adjustment is
the raw data), ``feed``, ``asof``. A window that reaches into trading hours
before the symbol's data begins (when the exchange's clock started, or the
replayed file's first row) is refused, not answered short. ``currency`` other
than USD is not modelled (refused).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from better_orders.core.market_calendar import NEW_YORK
from better_orders.server.bars import Timeframe, aggregate, bar_json, not_covered
from better_orders.server.errors import (
    FORBIDDEN,
    NOT_FOUND,
    AlpacaError,
    bad_request,
    unprocessable,
)
from better_orders.server.http import Handler, ServerState, json_response, rest
from better_orders.server.params import Query
from better_orders.server.shapes import quote_json, ts
from better_orders.server.tape import Bar, SymbolTape, Trade
from better_orders.server.venue import PaperVenue

ADJUSTMENTS = ("raw", "split", "dividend", "spin-off", "all")
FEEDS = ("iex", "sip", "delayed_sip", "otc", "boats", "overnight")
MAX_LIMIT = 10_000


def check_feed(request: Request) -> Query:
    """The query, its ``feed`` and ``currency`` checked (an unknown feed 400, SIP without
    the plan 403)."""
    state: ServerState = request.app.state.server
    query = Query(request.query_params)
    feed = query.choice("feed", FEEDS, "iex")
    if feed == "sip" and not state.config.sip_allowed:
        raise AlpacaError(403, FORBIDDEN, "subscription does not permit querying recent SIP data")
    currency = query.text("currency")
    if currency is not None and currency.upper() != "USD":
        raise unprocessable(f"currency {currency} is not modelled: prices are in USD")
    return query


def _names(query: Query) -> list[str]:
    names = query.names()
    if not names:
        raise bad_request("missing symbols")
    return names


def trade_json(trade: Trade) -> dict[str, Any]:
    return {
        "t": ts(trade.ts),
        "x": "V",
        "p": float(trade.price),
        "s": trade.size,
        "c": list(trade.conditions),
        "i": trade.id,
        "z": "B",
    }


def _tape(venue: PaperVenue, symbol: str) -> SymbolTape | None:
    return venue.tape.of(symbol.upper())


# -- latest -------------------------------------------------------------------------------------


async def latest_quotes(request: Request, venue: PaperVenue) -> Response:
    query = check_feed(request)
    quotes: dict[str, Any] = {}
    for name in _names(query):
        quote = await venue.latest_quote(name)
        if quote is not None:
            quotes[quote.symbol] = quote_json(quote)
    return json_response({"quotes": quotes})


async def latest_quote(request: Request, venue: PaperVenue) -> Response:
    check_feed(request)
    symbol = request.path_params["symbol"]
    quote = await venue.latest_quote(symbol)
    if quote is None:
        raise AlpacaError(404, NOT_FOUND, f"no quote for {symbol}")
    return json_response({"symbol": quote.symbol, "quote": quote_json(quote)})


def _latest_trade(venue: PaperVenue, symbol: str) -> dict[str, Any] | None:
    tape = _tape(venue, symbol)
    trade = tape.last_trade if tape is not None else None
    return trade_json(trade) if trade is not None else None


def _latest_bar(venue: PaperVenue, symbol: str) -> dict[str, Any] | None:
    tape = _tape(venue, symbol)
    bar = tape.latest_bar(venue.now()) if tape is not None else None
    return bar_json(bar) if bar is not None else None


def _latest_many(key: str, latest: Callable[[PaperVenue, str], dict[str, Any] | None]) -> Handler:
    async def handler(request: Request, venue: PaperVenue) -> Response:
        found = {n: latest(venue, n) for n in _names(check_feed(request))}
        return json_response({key: {n: v for n, v in found.items() if v is not None}})

    return handler


def _latest_one(key: str, latest: Callable[[PaperVenue, str], dict[str, Any] | None]) -> Handler:
    async def handler(request: Request, venue: PaperVenue) -> Response:
        check_feed(request)
        symbol = request.path_params["symbol"].upper()
        found = latest(venue, symbol)
        if found is None:
            raise AlpacaError(404, NOT_FOUND, f"no {key} for {symbol}")
        return json_response({"symbol": symbol, key: found})

    return handler


# -- bars ---------------------------------------------------------------------------------------


def _token(raw: str | None) -> tuple[str, dt.datetime] | None:
    if raw is None:
        return None
    try:
        symbol, when = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return str(symbol), dt.datetime.fromisoformat(str(when))
    except (ValueError, TypeError, binascii.Error):
        raise bad_request("invalid page_token") from None


def _make_token(symbol: str, bar: Bar) -> str:
    return base64.urlsafe_b64encode(json.dumps([symbol, bar.start.isoformat()]).encode()).decode()


def _bars(venue: PaperVenue, query: Query, names: list[str]) -> tuple[dict[str, Any], str | None]:
    """One page of bars across ``names`` (by symbol, then time) and the next page's token."""
    timeframe = Timeframe.parse(query.text("timeframe"))
    query.choice("adjustment", ADJUSTMENTS, "raw")
    now = venue.now()
    today = dt.datetime.combine(now.astimezone(NEW_YORK).date(), dt.time(), NEW_YORK)
    asked = query.instant("start")
    start = asked or today.astimezone(dt.UTC)
    end = min(query.instant("end") or now, now)
    if end < start:
        raise bad_request("end must not be before start")
    limit = query.whole("limit", 1000, 1, MAX_LIMIT)
    descending = query.choice("sort", ("asc", "desc"), "asc") == "desc"
    resume = _token(query.text("page_token"))
    names = sorted(names)
    if resume is not None and resume[0] not in names:
        raise bad_request("invalid page_token")
    out: dict[str, Any] = {}
    taken = 0
    for symbol in names[names.index(resume[0]) if resume is not None else 0 :]:
        tape = _tape(venue, symbol)
        if tape is None or tape.begins is None:
            continue
        if asked is not None and venue.sessions.trades_between(asked, min(tape.begins, end)):
            raise not_covered(symbol, tape.begins)
        first = timeframe.label(max(start, tape.begins))
        bars = [b for b in aggregate(tape.minute_bars(first, end), timeframe) if b.start <= end]
        if descending:
            bars.reverse()
        if resume is not None and symbol == resume[0]:
            at = resume[1]
            bars = [b for b in bars if (b.start <= at if descending else b.start >= at)]
        room = limit - taken
        if bars:
            out[symbol] = [bar_json(b) for b in bars[:room]]
            taken += len(out[symbol])
        if len(bars) > room:
            return out, _make_token(symbol, bars[room])
    return out, None


async def bars_many(request: Request, venue: PaperVenue) -> Response:
    query = check_feed(request)
    bars, token = _bars(venue, query, _names(query))
    return json_response({"bars": bars, "next_page_token": token})


async def bars_one(request: Request, venue: PaperVenue) -> Response:
    symbol = request.path_params["symbol"].upper()
    bars, token = _bars(venue, check_feed(request), [symbol])
    return json_response({"bars": bars.get(symbol, []), "symbol": symbol, "next_page_token": token})


# -- snapshots ----------------------------------------------------------------------------------


async def _snapshot(venue: PaperVenue, symbol: str) -> dict[str, Any] | None:
    tape = _tape(venue, symbol)
    if tape is None:
        return None
    quote = await venue.latest_quote(symbol)
    minute = tape.latest_bar(venue.now())
    days = aggregate(tape.minutes, Timeframe(1440, daily=True))
    return {
        "latestTrade": trade_json(tape.last_trade) if tape.last_trade is not None else None,
        "latestQuote": quote_json(quote) if quote is not None else None,
        "minuteBar": bar_json(minute) if minute is not None else None,
        "dailyBar": bar_json(days[-1]) if days else None,
        "prevDailyBar": bar_json(days[-2]) if len(days) > 1 else None,
    }


async def snapshots(request: Request, venue: PaperVenue) -> Response:
    found = {n: await _snapshot(venue, n) for n in _names(check_feed(request))}
    return json_response({n: s for n, s in found.items() if s is not None})


async def snapshot(request: Request, venue: PaperVenue) -> Response:
    check_feed(request)
    symbol = request.path_params["symbol"].upper()
    found = await _snapshot(venue, symbol)
    if found is None:
        raise AlpacaError(404, NOT_FOUND, f"no snapshot for {symbol}")
    return json_response({"symbol": symbol, **found})


def data_routes() -> list[Route]:
    def route(path: str, handler: Callable[[Request, PaperVenue], Awaitable[Response]]) -> Route:
        return Route(path, rest("data", f"GET {path}", handler), methods=["GET"])

    return [
        route("/v2/stocks/quotes/latest", latest_quotes),
        route("/v2/stocks/{symbol}/quotes/latest", latest_quote),
        route("/v2/stocks/trades/latest", _latest_many("trades", _latest_trade)),
        route("/v2/stocks/{symbol}/trades/latest", _latest_one("trade", _latest_trade)),
        route("/v2/stocks/bars/latest", _latest_many("bars", _latest_bar)),
        route("/v2/stocks/{symbol}/bars/latest", _latest_one("bar", _latest_bar)),
        route("/v2/stocks/bars", bars_many),
        route("/v2/stocks/{symbol}/bars", bars_one),
        route("/v2/stocks/snapshots", snapshots),
        route("/v2/stocks/{symbol}/snapshot", snapshot),
    ]
