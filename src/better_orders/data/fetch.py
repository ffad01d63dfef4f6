"""Fetching a plan's symbol-days from Alpaca into a dataset, resumably.

For each symbol-day, in order: skip it when the dataset already holds it complete
for the same feed and a window covering the one asked; otherwise fetch its quote
pages, then its trade pages, each kept as it arrives (``partial``), and write the
day (``symbol_day``) when both are done. Interrupted at any point, the same
command continues where it stopped: complete days are skipped, and a partial
one resumes from its last kept page with the page token stored beside it.

Symbols are checked against Alpaca's asset list before anything is fetched, so an
unknown ticker is refused up front rather than recorded as a day without quotes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from better_orders.core.errors import BetterOrdersError, InvalidInputError
from better_orders.data.alpaca_client import MAX_PAGE_ROWS, HistoricalClient
from better_orders.data.alpaca_rows import format_seconds, rows_table
from better_orders.data.dataset import Dataset
from better_orders.data.partial import KINDS, PartialFetch
from better_orders.data.plan import FetchPlan, SymbolDayRequest
from better_orders.data.schema import Kind
from better_orders.data.symbol_day import SymbolDay

Status = Literal["fetched", "resumed", "replaced", "skipped", "no data"]


class FetchInterrupted(BetterOrdersError):
    """Ctrl-C during a fetch: what was fetched is kept, and the same command continues it."""

    exit_code = 130  # the interrupted family of the exit codes


@dataclass(frozen=True, slots=True)
class FetchEvent:
    """Progress: a page kept (``kind`` set) or a symbol-day finished (``status`` set)."""

    day: SymbolDay
    kind: Kind | None = None
    rows: int = 0
    page: int = 0
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    day: SymbolDay
    status: Status
    quotes: int
    trades: int


def check_symbols(client: HistoricalClient, symbols: tuple[str, ...]) -> None:
    """Refuse the whole fetch if Alpaca lists one of ``symbols`` as no US stock (only the
    symbols with something left to fetch are asked about)."""
    for symbol in symbols:
        asset = client.asset(symbol)
        if asset is None:
            raise InvalidInputError(
                f"unknown symbol {symbol}: {client.host or 'Alpaca'} lists no such asset; "
                "nothing fetched"
            )
        if asset.get("class", "us_equity") != "us_equity":
            raise InvalidInputError(
                f"{symbol} is a {asset.get('class')} asset, not a US stock; nothing fetched"
            )


def source_text(client: HistoricalClient, feed: str) -> str:
    return f"Alpaca Market Data API v2 ({client.host}, feed={feed})"


def check_page_rows(page_rows: int) -> None:
    if not 1 <= page_rows <= MAX_PAGE_ROWS:
        raise InvalidInputError(f"--page-size must be 1 to {MAX_PAGE_ROWS}, got {page_rows}")


@dataclass(frozen=True, slots=True)
class PreparedFetch:
    """A fetch checked in full, the server's asset list included: ``run`` fetches it."""

    plan: FetchPlan
    dataset: Dataset
    client: HistoricalClient
    page_rows: int
    #: The symbol-days the dataset already holds complete and covering what is asked.
    done: frozenset[SymbolDayRequest]
    #: Those it holds otherwise (another window or feed, damaged): fetched and replaced.
    held: frozenset[SymbolDayRequest]

    def run(self, on_event: Callable[[FetchEvent], None] | None = None) -> list[FetchOutcome]:
        self.dataset.create()
        notify = on_event or (lambda event: None)
        outcomes = []
        for request in self.plan.requests:
            day = self.dataset.symbol_day(request.symbol, request.day)
            if request in self.done:
                manifest = day.manifest() or {}
                outcome = FetchOutcome(
                    day, "skipped", _rows(manifest, "quotes"), _rows(manifest, "trades")
                )
            else:
                outcome = _fetch_day(
                    day, request, self.plan.feed, self.client, self.page_rows, notify
                )
                if request in self.held and outcome.status != "no data":
                    outcome = FetchOutcome(day, "replaced", outcome.quotes, outcome.trades)
            notify(FetchEvent(day, status=outcome.status))
            outcomes.append(outcome)
        return outcomes


