"""``better-orders phase``: JSON fields and the error line for a bad time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from better_orders.cli import app as cli_app


@pytest.fixture(autouse=True)
def _phase_is_a_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Typer runs a lone registered command as the app itself; keep ``phase`` a subcommand.

    Without a callback on the app this matters only while ``phase`` is the only command.
    """
    if cli_app.app.registered_callback is None:
        monkeypatch.setattr(cli_app.app, "registered_callback", None)
        cli_app.app.callback()(lambda: None)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    cli_app.main(["phase", *args, "--json"])
    out = capsys.readouterr().out
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_early_close_day_at_noon(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--at", "2026-11-27T12:00")
    assert doc["phase"] == "regular"
    assert doc["strategy"] == "standard"
    assert doc["at_et"] == "2026-11-27T12:00:00-05:00"
    session = doc["session"]
    assert session["date"] == "2026-11-27"
    assert session["early_close"] is True
    assert session["open_et"] == "2026-11-27T09:30:00-05:00"
    assert session["close_et"] == "2026-11-27T13:00:00-05:00"
    assert session["close"] == "2026-11-27T18:00:00+00:00"
    assert doc["next_open_et"] == "2026-11-30T09:30:00-05:00"


def test_thanksgiving_is_closed(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--at", "2026-11-26")
    assert doc["phase"] == "closed"
    assert doc["strategy"] is None
    assert doc["session"] is None
    assert doc["next_open_et"] == "2026-11-27T09:30:00-05:00"
    assert doc["next_open"] == "2026-11-27T14:30:00+00:00"


def test_utc_input_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--at", "2026-03-09T13:31:00Z")
    assert doc["phase"] == "opening"
    assert doc["strategy"] == "wait_for_spreads"
    assert doc["session"]["open"] == "2026-03-09T13:30:00+00:00"


def test_table_output_names_phase_and_close(capsys: pytest.CaptureFixture[str]) -> None:
    cli_app.main(["phase", "--at", "2026-11-27T12:00"])
    out = capsys.readouterr().out
    assert "regular" in out
    assert "2026-11-27 13:00:00" in out
    assert "early close" in out


def test_bad_time_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_app.main(["phase", "--at", "next tuesday", "--json"])
    assert exc.value.code != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "cannot parse time 'next tuesday'" in lines[0]
