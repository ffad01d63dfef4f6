"""``better-orders serve``: a local, Alpaca-compatible paper exchange backed by the simulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from better_orders.cli.common import SeedOption, console, parse_instant
from better_orders.cli.extras import require_extra
from better_orders.cli.help_format import Command
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import normalize_symbol, to_decimal
from better_orders.venues.alpaca.credentials import mask_key_id
from better_orders.venues.sim.account import DEFAULT_CASH


def _quote_file(item: str) -> tuple[str | None, Path]:
    """``PATH`` or ``SYMBOL=PATH`` (trade the file's quotes under another ticker)."""
    symbol, sep, path = item.partition("=")
    if sep and symbol and not Path(item).exists():
        return normalize_symbol(symbol), Path(path)
    return None, Path(item)


def serve_command(
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="address to listen on")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="N", help="port to listen on")] = 8765,
    db: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="SQLite file keeping the paper account between runs"),
    ] = None,
    quotes: Annotated[
        list[str] | None,
        typer.Option(
            metavar="[SYMBOL=]FILE",
            help="replay this quote file from now on instead of synthetic quotes "
            "(repeatable; SYMBOL=FILE trades it under another ticker)",
        ),
    ] = None,
    history: Annotated[
        list[str] | None,
        typer.Option(
            metavar="[SYMBOL=]FILE",
            help="serve this quote file (and its trades) as history only, through "
            "/v2/stocks/{symbol}/quotes and /trades; any number of days per symbol; a dataset "
            "symbol-day folder works too (repeatable)",
        ),
    ] = None,
    replay_from: Annotated[
        str | None,
        typer.Option(metavar="ISO", help="instant in the quote files that is replayed at start-up"),
    ] = None,
    seed: SeedOption = 0,
    clock_start: Annotated[
        str | None,
        typer.Option(
            metavar="ISO",
            help="run the exchange's clock from this instant (ISO-8601, New York if no offset) "
            "at wall pace, e.g. a past trading morning; clients sync to it via /v2/clock",
        ),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=VALUE",
            help="fault switch NAME=VALUE (repeatable): latency_ms, rate_limit_burst, "
            "retry_after, server_errors, lost_responses, replace_refused, replace_race, "
            "cancel_race, partial_fills, drop_stream_every, stream_down_seconds, submit_errors, "
            "submit_error=STATUS:CODE:MESSAGE",
        ),
    ] = None,
    always_open: Annotated[
        bool,
        typer.Option(
            "--always-open",
            help="pretend the session opened an hour ago: regular-hours quotes and an open "
            "market clock whatever the time (for demos and tests)",
        ),
    ] = False,
    cash: Annotated[
        str, typer.Option(metavar="USD", help="starting cash of a new paper account")
    ] = str(DEFAULT_CASH),
    unlisted: Annotated[
        list[str] | None,
        typer.Option(metavar="SYMBOL", help="a symbol the exchange does not list (repeatable)"),
    ] = None,
    untradable: Annotated[
        list[str] | None,
        typer.Option(metavar="SYMBOL", help="a listed but untradable symbol (repeatable)"),
    ] = None,
    not_fractionable: Annotated[
        list[str] | None,
        typer.Option(metavar="SYMBOL", help="a symbol without fractional shares (repeatable)"),
    ] = None,
    no_sip: Annotated[
        bool, typer.Option("--no-sip", help="refuse the SIP feed, as a free account does")
    ] = False,
    rate_limit: Annotated[
        int, typer.Option(metavar="N", help="requests per minute before answering 429")
    ] = 200,
    key_id: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="accept this key id (with --secret-key) instead of a pair made for this run",
        ),
    ] = None,
    secret_key: Annotated[
        str | None, typer.Option(metavar="SECRET", help="the secret of --key-id (never printed)")
    ] = None,
) -> None:
    """Run a local paper exchange that speaks Alpaca's Trading and Market Data APIs."""
    require_extra("server", "better-orders serve")
    from better_orders.server import (
        ServerConfig,
        VenueSettings,
        generate_keys,
        parse_fault_args,
        serve,
    )

    if (key_id is None) != (secret_key is None):
        raise InvalidInputError("--key-id and --secret-key go together")
    if rate_limit < 1:
        raise InvalidInputError(f"--rate-limit must be at least 1 request per minute: {rate_limit}")
    starting_cash = to_decimal(cash, "--cash")
    if starting_cash < 0:
        raise InvalidInputError(f"--cash cannot be negative: {starting_cash}")
    generated = key_id is None
    if key_id is None or secret_key is None:
        key_id, secret_key = generate_keys()
    keys = {key_id: secret_key}
    venue = VenueSettings(
        seed=seed,
        db_path=db,
        quote_files=tuple(_quote_file(q) for q in quotes or ()),
        replay_from=parse_instant(replay_from) if replay_from else None,
        clock_start=parse_instant(clock_start) if clock_start else None,
        always_open=always_open,
        starting_cash=Decimal(starting_cash),
        unknown_symbols=tuple(normalize_symbol(s) for s in unlisted or ()),
        untradable_symbols=tuple(normalize_symbol(s) for s in untradable or ()),
        non_fractionable_symbols=tuple(normalize_symbol(s) for s in not_fractionable or ()),
    )
    config = ServerConfig(
        host=host,
        port=port,
        keys=keys,
        venue=venue,
        faults=parse_fault_args(list(fault or ())),
        sip_allowed=not no_sip,
        rate_limit_per_minute=rate_limit,
        history=tuple(_quote_file(h) for h in history or ()),
    )
    url = f"http://{host}:{port}"

    def ready() -> None:
        console.print(f"[bold]Local Alpaca-compatible paper exchange[/] on {url}")
        quotes_from = "replayed files" if venue.quote_files else f"synthetic quotes (seed {seed})"
        console.print(f"  {quotes_from}; paper account {'in ' + str(db) if db else 'in memory'}")
        served = len(venue.quote_files) + len(config.history)
        if served:
            console.print(f"  historical quotes and trades of {served} file(s) at /v2/stocks/...")
        if config.faults:
            shown = ", ".join(f"{k}={v}" for k, v in config.faults.items())
            console.print(f"  faults: {shown}")
        console.print("  point Better Orders (or any alpaca-py client) at it with:")
        console.print(f"    export APCA_API_BASE_URL={url} APCA_API_DATA_URL={url}", soft_wrap=True)
        if generated:
            # A one-off pair made for this run of a local exchange; nothing real to protect.
            console.print(
                f"    export APCA_API_KEY_ID={key_id} APCA_API_SECRET_KEY={secret_key}",
                soft_wrap=True,
            )
        else:
            console.print(f"    key {mask_key_id(key_id)} (with the secret you gave)")
        console.print("  Ctrl-C to stop.")

    serve(config, on_ready=ready)


def register(app: typer.Typer) -> None:
    app.command("serve", cls=Command)(serve_command)
