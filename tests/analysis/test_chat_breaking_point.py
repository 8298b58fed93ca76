"""Chat runs' breaking point: the latency record's windows carry TTFT/ITL/tokens, and the SLO is
TTFT p95 (end-to-end latency, seconds for a long answer, only when p95Ms is set), after the run
(analysis) and live (the plan's early stop), by users and by rate."""

from __future__ import annotations

from loadgate.analysis import record_windows
from loadgate.analysis.breaking_point import find_breaking_point, find_rate_breaking_point
from loadgate.loadgen.chat_metrics import ChatSample
from loadgate.loadgen.latency_record import Record
from loadgate.loadgen.plan import ShapePlan, judge_rate_step
from loadgate.spec import Breakpoint, Load, PlanWindow, Thresholds

T0 = 1_700_000_000.0


def record(ttft_by_window: list[float], *, rate: bool = False) -> Record:
    """10, 20, 30... 20-token chat requests in the 10 s windows (2 s end to end), each window
    with its TTFT."""
    plan = [PlanWindow(i, 10 * i, 10 * i + 10, **({"rps": 1.0 + i} if rate else {"users": 4 << i}))
            for i in range(len(ttft_by_window))]
    rec = Record(mode="rate" if rate else "users", plan=plan)
    for i, ttft in enumerate(ttft_by_window):
        rec.begin_window(i, now=T0 + 10 * i)
        wd = rec.window(i)
        n = 10 * (i + 1)
        if rate:
            for k in range(n):
                wd.scheduled_at("chat", T0 + 10 * i + k / n, dropped=False)
            wd.answered = n
        cell = wd.cell("POST", "/v1/chat/completions")
        for _ in range(n):
            cell.requests += 1
            cell.latency.record_ms(2000.0)
            wd.chat.add(ChatSample(ttft_ms=ttft, gaps_ms=(30.0,) * 19, output_tokens=20,
                                   usage_reported=True, duration_s=2.0))
    rec.end(now=T0 + 10 * len(ttft_by_window))
    return rec


def test_windows_get_chat_figures_and_break_on_ttft():
    ws = record_windows(record([200, 300, 900]), T0)
    assert [round(w.ttft_p95_ms, -1) for w in ws] == [200, 300, 900]
    assert all(abs(w.itl_p95_ms - 30) <= 0.2 for w in ws)
    assert ws[0].output_tokens_per_s == 20.0   # 10 x 20 tokens over 10 s
    bp = find_breaking_point(ws, None, None, ttft_p95_limit_ms=500, chat=True)
    assert bp["found"] and bp["users"] == 16 and bp["reason"] == "TTFT p95 over 500 ms"
    assert bp["rps"] == 2.0 and bp["outputTokensPerS"] == 40.0   # at the capacity
    assert bp["slo"] == {"p95Ms": None, "maxErrorRate": 0.01, "ttftP95Ms": 500.0}
    assert bp["windows"][0]["ttftP95Ms"] == ws[0].ttft_p95_ms
    # end-to-end p95 (2 s) counts only when limited; TTFT 500 ms is the default SLO of chat
    assert not find_breaking_point(ws[:2], chat=True)["found"]
    assert find_breaking_point(ws[:2], 1500, chat=True)["reason"] == "p95 over 1500 ms"
    # a run without chat requests is judged as before
    plain = find_breaking_point(ws[:1])
    assert plain["reason"] == "p95 over 500 ms" and "outputTokensPerS" not in plain


def test_rate_breaking_point_and_the_live_stop_judge_ttft():
    rec = record([200, 900], rate=True)
    bp = find_rate_breaking_point(record_windows(rec, T0), ttft_p95_limit_ms=500, chat=True)
    assert bp["found"] and bp["brokeAtRps"] == 2.0 and bp["reason"] == "TTFT p95 over 500 ms"
    assert bp["rps"] == 1.0 and bp["outputTokensPerS"] == 20.0
    # the plan's step judge: TTFT over its limit, the end-to-end p95 not judged
    snap = rec.snapshot(1)
    assert judge_rate_step(snap, None, 0.01, 0.01, 500) == "TTFT p95 900 ms over ttftP95Ms 500"
    assert judge_rate_step(rec.snapshot(0), None, 0.01, 0.01, 500) is None


def test_a_users_breakpoint_stops_live_on_the_steps_ttft():
    load = Load(breakpoint=Breakpoint(start_users=4, step_users=4, step_duration_s=10,
                                      max_users=40, spawn_rate=4))
    plan = ShapePlan(load, Thresholds(ttft_p95_ms=500), chat=True)
    rec = record([200, 900, 900])

    class Total:   # Locust's aggregated stats: fast, no errors (only TTFT breaks)
        response_times, num_requests, num_failures = {100: 10}, 10, 0

    stopped = None
    for t in range(30):
        Total.num_requests += 10
        Total.response_times = {100: Total.num_requests}
        if plan.tick(float(t), Total, record=rec) is None:
            stopped = t
            break
    assert stopped == 20 and plan.breaking_step["step"] == 1
    assert "TTFT p95 900 ms over ttftP95Ms 500" in plan.stopped_reason
