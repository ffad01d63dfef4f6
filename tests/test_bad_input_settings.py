"""Bad targets, configuration and a kill switch: one line, its exit code, nothing sent.

Each command runs in-process against its own journal (``--db``); afterwards the
journal holds no order and the paper account is as it was (``refusal``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from better_orders.cli.exit_codes import USAGE
from better_orders.core.errors import ConfigError, KillSwitchError
from cli_runner import run_cli
from refusal import AT, refused

# -- targets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "fragment"),
    [
        (["TQQQ=-0.1"], "negative target weight: TQQQ -0.1"),
        (["TQQQ=1.5"], "target weights sum to 1.50 (> 1)"),
        (["TQQQ=150%"], "target weights sum to 1.50 (> 1)"),
        (["TQQQ=0.6", "SPY=0.6"], "target weights sum to 1.20 (> 1)"),
        (["TQQQ=NaN"], "TQQQ target weight is not a finite number: 'NaN'"),
        (["TQQQ=inf"], "not a finite number"),
        (["TQQQ=0.3", "TQQQ=0.3"], "duplicate target symbol: TQQQ"),
        (["TQQQ=0.3", "tqqq=0.3"], "duplicate target symbol: TQQQ given as 'TQQQ' and 'tqqq'"),
        ([], "no targets given"),
        (["TQQQ"], "target 'TQQQ' is not SYMBOL=WEIGHT"),
        (["=0.5"], "invalid symbol ''"),
        (["TQQQ="], "TQQQ target weight is not a number: ''"),
        (["TQQQ=abc%"], "weight 'abc%' is not a number"),
        (["TQ@Q=0.5"], "invalid symbol 'TQ@Q'"),
        (["TQQQ=1e30"], "target weights sum to 1E+30 (> 1)"),
    ],
)
def test_bad_targets_are_refused_and_nothing_trades(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], targets: list[str], fragment: str
) -> None:
    # no --dry-run: had the targets been accepted, orders would have been sent
    refused(["rebalance", *targets, *AT], capsys, fragment, tmp_path / "j.sqlite3", code=USAGE)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("t.csv", "symbol,weight\nTQQQ,0.5\nSPY\n", "row 2 should be symbol,weight: ['SPY']"),
        ("t.csv", "symbol,weight\nTQQQ,-0.5\n", "negative target weight"),
        ("t.csv", "", "no targets given"),
        ("t.json", '{"TQQQ": "lots"}', "TQQQ target weight is not a number: 'lots'"),
        ("t.json", "[0.5, 0.5]", "expected a JSON object of SYMBOL: weight"),
        ("t.json", '{"TQQQ": 0.5', "cannot parse targets"),
        ("t.toml", "TQQQ = [", "cannot parse targets"),
        ("t.toml", "[targets]\nTQQQ = 0.7\nSPY = 0.7\n", "target weights sum to 1.40"),
        ("t.txt", "TQQQ=0.5", "targets file must be .toml, .json or .csv"),
        ("t.csv", b"\xff\xfe\x00junk", "is not UTF-8 text"),
        ("missing.csv", None, "does not exist"),
    ],
)
def test_a_bad_targets_file_is_refused_and_nothing_trades(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | bytes | None,
    fragment: str,
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    args = ["rebalance", "--targets", str(path), *AT]
    refused(args, capsys, fragment, tmp_path / "j.sqlite3", code=USAGE)


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ("nonsense_key = 1\n", "unknown key 'nonsense_key'"),
        ("[ladder]\nmax_repeg = 3\n", "unknown key 'ladder.max_repeg' (did you mean"),
        ('[ladder]\nmax_repegs = "two"\n', "ladder.max_repegs: Input should be a valid integer"),
        ("max_slippage_bps = true\n", "max_slippage_bps: Input should be a number, not a boolean"),
        ("ladder = 5\n", "ladder: must be a table ([ladder]) (got 5)"),
        ("[risk]\nmax_order_notional = -1\n", "risk.max_order_notional: Input should be greater"),
        ("[risk]\nmax_orders_per_minute = 0\n", "risk.max_orders_per_minute"),
        ("requests_per_minute = -5\n", "requests_per_minute: Input should be greater than or"),
        ("[ladder]\nmax_repegs = -1\n", "ladder.max_repegs"),
        ("[ladder\n", "invalid TOML"),
    ],
)
def test_a_bad_config_file_is_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, fragment: str
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml)
    _, line = refused(
        ["order", "buy", "TQQQ", "5", *AT, "--config", str(cfg)],
        capsys,
        fragment,
        tmp_path / "j.sqlite3",
        code=ConfigError.exit_code,
    )
    assert f"config error in file:{cfg}" in line


def test_a_missing_config_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "nope.toml"
    refused(
        ["rebalance", "TQQQ=0.5", *AT, "--config", str(cfg)],
        capsys,
        f"config error in file:{cfg}: file not found",
        tmp_path / "j.sqlite3",
        code=ConfigError.exit_code,
    )


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BETTER_ORDERS_LADDER__MAX_REPEGS", "abc", "ladder.max_repegs: Input should be a valid"),
        ("BETTER_ORDERS_RISK__MAX_ORDER_QTY", "-1", "risk.max_order_qty: Input should be greater"),
        ("BETTER_ORDERS_RISK__PRICE_BAND_PCT", "NaN", "risk.price_band_pct"),
        ("BETTER_ORDERS_MODE", "sometimes", "mode"),
        ("BETTER_ORDERS_MAX_SLIPAGE_BPS", "5", "not a configuration setting (did you mean"),
        ("BETTER_ORDERS_RISK", "1", "names the section 'risk', not a setting"),
    ],
)
def test_a_bad_environment_variable_is_refused_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    fragment: str,
) -> None:
    monkeypatch.setenv(name, value)
    args = ["order", "buy", "TQQQ", "5", *AT]
    _, line = refused(args, capsys, fragment, tmp_path / "j.sqlite3", code=ConfigError.exit_code)
    assert f"config error in env:{name}" in line


# -- the kill switch -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["order", "buy", "TQQQ", "5"], ["rebalance", "TQQQ=0.5"]])
def test_the_kill_switch_stops_a_command_before_it_sends_anything(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    switch = tmp_path / "STOP"
    switch.touch()
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(switch))
    _, line = refused(
        [*command, *AT],
        capsys,
        "kill switch",
        tmp_path / "j.sqlite3",
        code=KillSwitchError.exit_code,
    )
    assert line.startswith(f"error: kill switch {switch} is on: no order sent")


def test_the_kill_switch_file_can_come_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    switch = tmp_path / "halt-trading"
    switch.touch()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[risk]\nkill_switch_file = {json.dumps(str(switch))}\n")
    args = ["order", "buy", "SPY", "1", *AT, "--config", str(cfg), "--json"]
    out, _ = refused(args, capsys, f"kill switch {switch} is on", tmp_path / "j.sqlite3", code=6)
    assert out == ""  # refused before any run: no report
    switch.unlink()  # off again: the same command trades
    code, out, _ = run_cli([*args, "--db", str(tmp_path / "j.sqlite3")], capsys)
    assert code == 0 and Decimal(str(json.loads(out)["report"]["filled_qty"])) == 1
