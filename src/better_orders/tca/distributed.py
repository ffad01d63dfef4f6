"""Many symbol-days on a Dask cluster: a local one (a worker per core) or one already running.

One unit of work is one symbol-day: with the policies to compare (``tca``), or
with one candidate (``tca tune``'s cells). It travels as the quote file's path and
the parameters; the worker loads the file itself, so no quotes cross the wire,
only the results coming back (``evaluate.DayResult``, ``tune.CellResult``), packed
by ``wire`` (a third of pickle's time to unpack, on the process that merges them).
A cluster started elsewhere (``Cluster.scheduler``) must see the files at the
same paths and have this package installed.

Results are put back in the order of the tasks whatever order they finish in,
so a run on a cluster gives exactly what the same run in one process gives.
The largest files are handed out first, each to the first worker free: the last
to finish is then a small one, and two workers are not left waiting on one of them.

Dask is the ``dask`` extra: it is imported inside the functions that use it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import urlsplit

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.data import caches
from better_orders.data.dataset import find_trades_file
from better_orders.tca.bootstrap import Resampler
from better_orders.tca.decisions import DaySource
from better_orders.tca.evaluate import DayResult, TcaResult, Window, evaluate_day, merge_days
from better_orders.tca.policies import Policy
from better_orders.tca.wire import pack, unpack

if TYPE_CHECKING:
    from dask.distributed import Client, LocalCluster

_T = TypeVar("_T")
_R = TypeVar("_R")


def dask_installed() -> bool:
    """Whether the ``dask`` extra is installed (without importing it: that takes a second)."""
    return all(importlib.util.find_spec(m) is not None for m in ("dask", "distributed"))


def cores() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


#: Seconds to wait for a running cluster's scheduler to answer.
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where the work runs: a local cluster of ``workers`` processes, or one at ``scheduler``."""

    workers: int = 1
    scheduler: str | None = None

    def __str__(self) -> str:
        if self.scheduler is not None:
            return f"the Dask cluster at {self.scheduler}"
        return f"a local Dask cluster of {self.workers} worker(s)"


def _unreachable(address: str, reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"--scheduler: cannot reach a Dask scheduler at {address} ({reason}); nothing was run"
    )


