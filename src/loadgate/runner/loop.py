"""The local run loop, shaped like the operator's phase machine: observe -> decide -> apply.

`observe` reads the Locust processes, the signals received and the newest progress figures;
`decide(state, observation, now)` is pure and returns the next state, the lines to print and
whether to send the master SIGINT or leave the loop; `run_loop` applies that every TICK_S
until the master has exited, and returns the run's facts for the summary.

Stopping: a SIGINT/SIGTERM to the runner, the run's time limit, or every worker gone while the
master lingers -> SIGINT to the master, which stops its workers and writes its final CSVs.
Locust is never killed; a second SIGINT would make the master die without them, so a second
Ctrl-C only says that the stop is under way. A third, or the master still there a stop
timeout plus a margin after the SIGINT, sends it once more and stops waiting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from loadgate.gate.summary import RunFacts
from loadgate.runner.console import say, shown
from loadgate.runner.progress import Snapshot, last_snapshot, progress_line

TICK_S = 0.5
PROGRESS_EVERY_S = 5.0
DEADLINE_MARGIN_S = 60.0      # on top of the plan, workers' connect time and stop timeout
WORKERS_GONE_GRACE_S = 15.0   # every worker gone, master still there: on top of stopTimeout
MASTER_EXIT_GRACE_S = 30.0    # after SIGINT, on top of the spec's stopTimeout
FORCE_AFTER_SIGNALS = 3       # Ctrl-C: 1st stops cleanly, 2nd waits (and says so), 3rd forces


class RunInterrupted(Exception):
    """Ctrl-C / SIGTERM before the load started: nothing to analyse."""


class StopSignals:
    """SIGINT/SIGTERM received during a run. Before Locust starts they abort the run
    (RunInterrupted); once it runs they are counted and the loop stops Locust cleanly."""

    def __init__(self) -> None:
        self.count = 0
        self.locust_started = False

    def _handle(self, signum, _frame) -> None:
        self.count += 1
        if not self.locust_started:
            raise RunInterrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_signals() -> Iterator[StopSignals]:
    signals = StopSignals()
    previous = {sig: signal.signal(sig, signals._handle)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class Observation:
    signals: int                      # stop signals received so far
    master_running: bool
    workers: int                      # worker processes started
    workers_dead: tuple[int, ...]     # which of them have exited
    worker_log: Path | None           # the log of the first that exited
    snapshot: Snapshot | None         # the newest progress figures, None before any


@dataclass(frozen=True)
class LoopState:
    start: float
    limit_s: float                    # the run's time limit from its start
    stop_timeout_s: float             # spec.load.stopTimeout
    next_progress: float
    signals_seen: int = 0
    stop_sent_at: float | None = None
    workers_gone_at: float | None = None
    snapshot: Snapshot | None = None
    interrupted: bool = False
    deadline_hit: bool = False
    workers_lost: bool = False
    open_loop: bool = False           # a rate load: the progress line shows no users


@dataclass(frozen=True)
class Decision:
    state: LoopState
    say: tuple[str, ...] = ()
    stop: bool = False                # (again) SIGINT to the master
    done: bool = False                # leave the loop


def time_limit_s(lt) -> float:
    """How long a local run may take before the runner stops it."""
    return min(lt.load.duration_s + lt.timeouts.workers_connect_s + lt.load.stop_timeout_s
               + DEADLINE_MARGIN_S, lt.timeouts.deadline_s)


def initial_state(lt, start: float) -> LoopState:
    return LoopState(start=start, limit_s=time_limit_s(lt), stop_timeout_s=lt.load.stop_timeout_s,
                     next_progress=start + PROGRESS_EVERY_S, open_loop=lt.load.open_loop)


def decide(state: LoopState, obs: Observation, now: float) -> Decision:
    """The next state from what the processes show now; pure."""
    if not obs.master_running:
        return Decision(state, done=True)
    elapsed = now - state.start
    at = f"[{elapsed:5.0f}s]"
    lines: list[str] = []
    stop = False
    s = dataclasses.replace(state, snapshot=obs.snapshot or state.snapshot)

    def stopping(**flags) -> None:
        nonlocal s, stop
        stop = True
        s = dataclasses.replace(s, **flags, stop_sent_at=s.stop_sent_at or now)

    if obs.signals > s.signals_seen:
        if obs.signals >= FORCE_AFTER_SIGNALS:
            lines.append(f"{at} stop signal {obs.signals}: forcing; SIGINT again to the Locust "
                         "master, not waiting for its final statistics")
            s = dataclasses.replace(s, signals_seen=obs.signals, interrupted=True,
                                    stop_sent_at=s.stop_sent_at or now)
            return Decision(s, tuple(lines), stop=True, done=True)
        if s.stop_sent_at is None:
            lines.append(f"{at} stopping: SIGINT to the Locust master; waiting for its final "
                         "statistics (Locust is never killed)")
            stopping(signals_seen=obs.signals, interrupted=True)
        if obs.signals > 1 or not stop:  # a signal while the clean stop is under way
            left = max(0.0, s.stop_sent_at + s.stop_timeout_s + MASTER_EXIT_GRACE_S - now)
            lines.append(f"{at} already stopping: waiting for the Locust master's final "
                         f"statistics (up to {left:.0f}s more; a third Ctrl-C forces it)")
            s = dataclasses.replace(s, signals_seen=obs.signals, interrupted=True)
    if elapsed > s.limit_s and s.stop_sent_at is None:
        lines.append(f"{at} the run passed its time limit ({s.limit_s:.0f}s): stopping Locust")
        stopping(deadline_hit=True)
    if obs.workers and len(obs.workers_dead) == obs.workers and s.workers_gone_at is None:
        s = dataclasses.replace(s, workers_gone_at=now)
    # workers also leave first when a run ends normally (the master tells them to quit, then
    # writes its final files): only a master that lingers gets SIGINT
    if s.workers_gone_at is not None and s.stop_sent_at is None and \
            now - s.workers_gone_at > s.stop_timeout_s + WORKERS_GONE_GRACE_S:
        lines.append(f"{at} every Locust worker exited but the master did not; stopping it "
                     f"(see {shown(obs.worker_log)})")
        stopping(workers_lost=True)
    if now >= s.next_progress:
        lines.append(progress_line(elapsed, s.snapshot, open_loop=s.open_loop))
        s = dataclasses.replace(s, next_progress=s.next_progress + PROGRESS_EVERY_S)
    if s.stop_sent_at is not None and not stop and \
            now - s.stop_sent_at > s.stop_timeout_s + MASTER_EXIT_GRACE_S:
        lines.append("the Locust master has not exited after SIGINT and its stop timeout; "
                     "sending SIGINT again and giving up waiting")
        return Decision(s, tuple(lines), stop=True, done=True)
    return Decision(s, tuple(lines), stop=stop)


def observe(cluster, signals: StopSignals, history: Path, *, progress_due: bool) -> Observation:
    """What the processes and files show; the stats history is read only when a progress
    line is due (every PROGRESS_EVERY_S, not every tick: it shares the generator's cores)."""
    dead = tuple(cluster.dead_workers())
    return Observation(signals=signals.count, master_running=cluster.master_running(),
                       workers=len(cluster.workers), workers_dead=dead,
                       worker_log=cluster.worker_log(dead[0]) if dead else None,
                       snapshot=last_snapshot(history) if progress_due else None)


def run_loop(lt, cluster, signals: StopSignals, *,
             clock: Callable[[], float] = time.monotonic) -> RunFacts:
    """Start the cluster, follow it to the end; the facts of the run for its summary."""
    history = Path(f"{cluster.csv_prefix}_stats_history.csv")
    signals.locust_started = True  # from here a signal stops Locust instead of raising
    cluster.start()
    state = initial_state(lt, clock())
    try:
        while True:
            now = clock()
            obs = observe(cluster, signals, history, progress_due=now >= state.next_progress)
            d = decide(state, obs, now)
            state = d.state
            for line in d.say:
                say(line)
            if d.stop:
                cluster.stop()
            if d.done:
                break
            time.sleep(TICK_S)
    finally:
        problems = cluster.finish()
    for p in problems:
        say(f"warning: {p}")
    elapsed = clock() - state.start
    code = cluster.master.returncode if cluster.master else None
    say(progress_line(elapsed, last_snapshot(history) or state.snapshot,
                      open_loop=state.open_loop) + "  (done)")
    # Locust runs with --exit-code-on-error 0: any other code means Locust itself broke
    if code not in (0, None) and not state.interrupted:
        say(f"locust exited with code {code}; the end of {shown(cluster.log_path)}:")
        for line in cluster.log_tail().splitlines():
            say("  | " + line)
    return RunFacts(where="local", duration_s=round(elapsed, 1), interrupted=state.interrupted,
                    deadline_hit=state.deadline_hit, workers_lost=state.workers_lost,
                    locust_exit_code=code)
