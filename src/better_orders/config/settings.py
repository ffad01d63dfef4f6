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


def positive_budget(value: Decimal) -> Decimal:
    """A slippage budget of 0 bps could never fill (the bound is the arrival mid itself)."""
    if value == 0:
        raise ValueError("a slippage budget must be above 0 bps (0 could never fill)")
    return value


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
    tight_ratio: Decimal = Field(
        Decimal("1.5"), gt=0, description="TIGHT if spread <= ratio x typical"
    )
    wide_ratio: Decimal = Field(
        Decimal("2.5"), gt=0, description="WIDE if spread > ratio x typical"
    )
    tight_bps: Decimal = Field(
        Decimal("5"), gt=0, description="TIGHT (bps of mid) without a baseline"
    )
    wide_bps: Decimal = Field(
        Decimal("15"), gt=0, description="WIDE (bps of mid) without a baseline"
    )
    wait_ratio: Decimal = Field(
        Decimal("0.5"),
        gt=0,
        description=(
            "relative rule, opening windows: wait (bounded) until the spread is at most "
            "ratio x typical; a spread within tight_cents is never waited out"
        ),
    )
    wait_cap_bps: Decimal = Field(
        Decimal("5"),
        gt=0,
        description=(
            "relative rule, opening windows: the wait target is never wider than this "
            "(bps of mid), however wide the spreads seen since the open were"
        ),
    )
    typical_window_seconds: float = Field(
        1800.0, gt=0, description="trailing window for learning a symbol's typical spread"
    )
    absurd_pct_of_mid: Decimal = Field(
        Decimal("10"), gt=0, description="a spread wider than this % of mid is refused"
    )
    max_quote_age_seconds: float = Field(5.0, gt=0, description="older quotes are stale")
    jump_bps: Decimal = Field(
        Decimal("300"),
        gt=0,
        description=(
            "a quote whose mid moves more than this (bps) and more than jump_spreads spreads "
            "from the last accepted quote is held as a suspect jump"
        ),
    )
    jump_spreads: Decimal = Field(
        Decimal("10"), ge=0, description="... and more than this many of that quote's spreads"
    )
    jump_confirm_quotes: int = Field(
        2,
        ge=0,
        le=100,
        description=(
            "later quotes that must stand near a held jump before an order is priced off it "
            "(0 = never hold a quote)"
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> SpreadSettings:
        if self.tight_cents > self.wide_cents:
            raise ValueError(
                f"spread.tight_cents {self.tight_cents} > wide_cents {self.wide_cents}"
            )
        if self.tight_ratio > self.wide_ratio:
            raise ValueError(
                f"spread.tight_ratio {self.tight_ratio} > wide_ratio {self.wide_ratio}"
            )
        if self.tight_bps > self.wide_bps:
            raise ValueError(f"spread.tight_bps {self.tight_bps} > wide_bps {self.wide_bps}")
        return self


class TimingSettings(_Section):
    """The opening windows and how long a wide spread may delay an order."""

    opening_wait_max_seconds: float = Field(
        90.0, ge=0, description="longest wait for a wide spread to normalise after the open"
    )
    early_wait_max_seconds: float = Field(
        90.0,
        ge=0,
        description="longest such wait begun in 09:32-09:35 (0 = execute and monitor)",
    )
    wait_again: bool = Field(
        True,
        description=(
            "after an attempt times out in the opening windows, wait (same budget) for a "
            "wide spread to come in again instead of re-pegging into it"
        ),
    )
    rest_fraction: Decimal = Field(
        Decimal("0.25"),
        ge=0,
        le=1,
        description=(
            "while waiting out a wide spread, this share of what remains (whole shares) rests "
            "one tick inside the near touch, never past the mid or the slippage budget; when "
            "the wait ends it is cancelled and the rest crosses at once (0 = wait idle)"
        ),
    )
    hold_seconds: float = Field(
        0.02,
        ge=0,
        le=5,
        description=(
            "a spread that comes in during a wait must hold this long before the ladder "
            "acts on it (quotes inside a burst of updates are gone before an order lands)"
        ),
    )
    pre_open: Literal["wait", "refuse"] = Field(
        "wait", description="before the open: wait for it, or refuse the order"
    )
    recommend_wait_wide_seconds: float = Field(
        120.0, ge=0, description="pre-open advice: wait after the open when the spread is wide"
    )
    recommend_wait_normal_seconds: float = Field(
        60.0, ge=0, description="pre-open advice: wait after the open when the spread is normal"
    )
    recommend_wait_tight_seconds: float = Field(
        0.0, ge=0, description="pre-open advice: wait after the open when the spread is tight"
    )


class LadderSettings(_Section):
    """Steps 2-4 of the ladder: aggressive limit, re-pegs, fallback."""

    entry: Literal["aggressive", "passive", "market"] = Field(
        "aggressive",
        description=(
            "first order: far touch +/- ticks (aggressive), the mid walking to the far touch "
            "over the re-pegs (passive), or a market order at once (market)"
        ),
    )
    aggressive_ticks: int = Field(1, ge=0, le=100, description="ticks beyond the far touch")
    timeout_seconds: float = Field(
        2.5, gt=0, description="attempt timeout in normal conditions (09:32-09:35)"
    )
    timeout_wait_for_spreads_seconds: float = Field(
        2.0, gt=0, description="attempt timeout in the opening window (09:30-09:32)"
    )
    timeout_standard_seconds: float = Field(
        3.0, gt=0, description="attempt timeout in regular trading (after 09:35)"
    )
    max_repegs: int = Field(
        2, ge=0, le=20, description="re-prices of the remaining quantity before the fallback"
    )
    repeg_extra_ticks: int = Field(0, ge=0, le=100, description="added per re-peg")
    walk_fractions: tuple[Decimal, ...] = Field(
        (),
        max_length=21,
        description=(
            "passive entry: the limit of each attempt as a share of the spread from the near "
            "touch (0.5 = the mid, 1 = the far touch), then the aggressive price; "
            "empty = walk evenly from the mid over the re-pegs"
        ),
    )
    fallback: Literal["market", "none"] = Field(
        "market", description="after the last re-peg: market order for the rest, or stop"
    )
    protection: Literal["limit_at_bound", "stop"] = Field(
        "limit_at_bound",
        description="when a market order would breach the budget: a limit at the bound, or stop",
    )
    on_budget: Literal["stop", "finish"] = Field(
        "stop",
        description=(
            "when the market runs beyond the slippage budget: stop and report what is left, "
            "or finish the rest with a market order at any price"
        ),
    )
    protection_timeout_seconds: float = Field(
        10.0, gt=0, description="how long the protective limit at the bound may rest"
    )
    cancel_timeout_seconds: float = Field(5.0, gt=0, description="ask the broker after this")
    quote_timeout_seconds: float = Field(
        10.0, gt=0, description="give up if no valid quote arrives within this"
    )

    @field_validator("walk_fractions")
    @classmethod
    def _shares(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        bad = [str(v) for v in value if not 0 <= v <= 1]
        if bad:
            raise ValueError(f"walk fractions must be between 0 and 1, got {', '.join(bad)}")
        return value


class PatienceSettings(_Section):
    """Resting the order briefly before crossing, where the ladder would cross at once."""

    opening_seconds: float = Field(
        15.0,
        ge=0,
        le=60,
        description=(
            "open to open + 5 min, a spread not worth waiting out: rest the whole order this "
            "long at or inside the touch before crossing what is left (0 = cross at once)"
        ),
    )
    regular_seconds: float = Field(
        40.0,
        ge=0,
        le=120,
        description=(
            "after open + 5 min: rest the whole order this long at or inside the touch before "
            "crossing what is left (0 = cross at once)"
        ),
    )
    at: Decimal = Field(
        Decimal("0.5"),
        ge=0,
        lt=1,
        description=(
            "where it rests, as a share of the spread from the near touch (0 = join the near "
            "touch, 0.5 = the mid), rounded back towards its own side"
        ),
    )
    max_lean: Decimal = Field(
        Decimal("0.3"),
        ge=-1,
        le=1,
        description=(
            "cross at once (or end the rest) when the book leans towards the far touch by "
            "more than this: (near size - far size) / (near size + far size)"
        ),
    )
    drift_k: float = Field(
        0.0,
        ge=0,
        description=(
            "rest no longer than the drift of k spreads at the recent volatility: "
            "(k x spread / sigma)^2 seconds (0 = no such bound)"
        ),
    )
    volatility_window_seconds: float = Field(
        60.0, gt=0, description="trailing window over which the recent volatility is measured"
    )
    budget_urgency: Decimal = Field(
        Decimal("0.7"),
        ge=0,
        le=1,
        description=(
            "stop waiting (a spread wait, a patient rest) and cross once the far touch has "
            "moved this share of the way from where it stood at arrival to the slippage "
            "budget's bound, while a cross can still complete within the budget (0 = never)"
        ),
    )


class RebalanceSettings(_Section):
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


class TcaSettings(_Section):
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


class RiskSettings(_Section):
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


class GuardSettings(_Section):
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


class AlertSettings(_Section):
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


class SymbolOverride(_Section):
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


class BetterOrdersConfig(_Section):
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
