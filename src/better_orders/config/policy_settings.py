"""The execution policy's sections: how spreads are judged, when to wait, how the ladder
works a parent order, and the patient rest. ``config.settings`` gathers them with the
operational sections into the whole schema.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from better_orders.config.section import Section


class SpreadSettings(Section):
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


class TimingSettings(Section):
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


class LadderSettings(Section):
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


class PatienceSettings(Section):
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
        5.0,
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
