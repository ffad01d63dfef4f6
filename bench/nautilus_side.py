"""The NautilusTrader half of ``bench/nautilus_compare.py``; runs inside NautilusTrader's own venv.

    bench/.nautilus-venv/bin/python bench/nautilus_side.py QUOTES.csv.gz ORDERS.json

It imports nothing from Better Orders (the package is not installed in that
environment). ``ORDERS.json`` is written by the compare script::

    {"symbol": "AAPL", "ticks": 1, "submit_latency_ns": 30000000,
     "start_ns": ..., "end_ns": ..., "orders": [[ts_ns, "buy" | "sell", qty], ...]}

The rows replayed are exactly those Better Orders' replay covers: from the quote
in force at the first order to the last row at or before ``end_ns`` (compared
at microsecond resolution, like the simulator's clock). They become
``QuoteTick``s through NautilusTrader's ``QuoteTickDataWrangler`` (timed apart
as ``load_seconds``). A ``BacktestEngine`` with one venue holding an L1
(top-of-book) book and a fixed submit latency then replays them while a
strategy, woken by a time alert at each order time, sends an immediate-or-cancel
limit ``ticks`` beyond the far touch of the cached quote. ``engine.run()`` is
what ``wall_seconds`` measures (post-run analysis off). One JSON line goes to
stdout.

A spec with a ``"ladder"`` table (written by ``bench/parents_compare.py``) runs
``LadderParents`` instead: each order is a parent worked the seed ladder's way
(its docstring), and the JSON line reports parents per second.

Choices, each in NautilusTrader's favour or needed for the same work: logging
bypassed; a margin account at leverage 1, because a cash account rejects sells
beyond the position and those orders would never reach the book; the strategy
does not subscribe to quotes (no Python callback per row); the risk engine
stays on, as Better Orders' venue validates every order too.

Fills differ a little from Better Orders' by design of the two venues: here an
order that reaches the venue is matched after the next quote at or past its
arrival has been applied; Better Orders matches it against the quote in force
at its arrival.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.models import LatencyModel
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide, TimeInForce
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import QuoteTickDataWrangler
from nautilus_trader.trading.strategy import Strategy

VENUE = "XNAS"
TICK = Decimal("0.01")


def peak_rss_mb() -> float:
    """Peak resident memory so far (MiB): ``VmHWM``, as ``ru_maxrss`` survives ``exec``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MarketableOrders(Strategy):
    """At each given instant, an IOC limit ``ticks`` beyond the far touch of the latest quote."""

    def __init__(
        self,
        instrument_id: InstrumentId,
        orders: list[tuple[int, str, int]],
        ticks: int,
    ) -> None:
        super().__init__(StrategyConfig(strategy_id="MKT-001"))
        self.instrument_id = instrument_id
        self.orders = orders
        self.ticks = ticks
        self.next = 0
        self.sent = 0
        self.no_quote = 0
        self.fills = 0
        self.filled_qty = 0
        self.notional = Decimal(0)

    def on_start(self) -> None:
        self._arm()

    def _arm(self) -> None:
        """One pending alert at a time: the next order's instant."""
        if self.next < len(self.orders):
            when = self.orders[self.next][0]
            self.clock.set_time_alert_ns(f"order-{self.next}", when, self._fire)

    def _fire(self, _event: Any) -> None:
        k = self.next
        self.next += 1
        _ts, side, qty = self.orders[k]
        quote = self.cache.quote_tick(self.instrument_id)
        if quote is None or quote.bid_price.as_double() <= 0 or quote.ask_price.as_double() <= 0:
            self.no_quote += 1
        else:
            step = TICK * self.ticks
            if side == "buy":
                price = quote.ask_price.as_decimal() + step
                order_side = OrderSide.BUY
            else:
                price = quote.bid_price.as_decimal() - step
                order_side = OrderSide.SELL
            order = self.order_factory.limit(
                instrument_id=self.instrument_id,
                order_side=order_side,
                quantity=Quantity.from_int(qty),
                price=Price(price, precision=2),
                time_in_force=TimeInForce.IOC,
            )
            self.submit_order(order)
            self.sent += 1
        # Several orders may share an instant: each gets its own alert.
        self._arm()

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills += 1
        qty = int(event.last_qty.as_double())
        self.filled_qty += qty
        self.notional += event.last_px.as_decimal() * qty


