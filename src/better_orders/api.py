"""The Python API: ``place_better_order`` and ``rebalance_portfolio`` (and their async forms).

Each call is one journalled run on the built-in simulator unless told otherwise;
options are those of ``commands.run_orders_simulated`` / ``run_rebalance_simulated``
(``at``, ``seed``, ``db``, ``quotes``, ``config``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from better_orders.config.loader import load_config
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import ExecutionReport, Side
from better_orders.engine.commands import run_orders_simulated, run_rebalance_simulated
from better_orders.engine.execution import OrderSpec
from better_orders.engine.rebalance import RebalanceReport
from better_orders.venues.tasks import StopHandle

T = TypeVar("T")


def place_better_order(
    symbol: str,
    qty: object,
    side: str | Side,
    max_slippage_bps: object = None,
    **options: Any,
) -> ExecutionReport:
    """Execute one order through the ladder; returns its report (client order ids included)."""
    spec = OrderSpec.parse(symbol, qty, side, max_slippage_bps)
    _, reports = run_orders_simulated([spec], **_checked(options))
    return reports[0]


async def place_better_order_async(
    symbol: str,
    qty: object,
    side: str | Side,
    max_slippage_bps: object = None,
    **options: Any,
) -> ExecutionReport:
    """Async form of :func:`place_better_order`.

    The simulator runs on its own virtual-time loop in a worker thread, so awaiting
    this never blocks the caller's loop for the simulated waits. Cancelling the await
    stops the run there, as Ctrl-C would (a wait for the account's lock included), once it
    has stopped: no order is sent after that; one already working is left to the next
    run's reconciliation, as after Ctrl-C.
    """
    return await _in_thread(
        lambda stop: place_better_order(symbol, qty, side, max_slippage_bps, **options, stop=stop)
    )


def rebalance_portfolio(
    target_portfolio: Mapping[str, object], *, dry_run: bool = False, **options: Any
) -> RebalanceReport:
    """Trade the portfolio to ``target_portfolio`` weights (e.g. ``{"TQQQ": 0.6, "SPY": 0.4}``)."""
    checked = _checked({**options, "dry_run": dry_run})
    return run_rebalance_simulated(target_portfolio, **checked)


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    """The options as the engine takes them, or ``InvalidInputError`` naming the one that is
    not, before anything is journalled: ``quotes`` one file or several, ``config`` a
    configuration or its TOML file's path, ``seed`` a whole number, ``db`` a file's path,
    ``dry_run``, ``wait`` and ``new`` True or False."""
    out = dict(options)
    quotes = out.get("quotes")
    if isinstance(quotes, str | os.PathLike):
        out["quotes"] = [Path(quotes)]
    elif quotes is not None:
        files = list(quotes) if isinstance(quotes, Iterable) else [quotes]
        if not all(isinstance(q, str | os.PathLike) for q in files):
            raise InvalidInputError(f"quotes must be a file or a list of files, got {quotes!r}")
        out["quotes"] = [Path(q) for q in files]
    db = out.get("db")
    if db is not None and not isinstance(db, str | os.PathLike):
        raise InvalidInputError(f"db must be the journal file's path, got {db!r}")
    for flag in ("dry_run", "wait", "new"):
        # A string such as "no" is true in Python: only a bool says what was meant.
        if flag in out and not isinstance(out[flag], bool):
            raise InvalidInputError(f"{flag} must be True or False, got {out[flag]!r}")
    config = out.get("config")
    if isinstance(config, str | os.PathLike):
        out["config"] = load_config(Path(config)).config
    elif config is not None and not isinstance(config, BetterOrdersConfig):
        raise InvalidInputError(
            "config must be a BetterOrdersConfig or a TOML file's path, "
            f"got {type(config).__name__}"
        )
    seed = out.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidInputError(f"seed must be a whole number, got {seed!r}")
    return out


async def rebalance_portfolio_async(
    target_portfolio: Mapping[str, object], *, dry_run: bool = False, **options: Any
) -> RebalanceReport:
    """Async form of :func:`rebalance_portfolio` (see :func:`place_better_order_async`)."""
    return await _in_thread(
        lambda stop: rebalance_portfolio(target_portfolio, dry_run=dry_run, **options, stop=stop)
    )


async def _in_thread(call: Callable[[StopHandle], T]) -> T:
    """``call`` in a worker thread; a cancel of the caller stops it and waits for its end."""
    stop = StopHandle()
    work = asyncio.ensure_future(asyncio.to_thread(call, stop))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.done():
            stop.stop()
            await asyncio.wait({work})
            if not work.cancelled():
                work.exception()  # the stop's own end in the thread: what the caller asked
        raise
