"""``tca`` and ``tca tune`` on a Dask cluster: the same results as in one process, whichever
cluster (a local one started for the run, or one already running at ``--scheduler``)."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from better_orders.cli.tca_options import MIN_PARENTS_FOR_A_CLUSTER, dask_cluster
from better_orders.core import xnys
from better_orders.core.errors import InvalidInputError
from better_orders.data import calendar_cache, quote_cache
from better_orders.tca import distributed
from better_orders.tca.distributed import Cluster, cores, local_cluster
from cli_runner import run_cli

pytestmark = pytest.mark.realdata

#: Two symbol-days with their trades files, one decision every 5 s for a minute: seconds.
DAYS = ("lean_IBM_20131007_l1.csv.gz", "lean_IBM_20131008_l1.csv.gz")
WINDOW = ["--from", "09:30", "--to", "09:31", "--every", "5s"]
#: What differs between two identical runs: how long they took and where they ran.
TIMINGS = ("wall_seconds", "cpu_seconds", "jobs")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a running Dask cluster (one worker) on the loopback interface."""
    with local_cluster(1) as cluster:
        yield str(cluster.scheduler_address)


def tca_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run_cli([*args, "--json"], capsys)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    for key in TIMINGS:
        data.pop(key, None)
    return data


#: The run's timing in the note under the tables: "192 decisions in 4.8 s (40/s)".
TIMING = re.compile(r"\S+ decisions in [\d.]+ s \(\d+/s\)")


def tables(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The tables and notes printed, the timing left out and every run of white space made one
    blank: the timing's width moves where the note around it wraps."""
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    text = " ".join(out.split())
    assert TIMING.search(text), text
    return TIMING.sub("", text)


def test_tca_on_a_cluster_gives_what_one_process_gives(
    quotes_dir: Path,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Relative paths: the workers get absolute ones, the results name them as given.
    monkeypatch.chdir(quotes_dir)
    args = ["tca", "--quotes", *DAYS, *WINDOW]
    here = tca_json([*args, "--workers", "1"], capsys)
    assert len(here["decisions"]) == 2 * 12 * len(here["policies"]) * 2
    assert here["files"][0]["trades"] == "lean_IBM_20131007_trades.csv.gz"
    assert tca_json([*args, "--workers", "2"], capsys) == here
    assert tca_json([*args, "--scheduler", scheduler], capsys) == here
    # The tables too, printed as the results arrive with a progress bar.
    shown = tables([*args, "--workers", "1"], capsys)
    assert "IBM 2013-10-08" in shown
    assert tables([*args, "--scheduler", scheduler], capsys) == shown


def test_tune_on_a_cluster_gives_what_one_process_gives(
    quotes_dir: Path, scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["tca", "tune", "--quotes", *(str(quotes_dir / d) for d in DAYS), *WINDOW[:4]]
    args += ["--every", "10s", "--param", "timing.rest_fraction=0,0.5", "--resamples", "50"]
    here = tca_json([*args, "--workers", "1"], capsys)
    assert len(here["candidates"]) == 3 and here["cells"] == 8  # base, 0, 0.5; and market
    assert tca_json([*args, "--scheduler", scheduler], capsys) == here
    assert tca_json([*args, "--workers", "2"], capsys) == here


def _worker_caches(_: object) -> tuple[int, bool, bool]:
    return os.getpid(), quote_cache.enabled(), calendar_cache.installed()


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("kept", [True, False])
def test_workers_keep_quotes_and_the_calendar_as_the_command_does(
    method: str, kept: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker that ignored the user cache would parse every gzip CSV again and build the
    # calendar with pandas; one that used it against the user's choice would write there.
    monkeypatch.setattr(distributed, "start_method", lambda: method)
    monkeypatch.setattr(quote_cache, "_enabled", kept)
    monkeypatch.setattr(xnys, "_keeper", calendar_cache.keep if kept else None)
    with local_cluster(1) as cluster:
        where = Cluster(scheduler=str(cluster.scheduler_address))
        [(pid, quotes, calendar)] = distributed.map_in_order(_worker_caches, [None], where)
    assert pid != os.getpid()
    assert (quotes, calendar) == (kept, kept)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("address", [f"tcp://127.0.0.1:{free_port()}", "no-port-here"])
def test_an_unreachable_scheduler_is_one_line_and_nothing_runs(
    address: str,
    quotes_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", 2.0)
    monkeypatch.setattr(distributed, "evaluate_day_task", _never)
    args = ["tca", "--quotes", str(quotes_dir / DAYS[0]), *WINDOW, "--scheduler", address]
    code, out, err = run_cli(args, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: --scheduler: cannot reach a Dask scheduler at {address}")


def _never(*_: object) -> None:
    raise AssertionError("nothing should run")


def test_the_cluster_chosen_by_default_and_by_the_options() -> None:
    # By default a worker per core (no more than there are symbol-days), from two days on,
    # when there is enough work to repay starting them.
    enough = MIN_PARENTS_FOR_A_CLUSTER
    two = None if cores() < 2 else Cluster(workers=2)
    assert dask_cluster(None, None, 1, enough * 10) is None
    assert dask_cluster(None, None, 2, enough) == two
    assert dask_cluster(None, None, 2, enough - 1) is None
    assert dask_cluster(None, None, 50, enough) == (two and Cluster(workers=cores()))
    assert dask_cluster(1, None, 50, enough) is None  # in this process
    assert dask_cluster(3, None, 2, 1) == Cluster(workers=3)
    assert dask_cluster(None, "tcp://h:8786", 1, 1) == Cluster(scheduler="tcp://h:8786")
    with pytest.raises(InvalidInputError, match="--workers must be at least 1"):
        dask_cluster(0, None, 2, enough)
    with pytest.raises(InvalidInputError, match="give --workers or --scheduler, not both"):
        dask_cluster(2, "tcp://h:8786", 2, enough)


def test_tca_help_states_when_a_cluster_starts_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(["tca", "--help"], capsys)
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())
    assert code == 0
    assert (
        "default one per core when there are two symbol-days or more and "
        f"{MIN_PARENTS_FOR_A_CLUSTER:,} parent orders to replay" in text
    )
