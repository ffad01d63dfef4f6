"""The paper account as Alpaca runs it: a margin account by default, or a cash account.

Numbers (Alpaca's documented definitions, for a paper account of this equity):

- ``multiplier``: 4 with last equity of $25,000 or more, 2 from $2,000, else 1 (a
  cash account: 1). ``buying_power`` is, for 4, the day-trading buying power
  ``4 x (last_equity - last_maintenance_margin)``, less the cost of positions
  opened today (closing them gives it back); for 2, ``2 x (equity - initial
  margin)``; for 1, the cash. Open orders that open or add to a position hold
  their value against it (a buy: limit x qty, a market buy: ask x 1.04, the top
  of Alpaca's documented 2.5-4% collar; a short sale: the larger of its limit and
  ask x 1.03, times qty); orders that reduce a position hold nothing.
- Initial margin is 50% of a position's value (its maintenance requirement when
  higher); maintenance margin per position: long under $2.50 100%, else the
  asset's requirement (30%; 2x leveraged ETFs 60%, 3x 90%); short under $5 the
  larger of $2.50 a share and 100%, else of $5.00 a share and 30%.
- ``last_equity`` and ``last_maintenance_margin`` are taken when the exchange
  starts (positions at their entry prices) and at every regular close.

Refusals, in Alpaca's bodies: 403 ``insufficient buying power`` with
``buying_power`` and ``cost_basis``; 403 ``insufficient qty available for order``
with ``available``, ``existing_qty``, ``held_for_orders``, ``related_orders`` and
``symbol`` (selling more than is held and not already offered, or covering more
than is short: an order never flips a position); 403 ``account is not allowed to
short`` (a margin account under $2,000; a cash account answers a sale beyond the
shares held as insufficient qty); 403 for a name that is not shortable and
easy to borrow, and for fractional short sales.

Not modelled: pattern-day-trader flags and the day-trade count, margin calls and
liquidation, borrow fees, interest, ``sma``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from better_orders.core.model import Side
from better_orders.server.errors import AlpacaError, forbidden
from better_orders.server.shapes import ACCOUNT_ID, ACCOUNT_NUMBER, money, num, ts
from better_orders.venues.assets import AssetMaster
from better_orders.venues.sim.account import PaperAccount

ZERO = Decimal(0)
MARKET_BUY_COLLAR = Decimal("1.04")
SHORT_COLLAR = Decimal("1.03")
_HALF = Decimal("0.5")
_HUNDRED = Decimal(100)
PDT_EQUITY = Decimal(25_000)
MARGIN_EQUITY = Decimal(2_000)


def _insufficient(
    symbol: str, qty: Decimal | None, available: Decimal, existing: Decimal, held: Held
) -> AlpacaError:
    left = num(max(ZERO, available))
    return forbidden(
        f"insufficient qty available for order (requested: {num(qty)}, available: {left})",
        available=left,
        existing_qty=num(existing),
        held_for_orders=num(held.qty),
        related_orders=list(held.order_ids),
        symbol=symbol,
    )


class MarginLedger(PaperAccount):
    """The paper account's cash and positions; Alpaca's checks (``AccountRules``) come first.

    The simulated venue's own checks (a long-only cash account) are switched off:
    an order reaches the venue only after ``AccountRules`` accepted it.
    """

    def check_buy(self, symbol: str, qty: Decimal, unit_price: Decimal, reserved: Decimal) -> None:
        return None

    def check_sell(self, symbol: str, qty: Decimal, reserved_qty: Decimal) -> None:
        return None


@dataclass(frozen=True, slots=True)
class DayStart:
    """The account at the last close (or when the exchange started)."""

    equity: Decimal
    maintenance_margin: Decimal
    positions: Mapping[str, Decimal]
    prices: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class AccountValues:
    cash: Decimal
    long_value: Decimal
    short_value: Decimal
    equity: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    multiplier: int
    regt_buying_power: Decimal
    daytrading_buying_power: Decimal
    buying_power: Decimal
    non_marginable_buying_power: Decimal


@dataclass(frozen=True, slots=True)
class Held:
    """What open orders already hold on one symbol's position."""

    qty: Decimal
    order_ids: Sequence[str]


