"""``better-orders serve``: a local, Alpaca-compatible paper exchange backed by the simulator."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from better_orders.cli.common import SeedOption, console, parse_instant
from better_orders.cli.exit_codes import INCOMPLETE
from better_orders.cli.extras import require_extra
from better_orders.cli.help_format import Command
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import normalize_symbol, to_decimal
from better_orders.venues.alpaca.credentials import mask_key_id
from better_orders.venues.assets import load_asset_file
from better_orders.venues.sim.account import DEFAULT_CASH

MAX_PORT = 65535


def check_address(host: str, port: int) -> None:
    """Refuse an address the server could not listen on, before it announces itself there."""
    if not 1 <= port <= MAX_PORT:
        raise InvalidInputError(f"--port must be from 1 to {MAX_PORT}, got {port}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidInputError(f"cannot listen on {host}:{port}: {reason}") from None


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
            help="start the exchange's clock one hour into the latest regular session "
            "(when --clock-start is not given): an open market whatever the time of day",
        ),
    ] = False,
    assets: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="add (or override) assets from this CSV or JSON file (repeatable): a symbol "
            "column or key, optionally name, exchange, status, tradable, marginable, shortable, "
            "easy_to_borrow, fractionable, maintenance_margin_requirement, id",
        ),
    ] = None,
    cash_account: Annotated[
        bool,
        typer.Option(
            "--cash-account",
            help="a cash account (buying power = cash, no shorting) instead of margin",
        ),
    ] = False,
    replace_remainder: Annotated[
        bool,
        typer.Option(
            "--replace-remainder",
            help="size a replacement to its qty less what the old order filled, instead of "
            "Alpaca's way (the replacement gets the full qty again)",
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
    from better_orders.server.replay import read_sources

    check_address(host, port)
    for path in assets or ():
        load_asset_file(path)  # a bad file is one line here, not a failed start
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
        # Read now: a bad file is one line here, not a traceback from a starting server.
        quote_files=tuple((None, r) for r in read_sources(_quote_file(q) for q in quotes or ())),
        replay_from=parse_instant(replay_from) if replay_from else None,
        clock_start=parse_instant(clock_start) if clock_start else None,
        always_open=always_open,
        starting_cash=Decimal(starting_cash),
        asset_files=tuple(assets or ()),
        cash_account=cash_account,
        replace_remainder=replace_remainder,
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
        account = "cash account" if cash_account else "margin account"
        where = "in " + str(db) if db else "in memory"
        console.print(f"  {quotes_from}; paper {account} {where}")
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

    try:
        serve(config, on_ready=ready)
    except SystemExit as exc:
        # uvicorn has said why in one line; its own code (3) would read as a quote error here.
        raise typer.Exit(INCOMPLETE if exc.code else 0) from None


def register(app: typer.Typer) -> None:
    app.command("serve", cls=Command)(serve_command)
