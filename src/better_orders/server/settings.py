"""The paper venue's settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from better_orders.venues.sim.account import DEFAULT_CASH
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.replay import ReplayQuotes


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """How the venue is built (the server's configuration, minus HTTP)."""

    seed: int = 0
    db_path: Path | None = None
    #: (SYMBOL or None, file or its quotes already read) pairs.
    quote_files: tuple[tuple[str | None, Path | ReplayQuotes], ...] = ()
    replay_from: datetime | None = None
    #: The exchange's clock starts here and runs at wall pace (default: the real time).
    clock_start: datetime | None = None
    #: Start the clock one hour into the latest regular session (when ``clock_start`` is unset).
    always_open: bool = False
    starting_cash: Decimal = DEFAULT_CASH
    #: Asset files (CSV or JSON) added to the built-in asset master.
    asset_files: tuple[Path, ...] = ()
    unknown_symbols: tuple[str, ...] = ()
    untradable_symbols: tuple[str, ...] = ()
    non_fractionable_symbols: tuple[str, ...] = ()
    #: A cash account (no margin, no shorting) instead of Alpaca's default margin account.
    cash_account: bool = False
    #: A replace is sized to the total less what the old order filled (not Alpaca's way).
    replace_remainder: bool = False
    latency: Latency = field(default_factory=Latency)