class LadderParents(Strategy):
    """At each given instant a parent order worked like the seed ladder (``ladder`` in the spec).

    In the opening window a spread wider than ``wide_e4`` is waited out (up to
    ``wait_max_ns``, quotes watched only while some parent waits); then a limit
    ``ticks`` beyond the far touch, cancelled after the timeout (``timeout_after_wait_ns``
    for the first child after a wait) and re-pegged off the latest quote up to
    ``max_repegs`` times, then a market order for the rest. Parents may overlap.
    """

    def __init__(self, instrument_id: InstrumentId, spec: dict[str, Any]) -> None:
        super().__init__(StrategyConfig(strategy_id="LAD-001"))
        self.instrument_id = instrument_id
        self.orders = [(int(ts), str(side), int(qty)) for ts, side, qty in spec["orders"]]
        lad = spec["ladder"]
        self.ticks = int(lad["ticks"])
        self.wide_e4 = int(lad["wide_e4"])
        self.open_ns = int(lad["open_ns"])
        self.wait_window_end_ns = int(lad["wait_window_end_ns"])
        self.wait_max_ns = int(lad["wait_max_ns"])
        self.timeout_ns = int(lad["timeout_ns"])
        self.timeout_after_wait_ns = int(lad["timeout_after_wait_ns"])
        self.max_repegs = int(lad["max_repegs"])
        self.next = 0
        self.parents: list[dict[str, Any]] = []
        self.by_order: dict[Any, dict[str, Any]] = {}
        self.waiting: list[dict[str, Any]] = []
        self.watching = False
        self.children = 0
        self.fills = 0
        self.filled_qty = 0
        self.done = 0

    def on_start(self) -> None:
        self._arm_next()

    def _arm_next(self) -> None:
        if self.next < len(self.orders):
            self.clock.set_time_alert_ns(
                f"parent-{self.next}", self.orders[self.next][0], self._open_parent
            )

    def _open_parent(self, _event: Any) -> None:
        k = self.next
        self.next += 1
        ts, side, qty = self.orders[k]
        parent = {"k": k, "side": side, "left": qty, "repegs": 0, "child": None, "attempt": 0}
        self.parents.append(parent)
        quote = self.cache.quote_tick(self.instrument_id)
        in_window = self.open_ns <= ts < self.wait_window_end_ns
        if quote is not None and in_window and self._spread_e4(quote) > self.wide_e4:
            parent["waited"] = True
            self.waiting.append(parent)
            if not self.watching:
                self.subscribe_quote_ticks(self.instrument_id)
                self.watching = True
            self.clock.set_time_alert_ns(f"wait-{k}", ts + self.wait_max_ns, self._wait_over)
        else:
            parent["waited"] = False
            self._work(parent)
        self._arm_next()

    @staticmethod
    def _spread_e4(quote: QuoteTick) -> int:
        return round((quote.ask_price.as_double() - quote.bid_price.as_double()) * 10_000)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if self._spread_e4(tick) > self.wide_e4:
            return
        for parent in self.waiting:
            self.clock.cancel_timer(f"wait-{parent['k']}")
            self._work(parent)
        self.waiting.clear()
        self._unwatch()

    def _wait_over(self, event: Any) -> None:
        k = int(event.name.split("-")[1])
        parent = next(p for p in self.waiting if p["k"] == k)
        self.waiting.remove(parent)
        self._work(parent)
        if not self.waiting:
            self._unwatch()

    def _unwatch(self) -> None:
        if self.watching:
            self.unsubscribe_quote_ticks(self.instrument_id)
            self.watching = False

    def _work(self, parent: dict[str, Any]) -> None:
        quote = self.cache.quote_tick(self.instrument_id)
        buy = parent["side"] == "buy"
        side = OrderSide.BUY if buy else OrderSide.SELL
        qty = Quantity.from_int(parent["left"])
        if parent["repegs"] > self.max_repegs or quote is None:
            order = self.order_factory.market(self.instrument_id, side, qty)
        else:
            step = TICK * self.ticks
            far = (
                quote.ask_price.as_decimal() + step if buy else quote.bid_price.as_decimal() - step
            )
            order = self.order_factory.limit(
                instrument_id=self.instrument_id,
                order_side=side,
                quantity=qty,
                price=Price(far, precision=2),
                time_in_force=TimeInForce.GTC,
            )
            first = parent["attempt"] == 0 and parent["waited"]
            timeout = self.timeout_after_wait_ns if first else self.timeout_ns
            parent["timer"] = f"t-{parent['k']}-{parent['attempt']}"
            self.clock.set_time_alert_ns(
                parent["timer"], self.clock.timestamp_ns() + timeout, self._child_timed_out
            )
        parent["attempt"] += 1
        parent["child"] = order
        self.by_order[order.client_order_id] = parent
        self.children += 1
        self.submit_order(order)

    def _child_timed_out(self, event: Any) -> None:
        k = int(event.name.split("-")[1])
        parent = self.parents[k]
        child = parent["child"]
        if child is not None and child.is_open:
            self.cancel_order(child)

    def on_order_canceled(self, event: Any) -> None:
        parent = self.by_order.get(event.client_order_id)
        if parent is None or parent["left"] <= 0:
            return
        parent["repegs"] += 1
        self._work(parent)

    def on_order_filled(self, event: OrderFilled) -> None:
        parent = self.by_order.get(event.client_order_id)
        self.fills += 1
        qty = int(event.last_qty.as_double())
        self.filled_qty += qty
        if parent is None:
            return
        parent["left"] -= qty
        if parent["left"] <= 0:
            self.done += 1
            timer = parent.get("timer")
            if timer is not None and timer in self.clock.timer_names:
                self.clock.cancel_timer(timer)


