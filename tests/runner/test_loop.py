"""The run loop's decisions as pure data: an observation and a clock in, the next state out."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from loadgate.runner.loop import (
    MASTER_EXIT_GRACE_S,
    PROGRESS_EVERY_S,
    WORKERS_GONE_GRACE_S,
    Observation,
    decide,
    initial_state,
)
from loadgate.runner.progress import Snapshot

LT = SimpleNamespace(load=SimpleNamespace(duration_s=60.0, stop_timeout_s=5.0,
                                          open_loop=False),
                     timeouts=SimpleNamespace(workers_connect_s=30.0, deadline_s=1800.0))
SNAP = Snapshot(users=4, rps=12.5, p95_ms=80.0, requests=100, failures=0)


def obs(signals=0, running=True, dead=(), snapshot=None) -> Observation:
    log = Path(f"locust-worker-{dead[0]}.log") if dead else None
    return Observation(signals=signals, master_running=running, workers=2,
                       workers_dead=tuple(dead), worker_log=log, snapshot=snapshot)


def test_progress_lines_every_5_s_and_done_when_the_master_exits():
    s = initial_state(LT, start=100.0)
    d = decide(s, obs(snapshot=SNAP), 101.0)
    assert d.say == () and not d.stop and not d.done and d.state.snapshot == SNAP
    d = decide(d.state, obs(), 100.0 + PROGRESS_EVERY_S)  # no new figures: keeps the last
    assert len(d.say) == 1 and d.say[0].startswith("[    5s] users 4")
    assert decide(d.state, obs(running=False), 106.0).done


def test_ctrl_c_stops_once_a_second_waits_a_third_forces():
    s = initial_state(LT, start=0.0)
    d = decide(s, obs(signals=1), 10.0)
    assert d.stop and not d.done and d.state.interrupted and d.state.stop_sent_at == 10.0
    assert d.say[0] == ("[   10s] stopping: SIGINT to the Locust master; waiting for its "
                        "final statistics (Locust is never killed)")
    d = decide(d.state, obs(signals=1), 11.0)
    assert not d.stop and not any("stop" in line for line in d.say)  # acted on once
    # a second SIGINT would kill the master before its final CSVs: only say what happens
    d = decide(d.state, obs(signals=2), 12.0)
    assert not d.stop and not d.done and d.state.stop_sent_at == 10.0
    grace = LT.load.stop_timeout_s + MASTER_EXIT_GRACE_S
    assert d.say[0] == (f"[   12s] already stopping: waiting for the Locust master's final "
                        f"statistics (up to {grace - 2:.0f}s more; a third Ctrl-C forces it)")
    d = decide(d.state, obs(signals=3), 13.0)
    assert d.stop and d.done and "forcing" in d.say[0]


def test_two_signals_in_one_tick_stop_once_and_say_they_wait():
    d = decide(initial_state(LT, start=0.0), obs(signals=2), 5.0)
    assert d.stop and not d.done
    assert "stopping: SIGINT" in d.say[0] and "already stopping" in d.say[1]


def test_a_signal_after_the_time_limit_stop_waits():
    s = initial_state(LT, start=0.0)
    d = decide(s, obs(), s.limit_s + 1)
    assert d.stop and d.state.deadline_hit
    d = decide(d.state, obs(signals=1), s.limit_s + 2)
    assert not d.stop and d.state.interrupted and "already stopping" in d.say[0]


def test_time_limit_stops_the_run_once():
    s = initial_state(LT, start=0.0)
    limit = s.limit_s
    assert limit == 60 + 30 + 5 + 60
    assert not decide(s, obs(), limit).stop
    d = decide(s, obs(), limit + 1)
    assert d.stop and d.state.deadline_hit and "time limit" in d.say[0]
    assert not decide(d.state, obs(), limit + 2).stop


def test_lost_workers_stop_a_master_that_lingers():
    s = initial_state(LT, start=0.0)
    d = decide(s, obs(dead=[0]), 1.0)
    assert d.state.workers_gone_at is None  # one of two: not all gone
    d = decide(d.state, obs(dead=[0, 1]), 2.0)
    assert d.state.workers_gone_at == 2.0 and not d.stop
    grace = LT.load.stop_timeout_s + WORKERS_GONE_GRACE_S
    assert not decide(d.state, obs(dead=[0, 1]), 2.0 + grace).stop
    d = decide(d.state, obs(dead=[0, 1]), 2.5 + grace)
    assert d.stop and d.state.workers_lost and "every Locust worker exited" in d.say[0]
    assert "locust-worker-0.log" in d.say[0]


@pytest.mark.parametrize("extra", [0.0, 1.0])
def test_gives_up_waiting_after_the_stop_grace(extra):
    s = decide(initial_state(LT, start=0.0), obs(signals=1), 1.0).state
    grace = LT.load.stop_timeout_s + MASTER_EXIT_GRACE_S
    d = decide(s, obs(signals=1), 1.0 + grace + extra)
    if extra == 0.0:
        assert not d.done
    else:
        assert d.done and d.stop and "giving up waiting" in d.say[-1]


def test_rps_flag_turns_a_users_file_into_a_rate_load(tmp_path):
    """`loadgate run FILE --rps R [--run-time D]`: the overrides, validated like the file."""
    from support.loadtests import write_loadtest

    from loadgate.cli import build_parser
    from loadgate.runner.local import InvalidInput, load_loadtest

    f = write_loadtest(tmp_path, "u", load={"users": 5, "spawnRate": 5, "runTime": "1m"})
    argv = ["run", str(f), "--target", "http://127.0.0.1:9", "--run-time", "20s", "--rps", "15"]
    lt = load_loadtest(build_parser().parse_args(argv))
    assert (lt.load.mode, lt.load.rate.rps, lt.load.rate.duration_s) == ("rate", 15.0, 20.0)
    # a rate load has no users: said like any override that does not fit the load
    with pytest.raises(InvalidInput, match="--users does not apply to a rate load"):
        load_loadtest(build_parser().parse_args([*argv, "--users", "3"]))
