"""Execution policies for replay evaluation: a name and a partial configuration overlay.

A policy is not code: it is the product's own configuration with some values
changed, so every policy runs through the same ladder and exchange. The overlay
is a nested mapping in the shape of the TOML configuration (``{"ladder":
{"entry": "market"}}``), applied on top of the effective configuration and
validated by the same schema, so a typo in a policy fails with the same message
a typo in the configuration would.

Built-ins (see :data:`BUILTIN_POLICIES`):

* ``market`` - a market order at the decision: the baseline every cost is compared with.
* ``seed-ladder`` - the original design exactly: spreads in cents (tight <= 3c,
  wide > 5c), a wait of up to 90 s in 09:30-09:32 only, ask + 1 tick, 2-3 s
  timeouts, 2 re-pegs, market fallback, the original slippage budgets.
* ``ladder`` - the product's current defaults (relative spread rule).
* ``passive`` - no spread wait; the first limit at the mid, walking to the far
  touch over the re-pegs, then a market order.
* ``walk`` - walk the book as the trading system this design started from later
  did: no spread wait, a limit at the mid, then at 75% and 95% of the spread
  from the near touch (``ladder.walk_fractions``), 10 s each, then a market order
  for the rest at any price (its budgets are lifted).

Users add or change policies in the configuration file (``[tca.policies.NAME]``
tables) or in a separate ``--policy-file`` (``[policies.NAME]`` tables, or
top-level ``[NAME]`` tables). A table named like a built-in is merged over it.
A table may say ``extends = "other"`` to start from another policy's overlay
and ``description = "..."`` to explain itself.

Every policy's configuration also gets :data:`EVALUATION_OVERLAY` (routing
through the ladder, no staleness limit on replayed quotes), see there.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import ConfigError, InvalidInputError

Overlay = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Policy:
    """A named configuration overlay."""

    name: str
    overlay: Overlay = field(default_factory=dict)
    description: str = ""

    def config(self, base: BetterOrdersConfig) -> BetterOrdersConfig:
        """``base`` with this policy's overlay applied (and ``mode = "always"``), validated."""
        data = base.model_dump(mode="python")
        merged = merge_overlays(data, EVALUATION_OVERLAY)
        merged = merge_overlays(merged, self.overlay)
        try:
            return BetterOrdersConfig.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ConfigError(f"policy '{self.name}': invalid configuration: {problems}") from None


#: Applied under every policy: what evaluating on a quote file (not a policy) requires.
#: ``mode = "always"`` routes the file's symbol through the ladder whatever its live
#: routing. A quote file lists book *changes*, so the quote in force is the current
#: book however old its stamp; the staleness limit guards live feeds that may have
#: died, which a file cannot do, so it is lifted (a quiet minute would otherwise fail
#: orders that a live, still-updating feed would let through).
EVALUATION_OVERLAY: Overlay = {"mode": "always", "spread": {"max_quote_age_seconds": 86_400.0}}

#: Every slippage budget of the configuration (bps of the arrival mid).
_BUDGETS = ("max_slippage_bps", "leveraged_etf_bps", "high_volume_etf_bps", "other_stock_bps")

BUILTIN_POLICIES: dict[str, Policy] = {
    "market": Policy(
        "market",
        {"ladder": {"entry": "market"}},
        "market order at the decision (the baseline)",
    ),
    "seed-ladder": Policy(
        "seed-ladder",
        {
            "max_slippage_bps": Decimal("20"),
            "leveraged_etf_bps": Decimal("20"),
            "high_volume_etf_bps": Decimal("10"),
            "other_stock_bps": Decimal("15"),
            "spread": {
                "rule": "cents",
                "tight_cents": Decimal("0.03"),
                "wide_cents": Decimal("0.05"),
            },
            "timing": {
                "opening_wait_max_seconds": 90.0,
                "early_wait_max_seconds": 0.0,
                "wait_again": False,
                "hold_seconds": 0.0,
                "rest_fraction": Decimal("0"),
            },
            "ladder": {
                "entry": "aggressive",
                "aggressive_ticks": 1,
                "timeout_wait_for_spreads_seconds": 2.0,
                "timeout_seconds": 2.5,
                "timeout_standard_seconds": 3.0,
                "max_repegs": 2,
                "repeg_extra_ticks": 0,
                "fallback": "market",
                "protection": "limit_at_bound",
            },
            # Neither rested before crossing nor hurried by the budget: both came later.
            "patience": {
                "opening_seconds": 0.0,
                "regular_seconds": 0.0,
                "budget_urgency": Decimal("0"),
            },
        },
        "the original design: cents thresholds, 90 s wait in 09:30-09:32, ask + 1 tick",
    ),
    "ladder": Policy("ladder", {}, "the product's defaults (relative spread rule)"),
    "passive": Policy(
        "passive",
        {
            "timing": {"opening_wait_max_seconds": 0.0, "early_wait_max_seconds": 0.0},
            "ladder": {"entry": "passive"},
        },
        "limit at the mid walking to the far touch over the re-pegs, then market",
    ),
    "walk": Policy(
        "walk",
        {
            # The system it copies sends the market order whatever the price: no budget.
            **dict.fromkeys(_BUDGETS, Decimal(10_000)),
            "timing": {"opening_wait_max_seconds": 0.0, "early_wait_max_seconds": 0.0},
            "ladder": {
                "entry": "passive",
                "walk_fractions": [Decimal("0.5"), Decimal("0.75"), Decimal("0.95")],
                "max_repegs": 2,
                "timeout_wait_for_spreads_seconds": 10.0,
                "timeout_seconds": 10.0,
                "timeout_standard_seconds": 10.0,
                "fallback": "market",
            },
        },
        "walk the book: the mid, then 75% and 95% of the spread every 10 s, then market",
    ),
}

