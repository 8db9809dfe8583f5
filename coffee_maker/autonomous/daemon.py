"""``DevDaemon``: iterations on an interval, for weeks, without a person watching.

One daemon per repository (a lock). Iterations run one at a time on an APScheduler job
that is paused while an iteration runs and resumed when the next one is due, so a long
iteration never piles up missed runs. When no provider can answer or the budget is spent,
the daemon sleeps until the earliest reset instead of spinning; an iteration that raises
is logged with its cause and the next one is delayed more each time (crash backoff).
SIGTERM/SIGINT stop it cleanly: a model call in flight is cancelled, no new one starts,
the state records the interruption, and systemd hears READY, STATUS, WATCHDOG and
STOPPING throughout.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.providers._bounded import cancel_calls
from coffee_maker.autonomous.iteration import Iteration
from coffee_maker.autonomous.repo_lock import RepoLock
from coffee_maker.autonomous.run_endings import (
    Ending,
    IterationResult,
    RunOptions,
    end_interrupted_run,
)
from coffee_maker.autonomous.service import SystemdNotifier, start_watchdog
from coffee_maker.autonomous.state import RepoState
from coffee_maker.config import AppConfig
from coffee_maker.logging import get_logger

log = get_logger(__name__)

MAX_CRASH_BACKOFF = 3600.0  # seconds
STOP_GRACE = 20.0  # seconds an in-flight iteration gets to reach a safe point on stop
#: Beyond the agent's own wall-time limit, how long committing, pushing and the PR may take
#: before the watchdog stops vouching for a daemon that looks stuck.
PUBLISH_ALLOWANCE = 900.0
JOB_ID = "iteration"


class DevDaemon:
    """Runs :class:`Iteration` once (``--once``) or forever on ``daemon.interval``."""

    def __init__(
        self,
        config: AppConfig,
        options: RunOptions,
        *,
        interval: float | None = None,
        iteration_factory: Callable[..., Iteration] = Iteration,
        notifier: SystemdNotifier | None = None,
        on_step: Callable[[str], None] = lambda step: None,
        report: Callable[[IterationResult], None] = lambda result: None,
        stop_grace: float = STOP_GRACE,
        on_stop: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.options = options
        self.repo = Path(options.repo)
        self.interval = float(interval or config.daemon.interval)
        self.iteration_factory = iteration_factory
        self.notifier = notifier or SystemdNotifier()
        self._on_step = on_step
        self.report = report
        self.stop_grace = stop_grace
        self._on_stop = on_stop  # runs in the signal handler: must not block or print()
        self.stop_requested = threading.Event()
        #: True when a stop left an iteration running (its thread must be abandoned).
        self.abandoned = False
        self._said_stopping = False
        self.crashes = 0
        self._busy = threading.Lock()
        self._busy_since: float | None = None
        self._scheduler: Any = None
        self._state: RepoState | None = None
        #: The budget's view of the ledger, shared by every iteration this daemon runs.
        self.tracker: CostTracker | None = None

    # -- one iteration ---------------------------------------------------------------------
    def step(self, text: str) -> None:
        log.info(text)
        self.notifier.status(text[:200])
        self._on_step(text)

    def new_iteration(self) -> Iteration:
        if self.tracker is None:  # one per daemon: each tick then reads only the new lines
            self.tracker = CostTracker(self.config.cost_controls)
        return self.iteration_factory(
            self.config,
            self.options,
            tracker=self.tracker,
            on_step=self.step,
            should_stop=self.stop_requested.is_set,
        )

    def run_once(self) -> IterationResult:
        with self._busy:
            self._busy_since = time.monotonic()
            try:
                result = self.new_iteration().run()
            finally:
                self._busy_since = None
        self.report(result)
        return result

    def once(self) -> IterationResult:
        """``--once``: hold the lock, run one iteration, return its result. ``--dry-run``
        changes nothing, so it needs no lock and works beside a running daemon."""
        if self.options.dry_run:
            return self.run_once()
        with RepoLock(self.repo), self._signals():
            self.new_iteration().preflight()
            self.notifier.ready("running one iteration")
            try:
                return self.run_once()
            finally:
                self._say_stopping()
                self.notifier.close()

    # -- forever ---------------------------------------------------------------------------
    def serve(self) -> int:
        """Hold the lock and run iterations until stopped; 0 when stopped cleanly."""
        with RepoLock(self.repo), self._signals():
            self.new_iteration().preflight()
            self._state = RepoState.load(self.repo)
            self._state.update_daemon(pid=os.getpid(), started_at=_now(), next_run_at=_now())
            watchdog = start_watchdog(self.notifier, is_healthy=self.healthy)
            try:
                self.notifier.ready(f"watching {self.repo}")
                self._run_scheduler()
            finally:
                self._say_stopping()
                if watchdog is not None:
                    watchdog.stop()
                self.notifier.close()
                self._state.clear_daemon()
        return 0

    @property
    def busy(self) -> bool:
        """An iteration is running."""
        return self._busy_since is not None

    def healthy(self) -> bool:
        """False when an iteration has run far past every limit: systemd should restart us."""
        since = self._busy_since
        limit = self.config.agent.max_wall_time + PUBLISH_ALLOWANCE
        return since is None or time.monotonic() - since < limit

    def _run_scheduler(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone=UTC)
        scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.interval,
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            next_run_time=_now(),
        )
        scheduler.add_listener(self._job_crashed, EVENT_JOB_ERROR)
        self._scheduler = scheduler
        if self.stop_requested.is_set():
            return
        scheduler.start()  # returns after shutdown(), from request_stop
        self._wait_for_iteration()

    def _tick(self) -> None:
        if self.stop_requested.is_set():
            return
        self._scheduler.pause_job(JOB_ID)  # resumed at the time _reschedule picks
        assert self._state is not None
        self._state.update_daemon(last_iteration_at=_now())
        result = self.run_once()
        self.notifier.status(result.message[:200])
        self.crashes = 0
        if result.ending in (Ending.UNAVAILABLE, Ending.ENVIRONMENT_BROKEN):
            # Nothing changes by trying again at once: wait for a reset or for a person.
            wait = max(self.interval, self.config.fallback.cooldown_seconds)
            until = result.next_retry_at or _now() + timedelta(seconds=wait)
            self._reschedule(max(self.interval, (until - _now()).total_seconds()))
            self.step(f"sleeping until {until:%Y-%m-%d %H:%M:%S} UTC: {result.message}")
            return
        self._reschedule(self.interval)
        if result.ending is Ending.NOTHING_TO_DO:
            self.step(f"idle: {result.message}")

    def _job_crashed(self, event: Any) -> None:
        self.crashes += 1
        delay = min(MAX_CRASH_BACKOFF, self.interval * 2**self.crashes)
        error = event.exception
        log.error(
            "iteration crashed; retrying later",
            error=f"{type(error).__name__}: {error}",
            retry_in=round(delay),
            crashes=self.crashes,
            exc_info=error,
        )
        self.notifier.status(f"last iteration crashed: {error}"[:200])
        self._reschedule(delay)

    def _reschedule(self, delay: float) -> None:
        when = _now() + timedelta(seconds=delay)
        if self._state is not None:
            self._state.update_daemon(next_run_at=when)
        if self._scheduler is not None and not self.stop_requested.is_set():
            self._scheduler.modify_job(JOB_ID, next_run_time=when)

    # -- stopping --------------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        """First call: stop after the current safe point. A second one on --once: now."""
        if self.stop_requested.is_set():
            if self._scheduler is None:
                raise KeyboardInterrupt
            return
        self.stop_requested.set()
        self._on_stop()
        # A model call in flight would hold the stop for up to its timeout: cut it now.
        cancel_calls()
        log.info("stop requested: finishing cleanly (no new model call will start)")
        self._say_stopping()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _say_stopping(self) -> None:
        if not self._said_stopping:
            self._said_stopping = True
            self.notifier.stopping("stopping")

    def _wait_for_iteration(self) -> None:
        """Give a running iteration ``stop_grace`` seconds; then record it as abandoned."""
        if self._busy.acquire(timeout=self.stop_grace):
            self._busy.release()
            return
        self.abandoned = True
        state = RepoState.load(self.repo)
        current = state.current or {}
        why = end_interrupted_run(self.repo, state, ": the model call was abandoned on stop")
        if why:
            log.warning(why, priority=current.get("priority"), grace=self.stop_grace)

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT call :meth:`request_stop` (main thread only); restored after."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, self.request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _now() -> datetime:
    return datetime.now(UTC)
