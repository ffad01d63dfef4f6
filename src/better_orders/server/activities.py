"""The account's activities: every fill, as Alpaca's ``GET /v2/account/activities`` lists them.

A ``FILL`` activity is recorded when the order handling counts an execution (the
``fill`` and ``partial_fill`` trade updates), with the order's cumulative and left
quantity at that moment; its ``side`` is ``sell_short`` for a short sale. The other
activity types Alpaca documents exist and are answered, always empty: the local
exchange pays no dividends or interest, charges no fees, moves no cash in or out
and has no corporate actions. A type that is not Alpaca's is refused (422
``invalid activity type``).

Listing (``query``): newest first (``direction=desc``) unless ``asc``; ``date``
(that New York day), or ``after`` / ``until`` (exclusive instants, or dates);
``page_size`` 1-100, default 100 (with ``date``: everything); ``page_token`` the
id of the last activity of the previous page, which the next page starts after.
Ids are ``YYYYMMDDHHMMSSmmm::UUID`` (New York time), as Alpaca's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from better_orders.core.market_calendar import NEW_YORK
from better_orders.core.model import Fill, Side
from better_orders.server.errors import AlpacaError, unprocessable
from better_orders.server.orders.model import OrderRecord
from better_orders.server.params import Query
from better_orders.server.shapes import ACCOUNT_ID, execution_id, num, ts

#: Alpaca's activity types (``FILL`` is the only one that ever happens here).
ACTIVITY_TYPES = (
    "FILL", "TRANS", "MISC", "ACATC", "ACATS", "CFEE", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS",
    "DIVFEE", "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX", "FEE", "INT", "INTNRA", "INTTW",
    "JNL", "JNLC", "JNLS", "MA", "NC", "OPASN", "OPCA", "OPCSH", "OPEXC", "OPEXP", "OPTRD",
    "PTC", "PTR", "REORG", "SC", "SSO", "SSP",
)  # fmt: skip
CATEGORIES = ("trade_activity", "non_trade_activity")
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Activity:
    id: str
    at: dt.datetime
    body: dict[str, Any]


def _activity_id(at: dt.datetime, exec_id: str) -> str:
    local = at.astimezone(NEW_YORK)
    return f"{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}::{execution_id(exec_id)}"


def _side(record: OrderRecord) -> str:
    """A fill's side as Alpaca's trade activities give it: a short sale is ``sell_short``."""
    if record.side is Side.SELL and record.position_intent == "sell_to_open":
        return "sell_short"
    return record.side.value


class ActivityLog:
    """Every fill the order handling counted, in the order it counted them."""

    def __init__(self) -> None:
        self.fills: list[Activity] = []

    def add(self, record: OrderRecord, fill: Fill) -> None:
        leaves = max(Decimal(0), record.remaining) if record.is_open else Decimal(0)
        activity_id = _activity_id(fill.ts, fill.exec_id)
        self.fills.append(
            Activity(
                activity_id,
                fill.ts,
                {
                    "id": activity_id,
                    "account_id": ACCOUNT_ID,
                    "activity_type": "FILL",
                    "transaction_time": ts(fill.ts),
                    "type": "fill" if record.remaining <= 0 else "partial_fill",
                    "price": num(fill.price),
                    "qty": num(fill.qty),
                    "side": _side(record),
                    "symbol": record.symbol,
                    "leaves_qty": num(leaves),
                    "order_id": record.id,
                    "cum_qty": num(record.filled_qty),
                    "order_status": record.status.value,
                },
            )
        )

    def query(self, kinds: list[str], query: Query) -> list[dict[str, Any]]:
        """One page of the activities of ``kinds`` (module docstring)."""
        for kind in kinds:
            if kind not in ACTIVITY_TYPES:
                raise AlpacaError(422, 40010001, f"invalid activity type: {kind}")
        direction = query.choice("direction", ("asc", "desc"), "desc")
        day = query.date("date")
        after, until = query.instant("after"), query.instant("until")
        if day is not None and (after is not None or until is not None):
            raise unprocessable("date cannot be given with after or until")
        size = query.whole("page_size", MAX_PAGE if day is None else 10**9, 1, 10**9)
        if day is None and size > MAX_PAGE:
            raise unprocessable(f"invalid page_size: {size} is more than {MAX_PAGE}")
        found = [
            a
            for a in (self.fills if "FILL" in kinds else [])
            if (day is None or a.at.astimezone(NEW_YORK).date() == day)
            and (after is None or a.at > after)
            and (until is None or a.at < until)
        ]
        if direction == "desc":
            found.reverse()
        token = query.text("page_token")
        if token is not None:
            ids = [a.id for a in found]
            if token not in ids:
                raise unprocessable(f"invalid page_token: {token!r} is not an activity id")
            found = found[ids.index(token) + 1 :]
        return [a.body for a in found[:size]]


def kinds_of(query: Query) -> list[str]:
    """``activity_types`` (a comma list) or ``category``; everything when neither."""
    listed = query.names("activity_types")
    category = query.choice("category", CATEGORIES, "")
    if listed and category:
        raise unprocessable("activity_types and category cannot be given together")
    if category == "trade_activity":
        return ["FILL"]
    if category == "non_trade_activity":
        return [k for k in ACTIVITY_TYPES if k != "FILL"]
    return listed or list(ACTIVITY_TYPES)
