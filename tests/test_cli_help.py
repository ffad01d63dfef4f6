"""``--help`` and ``--version``: what a person reads before running anything."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from typing import Any

import pytest
import typer

from better_orders.cli.app import app, register_commands
from cli_runner import run_cli

#: typer's type labels: ``<str>``, ``<bool>``, ``<list[Path]>``, ``<float>``...
TYPE_LABEL = re.compile(r"<[A-Za-z_][\w\[\], |]*>")


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of the app, as the words that name it."""
    paths = [prefix]
    for name, command in sorted(getattr(group, "commands", {}).items()):
        paths += command_paths(command, (*prefix, name))
    return paths


register_commands()
ALL_COMMANDS = command_paths(typer.main.get_command(app))


def help_text(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = run_cli([*path, "--help"], capsys)
    assert code == 0, err
    return out


def test_every_command_is_listed() -> None:
    names = {p[0] for p in ALL_COMMANDS if p}
    assert {"order", "rebalance", "tca", "serve", "doctor", "account", "config"} <= names
    assert ("account", "reset") in ALL_COMMANDS and ("config", "show") in ALL_COMMANDS


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "better-orders")
def test_help_shows_no_type_labels(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = help_text(path, capsys, monkeypatch)
    assert "Usage:" in text and "--help" in text
    assert not TYPE_LABEL.search(text), TYPE_LABEL.findall(text)
    # A flag is just the flag: no --no-live / --no-yes twins, no "[default: no-live]".
    assert "[default: no-" not in text


def option_line(text: str, option: str) -> str:
    return next(line for line in text.splitlines() if re.search(rf"│ {re.escape(option)}\s", line))


def test_options_show_what_to_give(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    order = help_text(("order",), capsys, monkeypatch)
    assert "Usage: better-orders order [OPTIONS] {SIDE} {SYMBOL} {QTY}" in order
    for option, metavar in (
        ("--at", "ISO"),
        ("--db", "PATH"),
        ("--seed", "N"),
        ("--quotes", "FILE"),
        ("--max-slippage-bps", "BPS"),
        ("--broker", "sim|alpaca"),
        ("--feed", "auto|sip|iex"),
    ):
        assert re.search(
            rf"{re.escape(option)}\s+{re.escape(metavar)}\s", option_line(order, option)
        )
    # Flags show no value to give.
    for flag, words in (("--json", "print"), ("--live", "trade"), ("--yes", "with")):
        assert re.search(rf"{flag}\s+{words}\b", option_line(order, flag))

    rebalance = help_text(("rebalance",), capsys, monkeypatch)
    assert "[SYMBOL=WEIGHT]..." in rebalance
    assert re.search(r"--targets\s+FILE\s", rebalance)
    assert re.search(r"--dry-run\s+show the plan", rebalance)

    tca = help_text(("tca",), capsys, monkeypatch)
    for option, metavar in (("--from", "HH:MM"), ("--every", "DURATION"), ("--report", "FILE")):
        assert re.search(rf"{re.escape(option)}\s+{re.escape(metavar)}\s", tca)
    assert re.search(r"--summary-only\s+with --json", tca)


def test_version_is_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["--version"], capsys)
    assert (code, err) == (0, "")
    assert out == f"better-orders {metadata.version('better-orders')}\n"


def test_python_dash_m_runs_the_command() -> None:
    """For cron and containers whose PATH lacks the script: ``python -m better_orders``."""
    done = subprocess.run(
        [sys.executable, "-m", "better_orders", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"better-orders {metadata.version('better-orders')}\n"


def test_version_comes_first_and_alone(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version", "order", "buy", "SPY", "1"], capsys)
    assert code == 0 and out.startswith("better-orders ") and out.count("\n") == 1
