"""The asset master: which US equities a venue lists, and what may be done with each.

A built-in list (``assets.csv`` next to this module) of common US stocks and ETFs,
the leveraged ETFs this project trades among them, with Alpaca's asset flags
(tradable, marginable, shortable, easy to borrow, fractionable), the listing
exchange, a name, the maintenance margin requirement in percent and a stable id.
The flags are a plausible snapshot for a paper venue, not a copy of any broker's
live list; a file given with ``--assets`` adds to it or overrides it by symbol.

Asset files (``load_asset_file``) are CSV with a header row or JSON (a list of
objects, e.g. saved from Alpaca's ``GET /v2/assets``). Only ``symbol`` is required;
the other columns or keys are ``name``, ``exchange``, ``class`` (``us_equity``),
``status`` (``active``/``inactive``), ``tradable``, ``marginable``, ``shortable``,
``easy_to_borrow``, ``fractionable`` (true/false), ``maintenance_margin_requirement``
(percent, default 30) and ``id`` (a UUID, default a stable one made from the symbol).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import normalize_symbol

_NAMESPACE = uuid.UUID("6f1c1f43-3f1b-4c56-9a55-6a8f3c0b5e21")
DEFAULT_MARGIN_REQUIREMENT = Decimal(30)
_FLAGS = ("tradable", "marginable", "shortable", "easy_to_borrow", "fractionable")


def asset_id(symbol: str) -> str:
    """A stable UUID per symbol (the same in every process and every run)."""
    return str(uuid.uuid5(_NAMESPACE, "asset:" + symbol))


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """One listed US equity, with Alpaca's asset attributes."""

    symbol: str
    name: str
    exchange: str
    id: str
    status: str = "active"
    tradable: bool = True
    marginable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True
    maintenance_margin_requirement: Decimal = DEFAULT_MARGIN_REQUIREMENT
    asset_class: str = "us_equity"

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def can_trade(self) -> bool:
        return self.tradable and self.active

    @property
    def can_short(self) -> bool:
        """Alpaca takes short sales of easy-to-borrow names only."""
        return self.can_trade and self.shortable and self.easy_to_borrow


class AssetMaster:
    """Assets by symbol and by id; immutable (``with_assets`` makes a new one)."""

    def __init__(self, assets: Iterable[AssetInfo]) -> None:
        self._by_symbol: dict[str, AssetInfo] = {a.symbol: a for a in assets}
        self._by_id = {a.id: a for a in self._by_symbol.values()}

    def __len__(self) -> int:
        return len(self._by_symbol)

    def __iter__(self) -> Iterator[AssetInfo]:
        return iter(sorted(self._by_symbol.values(), key=lambda a: a.symbol))

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._by_symbol)

    def get(self, symbol_or_id: str) -> AssetInfo | None:
        """The asset with this symbol (any case) or this asset id, else None."""
        found = self._by_id.get(symbol_or_id.strip().lower())
        if found is not None:
            return found
        try:
            return self._by_symbol.get(normalize_symbol(symbol_or_id))
        except InvalidInputError:
            return None

    def with_assets(self, extra: Iterable[AssetInfo]) -> AssetMaster:
        """This master with ``extra`` added (an existing symbol is replaced)."""
        merged = dict(self._by_symbol)
        for asset in extra:
            merged[asset.symbol] = asset
        return AssetMaster(merged.values())

    def without(self, symbols: Iterable[str]) -> AssetMaster:
        gone = {normalize_symbol(s) for s in symbols}
        return AssetMaster(a for a in self._by_symbol.values() if a.symbol not in gone)

    def marked_untradable(self, symbols: Iterable[str]) -> AssetMaster:
        """Listed but not tradable (added when missing): a venue's trading halt."""
        extra = []
        for raw in symbols:
            symbol = normalize_symbol(raw)
            known = self._by_symbol.get(symbol) or plain_asset(symbol)
            extra.append(replace(known, tradable=False))
        return self.with_assets(extra)


def plain_asset(symbol: str) -> AssetInfo:
    """An active, tradable asset with every flag on (a replayed symbol, a test's own name)."""
    return _record({"symbol": symbol}, "asset")


@cache
def builtin_assets() -> AssetMaster:
    """The built-in list shipped with the package."""
    text = resources.files("better_orders.venues").joinpath("assets.csv").read_text("utf-8")
    return AssetMaster(_parse_csv(text, "the built-in asset list"))


def load_asset_file(path: Path) -> list[AssetInfo]:
    """Assets from a CSV or JSON file (format in the module docstring)."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read the asset file {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidInputError(f"asset file {path} is not valid JSON") from None
        if isinstance(raw, dict):
            raw = raw.get("assets", [raw])
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise InvalidInputError(f"asset file {path}: give a JSON list of asset objects")
        return [_record(item, f"{path} entry {i + 1}") for i, item in enumerate(raw)]
    return _parse_csv(text, str(path))


def _parse_csv(text: str, where: str) -> list[AssetInfo]:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise InvalidInputError(f"{where} lists no assets (a header row and one row per asset)")
    out = []
    for number, row in enumerate(rows, start=2):
        fields = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        out.append(_record({k: v for k, v in fields.items() if v != ""}, f"{where} line {number}"))
    return out


def _record(raw: Mapping[str, Any], where: str) -> AssetInfo:
    symbol_text = raw.get("symbol")
    if not isinstance(symbol_text, str) or not symbol_text.strip():
        raise InvalidInputError(f"{where}: every asset needs a symbol")
    try:
        symbol = normalize_symbol(symbol_text)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    asset_class = str(raw.get("class", "us_equity"))
    if asset_class != "us_equity":
        raise InvalidInputError(f"{where}: {symbol} is {asset_class!r}; only us_equity is listed")
    status = str(raw.get("status", "active")).lower()
    if status not in ("active", "inactive"):
        raise InvalidInputError(f"{where}: {symbol} status must be active or inactive")
    flags = {name: _flag(raw.get(name, True), name, symbol, where) for name in _FLAGS}
    return AssetInfo(
        symbol=symbol,
        name=str(raw.get("name") or symbol),
        exchange=str(raw.get("exchange") or "NYSE").upper(),
        id=_uuid(raw.get("id"), symbol, where),
        status=status,
        tradable=flags["tradable"],
        marginable=flags["marginable"],
        shortable=flags["shortable"],
        easy_to_borrow=flags["easy_to_borrow"],
        fractionable=flags["fractionable"],
        maintenance_margin_requirement=_percent(raw, symbol, where),
    )


def _flag(value: object, name: str, symbol: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise InvalidInputError(f"{where}: {symbol} {name} must be true or false, got {value!r}")


def _uuid(value: object, symbol: str, where: str) -> str:
    if value is None or value == "":
        return asset_id(symbol)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInputError(f"{where}: {symbol} id {value!r} is not a UUID") from None


def _percent(raw: Mapping[str, Any], symbol: str, where: str) -> Decimal:
    value = raw.get("maintenance_margin_requirement")
    if value is None or value == "":
        return DEFAULT_MARGIN_REQUIREMENT
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal(-1)
    if not number.is_finite() or not 0 <= number <= 100:
        raise InvalidInputError(
            f"{where}: {symbol} maintenance_margin_requirement must be a percent 0-100, "
            f"got {value!r}"
        )
    return number
