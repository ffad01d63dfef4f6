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

from better_orders.venues.assets import AssetInfo, AssetMaster, plain_asset


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
        "attributes": ["fractional_eh_enabled"] if asset.fractionable else [],
    }
