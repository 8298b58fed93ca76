"""`loadgate run`'s overrides as the CLI parses them: flags -> a LoadTest validated by the spec."""

from __future__ import annotations

import pytest
from support.loadtests import loadtest_doc, write_loadtest

from loadgate import spec
from loadgate.cli import build_parser
from loadgate.runner import overrides
from loadgate.runner.overrides import InvalidInput

BREAKPOINT = {"breakpoint": {"startUsers": 10, "stepUsers": 10, "stepDuration": "10s",
                             "maxUsers": 80}, "stopTimeout": "5s"}
STAGES = {"stages": [{"duration": "30s", "users": 5}, {"duration": "1m", "users": 10},
                     {"duration": "10s", "users": 0}]}
USERS = {"users": 100, "spawnRate": 5, "runTime": "3m"}


def run_with(tmp_path, load: dict, *argv: str, **spec_fields) -> spec.LoadTest:
    f = write_loadtest(tmp_path, "o", url="http://model-server:8000", load=load,
                       thresholds={"p95Ms": 500, "minRps": 20}, **spec_fields)
    args = build_parser().parse_args(["run", str(f), *argv])
    return overrides.apply(spec.load_file(f), args, target=args.target)


def test_threshold_overrides_any_key_and_keeps_the_rest(tmp_path):
    lt = run_with(tmp_path, USERS, "--threshold", "minRps=5", "--threshold", "p99Ms=2000.5",
                  "--threshold", "maxErrorRate=0")
    assert (lt.thresholds.min_rps, lt.thresholds.p99_ms, lt.thresholds.max_error_rate,
            lt.thresholds.p95_ms) == (5, 2000.5, 0, 500)
    assert lt.raw_spec["thresholds"]["minRps"] == 5  # what loadtest.json and the gate get


@pytest.mark.parametrize(("argv", "message"), [
    (["--threshold", "minRps=fast"], "spec.thresholds.minRps: must be a number, not 'fast'"),
    (["--threshold", "p95Ms=0"], "spec.thresholds.p95Ms: must be > 0"),
    (["--threshold", "maxErrorRate=2"], "spec.thresholds.maxErrorRate: must be <= 1.0"),
    (["--threshold", "rps=5"], "--threshold 'rps=5': write KEY=VALUE with KEY one of p95Ms, "
                               "p99Ms, maxErrorRate, minRps"),
    (["--threshold", "minRps"], "write KEY=VALUE"),
    (["--users", "abc"], "spec.load.users: must be an integer, not 'abc'"),
    (["--users", "2.5"], "spec.load.users: must be an integer, not 2.5"),
    (["--workers", "two"], "spec.workers: must be an integer, not 'two'"),
    (["--run-time=-5s"], "spec.load.runTime: invalid duration '-5s'"),
    (["--spawn-rate", "0"], "spec.load.spawnRate: must be > 0"),
    (["--ready-timeout", "soon"], "spec.target.readyTimeout: invalid duration 'soon'"),
    (["--max-users", "40"], "--max-users does not apply to a users load (spec.load.users); a "
                            "users load takes --users, --spawn-rate, --run-time"),
])
def test_bad_overrides_are_reported_like_a_bad_file(tmp_path, argv, message):
    with pytest.raises(InvalidInput) as e:
        run_with(tmp_path, USERS, *argv)
    assert message in str(e.value)


def test_breakpoint_overrides_fit_the_mode(tmp_path):
    lt = run_with(tmp_path, BREAKPOINT, "--max-users", "30", "--step-duration", "5s",
                  "--spawn-rate", "20")
    bp = lt.load.breakpoint
    assert (bp.max_users, bp.step_duration_s, bp.spawn_rate, bp.steps) == (30, 5.0, 20.0, 3)
    with pytest.raises(InvalidInput, match="--users does not apply to a breakpoint load .* "
                                           "takes --spawn-rate, --run-time, --max-users, "
                                           "--step-duration"):
        run_with(tmp_path, BREAKPOINT, "--users", "5")
    with pytest.raises(InvalidInput, match="maxUsers: must be >= startUsers"):
        run_with(tmp_path, BREAKPOINT, "--max-users", "5")


@pytest.mark.parametrize(("cap", "max_users", "step_s", "planned_s"), [
    ("25s", 20, 10.0, 20.0),      # the steps that fit
    ("3s", 10, 3.0, 3.0),         # shorter than one step: one shortened step
    ("1h", 80, 10.0, 80.0),       # longer than the plan: unchanged
])
def test_run_time_caps_a_breakpoint_plan(tmp_path, cap, max_users, step_s, planned_s):
    lt = run_with(tmp_path, BREAKPOINT, "--run-time", cap)
    bp = lt.load.breakpoint
    assert (bp.max_users, bp.step_duration_s, lt.load.duration_s) == (max_users, step_s,
                                                                       planned_s)


def test_run_time_caps_stages_and_applies_after_the_other_overrides(tmp_path):
    lt = run_with(tmp_path, STAGES, "--run-time", "45s")
    assert [(s.duration_s, s.users) for s in lt.load.stages] == [(30.0, 5), (15.0, 10)]
    with pytest.raises(InvalidInput, match="--spawn-rate does not apply to a stages load"):
        run_with(tmp_path, STAGES, "--spawn-rate", "2")
    # breakpoint: --step-duration first, then the cap counts the new steps
    lt = run_with(tmp_path, BREAKPOINT, "--step-duration", "5s", "--run-time", "20s")
    assert (lt.load.breakpoint.max_users, lt.load.duration_s) == (40, 20.0)


def test_capped_is_a_valid_plan_for_every_mode():
    for load in (USERS, STAGES, BREAKPOINT):
        lt = spec.capped(spec.parse(loadtest_doc("c", load=load)), 12)
        assert lt.load.duration_s <= 12
        assert spec.parse(spec.manifest(lt)) == lt  # what loadtest.json carries parses back


RATE_BREAKPOINT = {"breakpoint": {"startRps": 10, "stepRps": 10, "stepDuration": "20s",
                                  "maxRps": 100}}
RATE_STAGES = {"rateStages": [{"duration": "30s", "rps": 5, "name": "warm"},
                              {"duration": "1m", "rps": 20, "name": "peak"}]}


def test_rate_overrides_fit_the_mode(tmp_path):
    lt = run_with(tmp_path, {"rate": {"rps": 30, "duration": "5m"}}, "--rps", "12",
                  "--run-time", "40s")
    assert (lt.load.rate.rps, lt.load.rate.duration_s) == (12, 40)
    lt = run_with(tmp_path, RATE_BREAKPOINT, "--max-rps", "40", "--step-duration", "5s")
    rb = lt.load.rate_breakpoint
    assert (rb.max_rps, rb.step_duration_s, rb.steps) == (40, 5, 4)
    with pytest.raises(InvalidInput, match="--max-users does not apply to a breakpoint load"):
        run_with(tmp_path, RATE_BREAKPOINT, "--max-users", "40")


def test_run_time_caps_rate_plans(tmp_path):
    lt = run_with(tmp_path, RATE_BREAKPOINT, "--run-time", "50s")   # 2 whole steps fit
    assert (lt.load.rate_breakpoint.max_rps, lt.load.duration_s) == (20, 40)
    lt = run_with(tmp_path, RATE_STAGES, "--run-time", "45s")       # the peak is cut to 15 s
    assert [(s.name, s.duration_s, s.rps) for s in lt.load.rate_stages] == \
        [("warm", 30, 5), ("peak", 15, 20)]