def prepare_fetch(
    plan: FetchPlan, dataset: Dataset, client: HistoricalClient, *, page_rows: int = MAX_PAGE_ROWS
) -> PreparedFetch:
    """Every check of a fetch, before anything is written: the page size, then the symbols
    with something left to fetch against the server's asset list (``check_symbols``).

    A symbol-day held complete for the same feed and a window covering the one asked is
    skipped; one held damaged (its files no longer match its manifest) is fetched again.
    """
    check_page_rows(page_rows)
    done: set[SymbolDayRequest] = set()
    held: set[SymbolDayRequest] = set()
    for request in plan.requests:
        day = dataset.symbol_day(request.symbol, request.day)
        if not day.manifest_path.is_file():
            continue
        held.add(request)
        if day.complete and _covers(day.manifest() or {}, request, plan.feed):
            done.add(request)
    check_symbols(client, tuple(dict.fromkeys(r.symbol for r in plan.requests if r not in done)))
    return PreparedFetch(plan, dataset, client, page_rows, frozenset(done), frozenset(held))


def run_fetch(
    plan: FetchPlan,
    dataset: Dataset,
    client: HistoricalClient,
    *,
    page_rows: int = MAX_PAGE_ROWS,
    on_event: Callable[[FetchEvent], None] | None = None,
) -> list[FetchOutcome]:
    """Fetch every symbol-day of ``plan`` that the dataset lacks; see the module docstring."""
    return prepare_fetch(plan, dataset, client, page_rows=page_rows).run(on_event)


def _fetch_day(
    day: SymbolDay,
    request: SymbolDayRequest,
    feed: str,
    client: HistoricalClient,
    page_rows: int,
    notify: Callable[[FetchEvent], None],
) -> FetchOutcome:
    asked = {"feed": feed, "start_ns": request.start_ns, "end_ns": request.end_ns}
    import pyarrow.compute as pc

    partial = PartialFetch.open(day, asked)
    source = source_text(client, feed)
    # Whole seconds (the window's are): Alpaca's ``end`` is inclusive, so a row stamped
    # exactly at the end comes back and is dropped here, the request's end being excluded.
    start, end = format_seconds(request.start_ns), format_seconds(request.end_ns)
    for kind in KINDS:
        state = partial.progress[kind]
        if state.done:
            continue
        pages = client.pages(
            kind,
            request.symbol,
            start=start,
            end=end,
            feed=feed,
            limit=page_rows,
            page_token=state.next_token,
        )
        for page in pages:
            table = rows_table(kind, page.rows, request.symbol, source)
            table = table.filter(pc.less(table["ts_utc_ns"], request.end_ns))
            partial.add_page(kind, table, page.next_token)
            notify(FetchEvent(day, kind=kind, rows=table.num_rows, page=state.pages))
    quotes = partial.table("quotes", symbol=request.symbol, source=source)
    trades = partial.table("trades", symbol=request.symbol, source=source)
    if quotes.num_rows == 0:
        # Nothing to replay: a complete symbol-day without quotes would stop every replay
        # of the dataset. Nothing is kept, so a later fetch asks again.
        day.discard()
        return FetchOutcome(day, "no data", 0, trades.num_rows)
    origin = {"kind": "fetch", "url": client.data_url} | asked
    day.write(quotes, trades, source=source, origin=origin)
    status: Status = "resumed" if partial.resumed else "fetched"
    return FetchOutcome(day, status, quotes.num_rows, trades.num_rows)


def _covers(manifest: dict[str, Any], request: SymbolDayRequest, feed: str) -> bool:
    origin = manifest.get("origin") or {}
    return (
        origin.get("kind") == "fetch"
        and origin.get("feed") == feed
        and int(origin.get("start_ns", 0)) <= request.start_ns
        and int(origin.get("end_ns", 0)) >= request.end_ns
    )


def _rows(manifest: dict[str, Any], kind: str) -> int:
    extent = manifest.get(kind) or {}
    return int(extent.get("rows") or 0)
