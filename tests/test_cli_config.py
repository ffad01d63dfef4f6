"""``better-orders config show`` and ``config init``: JSON, provenance, refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import better_orders.config.paths as paths_module
from better_orders.cli.app import main
from better_orders.config.loader import load_config
from better_orders.config.settings import BetterOrdersConfig
from better_orders.config.starter import starter_toml


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in list(os.environ):
        if name.upper().startswith("BETTER_ORDERS_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(paths_module, "user_config_dir", lambda app: str(tmp_path / "no-home"))


def run(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def show_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert run("config", "show", "--json", *args) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_show_json_reports_values_and_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("max_slippage_bps = 12.5\n[ladder]\nmax_repegs = 3\n", encoding="utf-8")
    monkeypatch.setenv("BETTER_ORDERS_LADDER__MAX_REPEGS", "4")
    doc = show_json(capsys, "--config", str(cfg))
    assert set(doc) == {"config", "sources", "kill_switch"}
    assert doc["config"]["ladder"]["max_repegs"] == 4
    assert doc["config"]["max_slippage_bps"] == "12.5"  # exact, as a string
    assert doc["config"]["mode"] == "auto"
    assert doc["sources"]["ladder.max_repegs"] == "env:BETTER_ORDERS_LADDER__MAX_REPEGS"
    assert doc["sources"]["max_slippage_bps"] == f"file:{cfg}"
    assert doc["sources"]["spread.wide_cents"] == "default"


def test_show_json_finds_the_local_file(capsys: pytest.CaptureFixture[str]) -> None:
    local = Path.cwd() / "better-orders.toml"
    local.write_text('mode = "off"\n', encoding="utf-8")
    doc = show_json(capsys)
    assert doc["config"]["mode"] == "off"
    assert doc["sources"]["mode"] == f"file:{local}"


def test_show_table_lists_every_field_with_its_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BETTER_ORDERS_MODE", "off")
    monkeypatch.setenv("COLUMNS", "200")
    assert run("config", "show") == 0
    out = capsys.readouterr().out
    for field in load_config().sources:
        assert field in out
    mode_line = next(line for line in out.splitlines() if " mode " in line)
    assert "off" in mode_line and mode_line.split("│")[-2].strip() == "env"
    # The variable is named under the table, where it has room.
    assert "env: BETTER_ORDERS_MODE" in out


def test_show_reports_the_kill_switch_in_force_and_whether_it_is_engaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert show_json(capsys)["kill_switch"] == {"path": None, "source": None, "engaged": False}
    assert run("config", "show") == 0
    assert "kill switch: none" in capsys.readouterr().out

    # The file's setting, then the variable over it, as every trading command resolves it.
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[risk]\nkill_switch_file = "{tmp_path / "halt"}"\n', encoding="utf-8")
    doc = show_json(capsys, "--config", str(cfg))
    assert doc["kill_switch"] == {
        "path": str(tmp_path / "halt"),
        "source": f"file:{cfg}",
        "engaged": False,
    }
    stop = tmp_path / "STOP"
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(stop))
    doc = show_json(capsys, "--config", str(cfg))
    assert doc["kill_switch"] == {
        "path": str(stop),
        "source": "env:BETTER_ORDERS_KILL_SWITCH",
        "engaged": False,
    }
    assert run("config", "show", "--config", str(cfg)) == 0
    assert (
        f"kill switch: {stop}, from env:BETTER_ORDERS_KILL_SWITCH: off" in capsys.readouterr().out
    )

    stop.touch()
    assert show_json(capsys, "--config", str(cfg))["kill_switch"]["engaged"] is True
    assert run("config", "show", "--config", str(cfg)) == 0
    out = capsys.readouterr().out
    assert (
        f"kill switch: {stop}, from env:BETTER_ORDERS_KILL_SWITCH: ENGAGED (the file exists: "
        "no order is sent)" in out
    )


def test_show_bad_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[ladder]\nmax_repegs = -1\n", encoding="utf-8")
    assert run("config", "show", "--config", str(cfg)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = " ".join(captured.err.split())  # undo console wrapping
    assert f"config error in file:{cfg}: ladder.max_repegs" in err
    assert "(got -1)" in err
    assert "Traceback" not in captured.err


def test_show_refuses_one_symbol_in_two_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        "[symbols.tqqq]\nmax_slippage_bps = 30\n[symbols.TQQQ]\nmax_slippage_bps = 5\n",
        encoding="utf-8",
    )
    assert run("config", "show", "--config", str(cfg)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "[symbols.tqqq] and [symbols.TQQQ] are the same symbol" in " ".join(captured.err.split())


def test_show_missing_file_and_unknown_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("config", "show", "--config", str(tmp_path / "nope.toml")) == 2
    assert "file not found" in capsys.readouterr().err

    monkeypatch.setenv("BETTER_ORDERS_LADDER__MAX_REPEG", "3")
    assert run("config", "show", "--json") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "BETTER_ORDERS_LADDER__MAX_REPEG" in captured.err


def test_init_writes_a_starter_that_loads_to_the_defaults(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "dir" / "config.toml"
    assert run("config", "init", str(target)) == 0
    assert target.read_text(encoding="utf-8") == starter_toml()
    loaded = load_config(target, env={})
    assert loaded.config == BetterOrdersConfig()


def test_init_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.toml"
    target.write_text("# mine\n[ladder]\nmax_repegs = 7\n", encoding="utf-8")
    assert run("config", "init", str(target)) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    assert target.read_text(encoding="utf-8") == "# mine\n[ladder]\nmax_repegs = 7\n"

    assert run("config", "init", str(target), "--force") == 0
    assert target.read_text(encoding="utf-8") == starter_toml()


def test_init_refuses_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("config", "init", str(tmp_path)) == 2
    assert "is a directory" in capsys.readouterr().err
