"""The assets the local exchange lists, and Alpaca's asset object.

With synthetic quotes it lists the asset master (the built-in list, extended or
overridden by ``--assets FILE``), less the ``--unlisted`` symbols, with the
``--untradable`` ones listed but not tradable and the ``--not-fractionable`` ones
whole-share only. Replaying quote files, it lists the replayed symbols only (with
the master's attributes when it has them): an order needs quotes to trade against.
A symbol field may hold an asset's id instead of its ticker, as at Alpaca.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from better_orders.server.params import Query
from better_orders.venues.assets import AssetInfo, AssetMaster, plain_asset

STATUSES = ("active", "inactive")
CLASSES = ("us_equity", "us_option", "crypto")
EXCHANGES = ("AMEX", "ARCA", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "OTC")


def listing(
    master: AssetMaster,
    *,
    unlisted: Iterable[str] = (),
    untradable: Iterable[str] = (),
    not_fractionable: Iterable[str] = (),
    replayed: Iterable[str] | None = None,
) -> AssetMaster:
    """What a venue with these settings lists (see the module docstring)."""
    listed = master.marked_untradable(untradable).without(unlisted)
    fixed = [
        dataclasses.replace(a, fractionable=False)
        for symbol in not_fractionable
        if (a := listed.get(symbol)) is not None
    ]
    listed = listed.with_assets(fixed)
    if replayed is None:
        return listed
    return AssetMaster(listed.get(symbol) or plain_asset(symbol) for symbol in replayed)


def asset_json(asset: AssetInfo) -> dict[str, Any]:
    return {
        "id": asset.id,
        "class": asset.asset_class,
        "exchange": asset.exchange,
        "symbol": asset.symbol,
        "name": asset.name,
        "status": asset.status,
        "tradable": asset.tradable,
        "marginable": asset.marginable,
        "maintenance_margin_requirement": float(asset.maintenance_margin_requirement),
        "shortable": asset.shortable,
        "easy_to_borrow": asset.easy_to_borrow,
        "fractionable": asset.fractionable,
        "attributes": attributes(asset),
    }


def attributes(asset: AssetInfo) -> list[str]:
    return ["fractional_eh_enabled"] if asset.fractionable else []


def filtered(master: AssetMaster, query: Query) -> list[AssetInfo]:
    """``GET /v2/assets``: every status unless ``status`` is given; ``us_equity`` by default.

    ``attributes`` keeps the assets with any of those named (a comma-separated list).
    """
    status = query.choice("status", STATUSES, "")
    asset_class = query.choice("asset_class", CLASSES, "us_equity")
    exchange = query.choice("exchange", EXCHANGES, "")
    wanted = {a.strip() for a in (query.text("attributes") or "").split(",") if a.strip()}
    return [
        asset
        for asset in sorted(master, key=lambda a: a.symbol)
        if (not status or asset.status == status)
        and asset.asset_class == asset_class
        and (not exchange or asset.exchange == exchange)
        and (not wanted or wanted & set(attributes(asset)))
    ]
