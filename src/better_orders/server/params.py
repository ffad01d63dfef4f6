"""Query parameters as Alpaca reads them: times, dates, whole numbers, flags and choices.

Every parser names the parameter in its refusal (a 400, as Alpaca answers a
parameter it cannot read; never a 500), so a client sees which argument was
wrong. Values that read well but make no sense together are the handlers' 422s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from better_orders.core.market_calendar import NEW_YORK
from better_orders.server.errors import AlpacaError, bad_request


def parse_instant(raw: str, name: str, refuse: Callable[[str], AlpacaError]) -> dt.datetime:
    """RFC 3339 (``Z`` or an offset; none means UTC) or a date (its 00:00 in New York)."""
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return dt.datetime.combine(day, dt.time(), NEW_YORK).astimezone(dt.UTC)
        value = dt.datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise refuse(f"invalid {name}: {raw!r} is not an RFC 3339 time or a date") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class Query:
    """One request's query parameters, read and checked."""

    def __init__(
        self, params: Mapping[str, str], refuse: Callable[[str], AlpacaError] = bad_request
    ) -> None:
        self.params = params
        self.refuse = refuse

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value.strip() if value is not None and value.strip() else None

    def instant(self, name: str) -> dt.datetime | None:
        raw = self.text(name)
        return None if raw is None else parse_instant(raw, name, self.refuse)

    def date(self, name: str) -> dt.date | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return dt.date.fromisoformat(raw[:10])
        except ValueError:
            raise self.refuse(f"invalid {name}: {raw!r} is not a date (YYYY-MM-DD)") from None

    def whole(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.refuse(f"invalid {name}: {raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise self.refuse(f"invalid {name}: {value} is not between {low} and {high}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise self.refuse(f"invalid {name}: {raw!r} is not true or false")
        return raw.lower() == "true"

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        if raw not in allowed:
            raise self.refuse(f"invalid {name}: {raw!r} (one of {', '.join(allowed)})")
        return raw

    def names(self, name: str = "symbols") -> list[str]:
        """A comma-separated list, upper case, in the order given, without repeats."""
        raw = self.params.get(name) or ""
        return list(dict.fromkeys(s.strip().upper() for s in raw.split(",") if s.strip()))
