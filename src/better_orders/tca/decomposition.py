"""Where a parent order's cost went: implementation shortfall against the arrival mid, in parts.

For a parent of ``Q`` shares decided at arrival mid ``M`` (side sign ``s``: +1 buy,
-1 sell), with fills ``(q, p)`` and the mid ``m`` in force at each fill::

    spread       s x q x (p - m)      over fills that took liquidity (half-spread paid)
    passive      s x q x (p - m)      over fills of resting orders (negative: earned)
    timing       s x q x (m - M)      over all fills (the drift between arrival and fill)
    opportunity  s x U x (F - M)      U = Q - filled, F = the far touch at the window's end
    fees         SEC fee + FINRA TAF  on sell fills

Their sum is the shortfall in dollars, exactly (Decimal arithmetic); in bps each is
divided by the arrival notional ``Q x M``. ``execution`` (the total without fees) is
what ratios to a market order compare: every policy pays the same fees on the same
sales, so including them would only pull every ratio towards 1.

A fill *took liquidity* when it came from a market order or landed on the child's
arrival at the venue (when it was sent, ``sent`` or else the attempt's ``started``, +
the submit latency): it met the book as it stood. Any later fill was resting. Fees
are computed per fill, each fill a trade for the TAF's cap, and left unrounded
(brokers round each trade's fee up to the cent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from better_orders.config.settings import TcaSettings
from better_orders.core.model import ExecutionReport, OrderType, Side
from better_orders.venues.sim.replay import ReplayQuotes

_BPS = Decimal(10_000)
_MILLION = Decimal(1_000_000)
_E4 = Decimal(10_000)
#: A fill stamped within this of the child's arrival at the venue took liquidity.
_ARRIVAL_SLACK = timedelta(microseconds=1)
#: The parts, in the order they are shown.
COMPONENTS = ("spread", "timing", "passive", "opportunity", "fees")


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Regulatory fees on sales (rates from the configuration's ``tca`` section)."""

    sec_per_million: Decimal = Decimal("27.80")
    taf_per_share: Decimal = Decimal("0.000166")
    taf_max_per_trade: Decimal = Decimal("8.30")

    @classmethod
    def from_settings(cls, settings: TcaSettings) -> FeeSchedule:
        return cls(
            settings.sec_fee_per_million,
            settings.finra_taf_per_share,
            settings.finra_taf_max_per_trade,
        )

    def on_sale(self, qty: Decimal, price: Decimal) -> Decimal:
        """SEC fee on the proceeds plus the TAF (capped) for one sale of ``qty`` at ``price``."""
        sec = qty * price * self.sec_per_million / _MILLION
        return sec + min(qty * self.taf_per_share, self.taf_max_per_trade)


@dataclass(frozen=True, slots=True)
class CostDecomposition:
    """One parent order's implementation shortfall in dollars, by component (module docstring)."""

    notional: Decimal
    spread: Decimal
    timing: Decimal
    passive: Decimal
    opportunity: Decimal
    fees: Decimal

    @property
    def total(self) -> Decimal:
        return self.spread + self.timing + self.passive + self.opportunity + self.fees

    @property
    def execution(self) -> Decimal:
        """The total without fees: what a policy's choices changed."""
        return self.total - self.fees

    def dollars(self, component: str) -> Decimal:
        value: Decimal = getattr(self, component)
        return value

    def bps(self, component: str) -> float:
        """``component`` (a name in ``COMPONENTS``, or total / execution) in bps of the notional."""
        if not self.notional:
            return 0.0
        return float(self.dollars(component) / self.notional * _BPS)

    def __add__(self, other: CostDecomposition) -> CostDecomposition:
        return CostDecomposition(
            self.notional + other.notional,
            self.spread + other.spread,
            self.timing + other.timing,
            self.passive + other.passive,
            self.opportunity + other.opportunity,
            self.fees + other.fees,
        )

    def as_dict(self) -> dict[str, object]:
        """Dollars as exact strings and bps rounded, per component and in total."""
        names = (*COMPONENTS, "execution", "total")
        return {
            "notional_usd": str(self.notional),
            "usd": {n: str(self.dollars(n)) for n in names},
            "bps": {n: round(self.bps(n), 4) for n in names},
        }


ZERO = CostDecomposition(*(Decimal(0),) * 6)


def _mid_e4(quotes: ReplayQuotes, row: int) -> int | None:
    if row < 0:
        return None
    bid, ask = int(quotes.bid_e4[row]), int(quotes.ask_e4[row])
    return bid + ask if bid > 0 and ask > 0 else None  # twice the mid, in 1/10000 dollars


def _far_touch_at(quotes: ReplayQuotes, side: Side, when: datetime) -> Decimal | None:
    row = quotes.index_at(when)
    if row < 0:
        return None
    e4 = int(quotes.ask_e4[row] if side is Side.BUY else quotes.bid_e4[row])
    return Decimal(e4) / _E4 if e4 > 0 else None


def decompose(
    report: ExecutionReport,
    quotes: ReplayQuotes,
    *,
    window_end: datetime,
    submit_latency: timedelta,
    fees: FeeSchedule,
    sent: Mapping[str, datetime] | None = None,
) -> CostDecomposition | None:
    """The decomposition of ``report``'s cost (None without an arrival mid to measure from).

    ``window_end`` is when anything left unfilled is valued, at the far touch then
    (the arrival's far touch if the file has none then). ``sent``: when each child
    order left (``DecisionOutcome.sent``); an attempt's ``started`` may be earlier.
    """
    arrival = report.arrival_mid
    if arrival is None or arrival <= 0:
        return None
    side, sign = report.side, Decimal(report.side.sign)
    attempts = {a.client_order_id: a for a in report.attempts}
    spread = timing = passive = fee = Decimal(0)
    for fill in report.fills:
        twice_mid = _mid_e4(quotes, quotes.index_at(fill.ts))
        mid = arrival if twice_mid is None else Decimal(twice_mid) / (2 * _E4)
        attempt = attempts.get(fill.client_order_id)
        if attempt is None or attempt.order_type is OrderType.MARKET:
            took = True
        else:
            left_at = (sent or {}).get(fill.client_order_id, attempt.started)
            took = fill.ts <= left_at + submit_latency + _ARRIVAL_SLACK
        against_mid = sign * fill.qty * (fill.price - mid)
        if took:
            spread += against_mid
        else:
            passive += against_mid
        timing += sign * fill.qty * (mid - arrival)
        if side is Side.SELL:
            fee += fees.on_sale(fill.qty, fill.price)
    left = report.requested_qty - sum((f.qty for f in report.fills), Decimal(0))
    opportunity = Decimal(0)
    if left > 0:
        at_arrival = report.arrival_ask if side is Side.BUY else report.arrival_bid
        far = _far_touch_at(quotes, side, window_end) or at_arrival or arrival
        opportunity = sign * left * (far - arrival)
    return CostDecomposition(
        notional=report.requested_qty * arrival,
        spread=spread,
        timing=timing,
        passive=passive,
        opportunity=opportunity,
        fees=fee,
    )
