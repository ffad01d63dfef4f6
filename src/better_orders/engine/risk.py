"""Pre-trade risk checks and the kill switch: the last gate before an order reaches a broker.

Every child order a ladder wants to send passes ``RiskChecker.check`` first. The
checker is pure apart from the kill switch's file test: the order, the last quote
and the time are arguments, and what it remembers (the run's notional, the orders
of the trailing minute) is its own state. A refusal raises ``RiskLimitError`` with
the numbers in the message; the runner journals it as a rejected order and the
ladder ends with the remainder unfilled and that reason in its report.

Limits (``[risk]`` in the configuration):

* ``max_order_qty`` and ``max_order_notional``: one order's shares and dollars
  (limit x quantity; a market order is valued at the quote's far touch).
* ``price_band_pct``: a limit further than this from the quote's mid is a fat finger.
* ``max_run_notional``: what one run may commit. Each leg (parent order) counts
  as its largest child quantity times its highest price, a bound on what it can
  ever trade, so a re-peg of a remainder is not counted twice.
* ``max_orders_per_minute``: new orders in any trailing 60 seconds. The runner's
  rate limiter keeps below it, so reaching it means something is looping.

The kill switch is a file: while it exists nothing is sent, and a runner that
polls it cancels every working order and ends its ladders.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from better_orders.config.settings import RiskSettings
from better_orders.core.errors import KillSwitchError, RiskLimitError
from better_orders.core.model import ZERO, OrderRequest, OrderType, Quote, Side
from better_orders.store.ids import parse_client_order_id

KILL_SWITCH_ENV_VAR = "BETTER_ORDERS_KILL_SWITCH"

#: The window of ``max_orders_per_minute``: an order counts while it is younger than this.
MINUTE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """A file whose existence stops all trading."""

    path: Path
    #: The variable that named the file, as spelled; "" when ``risk.kill_switch_file`` did.
    named_by: str = ""

    @classmethod
    def resolve(
        cls, settings: RiskSettings, env: Mapping[str, str] | None = None
    ) -> KillSwitch | None:
        """``$BETTER_ORDERS_KILL_SWITCH``, else ``risk.kill_switch_file``, else none."""
        environ: Mapping[str, str] = os.environ if env is None else env
        name, raw = next(
            ((k, v) for k, v in environ.items() if k.upper() == KILL_SWITCH_ENV_VAR and v.strip()),
            ("", settings.kill_switch_file),
        )
        if not raw.strip():
            return None
        return cls(Path(raw.strip()).expanduser().absolute(), name)

    @property
    def on(self) -> bool:
        return self.path.exists()

    def reason(self) -> str | None:
        """``"kill switch PATH is on"`` while the file exists, else ``None`` (the runner's poll)."""
        return f"kill switch {self.path} is on" if self.on else None

    def check(self, what: str = "no order sent") -> None:
        """Raise ``KillSwitchError`` while the switch is on."""
        if self.on:
            raise KillSwitchError(f"kill switch {self.path} is on: {what}")


def halt_summary(reason: str, cancelled: int, filled_meanwhile: int = 0) -> str:
    """The one line a halted command ends with."""
    orders = "working order" if cancelled == 1 else "working orders"
    text = f"{reason}: {cancelled} {orders} cancelled"
    if filled_meanwhile:
        text += f" ({filled_meanwhile} filled before the cancel landed)"
    return text + ", no new orders sent"


class PriorOrder(Protocol):
    """What the checker needs of an order sent earlier in the run (a journal ``OrderRecord``)."""

    @property
    def client_order_id(self) -> str: ...

    @property
    def qty(self) -> Decimal: ...

    @property
    def limit_price(self) -> Decimal | None: ...

    @property
    def filled_avg_price(self) -> Decimal | None: ...

    @property
    def status(self) -> str: ...


@dataclass(slots=True)
class _LegExposure:
    qty: Decimal = ZERO
    price: Decimal = ZERO

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


class RiskChecker:
    """The pre-trade checks of one run (see the module docstring)."""

    def __init__(self, settings: RiskSettings, kill_switch: KillSwitch | None = None) -> None:
        self.settings = settings
        self.kill_switch = kill_switch
        self._legs: dict[tuple[str, ...], _LegExposure] = {}
        self._recent: deque[datetime] = deque()
        #: True once the kill switch refused an order in this run.
        self.kill_switch_tripped = False

    @property
    def run_notional(self) -> Decimal:
        """The run's committed notional: per leg, its largest quantity x its highest price."""
        return sum((leg.notional for leg in self._legs.values()), ZERO)

    def orders_in_last_minute(self, now: datetime) -> int:
        self._expire(now)
        return len(self._recent)

    def seed(self, orders: Iterable[PriorOrder]) -> None:
        """Count orders this run already sent (a rebalance's sells before its buys, a resume)."""
        for order in orders:
            if order.status == "rejected":
                continue  # never working: refused by a check or by the broker
            price = order.limit_price or order.filled_avg_price or ZERO
            leg = self._leg(order.client_order_id)
            leg.qty = max(leg.qty, order.qty)
            leg.price = max(leg.price, price)

    def check_parents(
        self,
        parents: Iterable[tuple[str, Side, Decimal]],
        prices: Mapping[str, Decimal] | None = None,
    ) -> None:
        """Refuse, before anything is sent, (symbol, side, qty) orders no child could carry.

        The ladder ends by sending all that remains in one order, so a parent beyond
        ``max_order_qty`` (or, at ``prices``, ``max_order_notional``) would be refused
        part way, after its first slice; the orders together at ``prices`` bound the
        run's notional. The message names the orders as they were asked for.
        """
        s = self.settings
        problems: list[str] = []
        total = ZERO
        for symbol, side, qty in parents:
            beyond = [f"max_order_qty {s.max_order_qty}"] if qty > s.max_order_qty else []
            price = (prices or {}).get(symbol)
            at = ""
            if price is not None:
                total += qty * price
                at = f" ({_money(qty * price)} at {price})"
                if qty * price > s.max_order_notional:
                    beyond.append(f"max_order_notional {_money(s.max_order_notional)}")
            if beyond:
                problems.append(f"{side.value} {qty} {symbol}{at} exceeds {' and '.join(beyond)}")
        if not problems and prices is not None and total > s.max_run_notional:
            problems.append(
                f"the orders total {_money(total)}, beyond max_run_notional "
                f"{_money(s.max_run_notional)}"
            )
        if problems:
            raise RiskLimitError(f"{'; '.join(problems)}; no order sent")

    def check(self, request: OrderRequest, last_quote: Quote | None, now: datetime) -> Decimal:
        """Pass ``request`` (and count it) or raise ``RiskLimitError``; returns its notional."""
        s = self.settings
        sym = request.symbol
        if self.kill_switch is not None and self.kill_switch.on:
            self.kill_switch_tripped = True
            self.kill_switch.check(f"{sym} order not sent")
        if request.qty > s.max_order_qty:
            raise RiskLimitError(
                f"{sym} order quantity {request.qty} exceeds max_order_qty {s.max_order_qty}; "
                "order not sent"
            )
        price = self._price(request, last_quote)
        notional = request.qty * price
        if notional > s.max_order_notional:
            raise RiskLimitError(
                f"{sym} order notional {_money(notional)} exceeds max_order_notional "
                f"{_money(s.max_order_notional)}; order not sent"
            )
        leg = self._legs.get(self._leg_key(request.client_order_id), _LegExposure())
        grown = _LegExposure(max(leg.qty, request.qty), max(leg.price, price))
        run_total = self.run_notional - leg.notional + grown.notional
        if run_total > s.max_run_notional:
            raise RiskLimitError(
                f"{sym} order would bring the run's notional to {_money(run_total)}, beyond "
                f"max_run_notional {_money(s.max_run_notional)}; order not sent"
            )
        sent = self.orders_in_last_minute(now)
        if sent >= s.max_orders_per_minute:
            raise RiskLimitError(
                f"{sym} order refused: {sent} orders already sent in the last minute "
                f"(max_orders_per_minute {s.max_orders_per_minute}); order not sent"
            )
        self._legs[self._leg_key(request.client_order_id)] = grown
        self._recent.append(now)
        return notional

    # -- helpers ------------------------------------------------------------------------

    def _price(self, request: OrderRequest, quote: Quote | None) -> Decimal:
        """The price the order is valued at, after the price-band check of a limit."""
        sym = request.symbol
        if quote is None or quote.symbol != sym:
            raise RiskLimitError(f"no quote for {sym} to check the order against; order not sent")
        if request.order_type is OrderType.MARKET:
            far = quote.far_touch(request.side)
            if not far.is_finite() or far <= 0:
                raise RiskLimitError(
                    f"{sym} market {request.side.value} cannot be valued: the quote's far touch "
                    f"is {far} (bid {quote.bid} / ask {quote.ask}); order not sent"
                )
            return far
        limit = request.limit_price
        assert limit is not None  # OrderRequest guarantees a limit price on a limit order
        finite = quote.bid.is_finite() and quote.ask.is_finite()
        if not finite or quote.bid <= 0 or quote.ask <= 0:
            raise RiskLimitError(
                f"{sym} limit {limit} cannot be checked against quote bid {quote.bid} / "
                f"ask {quote.ask}; order not sent"
            )
        mid = quote.mid
        away_pct = abs(limit - mid) / mid * 100
        if away_pct > self.settings.price_band_pct:
            raise RiskLimitError(
                f"{sym} {request.side.value} limit {limit} is {away_pct:.2f}% from the quote's "
                f"mid {mid}, beyond price_band_pct {self.settings.price_band_pct}%; "
                "order not sent"
            )
        return limit

    def _expire(self, now: datetime) -> None:
        while self._recent and now - self._recent[0] >= MINUTE:
            self._recent.popleft()

    @staticmethod
    def _leg_key(client_order_id: str) -> tuple[str, ...]:
        parsed = parse_client_order_id(client_order_id)
        if parsed is None:
            return (client_order_id,)
        run_id, leg, _ = parsed
        return (run_id, str(leg))

    def _leg(self, client_order_id: str) -> _LegExposure:
        return self._legs.setdefault(self._leg_key(client_order_id), _LegExposure())


__all__ = [
    "KILL_SWITCH_ENV_VAR",
    "KillSwitch",
    "PriorOrder",
    "RiskChecker",
    "halt_summary",
]
