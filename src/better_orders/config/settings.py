"""The configuration schema, and how one symbol's settings are resolved from it.

The schema classes are the single source of truth for names, types, bounds, defaults and
descriptions: the loader (``config.loader``), the starter file (``config.starter``) and
``config show`` all walk them, so a field added to a section is loadable, documented and
shown with no other change.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from better_orders.config.policy_settings import (
    LadderSettings,
    PatienceSettings,
    SpreadSettings,
    TimingSettings,
)
from better_orders.config.section import Section
from better_orders.core.model import normalize_symbol
from better_orders.core.pricing import MAX_BUDGET_BPS


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


def positive_budget(value: Decimal) -> Decimal:
    """A slippage budget of 0 bps could never fill (the bound is the arrival mid itself)."""
    if value == 0:
        raise ValueError("a slippage budget must be above 0 bps (0 could never fill)")
    if value > MAX_BUDGET_BPS:
        raise ValueError(f"a slippage budget must be at most {MAX_BUDGET_BPS:,} bps, got {value}")
    return value


class RebalanceSettings(Section):
    """How target weights become trades."""

    drift_threshold: Decimal = Field(
        Decimal("0.01"), ge=0, le=1, description="trade a symbol only if it drifted this much"
    )
    min_order_value: Decimal = Field(Decimal("1"), ge=0, description="smallest order, dollars")
    cash_buffer: Decimal = Field(
        Decimal("0"), ge=0, lt=1, description="fraction of equity kept as cash"
    )
    whole_shares_for_limit: bool = Field(
        True,
        description=(
            "trade whole shares but for closes; false trades exact fractions of fractionable "
            "assets (Alpaca takes fractional limit DAY orders)"
        ),
    )
    notional_buys: bool = Field(
        False,
        description=(
            "buy dollar amounts as notional market orders: exact fractions, but no ladder "
            "(no limit price, no slippage budget)"
        ),
    )


class TcaSettings(Section):
    """Replay evaluation (``better-orders tca``): extra or changed policies, and the fees on sales.

    Fee defaults (check them against your broker's confirmations; both change):
    the SEC's Section 31 rate was $27.80 per $1M of covered sales for fiscal 2025
    (Release 34-102779; the SEC set it to $0.00 from 2025-05-14 once the year's
    appropriation was collected, and re-sets it every fiscal year: Release 34-104909
    of 2026-02-27 for fiscal 2026); FINRA's Trading Activity Fee on covered equity
    sales is $0.000166 a share, at most $8.30 a trade (FINRA By-Laws, Schedule A,
    Section 1).
    """

    policies: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "policies as [tca.policies.NAME] tables: a partial configuration overlay, "
            "with optional 'description' and 'extends'; a built-in's name tweaks it"
        ),
    )
    sec_fee_per_million: Decimal = Field(
        Decimal("27.80"), ge=0, description="SEC Section 31 fee on sales, $ per $1M of proceeds"
    )
    finra_taf_per_share: Decimal = Field(
        Decimal("0.000166"), ge=0, description="FINRA Trading Activity Fee on sales, $ a share"
    )
    finra_taf_max_per_trade: Decimal = Field(
        Decimal("8.30"), ge=0, description="the FINRA Trading Activity Fee's cap, $ a trade"
    )
    markout_seconds: tuple[float, ...] = Field(
        (5.0, 60.0),
        description=(
            "a run journals the quote in force this long after each of its fills (the "
            "realized spread of tca --journal) and waits for the last; [] for none"
        ),
    )

    @field_validator("markout_seconds")
    @classmethod
    def _markouts(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < s <= 3600 for s in value):
            raise ValueError("each markout must be above 0 and at most 3600 seconds")
        return value


class RiskSettings(Section):
    """Pre-trade risk checks: every child order passes them before it reaches a broker."""

    max_order_notional: Decimal = Field(
        Decimal("250000"),
        gt=0,
        description="largest single order, dollars (limit x qty; a market order at the far touch)",
    )
    max_run_notional: Decimal = Field(
        Decimal("1000000"),
        gt=0,
        description="most one run (an order command or a rebalance) may commit, dollars",
    )
    max_order_qty: Decimal = Field(
        Decimal("100000"), gt=0, description="largest single order, shares"
    )
    price_band_pct: Decimal = Field(
        Decimal("5"),
        gt=0,
        le=100,
        description="a limit price further than this % from the last quote's mid is refused",
    )
    max_orders_per_minute: int = Field(
        120,
        ge=1,
        le=100_000,
        description="new orders in any trailing minute (kept below the broker's request limit)",
    )
    kill_switch_file: str = Field(
        "",
        description=(
            "while this file exists no order is sent and working orders are cancelled; "
            "'' = no kill switch file (BETTER_ORDERS_KILL_SWITCH overrides)"
        ),
    )

    @field_validator("kill_switch_file")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class GuardSettings(Section):
    """Guards for unattended runs: a guard that trips refuses the whole run before any order."""

    max_deployed: Decimal = Field(
        Decimal(0),
        ge=0,
        description="most of equity (a fraction, e.g. 0.98) invested once the run is done; 0 = off",
    )
    max_turnover: Decimal = Field(
        Decimal(0),
        ge=0,
        description="most traded notional (sells and buys) per run, over equity; 0 = off",
    )
    max_target_age_seconds: float = Field(
        0.0,
        ge=0,
        description=(
            "targets older than this are refused: a targets file by its modification time, "
            "targets carrying an as_of by that; 0 = off"
        ),
    )


class AlertSettings(Section):
    """Alerts through Apprise (the alerts extra): one URL per destination."""

    urls: tuple[str, ...] = Field(
        (),
        description=(
            "Apprise URLs (mailto://, json://, slack://, tgram://...); the secrets in them "
            "are masked wherever a URL is shown"
        ),
    )
    cost_bps_over: Decimal = Field(
        Decimal(0),
        description="alert when a run's cost vs arrival mids is above this (bps); 0 = off",
    )
    timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="how long an exiting command waits to deliver its alerts"
    )

    @field_validator("urls", mode="before")
    @classmethod
    def _urls(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            return tuple(str(v).strip() for v in value if str(v).strip())
        # Not echoed back: whatever was given may hold a secret.
        raise ValueError("must be a list of Apprise URLs")


class SymbolOverride(Section):
    """Settings for one symbol that take precedence over its class's."""

    max_slippage_bps: Decimal | None = Field(
        None, ge=0, description="slippage budget for this symbol (bps of arrival mid)"
    )
    typical_spread_bps: Decimal | None = Field(
        None, gt=0, description="typical spread (bps of mid) when none has been learned yet"
    )

    @field_validator("max_slippage_bps")
    @classmethod
    def _positive_budget(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else positive_budget(value)

    aggressive_ticks: int | None = Field(
        None, ge=0, le=100, description="ticks beyond the far touch for this symbol"
    )
    route: Literal["better", "standard"] | None = Field(
        None, description="force the ladder ('better') or standard execution for this symbol"
    )


class BetterOrdersConfig(Section):
    """Effective configuration. Defaults are the seed design's."""

    enabled: bool = Field(True, description="false sends every order the standard way")
    mode: ExecutionMode = Field(
        ExecutionMode.AUTO,
        description="auto: ladder for configured symbols; always: for all; off: for none",
    )
    max_slippage_bps: Decimal = Field(
        Decimal("20"), ge=0, description="ceiling on every class budget (bps of arrival mid)"
    )
    leveraged_etfs: tuple[str, ...] = Field(
        DEFAULT_LEVERAGED_ETFS, description="symbols handled as leveraged ETFs"
    )
    leveraged_etf_bps: Decimal = Field(
        Decimal("20"), ge=0, description="slippage budget for leveraged ETFs (bps of arrival mid)"
    )
    high_volume_etfs: tuple[str, ...] = Field(
        DEFAULT_HIGH_VOLUME_ETFS, description="symbols handled as high-volume ETFs"
    )
    high_volume_etf_bps: Decimal = Field(
        Decimal("10"), ge=0, description="slippage budget for high-volume ETFs (bps of arrival mid)"
    )
    other_stock_bps: Decimal = Field(
        Decimal("15"), ge=0, description="slippage budget for other stocks (bps of arrival mid)"
    )
    requests_per_minute: int = Field(
        180, ge=1, le=100_000, description="broker requests per minute (Alpaca allows 200)"
    )
    symbols: dict[str, SymbolOverride] = Field(
        default_factory=dict, description="per-symbol overrides, one table per symbol"
    )
    spread: SpreadSettings = SpreadSettings()
    timing: TimingSettings = TimingSettings()
    ladder: LadderSettings = LadderSettings()
    patience: PatienceSettings = PatienceSettings()
    tca: TcaSettings = TcaSettings()
    rebalance: RebalanceSettings = RebalanceSettings()
    risk: RiskSettings = RiskSettings()
    guards: GuardSettings = GuardSettings()
    alerts: AlertSettings = AlertSettings()

    @field_validator(
        "max_slippage_bps", "leveraged_etf_bps", "high_volume_etf_bps", "other_stock_bps"
    )
    @classmethod
    def _positive_budget(cls, value: Decimal) -> Decimal:
        return positive_budget(value)

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
        """A per-symbol override as given, else the class budget capped at ``max_slippage_bps``."""
        override = self.symbols.get(symbol)
        if override is not None and override.max_slippage_bps is not None:
            return override.max_slippage_bps
        cls = self.symbol_class(symbol)
        if cls is SymbolClass.LEVERAGED_ETF:
            budget = self.leveraged_etf_bps
        elif cls is SymbolClass.HIGH_VOLUME_ETF:
            budget = self.high_volume_etf_bps
        else:
            budget = self.other_stock_bps
        return min(budget, self.max_slippage_bps)

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
