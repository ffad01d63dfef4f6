"""When scheduled runs fire: once per invocation (cron, a timer, a container), or for as
long as the process lives; and a preview of the runs to come.

* ``once``: the current session's run if its time has come (and the session is still
  open), else nothing but the time of the next one.
* ``forever``: sleep on the clock until the next run, run it, repeat. A session whose
  run already finished is skipped with a note (a restart after today's run); one that
  another live process is running now is refused (a second scheduler), which ends
  this one.
* ``preview``: the next runs' instants, and the plan each would trade now.

The clock is the wall clock when trading on a broker. On the simulator it is virtual
(``VirtualClock``): a sleep until tomorrow's close costs no wall time, and each run
starts the simulated market at its own instant.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from better_orders.core.errors import BetterOrdersError, InvalidInputError
from better_orders.core.guards import check_plan
from better_orders.core.market_calendar import NEW_YORK, MarketCalendar, default_calendar
from better_orders.core.plan import Plan
from better_orders.core.schedule import ScheduledInstant, due_or_next, instants, missed
from better_orders.engine.alerts import Alerts
from better_orders.engine.commands import VenueChoice, run_rebalance
from better_orders.engine.legs import LadderEvent
from better_orders.engine.risk import KillSwitch
from better_orders.engine.scheduled_run import (
    RunOutcome,
    ScheduledJob,
    plan_limits,
    run_session,
    stale_check,
)
from better_orders.engine.shutdown import Shutdown
from better_orders.store.scheduled_runs import (
    AlreadyScheduledError,
    ScheduledRuns,
    ScheduledStatus,
    ScheduleKey,
)

#: A sleep on the wall clock wakes this often to read the clock again (a suspended
#: machine, a clock stepped by NTP).
WAKE_EVERY = dt.timedelta(seconds=30)


class SchedulerClock(Protocol):
    def now(self) -> dt.datetime: ...

    def sleep_until(self, when: dt.datetime) -> None: ...


class WallClock:
    """Real time, read as the broker reads it (``offset`` = broker time - local time);
    sleeps in short steps so a signal or a clock change is seen soon."""

    def __init__(self, offset: dt.timedelta = dt.timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def sleep_until(self, when: dt.datetime) -> None:
        while (remaining := (when - self.now()).total_seconds()) > 0:
            time.sleep(min(remaining, WAKE_EVERY.total_seconds()))


class VirtualClock:
    """The simulator's time: reading it costs nothing, and a sleep jumps to its end."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise InvalidInputError(f"clock start {start.isoformat()} has no time zone")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def sleep_until(self, when: dt.datetime) -> None:
        self._now = max(self._now, when.astimezone(dt.UTC))


#: ``--once`` started this long before its run waits for it rather than leaving the day.
ONCE_WAITS_FOR = dt.timedelta(minutes=2)
#: A session's run that a later attempt runs (afresh, or resumed).
_RUNS_AGAIN = frozenset({ScheduledStatus.REFUSED, ScheduledStatus.INTERRUPTED})


@dataclass(frozen=True, slots=True)
class Preview:
    """One run to come, and what it would trade if it ran now."""

    firing: ScheduledInstant
    plan: Plan | None
    #: Why it would be refused (a guard, stale targets), or None.
    refusal: str | None = None


