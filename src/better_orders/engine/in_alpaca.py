"""Running a job on Alpaca: credentials, the broker's clock, the live opt-in, the feed.

Paper trading unless ``live``; a live run shows the account and asks for the typed
confirmation (or ``yes``) before anything is sent. The adapter is imported only
when a job runs on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from better_orders.core.market_calendar import NEW_YORK
from better_orders.engine.journalled_run import Job, account_lock, journalled_run
from better_orders.engine.retry import BrokerRetry
from better_orders.engine.run_locks import RunLocks
from better_orders.store.ids import new_run_id
from better_orders.store.journal import Journal

T = TypeVar("T")


@dataclass(slots=True)
class _Handles:
    broker: Any
    feed: Any
    clock: Any


def run_in_alpaca(job: Job[T], *, live: bool, yes: bool, feed: str, db_path: Path) -> tuple[str, T]:
    """Run ``job`` as a journalled run on Alpaca; (run id, result). The feed is recorded."""
    from better_orders.venues.alpaca.broker import AlpacaBroker
    from better_orders.venues.alpaca.connect import open_alpaca
    from better_orders.venues.alpaca.credentials import (
        Credentials,
        require_live_opt_in,
        typed_confirmation,
    )
    from better_orders.venues.clock import OffsetClock, WallClock

    async def main(journal: Journal, locks: RunLocks) -> tuple[str, T]:
        creds = Credentials.from_env(live=live)
        probe = AlpacaBroker(creds, use_stream=False)
        # Tried like every request of a run: one 429 or 5xx must not stop it before it starts.
        calls = BrokerRetry(probe, WallClock(), probe.budget)
        try:
            account = await calls.read(probe.get_account)
            market = await calls.read(probe.get_market_clock)
        finally:
            await probe.close()
        # Decide on the broker's time, not the local clock's.
        clock = OffsetClock(market.timestamp - datetime.now(UTC))
        if live:
            summary = f"{account.account_id} ({account.status}), equity ${account.equity:,.2f}"
            require_live_opt_in(True, yes, summary, typed_confirmation())
        async with open_alpaca(
            creds, feed=feed, clock=clock, account_number=account.account_id
        ) as (broker, quotes, wall):
            return await journalled_run(
                dataclasses.replace(job, params={**job.params, "feed": quotes.feed_name}),
                _Handles(broker, quotes, wall),
                journal,
                broker_name=broker.name,
                fresh_id=lambda: new_run_id(wall.now().astimezone(NEW_YORK)),
                locks=locks,
            )

    # One writer per account: taken (or waited for) before the event loop starts.
    account = "alpaca-live" if live else "alpaca-paper"
    with Journal.open(db_path) as journal, account_lock(journal, account, job) as locks:
        return asyncio.run(main(journal, locks))
