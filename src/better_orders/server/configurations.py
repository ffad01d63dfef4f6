"""``GET`` and ``PATCH /v2/account/configurations``: the account's switches, and what they do.

Modelled (they change how orders are checked): ``suspend_trade`` (every new order
refused, 403), ``no_shorting`` (short sales refused), ``fractional_trading``
(``false``: fractional and notional orders refused) and ``max_margin_multiplier``
(``"1"``, ``"2"`` or ``"4"``: caps the account's multiplier; a cash account stays
at 1). ``trade_confirm_email`` and ``ptp_no_exception_entry`` are kept and shown:
the exchange sends no e-mail and lists no PTP symbols, so they change nothing.
Not modelled, refused when set: options (``max_options_trading_level`` above 0)
and the pattern-day-trader and day-trading-buying-power checks (``pdt_check``,
``dtbp_check``; Alpaca no longer shows them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from better_orders.server.errors import bad_request, unprocessable

MULTIPLIERS = ("1", "2", "4")
EMAILS = ("all", "none")
_FLAGS = ("suspend_trade", "no_shorting", "fractional_trading", "ptp_no_exception_entry")
_UNMODELLED = ("pdt_check", "dtbp_check")


@dataclass(frozen=True, slots=True)
class AccountConfig:
    suspend_trade: bool = False
    no_shorting: bool = False
    fractional_trading: bool = True
    max_margin_multiplier: str = "4"
    trade_confirm_email: str = "all"
    ptp_no_exception_entry: bool = False
    max_options_trading_level: int = 0

    @classmethod
    def for_account(cls, *, margin: bool) -> AccountConfig:
        return cls() if margin else cls(no_shorting=True, max_margin_multiplier="1")

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def changed(self, body: object, *, margin: bool) -> AccountConfig:
        """The configuration after a PATCH body (refused whole if any field is wrong)."""
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        changes: dict[str, Any] = {}
        for name, value in body.items():
            if value is None:
                continue  # alpaca-py sends every field, the unset ones as null
            if name in _UNMODELLED:
                raise unprocessable(f"{name} is not modelled by the local exchange")
            if name in _FLAGS:
                if not isinstance(value, bool):
                    raise unprocessable(f"{name} must be true or false")
                changes[name] = value
            elif name == "max_margin_multiplier":
                if str(value) not in MULTIPLIERS:
                    raise unprocessable("max_margin_multiplier must be 1, 2 or 4")
                if not margin and str(value) != "1":
                    raise unprocessable("a cash account cannot take a margin multiplier above 1")
                changes[name] = str(value)
            elif name == "trade_confirm_email":
                if value not in EMAILS:
                    raise unprocessable("trade_confirm_email must be all or none")
                changes[name] = value
            elif name == "max_options_trading_level":
                if value != 0:
                    raise unprocessable("options trading is not modelled by the local exchange")
            else:
                raise unprocessable(f"unknown account configuration {name!r}")
        return dataclasses.replace(self, **changes)
