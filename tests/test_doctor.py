"""``better-orders doctor`` against the local Alpaca-compatible exchange (loopback only)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest

from alpaca_server import TEST_VENUE, LocalAlpaca, run_local_alpaca
from better_orders.cli import app as cli_app
from better_orders.cli.cmd_doctor import _stream_quote, run_checks
from better_orders.server import ServerConfig

NAMES = [
    "keys",
    "account",
    "clock",
    "data feed",
    "quote (REST)",
    "quote stream",
    "trade updates stream",
]


@pytest.fixture
def exchange() -> Iterator[LocalAlpaca]:
    with run_local_alpaca() as local:
        yield local


def env_for(local: LocalAlpaca, secret: str | None = None) -> dict[str, str]:
    return {
        "APCA_API_KEY_ID": local.key_id,
        "APCA_API_SECRET_KEY": secret if secret is not None else local.secret_key,
        "APCA_API_BASE_URL": local.base_url,
        "APCA_API_DATA_URL": local.base_url,
    }


async def test_every_check_passes_against_the_local_exchange(exchange: LocalAlpaca) -> None:
    checks = await run_checks(env=env_for(exchange), timeout=5)
    assert [c.name for c in checks] == NAMES
    assert [c.status for c in checks] == ["pass"] * len(NAMES)
    by_name = {c.name: c.detail for c in checks}
    assert by_name["keys"].startswith("paper key ****")
    assert exchange.key_id not in by_name["keys"]
    assert "ACTIVE" in by_name["account"] and "$100,000.00" in by_name["account"]
    assert by_name["clock"].startswith("market open")
    assert re.search(r"; REST round trip \d+ ms$", by_name["clock"])
    assert by_name["data feed"].startswith("sip")
    assert by_name["quote (REST)"].startswith("SPY ")
    stats = exchange.stats()
    assert stats["orders_created"] == 0  # the doctor never trades
    assert "POST /v2/orders" not in stats["requests"]


def test_the_command_prints_json_and_exits_zero(
    exchange: LocalAlpaca, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in env_for(exchange).items():
        monkeypatch.setenv(name, value)
    cli_app.main(["doctor", "--json", "--feed", "iex", "--timeout", "5"])
    captured = capsys.readouterr()
    document: dict[str, Any] = json.loads(captured.out)
    assert document["ok"] is True
    assert [c["status"] for c in document["checks"]] == ["pass"] * len(NAMES)
    assert document["checks"][3]["detail"].startswith("iex")
    assert exchange.secret_key not in captured.out + captured.err


def test_the_table_and_a_failing_exit_without_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli_app.main(["doctor"])
    assert exited.value.code == 2  # missing keys are configuration, as for every command
    captured = capsys.readouterr()
    out = captured.out
    assert "APCA_API_KEY_ID" in out and "fail" in out and "skip" in out
    assert "some checks failed" in out
    assert captured.err.startswith("error: keys: ") and captured.err.count("\n") == 1


async def test_a_wrong_secret_fails_without_being_printed(exchange: LocalAlpaca) -> None:
    wrong = "wrong-secret-7c1d-never-printed"
    checks = await run_checks(env=env_for(exchange, wrong), timeout=2)
    status = {c.name: c.status for c in checks}
    assert status["keys"] == "pass"
    assert status["account"] == "fail" and status["trade updates stream"] == "fail"
    details = {c.name: c.detail for c in checks}
    assert "not authorized" in details["account"]
    assert "refused" in details["trade updates stream"]
    assert all(wrong not in c.detail for c in checks)


async def test_the_feed_falls_back_to_iex_when_sip_is_not_permitted() -> None:
    with run_local_alpaca(ServerConfig(venue=TEST_VENUE, sip_allowed=False)) as local:
        auto = await run_checks(env=env_for(local), timeout=5)
        forced = await run_checks(env=env_for(local), feed="sip", timeout=5)
    assert {c.name: c.status for c in auto}["data feed"] == "pass"
    assert {c.name: c.detail for c in auto}["data feed"].startswith("iex")
    # Asked for SIP explicitly: the quotes say the subscription does not allow it.
    forced_status = {c.name: c.status for c in forced}
    forced_detail = {c.name: c.detail for c in forced}
    assert forced_status["data feed"] == "pass" and forced_detail["data feed"].startswith("sip")
    assert forced_status["quote (REST)"] == "fail"
    assert "subscription" in forced_detail["quote (REST)"]
    assert forced_status["quote stream"] == "fail"
    assert "insufficient subscription" in forced_detail["quote stream"]


class _SilentFeed:
    """A feed whose stream connects but never sends a quote."""

    def quotes(
        self, symbols: list[str], *, rest_fallback: bool = True
    ) -> AsyncGenerator[Any, None]:
        async def never() -> AsyncGenerator[Any, None]:
            await asyncio.Event().wait()
            yield None

        return never()


async def test_no_streamed_quote_is_a_warning_when_closed_and_a_failure_when_open() -> None:
    closed = await _stream_quote(_SilentFeed(), 0.05, market_open=False)  # type: ignore[arg-type]
    opened = await _stream_quote(_SilentFeed(), 0.05, market_open=True)  # type: ignore[arg-type]
    assert closed.status == "warn" and "closed" in closed.detail
    assert opened.status == "fail"
