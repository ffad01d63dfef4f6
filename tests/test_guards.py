"""Guards for unattended runs, on whole plans; and targets read with their ``as_of``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from better_orders.core.errors import GuardTrippedError, InvalidInputError
from better_orders.core.guards import (
    GuardLimits,
    PlanLimits,
    check_plan,
    check_target_age,
    deployed_after,
    describe_age,
    parse_age,
    turnover,
)
from better_orders.core.plan import Plan, build_plan, parse_targets
from better_orders.engine.targets import (
    detect_format,
    parse_targets_text,
    read_targets_file,
    targets_from_command,
)

NY = ZoneInfo("America/New_York")


def plan(targets: dict[str, str], positions: dict[str, str], cash: str) -> Plan:
    return build_plan(
        targets,
        positions,
        cash=cash,
        buying_power=cash,
        prices={"SPY": "500", "QQQ": "400"},
    )


def test_deployed_and_turnover_are_fractions_of_equity() -> None:
    p = plan({"SPY": "0.5", "QQQ": "0.49"}, {}, "100000")
    assert Decimal("0.98") < deployed_after(p) <= Decimal("0.99")
    assert turnover(p) == deployed_after(p)  # all buys, from cash


def test_max_deployed_refuses_a_plan_that_invests_too_much() -> None:
    p = plan({"SPY": "0.5", "QQQ": "0.49"}, {}, "100000")
    check_plan(p, GuardLimits(max_deployed=Decimal("0.99")))
    with pytest.raises(GuardTrippedError, match=r"max_deployed: .* above 98\.00%; no order sent"):
        check_plan(p, GuardLimits(max_deployed=Decimal("0.98")))


def test_a_plan_that_lowers_deployment_passes_even_above_the_limit() -> None:
    # Fully invested now; the targets bring it down to 95%.
    p = plan({"SPY": "0.95"}, {"SPY": "200"}, "0")
    assert deployed_after(p) < Decimal(1)
    check_plan(p, GuardLimits(max_deployed=Decimal("0.9")))


def test_max_turnover_and_the_risk_limits_apply_to_the_whole_plan() -> None:
    p = plan({"QQQ": "1"}, {"SPY": "200"}, "0")  # sell all SPY, buy QQQ: turnover ~2
    with pytest.raises(GuardTrippedError, match="max_turnover"):
        check_plan(p, GuardLimits(max_turnover=Decimal("1.5")))
    big = PlanLimits(Decimal("1000000"), Decimal("100000"), Decimal("1000000"))
    check_plan(p, GuardLimits(), big)
    with pytest.raises(GuardTrippedError, match="max_order_notional"):
        check_plan(
            p, GuardLimits(), PlanLimits(Decimal("50000"), Decimal("100000"), big.max_run_notional)
        )
    with pytest.raises(GuardTrippedError, match="max_order_qty"):
        check_plan(
            p,
            GuardLimits(),
            PlanLimits(big.max_order_notional, Decimal("100"), big.max_run_notional),
        )
    with pytest.raises(GuardTrippedError, match="max_run_notional"):
        check_plan(
            p,
            GuardLimits(),
            PlanLimits(big.max_order_notional, Decimal("100000"), Decimal("150000")),
        )


@pytest.mark.parametrize(
    ("text", "age"),
    [("90m", timedelta(minutes=90)), ("20h", timedelta(hours=20)), ("1d", timedelta(days=1)),
     ("3600", timedelta(hours=1)), ("1.5h", timedelta(minutes=90)), ("0", timedelta(0))],
)  # fmt: skip
def test_ages_parse(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "-5m", "soon", "5y"])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_age(text)


def test_stale_targets_are_refused_with_their_age() -> None:
    now = datetime(2026, 11, 27, 15, 45, tzinfo=NY)
    check_target_age(now - timedelta(hours=1), now, timedelta(hours=20), "targets file t.toml")
    check_target_age(now - timedelta(days=9), now, None, "targets file t.toml")
    with pytest.raises(GuardTrippedError, match=r"t\.toml is 1d 2h old .* older than 20h"):
        check_target_age(now - timedelta(hours=26), now, timedelta(hours=20), "targets file t.toml")
    assert describe_age(timedelta(seconds=42)) == "42s"


def test_targets_dated_after_now_are_refused_beyond_a_few_minutes() -> None:
    now = datetime(2026, 11, 27, 15, 45, tzinfo=NY)
    check_target_age(now + timedelta(minutes=4), now, timedelta(hours=20), "t.toml")
    # An as_of written in UTC without its zone reads as New York time: 5 h ahead.
    with pytest.raises(GuardTrippedError, match=r"t\.toml is dated .* 5h after now"):
        check_target_age(now + timedelta(hours=5), now, timedelta(hours=20), "t.toml")
    check_target_age(now + timedelta(hours=5), now, None, "t.toml")  # the guard off


def test_zero_turns_the_target_age_guard_off() -> None:
    from better_orders.cli.common import guards_from
    from better_orders.config.settings import BetterOrdersConfig, GuardSettings

    config = BetterOrdersConfig(guards=GuardSettings(max_target_age_seconds=3600))
    assert guards_from(config, None, None, None).max_target_age == timedelta(hours=1)
    assert guards_from(config, None, None, "0").max_target_age is None


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ('as_of = "2026-11-27T15:30:00"\n[targets]\nSPY = 0.6\n', "toml"),
        ("as_of = 2026-11-27T15:30:00-05:00\nSPY = 0.6\n", "toml"),
        ('{"as_of": "2026-11-27T20:30:00Z", "SPY": 0.6}', "json"),
        ("symbol,weight\nSPY,0.6\nas_of,2026-11-27T15:30:00\n", "csv"),
    ],
)
def test_targets_carry_their_as_of_in_every_format(text: str, fmt: str) -> None:
    assert detect_format(text) == fmt
    pairs, as_of = parse_targets_text(text, detect_format(text), "test")
    assert pairs == [("SPY", "0.6")]
    assert as_of == datetime(2026, 11, 27, 20, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        '{"SPY": 0.3, "SPY": 0.4}',
        '{"targets": {"SPY": 0.3, "QQQ": 0.1, "SPY": 0.4}}',
        "symbol,weight\nSPY,0.3\nSPY,0.4\n",
    ],
)
def test_a_symbol_given_twice_in_a_targets_file_is_refused(text: str) -> None:
    pairs, _ = parse_targets_text(text, detect_format(text), "t")
    with pytest.raises(InvalidInputError, match="duplicate target symbol: SPY"):
        parse_targets(pairs)


@pytest.mark.parametrize(
    "text",
    ['[targets]\nSPY = "40%"\nTQQQ = 0.1\n', '{"SPY": "40%", "TQQQ": 0.1}', "SPY,40%\nTQQQ,0.1\n"],
)
def test_a_targets_file_may_give_weights_as_percentages(text: str) -> None:
    pairs, _ = parse_targets_text(text, detect_format(text), "t")
    assert parse_targets(pairs) == {"SPY": Decimal("0.4"), "TQQQ": Decimal("0.1")}


def test_a_targets_file_keeps_its_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"targets": {"SPY": 0.5}}', encoding="utf-8")
    doc = read_targets_file(path)
    assert doc.pairs == [("SPY", "0.5")] and doc.as_of is None
    assert doc.modified is not None and abs(doc.modified - datetime.now(UTC)) < timedelta(hours=1)


def test_a_command_that_prints_targets_and_ones_that_do_not(tmp_path: Path) -> None:
    doc = targets_from_command(f"{sys.executable} -c \"print('SPY,0.4'); print('QQQ,0.4')\"")
    assert doc.pairs == [("SPY", "0.4"), ("QQQ", "0.4")] and "targets command" in doc.origin
    with pytest.raises(InvalidInputError, match="not found"):
        targets_from_command("no-such-strategy-command")
    with pytest.raises(InvalidInputError, match=r"failed with exit code 4 \(boom\)"):
        targets_from_command(
            f"{sys.executable} -c \"import sys; print('boom', file=sys.stderr); sys.exit(4)\""
        )
    with pytest.raises(InvalidInputError, match=r"no result within 0\.5 s"):
        targets_from_command(
            f"{sys.executable} -c 'import time; time.sleep(5)'", timeout_seconds=0.5
        )