DEFAULT_POLICIES = ("ladder", "seed-ladder", "market", "passive")


def merge_overlays(base: Mapping[str, Any], overlay: Overlay) -> dict[str, Any]:
    """A deep merge: tables merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in overlay.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = merge_overlays(current, value)
        else:
            out[key] = value
    return out


def _define(name: str, table: Mapping[str, Any], known: dict[str, Policy], source: str) -> Policy:
    if not isinstance(table, Mapping):
        raise ConfigError(f"policy '{name}' in {source} must be a table, got {table!r}")
    body = dict(table)
    description = body.pop("description", None)
    extends = body.pop("extends", None)
    if description is not None and not isinstance(description, str):
        raise ConfigError(f"policy '{name}' in {source}: description must be text")
    start: Overlay = {}
    if extends is not None:
        if not isinstance(extends, str) or extends not in known:
            listed = ", ".join(sorted(known))
            raise ConfigError(
                f"policy '{name}' in {source} extends unknown policy {extends!r} (known: {listed})"
            )
        if extends == name and name not in BUILTIN_POLICIES:
            raise ConfigError(f"policy '{name}' in {source} cannot extend itself")
        start = known[extends].overlay
    elif name in known:
        start = known[name].overlay  # a built-in (or earlier definition) is tweaked, not replaced
    previous = known.get(name)
    text = description or (previous.description if previous else "") or f"from {source}"
    return Policy(name, merge_overlays(start, body), text)


def policies_from_tables(
    tables: Mapping[str, Any],
    source: str,
    known: Mapping[str, Policy] | None = None,
) -> dict[str, Policy]:
    """Built-ins (or ``known``) plus the policies defined by ``tables``, in order."""
    result = dict(BUILTIN_POLICIES if known is None else known)
    for name, table in tables.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"policy names in {source} must be non-empty text")
        result[name] = _define(name, table, result, source)
    return result


def load_policy_file(
    path: str | Path, known: Mapping[str, Policy] | None = None
) -> dict[str, Policy]:
    """Policies from a TOML file: ``[policies.NAME]`` tables, or top-level ``[NAME]`` tables."""
    file = Path(path)
    source = f"policy file {file}"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"), parse_float=Decimal)
    except FileNotFoundError:
        raise ConfigError(f"{source} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    tables = data.get("policies", data)
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{source}: 'policies' must be a table of policy tables")
    return policies_from_tables(tables, source, known)


def available_policies(
    config: BetterOrdersConfig, policy_file: str | Path | None = None
) -> dict[str, Policy]:
    """Built-ins, then ``[tca.policies]`` of the configuration, then the policy file."""
    policies = policies_from_tables(config.tca.policies, "the configuration")
    if policy_file is not None:
        policies = load_policy_file(policy_file, policies)
    return policies


def select_policies(
    names: list[str] | tuple[str, ...], available: Mapping[str, Policy]
) -> list[Policy]:
    """The named policies in the order given (duplicates dropped); unknown names are an error."""
    chosen: list[Policy] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in available:
            listed = ", ".join(available)
            raise InvalidInputError(f"unknown policy {name!r} (available: {listed})")
        if all(p.name != name for p in chosen):
            chosen.append(available[name])
    if not chosen:
        raise InvalidInputError("no policy chosen: name at least one with --policy")
    return chosen
