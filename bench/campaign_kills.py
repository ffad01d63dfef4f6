"""Real process kills for the independent campaign: a forked child, killed with SIGKILL.

The parent imports everything once; each attempt that may be killed is a child
``os.fork()``-ed from it (no interpreter start-up, a few milliseconds), which runs
one attempt of the scenario's command on the journal file and exits. It is killed
in one of two ways:

- **at a named point, deterministically**: the child counts *kill points* as it
  passes them and kills itself (``SIGKILL``, nothing flushed, no ``finally``) at the
  N-th. The points wrap the venue and the journal in the child only (the product
  has no hook; a normal run never passes through this module): before and after an
  order reaches the venue (after: the venue holds it, the journal has not heard the
  answer), before and after a cancel, after the venue saved executions the journal
  has not heard of, and before and after each journal write (order pending, its
  acknowledgement, broker events, fills, intents, run records);
- **at a random instant**: the parent sends ``SIGKILL`` after a random wall delay,
  wherever the child happens to be (inside a SQLite transaction, between awaits).
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from better_orders.store.journal import Journal
from better_orders.venues.sim.account import PaperAccount
from better_orders.venues.sim.broker import SimBroker
from campaign_scenario import Scenario, attempt

#: (class, method, when): the kill points a child counts.
KILL_POINTS: tuple[tuple[type, str, str], ...] = (
    (SimBroker, "submit_order", "before"),
    (SimBroker, "submit_order", "after"),
    (SimBroker, "cancel_order", "before"),
    (SimBroker, "cancel_order", "after"),
    (PaperAccount, "record", "after"),
    (Journal, "record_order_pending", "before"),
    (Journal, "record_order_pending", "after"),
    (Journal, "record_order_ack", "after"),
    (Journal, "record_event", "after"),
    (Journal, "record_fill", "before"),
    (Journal, "record_fill", "after"),
    (Journal, "record_intent", "after"),
    (Journal, "finish_run", "before"),
)
#: Exit codes of a child that was not killed.
DONE, FAILED = 0, 3


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one child attempt ended: killed (and where), finished, or failed."""

    killed: bool
    point: str = ""
    failed: bool = False


def arm(countdown: int, only: str | None = None) -> dict[str, int]:
    """In the child: kill this process at the ``countdown``-th kill point passed (of those
    named ``only``, when given).

    Returns the points passed so far, by name, for a child that outlives its countdown.
    """
    passed: dict[str, int] = {}
    left = [countdown]

    def tick(name: str) -> None:
        passed[name] = passed.get(name, 0) + 1
        if only is not None and name != only:
            return
        left[0] -= 1
        if left[0] == 0:
            os.write(_point_fd, name.encode() + b"\n")
            os.kill(os.getpid(), signal.SIGKILL)

    for cls, method, when in KILL_POINTS:
        _wrap(cls, method, when, tick)
    return passed


def _wrap(cls: type, method: str, when: str, tick: Callable[[str], None]) -> None:
    inner = getattr(cls, method)
    name = f"{when} {cls.__name__}.{method}"
    if inspect.iscoroutinefunction(inner):

        @functools.wraps(inner)
        async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
            if when == "before":
                tick(name)
            result = await inner(*args, **kwargs)
            if when == "after":
                tick(name)
            return result

        setattr(cls, method, wrapped_async)
        return

    @functools.wraps(inner)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if when == "before":
            tick(name)
        result = inner(*args, **kwargs)
        if when == "after":
            tick(name)
        return result

    setattr(cls, method, wrapped)


_point_fd = -1


#: The kill point between an order reaching the venue and the journal hearing its answer.
AFTER_SEND = "after SimBroker.submit_order"


def killed_attempt(
    sc: Scenario,
    db: Path,
    *,
    countdown: int | None,
    only: str | None = None,
    delay: float | None = None,
) -> Outcome:
    """One attempt of ``sc``'s command in a forked child, killed at the ``countdown``-th kill
    point (named ``only``, when given) or after ``delay`` wall seconds, whichever comes
    first, or not at all."""
    global _point_fd
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: one attempt, then exit without any of the parent's clean-up
        code = FAILED
        try:
            os.close(read_end)
            _point_fd = write_end
            if countdown is not None:
                arm(countdown, only)
            attempt(sc, db, clean=False)
            code = DONE
        except BaseException:
            if os.environ.get("CAMPAIGN_DEBUG"):
                traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    status: int | None = None
    if delay is not None:
        deadline = time.monotonic() + delay
        while status is None and time.monotonic() < deadline:
            done, found = os.waitpid(pid, os.WNOHANG)
            if done:
                status = found
            else:
                time.sleep(0.0005)
        if status is None:
            os.kill(pid, signal.SIGKILL)
    if status is None:
        _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        point = pipe.read().decode().strip()
    if os.WIFSIGNALED(status):
        return Outcome(True, point or "at a random instant")
    return Outcome(False, failed=os.WEXITSTATUS(status) != DONE)
