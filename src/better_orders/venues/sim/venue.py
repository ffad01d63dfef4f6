"""Wiring one simulated venue together: quotes, exchange, paper account, clock, broker, feed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path

from better_orders.core.errors import InvalidInputError
from better_orders.venues.assets import AssetMaster, builtin_assets
from better_orders.venues.sim.account import DEFAULT_CASH, PaperAccount, load_venue_records
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.broker import SimBroker
from better_orders.venues.sim.clock import SimClock
from better_orders.venues.sim.exchange import Latency, SimExchange
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.feed import SimQuoteFeed
from better_orders.venues.sim.hub import VenueHub
from better_orders.venues.sim.profile import SimProfile
from better_orders.venues.sim.replay import ReplayQuotes


def default_session_open(start: datetime) -> datetime:
    """The regular open of ``start``'s trading day (the next one on a closed day).

    Outside the exchange calendar's window, 09:30 New York time on that date.
    """
    from better_orders.core.market_calendar import NEW_YORK, default_calendar

    try:
        calendar = default_calendar()
        session = calendar.session_at(start)
        return session.open if session is not None else calendar.next_open(start)
    except InvalidInputError:
        day = start.astimezone(NEW_YORK).date()
        return datetime.combine(day, time(9, 30), NEW_YORK)


@dataclass(slots=True)
class SimVenue:
    """Everything of one simulated venue, wired together (see ``create``)."""

    broker: SimBroker
    feed: SimQuoteFeed
    clock: SimClock
    exchange: SimExchange
    account: PaperAccount

    @classmethod
    def create(
        cls,
        *,
        start: datetime,
        seed: int = 0,
        db_path: Path | None = None,
        replay: dict[str, ReplayQuotes] | None = None,
        latency: Latency = Latency(),
        faults: FaultPlan | None = None,
        session_open: datetime | None = None,
        end: datetime | None = None,
        starting_cash: Decimal = DEFAULT_CASH,
        unknown_symbols: Iterable[str] = (),
        untradable_symbols: Iterable[str] = (),
        persist: bool = True,
        assets: AssetMaster | None = None,
        profile: SimProfile | None = None,
    ) -> SimVenue:
        """A venue starting at ``start``: synthetic quotes (``seed``) unless ``replay`` is given.

        Synthetic quotes exist for the symbols of ``assets`` (the built-in asset
        master by default) and ``untradable_symbols`` (listed, not tradable); any
        other symbol is refused as unknown. A replay lists the replayed symbols.

        With ``db_path`` the paper account is loaded from (and saved to) that SQLite
        file, so successive commands see earlier positions; ``starting_cash`` applies
        only when the file has no account yet. ``persist=False`` only reads the file (a
        dry run, which must not write while another process trades the account).
        A ``profile`` (``sim calibrate``) sets the latency, the queue share of resting
        limits and the partial fills (drawn from ``seed``), unless ``faults`` is given.
        """
        if start.tzinfo is None:
            raise InvalidInputError(f"start {start.isoformat()} has no time zone")
        unknown = tuple(unknown_symbols)
        untradable = tuple(untradable_symbols)
        master = (assets or builtin_assets()).marked_untradable(untradable)
        if replay:
            book = QuoteBook.replay({s: q.starting_at(start) for s, q in replay.items()})
        else:
            book = QuoteBook.synthetic(
                start,
                session_open or default_session_open(start),
                seed,
                end=end,
                unknown_symbols=unknown,
                listed=master.symbols,
            )
        queue_share = Decimal(1)
        if profile is not None:
            latency, queue_share = profile.latency, profile.queue_share
            faults = faults if faults is not None else profile.faults(seed)
        exchange = SimExchange(book, latency=latency, faults=faults, queue_share=queue_share)
        account = (
            PaperAccount.load(db_path, default_cash=starting_cash)
            if db_path is not None
            else PaperAccount(starting_cash)
        )
        clock = SimClock(start)
        hub = VenueHub(
            exchange,
            account,
            clock,
            unknown_symbols=unknown,
            untradable_symbols=untradable,
            autosave=persist,
            assets=master,
        )
        if db_path is not None:
            hub.restore(*load_venue_records(db_path))
        broker = SimBroker(exchange, account, clock, hub=hub)
        return cls(broker, broker.quote_feed(), clock, exchange, account)

    async def close(self) -> None:
        await self.feed.close()
        await self.broker.close()
