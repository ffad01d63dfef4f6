"""Settings turned into the pure core's plain parameters.

The core never imports the settings: the shell resolves them here, once per
symbol, into the frozen dataclasses the core takes (``SpreadRules``,
``TimingRules``, ``LadderParams``). The defaults stay in the settings schema.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from better_orders.config.policy_settings import PatienceSettings, SpreadSettings, TimingSettings
from better_orders.config.settings import BetterOrdersConfig, GuardSettings
from better_orders.core.guards import GuardLimits
from better_orders.core.ladder.params import LadderParams
from better_orders.core.model import Quote, normalize_symbol
from better_orders.core.patience import PatienceRules
from better_orders.core.quote_jumps import JumpRule
from better_orders.core.spread import PremarketAssessment, SpreadRules, assess_premarket
from better_orders.core.timing import TimingRules


def spread_rules(settings: SpreadSettings) -> SpreadRules:
    return SpreadRules(
        tight_cents=settings.tight_cents,
        wide_cents=settings.wide_cents,
        rule=settings.rule,
        tight_ratio=settings.tight_ratio,
        wide_ratio=settings.wide_ratio,
        tight_bps=settings.tight_bps,
        wide_bps=settings.wide_bps,
        wait_ratio=settings.wait_ratio,
        wait_cap_bps=settings.wait_cap_bps,
        typical_window_seconds=settings.typical_window_seconds,
    )


def timing_rules(settings: TimingSettings) -> TimingRules:
    return TimingRules(
        opening_wait_max_seconds=settings.opening_wait_max_seconds,
        early_wait_max_seconds=settings.early_wait_max_seconds,
        pre_open=settings.pre_open,
        recommend_wait_wide_seconds=settings.recommend_wait_wide_seconds,
        recommend_wait_normal_seconds=settings.recommend_wait_normal_seconds,
        recommend_wait_tight_seconds=settings.recommend_wait_tight_seconds,
    )


def patience_rules(settings: PatienceSettings) -> PatienceRules:
    return PatienceRules(
        opening_seconds=settings.opening_seconds,
        regular_seconds=settings.regular_seconds,
        at=settings.at,
        max_lean=settings.max_lean,
        drift_k=settings.drift_k,
        budget_urgency=settings.budget_urgency,
    )


def guard_limits(
    settings: GuardSettings,
    *,
    max_deployed: Decimal | None = None,
    max_turnover: Decimal | None = None,
    max_target_age: timedelta | None = None,
) -> GuardLimits:
    """The guards in force: ``[guards]``, each overridden by its argument when given; a
    guard set to 0 is off."""
    deployed = max_deployed if max_deployed is not None else settings.max_deployed
    turnover = max_turnover if max_turnover is not None else settings.max_turnover
    age = (
        max_target_age
        if max_target_age is not None
        else timedelta(seconds=settings.max_target_age_seconds)
    )
    return GuardLimits(
        max_deployed=deployed or None,
        max_turnover=turnover or None,
        max_target_age=age or None,
    )


def ladder_params(
    config: BetterOrdersConfig,
    symbol: str,
    *,
    max_slippage_bps: Decimal | None = None,
    typical_spread_bps: float | None = None,
    volatility_bps: float | None = None,
) -> LadderParams:
    """The ladder's parameters for ``symbol``; the arguments override the configured values.

    ``volatility_bps`` is the mid's recent volatility (bps per sqrt second) where the
    caller measured it (``core.volatility``); without it the patient rest has no drift bound.
    """
    lad = config.ladder
    typical = typical_spread_bps
    configured = config.typical_spread_bps(symbol)
    if typical is None and configured is not None:
        typical = float(configured)
    return LadderParams(
        routed_better=config.routes_better(symbol),
        entry=lad.entry,
        budget_bps=(
            max_slippage_bps if max_slippage_bps is not None else config.slippage_budget_bps(symbol)
        ),
        aggressive_ticks=config.aggressive_ticks(symbol),
        max_repegs=lad.max_repegs,
        repeg_extra_ticks=lad.repeg_extra_ticks,
        timeout_wait_for_spreads=timedelta(seconds=lad.timeout_wait_for_spreads_seconds),
        timeout_normal=timedelta(seconds=lad.timeout_seconds),
        timeout_standard=timedelta(seconds=lad.timeout_standard_seconds),
        fallback=lad.fallback,
        protection=lad.protection,
        protection_timeout=timedelta(seconds=lad.protection_timeout_seconds),
        cancel_timeout=timedelta(seconds=lad.cancel_timeout_seconds),
        quote_timeout=timedelta(seconds=lad.quote_timeout_seconds),
        max_quote_age_seconds=config.spread.max_quote_age_seconds,
        absurd_pct_of_mid=config.spread.absurd_pct_of_mid,
        wait_again=config.timing.wait_again,
        hold=timedelta(seconds=config.timing.hold_seconds),
        rest_fraction=config.timing.rest_fraction,
        typical_spread_bps=typical,
        spread=spread_rules(config.spread),
        timing=timing_rules(config.timing),
        walk_fractions=lad.walk_fractions,
        on_budget=lad.on_budget,
        jumps=jump_rule(config.spread),
        patience=patience_rules(config.patience),
        volatility_bps=volatility_bps,
    )


def jump_rule(settings: SpreadSettings) -> JumpRule:
    return JumpRule(
        min_bps=settings.jump_bps,
        spreads=settings.jump_spreads,
        confirm_quotes=settings.jump_confirm_quotes,
    )


def premarket_assessment(
    quote: Quote,
    config: BetterOrdersConfig,
    symbol: str,
    typical_spread_bps: Decimal | float | None = None,
    *,
    typical_source: str = "trailing median",
) -> PremarketAssessment:
    """``core.spread.assess_premarket`` with the symbol's configured rules and budget.

    Without ``typical_spread_bps`` the configured typical spread for the symbol is
    used, if there is one; otherwise the relative class uses the bps thresholds.
    """
    sym = normalize_symbol(symbol)
    source = typical_source
    if typical_spread_bps is None:
        typical_spread_bps = config.typical_spread_bps(sym)
        source = "configured"
    return assess_premarket(
        quote,
        sym,
        spread=spread_rules(config.spread),
        timing=timing_rules(config.timing),
        slippage_budget_bps=config.slippage_budget_bps(sym),
        typical_spread_bps=typical_spread_bps,
        typical_source=source,
    )