class Scheduler:
    """Fires ``job`` at its schedule point (see the module docstring)."""

    def __init__(
        self,
        job: ScheduledJob,
        clock: SchedulerClock,
        alerts: Alerts,
        *,
        calendar: MarketCalendar | None = None,
        echo: Callable[[str], None] = lambda line: None,
        on_plan: Callable[[Plan], None] | None = None,
        observer: Callable[[LadderEvent], None] | None = None,
        on_outcome: Callable[[RunOutcome], None] | None = None,
        shutdown: Shutdown | None = None,
    ) -> None:
        self.job = job
        self.clock = clock
        self.alerts = alerts
        self.calendar = calendar or default_calendar()
        self.echo = echo
        self.on_plan = on_plan
        self.observer = observer
        self.on_outcome = on_outcome
        self.shutdown = shutdown
        #: A stop (SIGTERM, SIGINT) cut a run short, rather than a wait between runs.
        self.interrupted_run = False
        #: The next run, once ``once`` found none due.
        self.next_run: ScheduledInstant | None = None

    def once(self) -> RunOutcome | None:
        """The current session's run if due, or due within ``ONCE_WAITS_FOR`` (a timer
        that fires a moment early, on a clock a little behind the exchange's, must not
        skip the day); None (and the next run said) otherwise."""
        now = self.clock.now()
        firing, due = due_or_next(self.calendar, self.job.point, now)
        if not due and firing.at - now <= ONCE_WAITS_FOR:
            self.echo(f"{self.job.point} run: {firing.describe()}; waiting for it")
            self.clock.sleep_until(firing.at)
            now = self.clock.now()
            firing, due = due_or_next(self.calendar, self.job.point, now)
        if not due:
            self._say_missed(now)
            today = now.astimezone(NEW_YORK).date()
            if self.calendar.is_holiday(today):
                self.echo(f"no session today ({today:%a %Y-%m-%d}): the exchange is closed")
            self.echo(f"next {self.job.point} run: {firing.describe()}")
            self.next_run = firing
            return None
        return self._fire(firing)

    def forever(self, max_runs: int | None = None) -> list[RunOutcome]:
        """Run every session's run as its time comes; stop after ``max_runs`` sessions."""
        outcomes: list[RunOutcome] = []
        handled: dt.date | None = None
        sessions = 0
        while max_runs is None or sessions < max_runs:
            now = self.clock.now()
            firing, due = due_or_next(self.calendar, self.job.point, now, after=handled)
            if not due:
                self.echo(f"next {self.job.point} run: {firing.describe()}; waiting")
                self.clock.sleep_until(firing.at)
                continue
            try:
                outcomes.append(self._fire(firing))
            except AlreadyScheduledError as exc:
                if exc.running:
                    raise  # another scheduler is at work on it: this one is the duplicate
                self.echo(f"skipped: {exc}")
            handled = firing.session.date
            sessions += 1
        return outcomes

    def preview(self, count: int) -> list[Preview]:
        """The next ``count`` runs, each with the plan it would trade now (sends nothing)."""
        now = self.clock.now()
        first, _ = due_or_next(self.calendar, self.job.point, now)
        firings = instants(self.calendar, self.job.point, first.session.date, count)
        try:
            kill_switch = KillSwitch.resolve(self.job.config.risk)
            if kill_switch is not None:
                kill_switch.check("the run would not start")
            doc = self.job.targets.read()
            stale_check(doc, now, self.job.guards.max_target_age)
        except BetterOrdersError as exc:
            return [Preview(f, None, str(exc)) for f in firings]
        taken = self._claimed(firings)
        previews: list[Preview] = []
        shared: Preview | None = None
        for firing in firings:
            if firing in taken:
                previews.append(Preview(firing, None, taken[firing]))
                continue
            if shared is not None:  # a broker has one "now": every run shows its plan
                previews.append(Preview(firing, shared.plan, shared.refusal))
                continue
            one = self._plan_at(doc.pairs, firing)
            previews.append(one)
            if not self.job.venue.simulated:
                shared = one
        return previews

    # -- helpers ----------------------------------------------------------------------------

    def _fire(self, firing: ScheduledInstant) -> RunOutcome:
        now = self.clock.now()
        self.echo(f"{self.job.point} run of {firing.session.date.isoformat()} is due")
        try:
            outcome = run_session(
                self.job,
                firing,
                now,
                self.alerts,
                on_plan=self.on_plan,
                observer=self.observer,
                shutdown=self.shutdown,
            )
        except KeyboardInterrupt:
            self.interrupted_run = True
            raise
        self.echo(f"run {outcome.run_id} {outcome.status.value}: {outcome.message}")
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def _claimed(self, firings: list[ScheduledInstant]) -> dict[ScheduledInstant, str]:
        """The firings a run already has (running, or ran), with why they would not run."""
        if not self.job.db.exists():
            return {}
        found: dict[ScheduledInstant, str] = {}
        with ScheduledRuns.open(self.job.db) as table:
            for firing in firings:
                run = table.get(
                    ScheduleKey(firing.session.date, self.job.account, str(self.job.point))
                )
                if run is not None and run.status not in _RUNS_AGAIN:
                    found[firing] = str(AlreadyScheduledError(run))
        return found

    def _plan_at(self, pairs: list[tuple[str, str]], firing: ScheduledInstant) -> Preview:
        simulated: dict[str, Any] = (
            {"at": firing.at, "seed": self.job.seed} if self.job.venue.simulated else {}
        )
        try:
            report = run_rebalance(
                pairs,
                venue=self.job.venue,
                db=self.job.db,
                config=self.job.config,
                dry_run=True,
                **simulated,
            )
        except BetterOrdersError as exc:
            return Preview(firing, None, str(exc))
        try:
            check_plan(report.plan, self.job.guards, plan_limits(self.job.config))
        except BetterOrdersError as exc:
            return Preview(firing, report.plan, str(exc))
        return Preview(firing, report.plan)

    def _say_missed(self, now: dt.datetime) -> None:
        gone = missed(self.calendar, self.job.point, now)
        if gone is None:
            return
        key = ScheduleKey(gone.session.date, self.job.account, str(self.job.point))
        with ScheduledRuns.open(self.job.db) as table:
            if table.get(key) is None:
                self.echo(
                    f"note: {key} did not run: its session closed at "
                    f"{gone.session.close.astimezone(NEW_YORK):%H:%M} ET"
                )


def account_and_clock(
    venue: VenueChoice, now: dt.datetime | None = None
) -> tuple[str, SchedulerClock]:
    """The account a schedule runs for (``sim paper``, ``alpaca paper PA1234``) and its clock.

    On Alpaca the clock is the broker's (``/v2/clock``), as for every trading decision:
    a local clock that drifts cannot move a run. On the simulator it is virtual, from
    ``now`` (default: the wall clock's reading).
    """
    if venue.simulated:
        return "sim paper", VirtualClock(now or dt.datetime.now(dt.UTC))
    from better_orders.venues.alpaca.broker import AlpacaBroker
    from better_orders.venues.alpaca.credentials import Credentials

    async def probe() -> tuple[str, dt.timedelta]:
        broker = AlpacaBroker(Credentials.from_env(live=venue.live), use_stream=False)
        try:
            account = await broker.get_account()
            market = await broker.get_market_clock()
        finally:
            await broker.close()
        label = f"alpaca {'live' if venue.live else 'paper'} {account.account_id}"
        return label, market.timestamp - dt.datetime.now(dt.UTC)

    label, offset = asyncio.run(probe())
    return label, WallClock(offset)