def load_ticks(path: str, instrument: Equity, start_ns: int, end_ns: int) -> list[QuoteTick]:
    """The rows Better Orders' replay covers, as ``QuoteTick``s."""
    frame = pd.read_csv(
        path,
        usecols=["ts_utc_ns", "bid_px", "ask_px", "bid_sz", "ask_sz"],
        dtype={"ts_utc_ns": "int64"},
    )
    ts_us = frame["ts_utc_ns"].to_numpy(dtype=np.int64) // 1000
    first = max(int(np.searchsorted(ts_us, start_ns // 1000, side="right")) - 1, 0)
    stop = int(np.searchsorted(ts_us, end_ns // 1000, side="right"))
    frame = frame.iloc[first:stop]
    data = pd.DataFrame(
        {
            "bid_price": frame["bid_px"].to_numpy(),
            "ask_price": frame["ask_px"].to_numpy(),
            "bid_size": frame["bid_sz"].to_numpy(dtype=np.float64),
            "ask_size": frame["ask_sz"].to_numpy(dtype=np.float64),
        },
        index=pd.to_datetime(frame["ts_utc_ns"].to_numpy(), unit="ns", utc=True),
    )
    ticks: list[QuoteTick] = QuoteTickDataWrangler(instrument).process(data)
    return ticks


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: nautilus_side.py QUOTES_FILE ORDERS_JSON")
    quotes_path, orders_path = sys.argv[1], sys.argv[2]
    with open(orders_path) as fh:
        spec = json.load(fh)
    import_rss = peak_rss_mb()
    symbol = spec["symbol"]
    orders = [(int(ts), str(side), int(qty)) for ts, side, qty in spec["orders"]]
    venue = Venue(VENUE)
    instrument = Equity(
        instrument_id=InstrumentId(Symbol(symbol), venue),
        raw_symbol=Symbol(symbol),
        currency=USD,
        price_precision=2,
        price_increment=Price.from_str("0.01"),
        lot_size=Quantity.from_int(1),
        ts_event=0,
        ts_init=0,
    )

    began = time.perf_counter()
    ticks = load_ticks(quotes_path, instrument, int(spec["start_ns"]), int(spec["end_ns"]))
    load_seconds = time.perf_counter() - began

    engine = BacktestEngine(
        config=BacktestEngineConfig(
            trader_id=TraderId("BENCH-001"),
            # Its fastest set-up: no log lines at all (Better Orders' replay writes none).
            logging=LoggingConfig(bypass_logging=True),
            run_analysis=False,
        )
    )
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        # A cash account refuses sells beyond the position; Better Orders' venue does not.
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(1_000_000_000, USD)],
        default_leverage=Decimal(1),
        book_type=BookType.L1_MBP,
        latency_model=LatencyModel(base_latency_nanos=int(spec["submit_latency_ns"])),
    )
    engine.add_instrument(instrument)
    engine.add_data(ticks)
    ladder = "ladder" in spec
    strategy: Any
    if ladder:
        strategy = LadderParents(instrument.id, spec)
    else:
        strategy = MarketableOrders(instrument.id, orders, int(spec["ticks"]))
    engine.add_strategy(strategy)

    began = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - began

    orders_seen = engine.cache.orders()
    denied = sum(1 for o in orders_seen if o.status_string() in ("DENIED", "REJECTED"))
    peak_rss = peak_rss_mb()
    engine.dispose()
    if ladder:
        print(
            json.dumps(
                {
                    "engine": "NautilusTrader 1.221.0",
                    "symbol": symbol,
                    "quotes": len(ticks),
                    "parents": len(orders),
                    "parents_done": strategy.done,
                    "children": strategy.children,
                    "fills": strategy.fills,
                    "filled_qty": strategy.filled_qty,
                    "load_seconds": load_seconds,
                    "wall_seconds": wall,
                    "parents_per_second": len(orders) / wall if wall > 0 else 0.0,
                    "peak_rss_mb": peak_rss,
                    "import_rss_mb": import_rss,
                }
            )
        )
        return
    print(
        json.dumps(
            {
                "engine": "NautilusTrader 1.221.0",
                "symbol": symbol,
                "quotes": len(ticks),
                "orders": len(orders),
                "sent": strategy.sent,
                "no_quote": strategy.no_quote,
                "denied_or_rejected": denied,
                "fills": strategy.fills,
                "filled_qty": strategy.filled_qty,
                "notional": str(strategy.notional),
                "load_seconds": load_seconds,
                "wall_seconds": wall,
                "quotes_per_second": len(ticks) / wall if wall > 0 else 0.0,
                "peak_rss_mb": peak_rss,
                "import_rss_mb": import_rss,
            }
        )
    )


if __name__ == "__main__":
    main()
