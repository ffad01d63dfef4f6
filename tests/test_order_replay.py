"""``place_better_order`` replaying real quotes (acceptance on the AMZN LOBSTER file)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from better_orders import place_better_order
from better_orders.venues.sim.replay import ReplayQuotes
from ladder_kit import crossing_config

ET = ZoneInfo("America/New_York")


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("mode", ["auto", "always"])
def test_amzn_replay_from_0940(quotes_dir: Path, side: str, mode: str) -> None:
    path = quotes_dir / "lobster_AMZN_20120621_l1.csv.gz"
    at = datetime(2012, 6, 21, 9, 40, tzinfo=ET)
    cfg = crossing_config(mode=mode)
    if side == "sell":  # the paper account is long-only: hold the shares first
        held = place_better_order(
            "AMZN", 100, "buy", quotes=[path], at=datetime(2012, 6, 21, 9, 39, tzinfo=ET)
        )
        assert held.filled_qty == D(100)
    report = place_better_order("AMZN", 100, side, quotes=[path], at=at, config=cfg)

    book = ReplayQuotes.from_file(path, symbol="AMZN")
    in_force = book.quote_at(book.index_at(at))
    first = report.attempts[0]
    if side == "buy":
        assert first.limit_price == in_force.ask + D("0.01")
    else:
        assert first.limit_price == in_force.bid - D("0.01")
    assert report.arrival_mid == in_force.mid

    # fills never exceed the order, per child and in total
    assert report.filled_qty <= D(100)
    for attempt in report.attempts:
        assert attempt.filled_qty <= attempt.qty
    total = sum((f.qty for f in report.fills), D(0))
    assert total == report.filled_qty
    # the average price and the cost agree with the fills
    notional = sum((f.qty * f.price for f in report.fills), D(0))
    assert report.avg_fill_price == notional / total
    sign = 1 if side == "buy" else -1
    expected_bps = float((notional / total - in_force.mid) * sign / in_force.mid * 10_000)
    assert report.cost_bps == pytest.approx(expected_bps)
    assert report.complete
