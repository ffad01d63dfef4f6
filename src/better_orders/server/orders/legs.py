"""Order classes: the legs of bracket, oco and oto orders, and who cancels whom.

- bracket: an entry (market or limit) with a take-profit limit and a stop-loss
  stop (or stop-limit) on the other side, both ``held`` until the entry has filled
  completely. Then the take-profit works as a limit order (``new``) and the stop
  loss stays ``held`` but watches its stop price; the first of them to execute (a
  fill of the take profit, the stop price reached) cancels the other.
- oto: an entry with one of those legs, which works the same way once the entry
  has filled.
- oco: an exit pair. The order itself is the take-profit limit (working at
  once) and its one leg the stop loss (``held``, watching); either executing
  cancels the other.

Canceling an entry cancels its legs; canceling an exit cancels the other exit.
An entry that ends (canceled, expired, rejected) before it filled completely takes
its legs with it; legs sized to a partially filled entry are not modelled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from better_orders.server.orders.model import (
    Kind,
    LegRole,
    OrderClass,
    OrderRecord,
    OrderSpec,
    Status,
)


def build_legs(
    spec: OrderSpec, parent: OrderRecord, new_id: Callable[[], str], now: dt.datetime
) -> list[OrderRecord]:
    """The held legs of a complex order (an oco's take profit is the order itself)."""
    legs = []
    for leg in spec.legs:
        if spec.order_class is OrderClass.OCO and leg.role is LegRole.TAKE_PROFIT:
            continue
        if leg.role is LegRole.TAKE_PROFIT:
            kind = Kind.LIMIT
        else:
            kind = Kind.STOP_LIMIT if leg.limit_price is not None else Kind.STOP
        same_side = spec.order_class is OrderClass.OCO
        legs.append(
            OrderRecord(
                id=new_id(),
                client_order_id=new_id(),
                asset=parent.asset,
                side=parent.side if same_side else parent.side.opposite,
                kind=kind,
                tif=parent.tif,
                qty=parent.qty,
                created_at=now,
                limit_price=leg.limit_price,
                stop_price=leg.stop_price,
                order_class=parent.order_class,
                status=Status.HELD,
                parent=parent,
                role=leg.role,
                session=parent.session,
                position_intent=_exit_intent(parent, same_side),
            )
        )
    return legs


def _exit_intent(parent: OrderRecord, same_side: bool) -> str:
    if same_side:
        return parent.position_intent
    return "sell_to_close" if parent.side.value == "buy" else "buy_to_close"


def is_exit(record: OrderRecord) -> bool:
    """A take profit or stop loss: an oco order itself, or any leg."""
    return record.parent is not None or record.order_class is OrderClass.OCO


def siblings(record: OrderRecord) -> list[OrderRecord]:
    """The exits this one cancels when it executes or is canceled."""
    if not is_exit(record):
        return []
    root = record.parent or record
    pair = [root, *root.legs] if root.order_class is OrderClass.OCO else list(root.legs)
    return [r for r in pair if r is not record and r.is_open]


def entry_legs(record: OrderRecord) -> list[OrderRecord]:
    """The open legs waiting on an entry (bracket and oto)."""
    if record.parent is not None or record.order_class is OrderClass.OCO:
        return []
    return [leg for leg in record.legs if leg.is_open]
