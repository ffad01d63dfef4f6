"""``tca`` over the shared corpus in one process and on a local Dask cluster of 1 and 2 workers.

    python bench/dask_scaling.py [--data ../shared/data] [--every 1s] [--modes 1p,dask1,dask2]
                                 [--repeat N] [--no-cache]

Every quote file of the shared data folder, a decision every second 09:30-09:35,
buys and sells, the default policies: what ``better-orders tca --quotes DIR``
runs. Each mode runs in a fresh process (so its peak memory is its own):

* ``1p``: in this process, as ``tca --workers 1`` (``evaluate.run_tca``: the files
  loaded first, then each symbol-day evaluated);
* ``daskN``: a local cluster of N worker processes (``tca --workers N``,
  ``distributed.run_tca_on_cluster``), each symbol-day one task.

Prints, per mode, the wall time (from the start of the run, starting the cluster
and stopping it included, to the merged result), the time the cluster took to
start and to stop, the speed-up over one process, the peak resident memory of each
process (coordinator and workers), the CPU seconds of each (the coordinator's
without this script's imports and check), the wall time those CPU seconds imply
on free cores (``idle_estimate``) and the speed-up by it, and the load average
before and after; then checks that every mode gave the same decisions and costs.
Every process keeps quote files and the calendar in the user cache, as the command
does (``--no-cache``: nothing kept), and a first process fills it untimed. ``--repeat
N`` runs the modes N times in turn; the verdict is the median of the rounds' speed-ups.
The target: 2 workers >= 1.7x one process. On a shared machine the wall time
measures the neighbours too; the estimate does not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import time as dt_time
from datetime import timedelta
from typing import Any

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.jsonable import to_jsonable
from better_orders.core.model import Side
from better_orders.data import caches
from better_orders.tca.corpus import resolve_quote_files
from better_orders.tca.decisions import DaySource, Sizing
from better_orders.tca.decomposition import FeeSchedule
from better_orders.tca.distributed import Cluster, local_cluster, run_tca_on_cluster
from better_orders.tca.evaluate import TcaResult, Window, evaluate_day, merge_days
from better_orders.tca.policies import BUILTIN_POLICIES, DEFAULT_POLICIES
from better_orders.venues.sim.exchange import Latency
from tca_speed import data_folder

TARGET_SPEEDUP = 1.7


def usage() -> tuple[float, float]:
    """This process's peak resident memory (MB; Linux reports KiB) and CPU seconds so far."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_maxrss / 1024, u.ru_utime + u.ru_stime


