"""The simulated venue's fill model: fills no better than the market would give.

Resting limits fill at their own price after the queue ahead of them; marketable
orders take what is displayed when they arrive (``venues/sim/fills.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from better_orders.core.model import Fill, OrderRequest, OrderStatus, OrderType, Quote, Side
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.exchange import Latency, SimExchange
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.source import Execution

T0 = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)
FAST = Latency(submit=timedelta(milliseconds=1), cancel=timedelta(milliseconds=1))


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


class Tape:
    """A scripted book: quote rows 100 ms apart, prints on rows that repeat the book."""

    def __init__(self, bid: str, ask: str, bid_size: int = 500, ask_size: int = 500) -> None:
        self.rows = [Quote("ABC", D(bid), D(ask), D(bid_size), D(ask_size), at(0))]
        self.executions: dict[int, Execution] = {}

    def quote(self, bid: str, ask: str, bid_size: int = 500, ask_size: int = 500) -> Tape:
        when = at(100 * len(self.rows))
        self.rows.append(Quote("ABC", D(bid), D(ask), D(bid_size), D(ask_size), when))
        return self

    def sizes(self, bid_size: int, ask_size: int = 500) -> Tape:
        last = self.rows[-1]
        return self.quote(str(last.bid), str(last.ask), bid_size, ask_size)

    def prints(self, price: str, size: int, direction: int = 0) -> Tape:
        """A trade: a trades-file print (direction 0) or a LOBSTER execution (+1 bid, -1 ask)."""
        last = self.rows[-1]
        self.quote(str(last.bid), str(last.ask), int(last.bid_size), int(last.ask_size))
        self.executions[len(self.rows) - 1] = Execution(D(price), D(size), direction)
        return self

    def venue(self) -> SimExchange:
        source = ReplayQuotes.from_quotes(self.rows, executions=self.executions or None)
        return SimExchange(QuoteBook.replay({"ABC": source}), latency=FAST)

    def end(self) -> datetime:
        return at(100 * len(self.rows))


def limit(coid: str, side: Side, qty: int, price: str) -> OrderRequest:
    return OrderRequest(coid, "ABC", side, D(qty), OrderType.LIMIT, D(price))


def fills(ex: SimExchange, coid: str = "o") -> list[tuple[D, D]]:
    return [(f.qty, f.price) for f in ex.fills if f.client_order_id == coid]


def step(ex: SimExchange, row: int) -> None:
    """Process the book up to and including row ``row`` (rows are 100 ms apart)."""
    ex.advance(at(100 * row + 50))


# -- resting limits fill at their own price --------------------------------------------------------


def test_a_resting_sell_hit_by_a_bad_bid_fills_at_its_own_limit() -> None:
    tape = Tape("29.90", "30.10").quote("300.20", "300.40", bid_size=200)
    ex = tape.venue()
    ex.submit(limit("o", Side.SELL, 100, "30.00"), at(10))
    ex.advance(tape.end())
    assert fills(ex) == [(D(100), D("30.00"))]


def test_a_resting_buy_crossed_by_a_lower_offer_fills_at_its_limit_up_to_the_offer() -> None:
    tape = Tape("9.90", "10.10").quote("9.80", "9.95", ask_size=60).quote("9.80", "9.96", 500, 500)
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 100, "10.00"), at(10))
    ex.advance(tape.end())
    assert fills(ex) == [(D(60), D("10.00")), (D(40), D("10.00"))]


# -- queue position ----------------------------------------------------------------------------


def test_an_order_joining_a_500_share_queue_fills_only_beyond_it() -> None:
    tape = Tape("10.00", "10.05").prints("10.00", 300).prints("10.00", 400)
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 300, "10.00"), at(10))
    step(ex, 0)
    assert ex.queue_ahead("o") == 500
    step(ex, 1)
    assert fills(ex) == [] and ex.queue_ahead("o") == 200
    step(ex, 2)
    # 200 of the 400 go to the queue ahead; the other 200 fill part of the 300.
    assert fills(ex) == [(D(200), D("10.00"))]
    order = ex.order("o")
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED
    assert ex.queue_ahead("o") == 0


def test_lobster_executions_against_our_side_work_the_queue_and_others_do_not() -> None:
    tape = (
        Tape("10.00", "10.05")
        .prints("10.00", 300, direction=-1)  # against resting sells: not our queue
        .prints("10.00", 300, direction=1)
        .prints("10.00", 400, direction=1)
    )
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 300, "10.00"), at(10))
    step(ex, 1)
    assert ex.queue_ahead("o") == 500
    step(ex, 2)
    assert ex.queue_ahead("o") == 200
    ex.advance(tape.end())
    assert fills(ex) == [(D(200), D("10.00"))]


def test_an_order_improving_the_touch_fills_on_the_first_print_at_its_price() -> None:
    tape = Tape("10.00", "10.05").prints("10.01", 80).prints("10.01", 100)
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 150, "10.01"), at(10))
    step(ex, 0)
    assert ex.queue_ahead("o") == 0
    ex.advance(tape.end())
    assert fills(ex) == [(D(80), D("10.01")), (D(70), D("10.01"))]


def test_cancellations_come_from_behind_us() -> None:
    tape = (
        Tape("10.00", "10.05", bid_size=500)
        .sizes(300)  # 200 cancelled: the queue ahead can be no longer than what is shown
        .sizes(800)  # 500 join behind us
        .sizes(400)  # 400 cancel: taken from behind us, 300 are still ahead
        .prints("10.00", 350)
    )
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 100, "10.00"), at(10))
    step(ex, 1)
    assert ex.queue_ahead("o") == 300
    step(ex, 3)
    assert ex.queue_ahead("o") == 300
    ex.advance(tape.end())
    assert fills(ex) == [(D(50), D("10.00"))]


def test_without_prints_the_quote_sizes_move_us_up_but_never_fill_us() -> None:
    tape = Tape("10.00", "10.05", bid_size=500).sizes(200).sizes(0).sizes(700)
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 100, "10.00"), at(10))
    ex.advance(tape.end())
    assert fills(ex) == [] and ex.queue_ahead("o") == 0


def test_losing_the_touch_to_a_better_price_sends_the_order_to_the_back() -> None:
    tape = (
        Tape("10.00", "10.05", bid_size=500)
        .prints("10.00", 300)  # 200 ahead
        .quote("10.01", "10.05", bid_size=100)  # someone bids more: our place is unknown
        .prints("10.00", 500)  # a print at our price behind the touch fills nothing
        .quote("10.00", "10.05", bid_size=600)  # back at our price: behind all 600
        .prints("10.00", 650)
    )
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 100, "10.00"), at(10))
    step(ex, 1)
    assert ex.queue_ahead("o") == 200
    step(ex, 3)
    assert ex.queue_ahead("o") is None and fills(ex) == []
    step(ex, 4)
    assert ex.queue_ahead("o") == 600
    ex.advance(tape.end())
    assert fills(ex) == [(D(50), D("10.00"))]


def test_the_touch_falling_behind_our_price_leaves_nothing_ahead() -> None:
    tape = Tape("10.00", "10.05", bid_size=500).quote("9.99", "10.05").prints("10.00", 30)
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 100, "10.00"), at(10))
    ex.advance(tape.end())
    assert fills(ex) == [(D(30), D("10.00"))]


def test_a_print_through_the_limit_fills_whatever_the_queue() -> None:
    tape = Tape("10.00", "10.05", bid_size=500).prints("9.99", 120)
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 100, "10.00"), at(10))
    ex.advance(tape.end())
    assert fills(ex) == [(D(100), D("10.00"))]


def test_a_locked_touch_at_our_price_fills_only_with_nothing_ahead() -> None:
    # Consolidated quotes can lock: an offer at our bid's price on another venue.
    tape = Tape("10.00", "10.01", bid_size=500).quote("10.00", "10.00", bid_size=500)
    ex = tape.venue()
    ex.submit(limit("joined", Side.BUY, 100, "10.00"), at(10))
    ex.advance(tape.end())
    assert fills(ex, "joined") == []
    alone = Tape("9.99", "10.01").quote("9.99", "10.00", ask_size=70)
    ex = alone.venue()
    ex.submit(limit("o", Side.BUY, 100, "10.00"), at(10))
    ex.advance(alone.end())
    assert fills(ex) == [(D(70), D("10.00"))]


# -- marketable orders -------------------------------------------------------------------------


def test_a_marketable_buy_takes_the_displayed_ask_and_rests_the_rest_at_its_limit() -> None:
    tape = Tape("10.00", "10.02", ask_size=300).quote("10.00", "10.02", ask_size=300)
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 500, "10.03"), at(10))
    step(ex, 0)
    assert fills(ex) == [(D(300), D("10.02"))]  # the touch it met, up to what was shown
    assert ex.queue_ahead("o") == 0  # the rest bids 10.03, above the 10.00 bid
    ex.advance(tape.end())
    # Resting now: the offer still at 10.02 crosses it and fills it at its own 10.03.
    assert fills(ex) == [(D(300), D("10.02")), (D(200), D("10.03"))]


def test_a_marketable_order_meets_the_quote_in_force_when_it_arrives() -> None:
    tape = Tape("10.00", "10.02").quote("10.10", "10.12")
    ex = tape.venue()
    ex.submit(limit("o", Side.BUY, 100, "10.03"), at(99.5))  # arrives at 100.5 ms
    ex.advance(tape.end())
    # The 10.02 offer it was priced off is gone: it rests below the new 10.10 bid.
    assert fills(ex) == []
    assert ex.queue_ahead("o") is None
    assert ex.order("o").status is OrderStatus.NEW  # type: ignore[union-attr]


# -- properties: never better than the market would give ----------------------------------------

Order = tuple[float, Side, int, int | None]  # (sent at ms, side, qty, limit in cents or market)


@st.composite
def markets(draw: st.DrawFn) -> tuple[list[Quote], dict[int, Execution], list[Order], int]:
    rows: list[Quote] = []
    executions: dict[int, Execution] = {}
    bid, spread, t = 2000, 3, 0.0
    for i in range(draw(st.integers(min_value=1, max_value=25))):
        t += draw(st.sampled_from([1.0, 5.0, 40.0, 200.0]))
        kind = draw(st.sampled_from(["quote", "quote", "sizes", "trade"]))
        if rows and kind != "quote":
            last = rows[-1]
            bs, az = last.bid_size, last.ask_size
            if kind == "sizes":
                bs, az = (
                    D(draw(st.sampled_from([0, 100, 300]))),
                    D(draw(st.sampled_from([100, 300]))),
                )
            rows.append(Quote("ABC", last.bid, last.ask, bs, az, T0 + timedelta(milliseconds=t)))
            if kind == "trade":
                px = bid + draw(st.integers(min_value=-3, max_value=spread + 3))
                size = D(draw(st.sampled_from([10, 100, 250])))
                direction = draw(st.sampled_from([-1, 0, 1]))
                away = direction == 0 and draw(st.booleans())  # a print on another venue
                executions[i] = Execution(D(px).scaleb(-2), size, direction, away=away)
            continue
        bid += draw(st.integers(min_value=-4, max_value=4))
        spread = draw(st.integers(min_value=1, max_value=5))
        sizes = st.sampled_from([0, 100, 300, 1000])
        rows.append(
            Quote(
                "ABC",
                D(bid).scaleb(-2),
                D(bid + spread).scaleb(-2),
                D(draw(sizes)),
                D(draw(sizes)),
                T0 + timedelta(milliseconds=t),
            )
        )
    orders: list[Order] = [
        (
            draw(st.floats(min_value=0, max_value=t + 10)),
            draw(st.sampled_from([Side.BUY, Side.SELL])),
            draw(st.sampled_from([1, 100, 350, 2000])),
            draw(st.one_of(st.none(), st.integers(min_value=1990, max_value=2010))),
        )
        for _ in range(draw(st.integers(min_value=1, max_value=6)))
    ]
    return rows, executions, orders, draw(st.sampled_from([0, 1, 30]))


def _evidence(
    rows: list[Quote], executions: dict[int, Execution], side: Side, first: int, last: int
) -> list[tuple[D, D]]:
    """(price, size) of every offer (for a buy) or bid (for a sell) shown, and every trade,
    on rows ``first..last``: what the market offered an order live over those rows."""
    out = []
    for i in range(max(first, 0), last + 1):
        q = rows[i]
        far, size = (q.ask, q.ask_size) if side is Side.BUY else (q.bid, q.bid_size)
        if far > 0:
            out.append((far, size))
        ex = executions.get(i)
        if ex is not None and i > first:
            out.append((ex.price, ex.size))
    return out


@settings(max_examples=150, deadline=None)
@given(markets())
def test_fills_are_never_better_than_the_market_would_give(
    case: tuple[list[Quote], dict[int, Execution], list[Order], int],
) -> None:
    rows, executions, orders, latency_ms = case
    source = ReplayQuotes.from_quotes(rows, executions=executions or None)
    delay = timedelta(milliseconds=latency_ms)
    ex = SimExchange(
        QuoteBook.replay({"ABC": source.starting_at(None)}),
        latency=Latency(submit=delay, cancel=delay),
    )
    requests: dict[str, tuple[OrderRequest, datetime]] = {}
    for n, (ms, side, qty, cents) in enumerate(sorted(orders, key=lambda o: o[0])):
        price = None if cents is None else D(cents).scaleb(-2)
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        request = OrderRequest(f"o{n}", "ABC", side, D(qty), kind, price)
        sent = T0 + timedelta(milliseconds=ms)
        ex.submit(request, max(sent, ex.now or sent))
        requests[request.client_order_id] = (request, max(sent, ex.now or sent) + delay)
    ex.advance(rows[-1].ts + timedelta(seconds=1))
    by_order: dict[str, list[Fill]] = {}
    for f in ex.fills:
        by_order.setdefault(f.client_order_id, []).append(f)
    for coid, got in by_order.items():
        request, arrived = requests[coid]
        buy = request.side is Side.BUY
        # Never more than asked.
        assert sum(f.qty for f in got) <= request.qty
        first = source.index_at(arrived)
        for f in got:
            # Never beyond the limit; a fill after arrival is a resting fill, at the limit.
            if request.limit_price is not None:
                assert (f.price <= request.limit_price) if buy else (f.price >= request.limit_price)
                if f.ts > arrived:
                    assert f.price == request.limit_price
            # Never better than the best offer (bid) shown or traded while the order was live.
            seen = _evidence(rows, executions, request.side, first, source.index_at(f.ts))
            assert seen, (coid, f)
            best = min(p for p, _ in seen) if buy else max(p for p, _ in seen)
            assert (f.price >= best) if buy else (f.price <= best), (coid, f, best)
        if request.limit_price is not None:
            # A limit fills no more than the liquidity at or through it that it could see.
            lim = request.limit_price
            last = source.index_at(got[-1].ts)
            seen = _evidence(rows, executions, request.side, first, last)
            reachable = sum(s for p, s in seen if (p <= lim if buy else p >= lim))
            assert sum(f.qty for f in got) <= reachable
