"""Chat runs' breaking point: the latency record's windows carry TTFT/ITL/tokens, and the SLO is
TTFT p95 (end-to-end latency, seconds for a long answer, only when p95Ms is set), by users and
by rate."""

from __future__ import annotations

from loadgate.analysis import record_windows
from loadgate.analysis.breaking_point import find_breaking_point, find_rate_breaking_point
from loadgate.loadgen.chat_metrics import ChatSample
from loadgate.loadgen.latency_record import Record
from loadgate.spec import PlanWindow

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


def test_rate_breaking_point_judges_ttft():
    rec = record([200, 900], rate=True)
    bp = find_rate_breaking_point(record_windows(rec, T0), ttft_p95_limit_ms=500, chat=True)
    assert bp["found"] and bp["brokeAtRps"] == 2.0 and bp["reason"] == "TTFT p95 over 500 ms"
    assert bp["rps"] == 1.0 and bp["outputTokensPerS"] == 20.0
