"""``better-orders doctor``: check the Alpaca set-up end to end, without trading.

Checks, in order: keys present (the key id masked, the secret never shown), the
account (active, not blocked), the market clock, the data feed (SIP or IEX),
a REST quote for SPY, a quote for SPY over the market data websocket, and the
``trade_updates`` websocket. Prints a pass/fail table (or ``--json``) and, if any
check fails, the first failure on stderr and a non-zero exit: 2 for the keys (which
are configuration, as for every command), 1 for the rest. A quote that does not
arrive while the market is closed is a warning, not a failure: quiet feeds are
normal then.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from better_orders.cli.common import (
    NEW_YORK,
    FeedOption,
    check_feed,
    console,
    print_error,
    print_json,
)
from better_orders.cli.exit_codes import INCOMPLETE, USAGE
from better_orders.cli.extras import require_extra
from better_orders.cli.help_format import Command
from better_orders.core.errors import BetterOrdersError, InvalidInputError
from better_orders.venues.alpaca.credentials import Credentials

if TYPE_CHECKING:
    from better_orders.venues.alpaca.codec import MarketClock
    from better_orders.venues.alpaca.quotes import AlpacaQuoteFeed

Status = Literal["pass", "fail", "warn", "skip"]
PROBE_SYMBOL = "SPY"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str


def _et(value: datetime) -> str:
    return value.astimezone(NEW_YORK).strftime("%a %Y-%m-%d %H:%M ET")


def _money(value: object) -> str:
    try:
        return f"${float(str(value)):,.2f}"
    except ValueError:
        return str(value)


async def run_checks(
    *,
    base_url: str | None = None,
    data_url: str | None = None,
    feed: str = "auto",
    live: bool = False,
    timeout: float = 10.0,
    env: dict[str, str] | None = None,
) -> list[Check]:
    """Every check, in order; later checks are skipped when one they depend on fails."""
    from better_orders.venues.alpaca.broker import AlpacaBroker
    from better_orders.venues.alpaca.quotes import AlpacaQuoteFeed, resolve_feed

    checks: list[Check] = []
    try:
        creds = Credentials.from_env(env, live=live, base_url=base_url, data_url=data_url)
    except BetterOrdersError as exc:
        checks.append(Check("keys", "fail", str(exc)))
        for name in ("account", "clock", "data feed", "quote (REST)", "quote stream",
                     "trade updates stream"):  # fmt: skip
            checks.append(Check(name, "skip", "needs the keys"))
        return checks
    checks.append(Check("keys", "pass", creds.describe()))

    broker = AlpacaBroker(creds, request_timeout=timeout, use_stream=True)
    market_open: bool | None = None
    try:
        try:
            account = await broker.get_account_raw()
            blocked = [
                flag
                for flag in ("trading_blocked", "account_blocked", "trade_suspended_by_user")
                if account.get(flag)
            ]
            status = str(account.get("status"))
            detail = (
                f"{status}, account {account.get('account_number')}, "
                f"buying power {_money(account.get('buying_power'))}, "
                f"cash {_money(account.get('cash'))}"
            )
            if status != "ACTIVE" or blocked:
                why = f"; blocked: {', '.join(blocked)}" if blocked else ""
                checks.append(Check("account", "fail", detail + why))
            else:
                checks.append(Check("account", "pass", detail))
        except BetterOrdersError as exc:
            checks.append(Check("account", "fail", str(exc)))

        offset = timedelta(0)
        try:
            sent = time.perf_counter()
            clock: MarketClock = await broker.get_market_clock()
            round_trip_ms = (time.perf_counter() - sent) * 1000
            offset = clock.timestamp - datetime.now(UTC)
            market_open = clock.is_open
            state = (
                f"open, closes {_et(clock.next_close)}"
                if clock.is_open
                else f"closed, opens {_et(clock.next_open)}"
            )
            # Half the round trip is the one-way delay ``tca --latency`` evaluates with.
            checks.append(
                Check("clock", "pass", f"market {state}; REST round trip {round_trip_ms:.0f} ms")
            )
        except BetterOrdersError as exc:
            checks.append(Check("clock", "fail", str(exc)))

        quotes: AlpacaQuoteFeed | None = None
        try:
            name = await resolve_feed(creds, feed)
            note = (
                "consolidated NBBO"
                if name == "sip"
                else ("one venue: quotes are wider than the NBBO, costs in reports look higher")
            )
            checks.append(Check("data feed", "pass", f"{name} ({note})"))
            quotes = AlpacaQuoteFeed(creds, feed=name, request_timeout=timeout)
        except BetterOrdersError as exc:
            checks.append(Check("data feed", "fail", str(exc)))

        if quotes is None:
            checks.append(Check("quote (REST)", "skip", "needs the data feed"))
            checks.append(Check("quote stream", "skip", "needs the data feed"))
        else:
            try:
                quote = await quotes.latest_quote(PROBE_SYMBOL)
                # Age on the broker's clock (a local exchange may replay another day).
                age = (datetime.now(UTC) + offset - quote.ts).total_seconds()
                checks.append(
                    Check(
                        "quote (REST)",
                        "pass",
                        f"{PROBE_SYMBOL} {quote.bid} x {quote.ask} ({age:.0f}s old)",
                    )
                )
            except BetterOrdersError as exc:
                checks.append(Check("quote (REST)", "fail", str(exc)))
            checks.append(await _stream_quote(quotes, timeout, market_open))
            await quotes.close()

        await broker.start(connect_timeout=timeout)
        if broker.stream_connected:
            checks.append(Check("trade updates stream", "pass", creds.trading_stream_url))
        else:
            checks.append(
                Check(
                    "trade updates stream",
                    "fail",
                    broker.stream_refusal
                    or f"not connected to {creds.trading_stream_url} within {timeout:g}s "
                    "(orders would be followed by polling only)",
                )
            )
    finally:
        await broker.close()
    return checks


async def _stream_quote(quotes: AlpacaQuoteFeed, timeout: float, market_open: bool | None) -> Check:
    stream = quotes.quotes([PROBE_SYMBOL], rest_fallback=False)
    try:
        async with asyncio.timeout(timeout):
            quote = await anext(stream)
    except TimeoutError:
        status: Status = "warn" if market_open is False else "fail"
        why = " (the market is closed)" if market_open is False else ""
        return Check("quote stream", status, f"no {PROBE_SYMBOL} quote within {timeout:g}s{why}")
    except (BetterOrdersError, StopAsyncIteration) as exc:
        return Check("quote stream", "fail", str(exc) or "stream ended")
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()
    return Check("quote stream", "pass", f"{PROBE_SYMBOL} {quote.bid} x {quote.ask}")


_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}


def _table(checks: list[Check]) -> Table:
    table = Table(title="Alpaca set-up", title_justify="left")
    table.add_column("check", style="bold")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in checks:
        style = _STYLE[check.status]
        table.add_row(check.name, f"[{style}]{check.status}[/]", check.detail)
    return table


def register(app: typer.Typer) -> None:
    @app.command("doctor", cls=Command)
    def doctor(
        base_url: Annotated[
            str | None,
            typer.Option(
                metavar="URL",
                help="Trading API root (default $APCA_API_BASE_URL, else Alpaca paper)",
            ),
        ] = None,
        data_url: Annotated[
            str | None,
            typer.Option(
                metavar="URL", help="Market Data API root (default $APCA_API_DATA_URL, else Alpaca)"
            ),
        ] = None,
        feed: FeedOption = "auto",
        live: Annotated[
            bool, typer.Option("--live", help="check the live account instead of paper")
        ] = False,
        timeout: Annotated[
            float, typer.Option(metavar="SECONDS", help="how long to wait for each answer")
        ] = 10.0,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    ) -> None:
        """Check keys, account, clock, data feed and streams against Alpaca, without trading."""
        require_extra("alpaca", "better-orders doctor")
        check_feed(feed)
        if not (math.isfinite(timeout) and timeout > 0):
            raise InvalidInputError(
                f"--timeout must be a positive number of seconds, got {timeout}"
            )
        checks = asyncio.run(
            run_checks(base_url=base_url, data_url=data_url, feed=feed, live=live, timeout=timeout)
        )
        ok = not any(c.status == "fail" for c in checks)
        if as_json:
            print_json({"ok": ok, "checks": checks})
        else:
            console.print(_table(checks))
            verdict = "[green]all checks passed[/]" if ok else "[bold red]some checks failed[/]"
            console.print(verdict)
        failed = next((c for c in checks if c.status == "fail"), None)
        if failed is not None:
            print_error(f"{failed.name}: {failed.detail}")
            # Keys missing or malformed are configuration, as for every command that trades.
            raise typer.Exit(USAGE if failed.name == "keys" else INCOMPLETE)
