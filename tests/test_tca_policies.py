"""Policies: built-ins, overlays from the configuration and from a policy file."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from better_orders.config.loader import load_config
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import ConfigError, InvalidInputError
from better_orders.tca.policies import (
    BUILTIN_POLICIES,
    DEFAULT_POLICIES,
    available_policies,
    load_policy_file,
    select_policies,
)


def test_builtins_resolve_to_what_they_promise() -> None:
    base = BetterOrdersConfig()
    market = BUILTIN_POLICIES["market"].config(base)
    seed = BUILTIN_POLICIES["seed-ladder"].config(base)
    ladder = BUILTIN_POLICIES["ladder"].config(base)
    passive = BUILTIN_POLICIES["passive"].config(base)
    assert market.ladder.entry == "market"
    assert seed.spread.rule == "cents"
    assert (seed.spread.tight_cents, seed.spread.wide_cents) == (D("0.03"), D("0.05"))
    assert seed.timing.opening_wait_max_seconds == 90 and seed.timing.early_wait_max_seconds == 0
    assert seed.timing.wait_again is False and seed.timing.hold_seconds == 0
    assert (seed.ladder.aggressive_ticks, seed.ladder.max_repegs) == (1, 2)
    assert seed.ladder.fallback == "market"
    assert passive.ladder.entry == "passive"
    assert passive.timing.opening_wait_max_seconds == 0
    # The ladder policy is the product's defaults, plus what evaluating a file needs.
    assert ladder.spread.rule == "relative"
    assert ladder.ladder == base.ladder and ladder.timing == base.timing
    for cfg in (market, seed, ladder, passive):
        assert cfg.mode.value == "always"
    assert tuple(DEFAULT_POLICIES) == ("ladder", "seed-ladder", "market", "passive")


def test_config_file_adds_and_tweaks_policies(tmp_path: Path) -> None:
    path = tmp_path / "better-orders.toml"
    path.write_text(
        """
[tca.policies.patient]
description = "wait for a tighter spread"
extends = "ladder"
spread = { wait_ratio = 0.3 }

[tca.policies.ladder]
timing = { opening_wait_max_seconds = 60 }
""",
        encoding="utf-8",
    )
    cfg = load_config(path, env={}).config
    policies = available_policies(cfg)
    assert policies["patient"].description == "wait for a tighter spread"
    assert policies["patient"].config(cfg).spread.wait_ratio == D("0.3")
    # The built-in keeps its name and gets the tweak.
    assert policies["ladder"].config(cfg).timing.opening_wait_max_seconds == 60
    assert policies["market"].config(cfg).ladder.entry == "market"


def test_policy_file_on_top_of_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text(
        """
[policies.fast]
extends = "seed-ladder"
ladder = { timeout_seconds = 1.0, max_repegs = 4 }
""",
        encoding="utf-8",
    )
    policies = load_policy_file(path)
    fast = policies["fast"].config(BetterOrdersConfig())
    assert fast.spread.rule == "cents"  # from seed-ladder
    assert fast.ladder.timeout_seconds == 1.0 and fast.ladder.max_repegs == 4
    assert [p.name for p in select_policies(["fast", "market", "fast"], policies)] == [
        "fast",
        "market",
    ]


def test_bad_policies_are_refused_with_their_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[policies.oops]\nladder = { entry = "sideways" }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"policy 'oops'.*ladder\.entry"):
        load_policy_file(bad)["oops"].config(BetterOrdersConfig())
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[policies.x]\nextends = "nope"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="extends unknown policy 'nope'"):
        load_policy_file(unknown)
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy_file(tmp_path / "missing.toml")
    with pytest.raises(InvalidInputError, match="unknown policy 'fastest'"):
        select_policies(["fastest"], BUILTIN_POLICIES)
