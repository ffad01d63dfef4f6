"""``run --broker alpaca`` against the local exchange: the schedule follows the broker's
clock, and the session's run happens once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alpaca_server import TEST_VENUE, LocalAlpaca, run_local_alpaca
from better_orders.server import ServerConfig
from better_orders.store.scheduled_runs import ScheduledRuns, ScheduledStatus
from cli_runner import run_cli

ET = ZoneInfo("America/New_York")


@pytest.fixture
def exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAlpaca]:
    # The exchange's clock reads 10:00 on a Tuesday, whatever the time the tests run.
    venue = replace(
        TEST_VENUE,
        always_open=False,
        clock_start=datetime(2026, 11, 24, 10, 0, tzinfo=ET),
        db_path=tmp_path / "exchange.sqlite3",
    )
    with run_local_alpaca(ServerConfig(port=0, venue=venue)) as local:
        for name, value in (
            ("APCA_API_KEY_ID", local.key_id),
            ("APCA_API_SECRET_KEY", local.secret_key),
            ("APCA_API_BASE_URL", local.base_url),
            ("APCA_API_DATA_URL", local.base_url),
        ):
            monkeypatch.setenv(name, value)
        yield local


def test_a_scheduled_run_on_alpaca_fires_on_the_brokers_clock_once(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = tmp_path / "targets.toml"
    targets.write_text("[targets]\nSPY = 0.3\nQQQ = 0.3\n", encoding="utf-8")
    args = ["run", "--at", "open+15m", "--targets", str(targets), "--once", "--broker", "alpaca"]
    args += ["--db", str(tmp_path / "journal.sqlite3")]
    code, out, err = run_cli([*args, "--json"], capsys)
    assert code == 0, err
    (outcome,) = json.loads(out)["runs"]
    assert outcome["status"] == "completed"
    assert datetime.fromisoformat(outcome["scheduled_for"]) == datetime(
        2026, 11, 24, 14, 45, tzinfo=UTC
    )
    code, out, err = run_cli(args, capsys)
    assert code != 0 and "already ran" in err and outcome["run_id"] in err
    with ScheduledRuns.open(tmp_path / "journal.sqlite3") as table:
        (row,) = table.runs()
    assert row.status is ScheduledStatus.COMPLETED
    assert row.key.account.startswith("alpaca paper ")
