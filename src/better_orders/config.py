"""Typed configuration: ``BetterOrdersConfig`` and how a symbol's settings are resolved.

Values come from (lowest to highest precedence) the defaults below, a TOML
file, and ``BETTER_ORDERS_*`` environment variables (``__`` separates nesting:
``BETTER_ORDERS_LADDER__MAX_REPEGS=3``). Loading lives in ``settings_loader``;
this module is the schema and the pure look-ups the core needs.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from better_orders.core.model import normalize_symbol


class ExecutionMode(StrEnum):
    """AUTO: better orders for configured symbols; ALWAYS: for all; OFF: standard everywhere."""

    AUTO = "auto"
    ALWAYS = "always"
    OFF = "off"


class SymbolClass(StrEnum):
    LEVERAGED_ETF = "leveraged_etf"
    HIGH_VOLUME_ETF = "high_volume_etf"
    STOCK = "stock"


DEFAULT_LEVERAGED_ETFS = (
    "TQQQ", "SQQQ", "TECL", "TECS", "SPXL", "SPXS", "SOXL", "SOXS", "UPRO", "SPXU",
    "TNA", "TZA", "FAS", "FAZ", "LABU", "LABD", "UDOW", "SDOW", "TMF", "TMV",
    "FNGU", "NAIL", "CURE", "DFEN", "YINN", "QLD", "SSO", "UVXY",
)  # fmt: skip
DEFAULT_HIGH_VOLUME_ETFS = (
    "SPY", "QQQ", "TLT", "XLF", "IWM", "DIA", "EEM", "GLD", "HYG", "XLE",
    "XLK", "EFA", "VOO", "IVV", "VTI", "SMH", "LQD", "IEF", "SHY", "XLV",
)  # fmt: skip


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SpreadSettings(_Section):
    """How spreads are judged: fixed cents (the seed rule) and relative to the symbol's norm."""

    tight_cents: Decimal = Field(Decimal("0.03"), gt=0, description="TIGHT at or below this")
    wide_cents: Decimal = Field(Decimal("0.05"), gt=0, description="WIDE above this")
    rule: Literal["cents", "relative"] = Field(
        "relative",
        description="which class drives waiting: 'cents' (seed) or 'relative' to a typical spread",
    )
    tight_ratio: Decimal = Field(Decimal("1.5"), gt=0, description="TIGHT if spread <= ratio x typical")
    wide_ratio: Decimal = Field(Decimal("2.5"), gt=0, description="WIDE if spread > ratio x typical")
    tight_bps: Decimal = Field(Decimal("5"), gt=0, description="TIGHT (bps of mid) without a baseline")
    wide_bps: Decimal = Field(Decimal("15"), gt=0, description="WIDE (bps of mid) without a baseline")
    typical_window_seconds: float = Field(
        1800.0, gt=0, description="trailing window for learning a symbol's typical spread"
    )
    absurd_pct_of_mid: Decimal = Field(
        Decimal("10"), gt=0, description="a spread wider than this % of mid is refused"
    )
    max_quote_age_seconds: float = Field(5.0, gt=0, description="older quotes are stale")

    @model_validator(mode="after")
    def _ordered(self) -> SpreadSettings:
        if self.tight_cents > self.wide_cents:
            raise ValueError(f"spread.tight_cents {self.tight_cents} > wide_cents {self.wide_cents}")
        if self.tight_ratio > self.wide_ratio:
            raise ValueError(f"spread.tight_ratio {self.tight_ratio} > wide_ratio {self.wide_ratio}")
        if self.tight_bps > self.wide_bps:
            raise ValueError(f"spread.tight_bps {self.tight_bps} > wide_bps {self.wide_bps}")
        return self


class TimingSettings(_Section):
    """The opening windows and how long a wide spread may delay an order."""

    opening_wait_max_seconds: float = Field(
        90.0, ge=0, description="longest wait for a wide spread to normalise after the open"
    )
    early_wait_max_seconds: float = Field(
        0.0, ge=0, description="longest such wait in 09:32-09:35 (0 = execute and monitor)"
    )
    pre_open: Literal["wait", "refuse"] = Field(
        "wait", description="before the open: wait for it, or refuse the order"
    )
    recommend_wait_wide_seconds: float = Field(120.0, ge=0)
    recommend_wait_normal_seconds: float = Field(60.0, ge=0)
    recommend_wait_tight_seconds: float = Field(0.0, ge=0)


