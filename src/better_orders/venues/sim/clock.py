"""Virtual time for the simulator.

``VirtualTimeLoop`` is an asyncio event loop whose ``time()`` is a number it
keeps itself. Whenever no callback is ready it jumps straight to the earliest
scheduled timer instead of sleeping, so ``asyncio.sleep(90)``,
``asyncio.wait_for(..., timeout=2.5)`` and ``loop.call_at`` cost no wall time
while every ordering between timers is kept: timers fire in deadline order and,
for equal deadlines, in the order they were set.

This relies on CPython's ``BaseEventLoop`` internals (``_run_once`` reading
``_ready``, ``_scheduled``, ``_stopping`` and ``_timer_cancelled_count``, and
``call_at`` pushing ``TimerHandle`` objects on the ``_scheduled`` heap), which
have been stable since Python 3.4; ``tests/test_sim_clock.py`` guards them.

Work handed to a thread with ``run_in_executor`` (the journal's writer) is run at
once, on the loop's own thread: it takes no virtual time, and the order of events
never depends on how fast a thread or the disk happens to be, so a seeded
simulation always plays out the same way. Other real I/O does not advance virtual
time and is not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Callable, Coroutine
from contextvars import Context
from datetime import datetime, timedelta
from itertools import count
from typing import Any, TypeVar, TypeVarTuple

from better_orders.core.errors import InvalidInputError
from better_orders.venues.tasks import StopHandle

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _OrderedTimerHandle(asyncio.TimerHandle):
    """A timer that breaks deadline ties by creation order (plain handles compare by time only)."""

    __slots__ = ("_seq",)

    def __init__(
        self,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        context: Context | None,
        seq: int,
    ) -> None:
        super().__init__(when, callback, args, loop, context)
        self._seq = seq

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return (self.when(), self._seq) < (other.when(), other._seq)
        return super().__lt__(other)  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return (self.when(), self._seq) <= (other.when(), other._seq)
        return super().__le__(other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return (self.when(), self._seq) > (other.when(), other._seq)
        return super().__gt__(other)  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return (self.when(), self._seq) >= (other.when(), other._seq)
        return super().__ge__(other)  # type: ignore[operator]

    __hash__ = asyncio.TimerHandle.__hash__


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time (see the module docstring).

    ``start`` is the wall-clock instant that virtual time 0.0 stands for; ``SimClock``
    uses it when none is given.
    """

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        self._virtual_now = 0.0
        self._timer_seq = count()
        self.start = start

    def time(self) -> float:
        return self._virtual_now

    def call_at(
        self,
        when: float,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()  # type: ignore[attr-defined]
        timer = _OrderedTimerHandle(when, callback, args, self, context, next(self._timer_seq))
        internals: Any = self
        if timer._source_traceback:  # type: ignore[attr-defined]
            del timer._source_traceback[-1]  # type: ignore[attr-defined]
        heapq.heappush(internals._scheduled, timer)
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """Run ``func`` now, on this thread (see the module docstring); a done future."""
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def _run_once(self) -> None:
        internals: Any = self
        if not internals._ready and not internals._stopping:
            scheduled = internals._scheduled
            # Drop cancelled timers first: jumping to a dead deadline would move time for nothing.
            while scheduled and scheduled[0]._cancelled:
                internals._timer_cancelled_count -= 1
                handle = heapq.heappop(scheduled)
                handle._scheduled = False
            if scheduled:
                when = scheduled[0]._when
                if when > self._virtual_now:
                    self._virtual_now = when
        super()._run_once()  # type: ignore[misc]


def run_virtual(
    main: Coroutine[Any, Any, T], start: datetime | None = None, stop: StopHandle | None = None
) -> T:
    """Run ``main`` to completion on a fresh ``VirtualTimeLoop`` (``asyncio.run`` for sims);
    ``stop`` cancels it from another thread."""
    if start is not None:
        _require_aware(start)
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(start)) as runner:
        return runner.run(main if stop is None else _stoppable(main, stop))


async def _stoppable(main: Coroutine[Any, Any, T], stop: StopHandle) -> T:
    task = asyncio.current_task()
    assert task is not None
    stop.attach(task)
    try:
        return await main
    finally:
        stop.detach()


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"time {value.isoformat()} has no time zone: give an aware time")
    return value


class SimClock:
    """The ``Clock`` protocol on an event loop's time (virtual on a ``VirtualTimeLoop``).

    ``now()`` is ``start`` plus the loop time elapsed since the clock was bound to its
    loop: at creation inside a running loop, else on first use inside one (until then
    ``now()`` is ``start``). Used again on a later loop, it continues from its last reading.
    """

    def __init__(self, start: datetime, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.start = _require_aware(start)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        if loop is not None:
            self.bind(loop)
        else:
            with contextlib.suppress(RuntimeError):
                self.bind(asyncio.get_running_loop())

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Measure time on ``loop`` from now on; moving to a new loop carries the reading over."""
        if self._loop is loop:
            return
        if self._loop is not None:
            self.start += timedelta(seconds=self._loop.time() - self._t0)
        self._loop = loop
        self._t0 = loop.time()

    def _bound(self) -> asyncio.AbstractEventLoop | None:
        if self._loop is None or self._loop.is_closed():
            try:
                self.bind(asyncio.get_running_loop())
            except RuntimeError:
                return self._loop
        return self._loop

    def now(self) -> datetime:
        loop = self._bound()
        if loop is None:
            return self.start
        return self.start + timedelta(seconds=loop.time() - self._t0)

    def loop_time(self, when: datetime) -> float:
        """The loop time at which this clock reads ``when``."""
        return self._t0 + (when - self.start).total_seconds()

    def call_at(self, when: datetime, callback: Callable[[], object]) -> asyncio.TimerHandle:
        """Schedule ``callback`` for the instant ``when`` (a timer on the bound loop)."""
        loop = self._bound() or asyncio.get_running_loop()
        return loop.call_at(self.loop_time(when), callback)

    async def sleep_until(self, when: datetime) -> None:
        loop = self._bound() or asyncio.get_running_loop()
        # Loop until the clock reads ``when``: float seconds vs microseconds can round short.
        while self.now() < when:
            future: asyncio.Future[None] = loop.create_future()
            target = max(self.loop_time(when), loop.time() + 1e-6)
            handle = loop.call_at(target, _resolve, future)
            try:
                await future
            finally:
                handle.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
