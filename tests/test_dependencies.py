"""Dependencies: declared exactly, extras loaded only by the commands that need them, and a
missing extra named in one line instead of a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from better_orders.cli.extras import EXTRA_MODULES, MissingExtraError
from cli_runner import run_cli

ROOT = Path(__file__).resolve().parents[1]
#: Libraries that only an extra brings; the base commands must not load them.
EXTRA_LIBRARIES = {"alpaca", "requests", "httpx", "starlette", "uvicorn", "websockets", "msgpack"}
EXTRA_LIBRARIES |= {"matplotlib", "plotly", "apprise", "dask", "distributed"}
#: Import names of distributions whose import name is not their own name.
IMPORT_NAMES = {"alpaca-py": "alpaca"}


def test_deptry_finds_nothing_undeclared_or_unused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deptry", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No dependency issues found" in done.stdout + done.stderr


def test_extras_in_pyproject_are_the_ones_the_cli_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    for extra, modules in EXTRA_MODULES.items():
        names = [re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0] for req in extras[extra]]
        assert sorted(IMPORT_NAMES.get(n, n.replace("-", "_")) for n in names) == sorted(modules)
    # [dev] pulls every extra, so `pip install -e '.[dev]'` still installs everything.
    assert f"better-orders[{','.join(EXTRA_MODULES)}]" in extras["dev"]
    declared = " ".join(project["dependencies"])
    assert not any(lib in declared for lib in EXTRA_LIBRARIES)


def imported_by(args: list[str]) -> set[str]:
    """Top-level modules that ``better-orders ARGS`` imports (``python -X importtime``)."""
    code = "from better_orders.cli.app import main; main()"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", done.stderr, re.MULTILINE)
    assert names, done.stderr[-2000:]
    return {n.partition(".")[0] for n in names}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["order", "--help"],
        ["serve", "--help"],
        ["doctor", "--help"],
        ["tca", "--help"],
        ["data", "fetch", "--help"],
    ],
)
def test_help_does_not_load_the_extras(args: list[str]) -> None:
    assert not imported_by(args) & EXTRA_LIBRARIES


def test_a_simulated_order_does_not_load_the_extras(tmp_path: Path) -> None:
    db = str(tmp_path / "j.sqlite3")
    args = ["order", "buy", "SPY", "1", "--at", "2026-11-24T09:30:00", "--db", db, "--json"]
    assert not imported_by(args) & EXTRA_LIBRARIES


# Runs the command with the extras' libraries made unimportable, as in a base install.
WITHOUT_EXTRAS = """
import sys

class Missing:
    blocked = set(sys.argv.pop(1).split(","))

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in cls.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing)
from better_orders.cli.app import main
main()
"""


def without_extras(args: list[str]) -> subprocess.CompletedProcess[str]:
    blocked = ",".join(sorted({m for mods in EXTRA_MODULES.values() for m in mods}))
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, blocked, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_base_install_trades_on_the_simulator(tmp_path: Path) -> None:
    db = str(tmp_path / "j.sqlite3")
    assert without_extras(["--help"]).returncode == 0
    done = without_extras(["order", "buy", "SPY", "2", "--at", "2026-11-24T09:30:00", "--db", db])
    assert done.returncode == 0, done.stderr
    assert "done: filled 2/2" in done.stdout
    done = without_extras(["rebalance", "SPY=0.5", "--at", "2026-11-25T09:30:00", "--db", db])
    assert done.returncode == 0, done.stderr
    assert "result" in done.stdout


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["serve"], "server"),
        (["doctor"], "alpaca"),
        (["order", "buy", "SPY", "1", "--broker", "alpaca"], "alpaca"),
        (["rebalance", "SPY=0.5", "--broker", "alpaca"], "alpaca"),
        (["reconcile", "--broker", "alpaca"], "alpaca"),
        (["account", "--broker", "alpaca"], "alpaca"),
        (["tca", "--quotes", "q.csv.gz", "--report", "r.html"], "tca"),
        (["tca", "--quotes", "q.csv.gz", "--png", "charts"], "tca"),
        (["tca", "--quotes", "q.csv.gz", "--scheduler", "tcp://127.0.0.1:8786"], "dask"),
        (["data", "fetch", "TQQQ", "--start", "2026-11-24"], "data"),
        (["data", "import", "q.csv.gz"], "data"),
        (["run", "--at", "open", "--targets", "t.toml", "--once", "--alert", "json://h"], "alerts"),
        (
            ["run", "--at", "open", "--targets", "t.toml", "--dry-run", "--alert", "json://h"],
            "alerts",
        ),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(args: list[str], extra: str) -> None:
    done = without_extras(args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert f"needs the {extra} extra" in lines[0]
    assert lines[0].endswith(f"pip install 'better-orders[{extra}]'")


def test_an_unchecked_import_of_an_extra_is_reported_the_same_way(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import better_orders.cli.cmd_phase as cmd_phase

    def missing() -> None:
        raise ModuleNotFoundError("No module named 'matplotlib.figure'", name="matplotlib.figure")

    monkeypatch.setattr(cmd_phase, "default_calendar", missing)
    code, out, err = run_cli(["phase"], capsys)
    assert code == 1 and out == ""
    assert err.strip().endswith("pip install 'better-orders[tca]'")
    assert "matplotlib is not installed" in err


def test_other_missing_modules_are_not_blamed_on_an_extra() -> None:
    assert MissingExtraError.from_import_error(ModuleNotFoundError(name="nope")) is None
    found = MissingExtraError.from_import_error(ModuleNotFoundError(name="uvicorn.config"))
    assert found is not None and found.extra == "server"


def test_a_parquet_dataset_without_pyarrow_names_the_extra_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["data", "examples", "--paths"], capsys)
    assert code == 0
    (ibm,) = [line for line in out.splitlines() if "IBM" in line]
    dataset = str(tmp_path / "ds")
    assert run_cli(["data", "import", ibm, "--dataset", dataset], capsys)[0] == 0
    monkeypatch.setenv("BETTER_ORDERS_CACHE", "off")  # read the file itself, not a parsed copy
    at = ["--at", "2013-10-07T09:30:10", "--db", str(tmp_path / "j.sqlite3")]
    for args in (
        ["order", "buy", "IBM", "10", "--quotes", dataset, *at],
        ["tca", "--quotes", dataset],
    ):
        done = without_extras(args)
        assert done.returncode == MissingExtraError.exit_code == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "(pyarrow is not installed)" in lines[0], done.stderr
        assert lines[0].endswith("pip install 'better-orders[tca]'")
