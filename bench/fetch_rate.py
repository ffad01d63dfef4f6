"""How close ``data fetch`` runs to the allowed request rate, with every 429 handled.

Starts ``better-orders serve`` on a loopback port serving the example files shipped
with the package as 20 symbols' history (each file under several tickers, so
20 symbol-days on 2013-10-07), with a per-minute request budget (``--rate-limit``)
and a few injected 429 answers (``Retry-After``), then fetches the 20 symbol-days
with the fetcher told the same budget. Prints requests answered, 429s received
and waited out, the achieved rate against the allowed one, and checks every
symbol-day holds the rows served.

    python bench/fetch_rate.py [--rate 600] [--page-size 200] [--bursts 5]
"""

from __future__ import annotations

import argparse
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

from better_orders.core.market_calendar import default_calendar
from better_orders.data.alpaca_client import HistoricalClient
from better_orders.data.csv_files import read_csv
from better_orders.data.dataset import Dataset
from better_orders.data.example_data import example_quote_files
from better_orders.data.fetch import run_fetch
from better_orders.data.pacing import RequestPacer
from better_orders.data.plan import Window, plan_fetch

SYMBOLS = [
    "TQQQ",
    "SOXL",
    "SPXL",
    "UPRO",
    "TNA",
    "FAS",
    "LABU",
    "TECL",
    "QLD",
    "SSO",
    "SPY",
    "QQQ",
    "IWM",
    "DIA",
    "XLF",
    "TLT",
    "SMH",
    "IBM",
    "AIG",
    "BAC",
]
DAY = date(2013, 10, 7)
WINDOW = "09:25-09:45"


class Secret:
    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=600, help="allowed requests per minute")
    parser.add_argument("--page-size", type=int, default=200, help="rows per request")
    parser.add_argument("--bursts", type=int, default=5, help="429s injected by the server")
    args = parser.parse_args()

    files = example_quote_files()
    mapping = {s: files[i % len(files)] for i, s in enumerate(SYMBOLS)}
    for real in ("IBM", "AIG", "BAC"):
        mapping[real] = next(f for f in files if f"_{real}_" in f.name)
    port, key, secret = free_port(), "PKBENCH", secrets.token_urlsafe(16)
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from better_orders.cli.app import main; main()", "serve"]
    command += ["--port", str(port), "--key-id", key, "--secret-key", secret]
    command += ["--rate-limit", str(args.rate)]
    # AIG is not in the local exchange's built-in asset list.
    assets = Path(tempfile.mkdtemp()) / "assets.csv"
    assets.write_text("symbol,name,exchange\nAIG,American International Group,NYSE\n")
    command += ["--assets", str(assets)]
    for symbol, file in mapping.items():
        command += ["--history", f"{symbol}={file}"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_up(url, server)
        if args.bursts:
            faults = {"rate_limit_burst": args.bursts, "retry_after": 0.5}
            keys = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
            httpx.post(url + "/_faults", json=faults, headers=keys, timeout=10).raise_for_status()
        _run(url, key, secret, args, mapping)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                f"serve exited: {server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            httpx.get(url + "/_stats", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("serve did not start within 60 s")


def _run(
    url: str, key: str, secret: str, args: argparse.Namespace, mapping: dict[str, Path]
) -> None:
    plan = plan_fetch(
        SYMBOLS,
        DAY,
        DAY,
        window=Window.parse(WINDOW),
        feed="sip",
        calendar=default_calendar(),
        today=date.today(),
    )
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Dataset.for_writing(Path(tmp) / "ds")
        client = HistoricalClient(
            data_url=url,
            trading_url=url,
            key_id=key,
            secret=Secret(secret),
            pacer=RequestPacer(args.rate),
        )
        with client:
            started = time.monotonic()
            outcomes = run_fetch(plan, dataset, client, page_rows=args.page_size)
            wall = time.monotonic() - started
        stats = client.stats
        keys = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
        served = httpx.get(url + "/_stats", headers=keys, timeout=10).json()["responses"]
        wrong = [
            str(o.day)
            for o in outcomes
            if o.quotes != len(read_csv(mapping[o.day.symbol], "quotes"))
        ]
    span = (stats.last_request or 0) - (stats.first_request or 0)
    answered = stats.requests - stats.rate_limited
    allowed = args.rate / 60.0
    # The rate over the span between the first and the last request: n requests, n-1 gaps.
    achieved = (stats.requests - 1) / span if span > 0 else 0.0
    print(f"symbol-days fetched        {len(outcomes)} ({len(wrong)} with wrong rows)")
    print(
        f"requests sent              {stats.requests} ({answered} answered 200, "
        f"{stats.rate_limited} answered 429 and sent again)"
    )
    print(f"server's answers           {served}")
    print(f"page size                  {args.page_size} rows")
    print(f"wall time                  {wall:.1f} s (first to last request {span:.1f} s)")
    print(f"allowed rate               {args.rate}/min = {allowed:.2f}/s")
    print(
        f"achieved rate              {achieved * 60:.0f}/min = {achieved:.2f}/s "
        f"= {achieved / allowed:.1%} of the allowed rate"
    )
    print(f"waited for the server      {client.pacer.held:.1f} s (Retry-After and resets)")
    if wrong or served.get("429", 0) != stats.rate_limited:
        raise SystemExit("FAILED: rows or 429 counts do not match")


if __name__ == "__main__":
    main()
