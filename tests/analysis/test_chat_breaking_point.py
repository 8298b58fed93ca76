"""Chat runs' breaking point: windows get their TTFT/ITL/tokens from the chat record, and the SLO
is TTFT p95 (end-to-end latency, seconds for a long answer, only when p95Ms is set)."""

from __future__ import annotations

from loadgate.analysis.breaking_point import find_breaking_point
from loadgate.analysis.chat import chat_windows
from loadgate.analysis.windows import Window
from loadgate.loadgen.chat_metrics import ChatRecord

T0 = 1_700_000_000.0


def window(i: int, users: int, rps: float) -> Window:
    return Window(start_s=10.0 * i, end_s=10.0 * i + 9, users=users, requests=int(rps * 9),
                  failures=0, rps=rps, error_rate=0.0, mean_ms=2000.0, p95_ms=4000.0,
                  users_since_s=10.0 * i)


def record(ttft_by_window: list[float]) -> ChatRecord:
    """Ten 20-token requests completing in each window, with that window's TTFT."""
    rec = ChatRecord()
    for i, ttft in enumerate(ttft_by_window):
        for k in range(10):
            end = T0 + 10 * i + 1 + k * 0.5
            rec.add(start=end - 2, end=end, ttft_s=ttft / 1000, gaps_s=[0.03] * 19,
                    output_tokens=20, usage_reported=True)
    return rec


def test_windows_get_chat_figures_and_break_on_ttft():
    ws = chat_windows([window(0, 4, 2.0), window(1, 8, 4.0), window(2, 16, 4.2)], T0,
                      record([200, 300, 900]))
    assert [round(w.ttft_p95_ms) for w in ws] == [200, 300, 900]  # within 1%
    assert all(abs(w.itl_p95_ms - 30) <= 0.3 for w in ws)
    assert ws[0].output_tokens_per_s == round(200 / 9, 2)  # 10 x 20 tokens over 9 s
    bp = find_breaking_point(ws, None, None, ttft_p95_limit_ms=500)
    assert bp["found"] and bp["users"] == 16 and bp["reason"] == "TTFT p95 over 500 ms"
    assert bp["rps"] == 4.0 and bp["outputTokensPerS"] == ws[1].output_tokens_per_s
    assert bp["slo"] == {"p95Ms": None, "maxErrorRate": 0.01, "ttftP95Ms": 500.0}
    assert bp["windows"][0]["ttft_p95_ms"] == ws[0].ttft_p95_ms


def test_end_to_end_p95_counts_for_chat_only_when_limited():
    ws = chat_windows([window(0, 4, 2.0), window(1, 8, 4.0)], T0, record([200, 250]))
    assert not find_breaking_point(ws, None, None, ttft_p95_limit_ms=500)["found"]
    bp = find_breaking_point(ws, 3000, None, ttft_p95_limit_ms=500)
    assert bp["found"] and bp["reason"] == "p95 over 3000 ms"


def test_other_runs_are_unchanged():
    ws = [window(0, 4, 2.0)]
    bp = find_breaking_point(ws)
    assert bp["found"] and bp["reason"] == "p95 over 500 ms"
    assert "outputTokensPerS" not in bp and "ttft_p95_ms" not in bp["windows"][0]