class AccountRules:
    """Alpaca's account numbers and pre-trade checks over the ledger (module docstring)."""

    def __init__(self, ledger: PaperAccount, assets: AssetMaster, *, margin: bool) -> None:
        self.ledger = ledger
        self.assets = assets
        self.margin = margin
        self.day = self._day_start({})

    # -- the day -----------------------------------------------------------------------------

    def _day_start(self, marks: Mapping[str, Decimal]) -> DayStart:
        prices = self._prices(marks)
        positions = {s: p.qty for s, p in self.ledger.positions.items()}
        return DayStart(
            equity=self.ledger.cash + sum((q * prices[s] for s, q in positions.items()), ZERO),
            maintenance_margin=self._maintenance(positions, prices),
            positions=positions,
            prices=prices,
        )

    def close_day(self, marks: Mapping[str, Decimal]) -> None:
        """The regular close: today's numbers become ``last_*`` for the next session."""
        self.day = self._day_start(marks)

    def _prices(self, marks: Mapping[str, Decimal]) -> dict[str, Decimal]:
        out = {}
        for symbol, position in self.ledger.positions.items():
            price = marks.get(symbol, position.avg_entry_price)
            out[symbol] = price if price is not None else ZERO
        return out

    # -- numbers -----------------------------------------------------------------------------

    def multiplier(self) -> int:
        if not self.margin:
            return 1
        if self.day.equity >= PDT_EQUITY:
            return 4
        return 2 if self.day.equity >= MARGIN_EQUITY else 1

    def values(self, marks: Mapping[str, Decimal], reserved: Decimal) -> AccountValues:
        prices = self._prices(marks)
        positions = {s: p.qty for s, p in self.ledger.positions.items()}
        long_value = sum((q * prices[s] for s, q in positions.items() if q > 0), ZERO)
        short_value = sum((q * prices[s] for s, q in positions.items() if q < 0), ZERO)
        cash = self.ledger.cash
        equity = cash + long_value + short_value
        initial = sum((self._initial(s, q, prices[s]) for s, q in positions.items()), ZERO)
        regt = max(ZERO, equity - initial) * 2
        multiplier = self.multiplier()
        daytrading = ZERO
        if multiplier == 4:
            headroom = 4 * (self.day.equity - self.day.maintenance_margin)
            daytrading = max(ZERO, headroom - self._opened_today())
            base = daytrading
        elif multiplier == 2:
            base = regt
        else:
            base = max(ZERO, cash)
        return AccountValues(
            cash=cash,
            long_value=long_value,
            short_value=short_value,
            equity=equity,
            initial_margin=initial,
            maintenance_margin=self._maintenance(positions, prices),
            multiplier=multiplier,
            regt_buying_power=max(ZERO, (regt if self.margin else base) - reserved),
            daytrading_buying_power=daytrading,
            buying_power=max(ZERO, base - reserved),
            non_marginable_buying_power=max(ZERO, (regt / 2 if self.margin else base) - reserved),
        )

    def _opened_today(self) -> Decimal:
        """Cost of what today's trades added to each position (same side as at the open)."""
        total = ZERO
        for symbol, position in self.ledger.positions.items():
            before = self.day.positions.get(symbol, ZERO)
            qty = position.qty
            if before == 0 or (before > 0) != (qty > 0):
                added = abs(qty)
            else:
                added = max(ZERO, abs(qty) - abs(before))
            total += added * (position.avg_entry_price or ZERO)
        return total

    def _requirement(self, symbol: str) -> Decimal:
        asset = self.assets.get(symbol)
        return (asset.maintenance_margin_requirement if asset else Decimal(30)) / _HUNDRED

    def _initial(self, symbol: str, qty: Decimal, price: Decimal) -> Decimal:
        return abs(qty * price) * max(_HALF, self._requirement(symbol))

    def _maintenance(
        self, positions: Mapping[str, Decimal], prices: Mapping[str, Decimal]
    ) -> Decimal:
        total = ZERO
        for symbol, qty in positions.items():
            price = prices.get(symbol, ZERO)
            value = abs(qty * price)
            if qty > 0:
                total += value if price < Decimal("2.50") else value * self._requirement(symbol)
            elif price < 5:
                total += max(Decimal("2.50") * -qty, value)
            else:
                total += max(
                    Decimal(5) * -qty, value * max(Decimal("0.3"), self._requirement(symbol))
                )
        return total

    # -- checks ------------------------------------------------------------------------------

    def opens(self, symbol: str, side: Side, qty: Decimal | None, held: Held) -> bool:
        """Whether the order opens (or adds to) a position; refuses one that would flip it.

        ``qty`` None (a notional order) counts as closing when the position is on
        the other side and as opening otherwise; its shares are checked when known.
        """
        position = self.ledger.qty(symbol)
        reducing = position > 0 if side is Side.SELL else position < 0
        if not reducing:
            return True
        available = abs(position) - held.qty
        if qty is not None and qty > available:
            raise _insufficient(symbol, qty, available, abs(position), held)
        return False

    def check_short(self, symbol: str, qty: Decimal | None, held: Held) -> None:
        """A short sale needs a margin account with $2,000 and an easy-to-borrow name.

        A cash account is long-only: there a sale beyond the shares held is refused
        as insufficient quantity, as Alpaca refused sales before it offered shorting.
        """
        if not self.margin:
            available = max(ZERO, self.ledger.qty(symbol) - held.qty)
            raise _insufficient(symbol, qty, available, self.ledger.qty(symbol), held)
        if self.multiplier() == 1:
            raise forbidden("account is not allowed to short")
        asset = self.assets.get(symbol)
        if asset is None or not asset.can_short:
            raise forbidden(f"asset {symbol} cannot be sold short")
        if qty is None or qty != qty.to_integral_value():
            raise forbidden("fractional orders are not allowed to short")

    def check_buying_power(
        self, cost: Decimal, marks: Mapping[str, Decimal], reserved: Decimal
    ) -> None:
        available = self.values(marks, reserved).buying_power
        if cost > available:
            raise AlpacaError(
                403,
                40310000,
                "insufficient buying power",
                buying_power=money(available),
                cost_basis=money(cost),
            )

    # -- Alpaca's account object ---------------------------------------------------------------

    def account_json(self, values: AccountValues, created_at: datetime) -> dict[str, Any]:
        return {
            "id": ACCOUNT_ID,
            "account_number": ACCOUNT_NUMBER,
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "buying_power": money(values.buying_power),
            "regt_buying_power": money(values.regt_buying_power),
            "daytrading_buying_power": money(values.daytrading_buying_power),
            "effective_buying_power": money(values.buying_power),
            "non_marginable_buying_power": money(values.non_marginable_buying_power),
            "options_buying_power": money(values.non_marginable_buying_power),
            "bod_dtbp": money(max(ZERO, 4 * (self.day.equity - self.day.maintenance_margin)))
            if values.multiplier == 4
            else "0",
            "cash": money(values.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": money(values.equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": ts(created_at),
            "trade_suspended_by_user": False,
            "multiplier": str(values.multiplier),
            "shorting_enabled": self.margin and values.multiplier > 1,
            "equity": money(values.equity),
            "last_equity": money(self.day.equity),
            "long_market_value": money(values.long_value),
            "short_market_value": money(values.short_value),
            "position_market_value": money(values.long_value - values.short_value),
            "initial_margin": money(values.initial_margin),
            "maintenance_margin": money(values.maintenance_margin),
            "last_maintenance_margin": money(self.day.maintenance_margin),
            "sma": "0",
            "daytrade_count": 0,
            "options_approved_level": 0,
            "options_trading_level": 0,
        }
