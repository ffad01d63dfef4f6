"""Alerts through Apprise to a local SMTP server and a local webhook that the tests start;
what a run says, that a failing destination changes nothing, and that the secrets in
the URLs never reach logs, the journal or error messages."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench_modules import load_bench
from better_orders.core.errors import ConfigError
from better_orders.core.secret_urls import Scrubber, mask_url
from better_orders.engine.alerts import Alert, AlertLevel, Alerts, combined
from cli_runner import run_cli

SECRET = "T0kenXyz987"
PASSWORD = "S3cretPass"


receivers = load_bench("alerts_latency")


@pytest.fixture
def hook() -> Iterator[Any]:
    with receivers.WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[Any]:
    with receivers.SmtpReceiver(password=PASSWORD) as receiver:
        yield receiver


def texts(receiver: Any) -> list[str]:
    return [json.dumps(payload) for _, payload in receiver.received.items]


def test_an_alert_reaches_the_smtp_server_and_the_webhook(hook: Any, smtp: Any) -> None:
    alerts = Alerts([hook.url(f"bo:{SECRET}@"), smtp.url()])
    alert = Alert("result", "Better Orders: run completed", "[m1] traded $1,000.00")
    alerts.send(alert)
    assert hook.received.wait_for(["[m1]"], timeout=30)
    assert smtp.received.wait_for(["[m1]"], timeout=30)
    alerts.close()
    (payload,) = [p for _, p in hook.received.items]
    assert payload["title"] == "Better Orders: run completed"
    assert "[m1] traded $1,000.00" in payload["message"]
    (mail,) = [p for _, p in smtp.received.items]
    assert "Subject: Better Orders: run completed" in mail and "ops@example.com" in mail
    assert [d.delivered for d in alerts.deliveries] == [1, 1]


def test_alerts_sent_together_go_out_as_one_message() -> None:
    start = Alert("result", "run completed", "traded", AlertLevel.SUCCESS)
    worse = Alert("incomplete", "1 leg left incomplete", "SPY: 3 unfilled", AlertLevel.WARNING)
    one = combined([start, worse])
    assert one.level is AlertLevel.WARNING and one.title.startswith("1 leg left incomplete")
    assert "traded" in one.body and "SPY: 3 unfilled" in one.body and one.at == start.at


def test_a_failing_destination_never_fails_or_delays_the_sender(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered, release = threading.Event(), threading.Event()
    url = f"json://bo:{SECRET}@127.0.0.1:9/hook"

    def stuck_then_failing(target: str, alert: Alert) -> bool:
        entered.set()
        release.wait(30)
        raise OSError(f"cannot reach {target} with {SECRET}")

    alerts = Alerts([url], sender=stuck_then_failing)
    with caplog.at_level(logging.WARNING):
        alerts.send(Alert("start", "t", "b"))
        assert entered.wait(30)  # the destination is stuck, and send() has long returned
        alerts.send(Alert("result", "t", "b"))
        release.set()
        alerts.close()
    assert alerts.deliveries[0].failed == 2
    assert "not delivered" in caplog.text and "json://****@127.0.0.1:9/****" in caplog.text
    assert SECRET not in caplog.text


def run_args(db: Path, targets: Path, *more: str) -> list[str]:
    return [
        "run", "--at", "close-15m", "--targets", str(targets), "--once",
        "--now", "2026-11-27T12:45:00", "--db", str(db), *more,
    ]  # fmt: skip


@pytest.fixture
def targets(tmp_path: Path) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text("[targets]\nSPY = 0.5\nTQQQ = 0.4\n", encoding="utf-8")
    return path


def test_a_run_alerts_its_start_result_and_cost(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    hook: Any,
    smtp: Any,
    tmp_path: Path,
    targets: Path,
) -> None:
    monkeypatch.setenv("BETTER_ORDERS_ALERTS__COST_BPS_OVER", "-1000")
    monkeypatch.setenv("BETTER_ORDERS_ALERTS__URLS", smtp.url())
    db = tmp_path / "j.sqlite3"
    code, _out, err = run_cli(run_args(db, targets, "--alert", hook.url()), capsys)
    assert code == 0, err
    for receiver in (hook, smtp):
        assert receiver.received.wait_for(["started at", "completed: traded", "bps vs arrival"], 30)
    got = " ".join(texts(hook))
    assert "the close-15m run of 2026-11-27 for sim paper (run 20261127T124500-" in got
    assert "above alerts.cost_bps_over -1000 bps" in got


def test_rejects_and_incomplete_legs_are_alerted(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    hook: Any,
    tmp_path: Path,
    targets: Path,
) -> None:
    # A price band no limit can keep within: every order is refused before it is sent.
    monkeypatch.setenv("BETTER_ORDERS_RISK__PRICE_BAND_PCT", "0.0001")
    code, _out, _err = run_cli(
        run_args(tmp_path / "j.sqlite3", targets, "--alert", hook.url()), capsys
    )
    assert code != 0
    assert hook.received.wait_for(["order(s) rejected", "leg(s) left incomplete"], 30)
    got = " ".join(texts(hook))
    assert "price_band_pct" in got and "unfilled" in got


@pytest.mark.parametrize(
    ("setup", "title"),
    # A targets command that fails sent nothing: refused, not failed.
    [("kill_switch", "kill switch"), ("guard", "run refused"), ("bad_command", "run refused")],
)
def test_refusals_failures_and_the_kill_switch_are_alerted(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    hook: Any,
    tmp_path: Path,
    targets: Path,
    setup: str,
    title: str,
) -> None:
    db = tmp_path / "j.sqlite3"
    args = run_args(db, targets, "--alert", hook.url())
    if setup == "kill_switch":
        (tmp_path / "stop").touch()
        monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(tmp_path / "stop"))
    elif setup == "guard":
        args += ["--max-deployed", "0.5"]
    else:
        args = [a if a != str(targets) else "x" for a in args]
        args[args.index("--targets")] = "--targets-cmd"
        args[args.index("x")] = f"{sys.executable} -c 'raise SystemExit(2)'"
    code, _out, _err = run_cli(args, capsys)
    assert code != 0
    assert hook.received.wait_for([f"Better Orders: {title}"], 30), texts(hook)
    if setup == "bad_command":
        assert "refused before any order" in " ".join(texts(hook))


def test_secrets_in_alert_urls_reach_no_log_journal_or_message(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    targets: Path,
) -> None:
    dead = f"json://bo:{SECRET}@127.0.0.1:{receivers.free_port()}/hooks/{SECRET}"
    db = tmp_path / "j.sqlite3"
    with caplog.at_level(logging.DEBUG):
        code, out, err = run_cli(run_args(db, targets, "--alert", dead), capsys)
    # The destination is down: the run is not failed by it, and says so, masked.
    assert code == 0, err
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = "\n".join(r.getMessage() for r in ours)
    assert "not delivered" in logged and "json://****@127.0.0.1:" in logged
    journal = b"".join(p.read_bytes() for p in tmp_path.glob("j.sqlite3*"))
    for seen in (logged, out, err, journal.decode("latin-1")):
        assert SECRET not in seen
    # A URL Apprise cannot read is refused at start, masked.
    code, out, err = run_cli(
        run_args(db, targets, "--alert", f"nosuch://bo:{PASSWORD}@example.com"), capsys
    )
    assert code != 0 and "nosuch://****@example.com" in err and PASSWORD not in err


def test_config_show_masks_alert_urls(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BETTER_ORDERS_ALERTS__URLS", f"tgram://123456:{SECRET}/777,json://h.io/x")
    for args in (["config", "show"], ["config", "show", "--json"]):
        code, out, err = run_cli(args, capsys)
        assert code == 0, err
        assert SECRET not in out and "tgram://****/****" in out


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "mailto://bob:pw@smtp.example.com:587?to=a@b.c",
            "mailto://****@smtp.example.com:587?****",
        ),
        ("slack://TokenA/TokenB/TokenC/#general", "slack://****/****"),
        ("tgram://123456789:ABCdef/12345", "tgram://****/****"),
        ("json://localhost:8080", "json://localhost:8080"),
        ("not a url", "****"),
        ("bo:pw1234@example.com://hook", "****"),  # no scheme before the ://
    ],
)
def test_urls_are_shown_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_the_scrubber_removes_every_secret_part_from_text() -> None:
    url = f"discord://{SECRET}/{PASSWORD}?avatar=no"
    scrub = Scrubber([url])
    text = f"failed: {url}; token {SECRET} rejected; webhook {PASSWORD} gone"
    cleaned = scrub(text)
    assert SECRET not in cleaned and PASSWORD not in cleaned and "discord://****" in cleaned


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            f"nosuch://bo:{PASSWORD}@example.com",
            "alert URL nosuch://****@example.com: Apprise has no nosuch:// service",
        ),
        (f"mailto://bo:{PASSWORD}@", "alert URL mailto://****@****: not a valid E-Mail URL"),
        (f"tgram://{SECRET}", "alert URL tgram://****: not a valid Telegram URL"),
        (f"{SECRET}@example.com", "alert URL ****: not a URL"),
        (f"bo:{PASSWORD}@example.com://hook", "alert URL ****: not a URL"),
    ],
)
def test_an_unreadable_url_is_a_config_error_saying_why(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        Alerts([url])
    assert str(error.value).startswith(problem)
    assert PASSWORD not in str(error.value) and SECRET not in str(error.value)


def test_a_dry_run_refuses_an_unusable_alert_url_as_the_run_does(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    targets: Path,
) -> None:
    """A dry run vouches for an unattended setup: it refuses what the run would refuse."""
    monkeypatch.setenv("BETTER_ORDERS_ALERTS__URLS", f"tgram://{SECRET}")
    db = tmp_path / "j.sqlite3"
    dry = run_args(db, targets, "--alert", f"nosuch://bo:{PASSWORD}@example.com")
    dry[dry.index("--once")] = "--dry-run"
    expected = (
        "error: alert URL tgram://****: not a valid Telegram URL (see "
        "https://appriseit.com/services/telegram/); alert URL nosuch://****@example.com: "
        "Apprise has no nosuch:// service (see https://github.com/caronc/apprise/wiki)"
    )
    for args in (dry, run_args(db, targets, "--alert", f"nosuch://bo:{PASSWORD}@example.com")):
        with caplog.at_level(logging.DEBUG):
            code, out, err = run_cli(args, capsys)
        assert (code, out) == (2, "")
        assert " ".join(err.split()) == expected
        for seen in (err, caplog.text):
            assert SECRET not in seen and PASSWORD not in seen
    assert not list(tmp_path.glob("j.sqlite3*"))  # nothing ran