class LadderSettings(_Section):
    """Steps 2-4 of the ladder: aggressive limit, re-pegs, fallback."""

    aggressive_ticks: int = Field(1, ge=0, le=100, description="ticks beyond the far touch")
    timeout_seconds: float = Field(2.5, gt=0, description="attempt timeout in normal conditions")
    timeout_wait_for_spreads_seconds: float = Field(2.0, gt=0)
    timeout_standard_seconds: float = Field(3.0, gt=0)
    max_repegs: int = Field(2, ge=0, le=20)
    repeg_extra_ticks: int = Field(0, ge=0, le=100, description="added per re-peg")
    fallback: Literal["market", "none"] = Field(
        "market", description="after the last re-peg: market order for the rest, or stop"
    )
    protection: Literal["limit_at_bound", "stop"] = Field(
        "limit_at_bound",
        description="when a market order would breach the budget: a limit at the bound, or stop",
    )
    protection_timeout_seconds: float = Field(10.0, gt=0)
    cancel_timeout_seconds: float = Field(5.0, gt=0, description="ask the broker after this")
    quote_timeout_seconds: float = Field(
        10.0, gt=0, description="give up if no valid quote arrives within this"
    )


class SymbolOverride(_Section):
    max_slippage_bps: Decimal | None = Field(None, ge=0)
    typical_spread_bps: Decimal | None = Field(None, gt=0)
    aggressive_ticks: int | None = Field(None, ge=0, le=100)
    route: Literal["better", "standard"] | None = None


class BetterOrdersConfig(_Section):
    """Effective configuration. Defaults are the seed design's."""

    enabled: bool = True
    mode: ExecutionMode = ExecutionMode.AUTO
    max_slippage_bps: Decimal = Field(Decimal("20"), ge=0, description="default slippage budget")
    leveraged_etfs: tuple[str, ...] = DEFAULT_LEVERAGED_ETFS
    leveraged_etf_bps: Decimal = Field(Decimal("20"), ge=0)
    high_volume_etfs: tuple[str, ...] = DEFAULT_HIGH_VOLUME_ETFS
    high_volume_etf_bps: Decimal = Field(Decimal("10"), ge=0)
    other_stock_bps: Decimal = Field(Decimal("15"), ge=0)
    symbols: dict[str, SymbolOverride] = Field(default_factory=dict)
    spread: SpreadSettings = SpreadSettings()
    timing: TimingSettings = TimingSettings()
    ladder: LadderSettings = LadderSettings()

    @field_validator("leveraged_etfs", "high_volume_etfs", mode="before")
    @classmethod
    def _symbols(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of symbols")
        return tuple(normalize_symbol(str(v)) for v in value)

    @field_validator("symbols", mode="before")
    @classmethod
    def _override_keys(cls, value: object) -> object:
        if isinstance(value, dict):
            return {normalize_symbol(str(k)): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> BetterOrdersConfig:
        both = sorted(set(self.leveraged_etfs) & set(self.high_volume_etfs))
        if both:
            raise ValueError(
                f"symbol in two classes (leveraged_etfs and high_volume_etfs): {', '.join(both)}"
            )
        return self

    # -- pure look-ups -------------------------------------------------------------------

    def symbol_class(self, symbol: str) -> SymbolClass:
        if symbol in self.leveraged_etfs:
            return SymbolClass.LEVERAGED_ETF
        if symbol in self.high_volume_etfs:
            return SymbolClass.HIGH_VOLUME_ETF
        return SymbolClass.STOCK

    def slippage_budget_bps(self, symbol: str) -> Decimal:
        """Per-symbol override, else the symbol class's budget, else the default."""
        override = self.symbols.get(symbol)
        if override is not None and override.max_slippage_bps is not None:
            return override.max_slippage_bps
        cls = self.symbol_class(symbol)
        if cls is SymbolClass.LEVERAGED_ETF:
            return self.leveraged_etf_bps
        if cls is SymbolClass.HIGH_VOLUME_ETF:
            return self.high_volume_etf_bps
        return self.other_stock_bps

    def routes_better(self, symbol: str) -> bool:
        """True when ``symbol`` goes through the ladder, False for standard execution."""
        if not self.enabled or self.mode is ExecutionMode.OFF:
            return False
        override = self.symbols.get(symbol)
        if override is not None and override.route is not None:
            return override.route == "better"
        if self.mode is ExecutionMode.ALWAYS:
            return True
        return self.symbol_class(symbol) is not SymbolClass.STOCK or symbol in self.symbols

    def typical_spread_bps(self, symbol: str) -> Decimal | None:
        override = self.symbols.get(symbol)
        return override.typical_spread_bps if override is not None else None

    def aggressive_ticks(self, symbol: str) -> int:
        override = self.symbols.get(symbol)
        if override is not None and override.aggressive_ticks is not None:
            return override.aggressive_ticks
        return self.ladder.aggressive_ticks
