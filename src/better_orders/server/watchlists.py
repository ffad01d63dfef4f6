"""Watchlists: Alpaca's CRUD by id (``/v2/watchlists/{id}``) and by name (``:by_name?name=``).

A watchlist has a unique name (1-64 characters) and an ordered list of listed
assets; an unknown symbol is refused (422) and nothing changes. The list of all
watchlists leaves out their assets, as Alpaca's does. Watchlists live as long as
the exchange runs (they are not saved with ``--db``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from better_orders.server.assets import asset_json
from better_orders.server.errors import AlpacaError, bad_request, not_found, unprocessable
from better_orders.server.http import Handler, json_body, json_response, rest
from better_orders.server.shapes import ACCOUNT_ID, ts
from better_orders.server.venue import PaperVenue
from better_orders.venues.assets import AssetInfo

MAX_NAME = 64


@dataclass(slots=True)
class Watchlist:
    id: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    assets: list[AssetInfo] = field(default_factory=list)

    def as_json(self, *, assets: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "account_id": ACCOUNT_ID,
            "name": self.name,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at),
        }
        if assets:
            body["assets"] = [asset_json(a) for a in self.assets]
        return body


class Watchlists:
    def __init__(self) -> None:
        self.by_id: dict[str, Watchlist] = {}

    def find(self, request: Request) -> Watchlist:
        """The watchlist a route names, by ``{watchlist_id}`` or by ``?name=``."""
        wanted = request.path_params.get("watchlist_id")
        if wanted is not None:
            found = self.by_id.get(wanted)
        else:
            name = request.query_params.get("name")
            if not name:
                raise unprocessable("name is required")
            found = next((w for w in self.by_id.values() if w.name == name), None)
        if found is None:
            raise not_found("watchlist not found")
        return found

    def check_name(self, name: object, keep: Watchlist | None = None) -> str:
        if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
            raise unprocessable(f"name must be 1 to {MAX_NAME} characters")
        for other in self.by_id.values():
            if other.name == name and other is not keep:
                raise unprocessable(f"a watchlist named {name!r} already exists")
        return name


def _state(request: Request) -> Watchlists:
    found: Watchlists = request.app.state.watchlists
    return found


def _assets(venue: PaperVenue, symbols: object) -> list[AssetInfo]:
    if not isinstance(symbols, list):
        raise unprocessable("symbols must be a list of symbols")
    found = []
    for symbol in symbols:
        asset = venue.asset(str(symbol)) if isinstance(symbol, str) else None
        if asset is None:
            raise unprocessable(f'asset "{symbol}" not found')
        found.append(asset)
    return found


async def _object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


async def list_watchlists(request: Request, venue: PaperVenue) -> Response:
    lists = sorted(_state(request).by_id.values(), key=lambda w: w.created_at)
    return json_response([w.as_json(assets=False) for w in lists])


async def create_watchlist(request: Request, venue: PaperVenue) -> Response:
    state = _state(request)
    body = await _object(request)
    name = state.check_name(body.get("name"))
    assets = _assets(venue, body.get("symbols") or [])
    now = venue.now()
    watchlist = Watchlist(str(uuid.uuid4()), name, now, now, assets)
    state.by_id[watchlist.id] = watchlist
    return json_response(watchlist.as_json())


async def get_watchlist(request: Request, venue: PaperVenue) -> Response:
    return json_response(_state(request).find(request).as_json())


async def update_watchlist(request: Request, venue: PaperVenue) -> Response:
    """PUT: a new name and/or the whole list of symbols."""
    state = _state(request)
    watchlist = state.find(request)
    body = await _object(request)
    name = body.get("name")
    symbols = body.get("symbols")
    if name is None and symbols is None:
        raise unprocessable("give name or symbols")
    new_name = watchlist.name if name is None else state.check_name(name, keep=watchlist)
    assets = watchlist.assets if symbols is None else _assets(venue, symbols)
    watchlist.name, watchlist.assets, watchlist.updated_at = new_name, assets, venue.now()
    return json_response(watchlist.as_json())


async def add_symbol(request: Request, venue: PaperVenue) -> Response:
    watchlist = _state(request).find(request)
    body = await _object(request)
    (asset,) = _assets(venue, [body.get("symbol")])
    if any(a.symbol == asset.symbol for a in watchlist.assets):
        raise unprocessable(f"{asset.symbol} is already in watchlist {watchlist.name!r}")
    watchlist.assets.append(asset)
    watchlist.updated_at = venue.now()
    return json_response(watchlist.as_json())


async def remove_symbol(request: Request, venue: PaperVenue) -> Response:
    watchlist = _state(request).find(request)
    symbol = request.path_params["symbol"].upper()
    kept = [a for a in watchlist.assets if a.symbol != symbol]
    if len(kept) == len(watchlist.assets):
        raise AlpacaError(404, 40410000, f"{symbol} is not in watchlist {watchlist.name!r}")
    watchlist.assets, watchlist.updated_at = kept, venue.now()
    return json_response(watchlist.as_json())


async def delete_watchlist(request: Request, venue: PaperVenue) -> Response:
    state = _state(request)
    del state.by_id[state.find(request).id]
    return Response(status_code=204)


def watchlist_routes() -> list[Route]:
    def route(path: str, methods: Mapping[str, Handler]) -> list[Route]:
        return [
            Route(path, rest("trading", f"{method} {path}", handler), methods=[method])
            for method, handler in methods.items()
        ]

    one: dict[str, Handler] = {
        "GET": get_watchlist,
        "PUT": update_watchlist,
        "POST": add_symbol,
        "DELETE": delete_watchlist,
    }
    return [
        *route("/v2/watchlists", {"GET": list_watchlists, "POST": create_watchlist}),
        *route("/v2/watchlists:by_name", one),
        *route("/v2/watchlists:by_name/{symbol}", {"DELETE": remove_symbol}),
        *route("/v2/watchlists/{watchlist_id}", one),
        *route("/v2/watchlists/{watchlist_id}/{symbol}", {"DELETE": remove_symbol}),
    ]