def digest(result: TcaResult) -> str:
    """A fingerprint of every decision's record: equal fingerprints, equal results."""
    text = json.dumps(to_jsonable([r.as_dict() for r in result.records]), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_mode(mode: str, data: str | None, every: float, cache: bool) -> dict[str, Any]:
    """One mode, in this process: its figures as a dict."""
    if cache:  # as the command line does when it starts
        caches.use()
    days = [DaySource(f) for f in resolve_quote_files([data_folder(data)])]
    if mode == "warm":  # fill the user cache, so that every timed mode finds it as a rerun does
        for day in days:
            day.load()
        return {"mode": mode}
    policies = [BUILTIN_POLICIES[n] for n in DEFAULT_POLICIES]
    config = BetterOrdersConfig()
    window = Window(
        start=dt_time(9, 30),
        end=dt_time(9, 35),
        every=timedelta(seconds=every),
        sides=(Side.BUY, Side.SELL),
        sizing=Sizing(),
        latency=Latency(),
        within_seconds=150.0,
        fees=FeeSchedule(),
    )
    out: dict[str, Any] = {"mode": mode, "symbol_days": len(days), "load_before": os.getloadavg()}
    began = time.perf_counter()
    cpu_began = usage()[1]
    if mode == "1p":
        files = [d.load() for d in days]  # as ``tca`` does before it replays them
        results = [evaluate_day(f, policies, config, window) for f in files]
        result = merge_days(results, policies, window, wall_seconds=0.0)
        wall = time.perf_counter() - began
        out |= {"startup": 0.0, "startup_cpu": 0.0, "shutdown": 0.0, "workers": []}
    else:
        from dask.distributed import Client

        # The cluster ``tca --workers N`` starts, started here so that its workers can be
        # asked for their memory before it stops; stopping it is timed (``tca`` waits for
        # it too), asking is not.
        cluster = local_cluster(int(mode.removeprefix("dask")))
        try:
            out["startup"] = time.perf_counter() - began
            out["startup_cpu"] = usage()[1] - cpu_began
            address = str(cluster.scheduler_address)
            result = run_tca_on_cluster(days, policies, config, window, Cluster(scheduler=address))
            wall = time.perf_counter() - began
            with Client(address, set_as_default=False) as client:
                used = client.run(usage)
            out["workers"] = [used[k] for k in sorted(used)]
        finally:
            stopping = time.perf_counter()
            cluster.close()  # type: ignore[no-untyped-call]
            out["shutdown"] = time.perf_counter() - stopping
        wall += out["shutdown"]
    peak, cpu = usage()  # before the digest: it is this script's check, not the run
    out |= {
        "wall": wall,
        "coordinator": (peak, cpu - cpu_began),
        "decisions": len(result.records),
        "digest": digest(result),
        "load_after": os.getloadavg(),
    }
    return out


def idle_estimate(row: dict[str, Any], cores: int) -> float:
    """The run's wall time on ``cores`` free cores, from its CPU seconds (an estimate).

    One process: its CPU time. A cluster: the coordinator's CPU time until the workers are
    up, then the busiest worker's CPU time (its start included), plus the coordinator's
    CPU time after the start where the workers leave it no core of its own (two workers on
    two cores: half of it, as it takes turns with both).
    """
    coord = row["coordinator"][1]
    if not row["workers"]:
        return float(coord)
    n = len(row["workers"])
    shared = max(0, n + 1 - cores) / n
    after = coord - row["startup_cpu"]
    return float(row["startup_cpu"] + max(c for _, c in row["workers"]) + shared * after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="shared data folder (default $BETTER_ORDERS_DATA)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between decisions")
    parser.add_argument("--modes", default="1p,dask1,dask2", help="which runs, in this order")
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="keep nothing in the user cache (BETTER_ORDERS_CACHE): every process parses "
        "the gzip CSV files and builds the calendar",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every mode, one after the other; the speed-up is the median of the "
        "rounds' (this machine's speed drifts by a fifth from minute to minute)",
    )
    parser.add_argument("--mode", help=argparse.SUPPRESS)  # one run, in a child process
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.data, args.every, args.cache)))
        return
    rows: list[dict[str, Any]] = []
    modes = args.modes.split(",")
    for round_ in range(args.repeat):
        for mode in (["warm"] if args.cache and round_ == 0 else []) + modes:
            cmd = [sys.executable, __file__, "--mode", mode, "--every", str(args.every)]
            cmd += ["--data", args.data] if args.data else []
            cmd += [] if args.cache else ["--no-cache"]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
            if mode != "warm":
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row | {"round": round_})
    cores = os.cpu_count() or 1
    first = rows[0]
    print(
        f"tca over {first['symbol_days']} symbol-days, 09:30-09:35 every {args.every:g} s, "
        f"buys and sells, policies {','.join(DEFAULT_POLICIES)}: {first['decisions']:,} "
        f"decisions per run; {cores} cores; user cache {'on' if args.cache else 'off'}"
        + (
            f"; {args.repeat} rounds, each mode's speed-up against its round's 1p"
            if args.repeat > 1
            else ""
        )
    )
    print(
        f"{'mode':6} {'wall s':>6} {'start s':>7} {'stop s':>6} {'speed-up':>8} {'coord MB':>8} "
        f"{'worker peak MB':>14} {'coord CPU s':>11} {'worker CPU s':>12} {'idle est s':>10} "
        f"{'est speed-up':>12}  load avg before -> after"
    )
    ratios: list[tuple[float, float]] = []
    for r in rows:
        base = next((b for b in rows if b["mode"] == "1p" and b["round"] == r["round"]), None)
        speedup = f"{base['wall'] / r['wall']:.2f}x" if base else "-"
        estimate = idle_estimate(r, cores)
        est_speedup = f"{idle_estimate(base, cores) / estimate:.2f}x" if base else "-"
        if base and r["mode"] == "dask2":
            ratios.append((base["wall"] / r["wall"], idle_estimate(base, cores) / estimate))
        workers = ", ".join(f"{m:.0f}" for m, _ in r["workers"]) or "-"
        cpus = ", ".join(f"{c:.1f}" for _, c in r["workers"]) or "-"
        before, after = r["load_before"], r["load_after"]
        print(
            f"{r['mode']:6} {r['wall']:6.1f} {r['startup']:7.1f} {r['shutdown']:6.1f} "
            f"{speedup:>8} {r['coordinator'][0]:8.0f} {workers:>14} {r['coordinator'][1]:11.1f} "
            f"{cpus:>12} {estimate:10.1f} {est_speedup:>12}  {before[0]:.2f} -> {after[0]:.2f}"
        )
    same = len({r["digest"] for r in rows}) == 1
    print(f"same decisions and costs in every mode: {'yes' if same else 'NO'}")
    if ratios:
        wall = statistics.median(w for w, _ in ratios)
        estimate = statistics.median(e for _, e in ratios)
        verdict = "met" if wall >= TARGET_SPEEDUP else "not met"
        of = f"median of {len(ratios)} rounds, " if len(ratios) > 1 else ""
        print(
            f"target 2 workers >= {TARGET_SPEEDUP}x one process: {wall:.2f}x by the wall "
            f"clock ({of}{verdict}); {estimate:.2f}x on {cores} free cores by the CPU seconds"
        )
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