def _probe(address: str) -> None:
    """Fail fast, in one line, on an address nothing listens at: a Dask client would retry
    until its timeout and then print its own tracebacks as it is collected."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise _unreachable(address, str(exc)) from None
    if not host or port is None:
        raise _unreachable(address, "give it as tcp://HOST:PORT")
    if parts.scheme in ("tcp", "tls"):
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise _unreachable(address, exc.strerror or str(exc) or type(exc).__name__) from None


#: Dask settings for a local cluster, whose scheduler and worker event loops share the
#: cores with the replay: what serves no one here is off or rarer.
LOCAL_SETTINGS = {
    # The workers' statistical profiler samples the replay's stack a hundred times a
    # second, for a dashboard nobody looks at here: about a tenth of a core.
    "distributed.worker.profile.enabled": False,
    # A task to a worker only when it is free, so the next largest goes to the first free
    # worker (by default a worker holds a second one it may reach last), and nothing to steal.
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.work-stealing": False,
    # The event-loop health tick (50 a second by default, in every server) and the psutil
    # monitor (host disk and network counters twice a second) feed dashboards only.
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.disk": False,
}


def start_method() -> str:
    """How a local cluster's worker processes are started: forked on Linux, else spawned.

    A spawned worker starts a fresh interpreter and imports Dask and this package again
    (about a second of a core each) and, as it stops, tears them all down again; a
    forked one is a copy of this process with all of that already loaded, up in tenths
    of a second, and leaves without the teardown. The coordinating process runs Dask's
    event loop on threads of its own when it forks; the children start their own loop
    and use none of what those threads hold. macOS keeps spawn: its system libraries are
    not safe to use in a forked child.
    """
    return "fork" if sys.platform == "linux" else "spawn"


def local_cluster(workers: int) -> LocalCluster:
    """A Dask cluster of ``workers`` single-threaded processes on the loopback interface."""
    import dask
    from dask.distributed import LocalCluster

    method = start_method()
    # The workers take the settings in force when they are started.
    with (
        dask.config.set(LOCAL_SETTINGS | {"distributed.worker.multiprocessing-method": method}),
        warnings.catch_warnings(),
    ):
        # Python 3.12+ warns on every fork of a process with threads (above: deliberate).
        warnings.filterwarnings(
            "ignore", r".*use of fork\(\) may lead to deadlocks", DeprecationWarning
        )
        return LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # No dashboard; the scheduler's own HTTP server on any free port.
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            # Workers hold a file or two and no results: nothing to spill, no one to pause.
            memory_limit=0,
            # A task's error reaches the caller; what workers log as the cluster stops
            # (a heartbeat to a scheduler already gone) is noise.
            silence_logs=logging.CRITICAL,
        )


@contextmanager
def connect(cluster: Cluster) -> Iterator[Client]:
    """A client of ``cluster``: of the one at its address, or of a local one started (and
    stopped) here, listening on the loopback interface only."""
    from dask.distributed import Client

    if cluster.scheduler is None:
        with (
            local_cluster(cluster.workers) as local,
            Client(local, set_as_default=False) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    _probe(cluster.scheduler)
    try:
        client = Client(  # type: ignore[no-untyped-call]
            cluster.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False
        )
    except Exception as exc:  # whatever answered there is no Dask scheduler
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _unreachable(cluster.scheduler, reason) from None
    with client:
        yield client


@dataclass(frozen=True, slots=True)
class _Packed(Generic[_T, _R]):
    """``fn`` with its result packed (``wire.pack``) in the worker, as it is sent back.

    ``keep_cache``: the worker keeps parsed quote files and the calendar in its user cache
    (``data.caches``), as the process that sent the task
    does. Without them each worker would parse every gzip CSV again, importing pyarrow,
    and build the calendar with pandas: a second or more per worker, every run.
    """

    fn: Callable[[_T], _R]
    keep_cache: bool = False

    def __call__(self, task: _T) -> bytes:
        caches.use(self.keep_cache)
        return pack(self.fn(task))


def map_in_order(
    fn: Callable[[_T], _R],
    tasks: Sequence[_T],
    cluster: Cluster,
    *,
    weights: Sequence[float] | None = None,
    done: Callable[[_R], None] | None = None,
) -> list[_R]:
    """``fn`` of every task on ``cluster``, in the tasks' order; heaviest tasks start first.

    ``done`` is called with each result as it arrives. A task's error is raised here,
    and the tasks still pending are dropped with the client.
    """
    from dask.distributed import as_completed

    order = sorted(range(len(tasks)), key=lambda k: (-(weights[k] if weights else 0.0), k))
    out: dict[int, _R] = {}
    packed = _Packed(fn, keep_cache=caches.in_use())
    with connect(cluster) as client:
        futures = {
            client.submit(packed, tasks[k], pure=False, priority=len(order) - rank): k
            for rank, k in enumerate(order)
        }
        for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
            result: _R = unpack(future.result())
            future.release()
            out[futures[future]] = result
            if done is not None:
                done(result)
    return [out[k] for k in range(len(tasks))]


def file_weight(path: Path) -> float:
    """How much work a symbol-day's file is, roughly: its size on disk."""
    try:
        return float(path.stat().st_size)
    except OSError:
        return 0.0


@dataclass(frozen=True, slots=True)
class DayTask:
    """One symbol-day and every policy to replay on it, as a worker receives it."""

    source: DaySource
    policies: tuple[Policy, ...]
    config: BetterOrdersConfig
    window: Window


def evaluate_day_task(task: DayTask) -> DayResult:
    """Load the task's symbol-day (in the worker) and evaluate it (``evaluate.evaluate_day``)."""
    return evaluate_day(task.source.load(), task.policies, task.config, task.window)


def run_tca_on_cluster(
    days: Sequence[DaySource],
    policies: Sequence[Policy],
    config: BetterOrdersConfig,
    window: Window,
    cluster: Cluster,
    *,
    resampler: Resampler = Resampler(),
    done: Callable[[DayResult], None] | None = None,
) -> TcaResult:
    """``evaluate.run_tca`` with each symbol-day on a worker of ``cluster``; the same result."""
    started = time.perf_counter()
    sent = [d.resolved() for d in days]
    tasks = [DayTask(s, tuple(policies), config, window) for s in sent]
    results = map_in_order(
        evaluate_day_task,
        tasks,
        cluster,
        weights=[file_weight(s.path) for s in sent],
        done=done,
    )
    # The paths as they were given, as the in-process run reports them.
    for given, result in zip(days, results, strict=True):
        trades = result.info.trades and (given.trades or find_trades_file(given.path))
        result.info = replace(result.info, path=given.path, trades=trades)
    return merge_days(
        results,
        policies,
        window,
        wall_seconds=time.perf_counter() - started,
        resampler=resampler,
    )
