"""``better-orders assess``: the numbers it reports and how it refuses a bad quote."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from better_orders.cli.app import main

AT = ["--at", "2026-03-02T09:25:00"]


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run_json(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict[str, Any]:
    assert run(["assess", *args, *AT, "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_json_reports_spread_classes_wait_budget_and_limits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = run_json(capsys, ["spy", "--bid", "600.01", "--ask", "600.09", "--typical-bps", "2"])
    assert data["symbol"] == "SPY"
    spread = data["assessment"]["spread"]
    assert Decimal(spread["spread"]) == Decimal("0.08")
    assert Decimal(spread["spread_cents"]) == 8
    assert spread["spread_bps"] == pytest.approx(0.08 / 600.05 * 1e4)
    assert spread["cents_class"] == "wide"
    assert spread["relative_class"] == "tight"  # 1.33 bps against a 2 bps norm
    assert spread["effective_class"] == "tight"
    assert spread["relative_basis"] == "typical 2.0 bps (given)"
    assert data["assessment"]["recommended_wait_seconds"] == 0
    assert Decimal(data["assessment"]["slippage_budget_bps"]) == 10
    buy, sell = data["limits"]
    assert (buy["side"], buy["limit"], buy["ticks"]) == ("buy", "600.10", 1)
    assert (sell["side"], sell["limit"]) == ("sell", "600.00")
    assert buy["budget_bound"] == "600.65"  # 600.05 x 1.001 = 600.650..., rounded down
    assert sell["budget_bound"] == "599.45"  # 600.05 x 0.999 = 599.449..., rounded up
    assert buy["within_budget"] is True
    assert buy["cost_bps_vs_mid"] == pytest.approx(0.83, abs=0.01)


@pytest.mark.parametrize(
    ("bid", "ask", "effective", "wait"),
    [
        ("50.00", "50.02", "tight", 0),
        ("50.00", "50.05", "normal", 60),
        ("50.00", "50.10", "wide", 120),
    ],
)
def test_recommended_wait_by_class(
    capsys: pytest.CaptureFixture[str], bid: str, ask: str, effective: str, wait: int
) -> None:
    data = run_json(capsys, ["TQQQ", "--bid", bid, "--ask", ask])
    assert data["assessment"]["spread"]["effective_class"] == effective
    assert data["assessment"]["recommended_wait_seconds"] == wait
    assert Decimal(data["assessment"]["slippage_budget_bps"]) == 20


def test_sub_dollar_limits_use_the_sub_penny_grid(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, ["ABCD", "--bid", "0.9990", "--ask", "0.9999"])
    buy, sell = data["limits"]
    assert buy["limit"] == "1.00"
    assert sell["limit"] == "0.9989"


def test_at_with_an_offset_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["assess", "SPY", "--bid", "1.00", "--ask", "1.01", "--json"]
    assert run([*args, "--at", "2026-03-02T14:25:00Z"]) == 0
    assert json.loads(capsys.readouterr().out)["at"] == "2026-03-02T14:25:00+00:00"


def test_human_output_is_a_table_of_the_same_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    quote = ["--bid", "51.00", "--ask", "51.02", "--bid-size", "300", "--ask-size", "200"]
    assert run(["assess", "TQQQ", *quote, *AT]) == 0
    out = capsys.readouterr().out
    assert "bid 51.00 / ask 51.02 (300 x 200)" in out
    assert "2c = 3.92 bps" in out
    assert "51.03" in out  # buy limit, ask + 1 tick
    assert "50.99" in out  # sell limit, bid - 1 tick
    assert "20 bps" in out
    assert "Recommended wait" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--bid", "-1", "--ask", "51.00"], 3, "TQQQ quote has a zero or negative price: bid -1"),
        (
            ["--bid", "51.02", "--ask", "51.00"],
            3,
            "TQQQ quote is crossed: bid 51.02 > ask 51.00; no order sent",
        ),
        (["--bid", "nan", "--ask", "51.00"], 3, "TQQQ quote is not a number"),
        (["--bid", "abc", "--ask", "51.00"], 3, "TQQQ quote is not a number"),
        (["--bid", "51.00", "--ask", "51.00"], 3, "TQQQ quote is locked"),
        (["--bid", "0", "--ask", "51.00"], 3, "TQQQ quote is one-sided (no bid)"),
        (["--bid", "40", "--ask", "60"], 3, "TQQQ quote spread is absurd"),
        (["--bid", "51.00", "--ask", "51.02", "--typical-bps", "0"], 2, "--typical-bps"),
        (["--bid", "51.00", "--ask", "51.02", "--at", "yesterday"], 2, "cannot parse time"),
    ],
)
def test_bad_input_exits_non_zero_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    assert run(["assess", "TQQQ", *args, *([] if "--at" in args else AT)]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
    assert "Traceback" not in captured.err


def test_missing_option_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["assess", "TQQQ", "--bid", "51.00"]) == 2
    err = capsys.readouterr().err
    assert "--ask" in err
    assert "Traceback" not in err


def test_invalid_symbol_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["assess", "NOT A TICKER", "--bid", "1.00", "--ask", "1.01", *AT]) == 2
    assert "invalid symbol" in capsys.readouterr().err


def test_the_budget_and_classes_come_from_the_configuration_as_for_an_order(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    quote = ["TQQQ", "--bid", "74.80", "--ask", "75.00"]
    monkeypatch.setenv("BETTER_ORDERS_LEVERAGED_ETF_BPS", "10")
    data = run_json(capsys, quote)
    assert Decimal(data["assessment"]["slippage_budget_bps"]) == 10
    file = tmp_path / "better-orders.toml"
    file.write_text('[spread]\nrule = "cents"\n')
    data = run_json(capsys, [*quote, "--config", str(file)])
    assert Decimal(data["assessment"]["slippage_budget_bps"]) == 10
    assert data["assessment"]["spread"]["rule"] == "cents"
    assert run(["assess", *quote, *AT, "--config", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: file not found" in capsys.readouterr().err
