"""The chat measurements without Locust: the SSE parser of protocols/openai_chat.py on hand-made
streams, and chat samples through the recorder into the latency record and its file."""

from __future__ import annotations

import json
import random

import pytest

from loadgate.loadgen import control
from loadgate.loadgen.chat_metrics import ChatData, ChatSample
from loadgate.loadgen.control import Control, ProcessState
from loadgate.loadgen.latency_record import Record, read_record
from loadgate.loadgen.protocols.openai_chat import PROMPTS, read_stream, request_body
from loadgate.loadgen.recorder import Recorder
from loadgate.spec import PlanWindow, Scenario


def sse(*chunks: dict | str) -> list[bytes]:
    out = []
    for c in chunks:
        data = c if isinstance(c, str) else json.dumps(c)
        out += [f"data: {data}\n".encode(), b"\n"]
    return out


def content(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


def timed(lines: list[bytes], times: list[float]) -> list[tuple[float, bytes]]:
    """Each line arrives at the time of the chunk it belongs to (two lines per chunk)."""
    return [(times[i // 2], line) for i, line in enumerate(lines)]


def test_stream_timing_tokens_and_usage():
    lines = sse({"choices": [{"delta": {"role": "assistant", "content": ""}}]},
                content("Hel"), content("lo"), content("!"),
                {"choices": [], "usage": {"completion_tokens": 5}}, "[DONE]")
    r = read_stream(timed([b": keep-alive\n", b"\n", *lines], [0.01, 0.1, 0.2, 0.23, 0.3,
                                                                  0.31, 0.32]), t0=0.0)
    assert r.problem is None
    assert r.ttft_s == pytest.approx(0.2)  # the role chunk (at 0.1) carries no content
    assert r.gaps_s == pytest.approx([0.03, 0.07])
    assert (r.content_chunks, r.usage_tokens, r.output_tokens) == (3, 5, 5)


@pytest.mark.parametrize("chunks,problem", [
    ((content("a"), content("b")), "chat stream ended without [DONE]"),
    ((content("a"), '{"choices": [', content("b"), "[DONE]"),
     "chat stream: malformed chunk (not JSON)"),
    ((content("a"), "[1, 2]", "[DONE]"), "chat stream: malformed chunk (not a JSON object)"),
    ((content("a"), {"error": {"message": "out of memory"}}, "[DONE]"),
     "chat stream: error event: out of memory"),
    (({"choices": [{"delta": {"content": ""}}]}, "[DONE]"), "chat stream: no content tokens"),
])
def test_bad_streams_are_failures_with_their_reason(chunks, problem):
    lines = sse(*chunks)
    r = read_stream([(0.1 * i, line) for i, line in enumerate(lines)], t0=0.0)
    assert r.problem == problem


def test_nothing_after_done_counts():
    lines = sse(content("a"), "[DONE]", content("late"), "{broken")
    r = read_stream([(0.1 * i, line) for i, line in enumerate(lines)], t0=0.0)
    assert r.problem is None and r.content_chunks == 1 and r.output_tokens == 1


def test_request_body_follows_the_scenario():
    random.seed(1)
    sc = Scenario(protocol="openai-chat", weights={"chat": 1}, model="m", max_tokens=(5, 7))
    bodies = [request_body(sc) for _ in range(50)]
    assert {b["max_tokens"] for b in bodies} == {5, 6, 7}
    assert all(b["model"] == "m" and b["stream"] and b["stream_options"] == {
        "include_usage": True} for b in bodies)
    plain = request_body(Scenario(protocol="openai-chat", weights={"chat": 1}, stream=False))
    assert "model" not in plain and "stream_options" not in plain and not plain["stream"]
    lengths = sorted(len(p) for p in PROMPTS)
    assert lengths[0] < 20 and lengths[-1] > 1000  # one-word greetings to long documents


def sample(ttft_ms: float, gaps_ms=(30.0, 30.0), tokens: int = 3) -> ChatSample:
    return ChatSample(ttft_ms=ttft_ms, gaps_ms=tuple(gaps_ms), output_tokens=tokens,
                      usage_reported=tokens == 3, duration_s=0.5)


def test_chat_requests_ride_the_latency_record_per_window(tmp_path, monkeypatch):
    """Two workers' chat samples, filed by the recorder like their requests' latency, merge on
    the master into the record's windows and read back from locust_latency.json."""
    rec = Record(plan=(PlanWindow(0, 0, 10, users=2), PlanWindow(1, 10, 20, users=4)))
    rec.begin_window(0, now=100.0)
    rec.begin_window(1, now=110.0)
    rec.end(now=120.0)
    state = ProcessState()   # a worker told of window 1 at 110 s
    state.apply(Control(window=0), now=100.0)
    state.apply(Control(window=1), now=110.0)
    monkeypatch.setattr(control, "STATE", state)
    for worker, late_ms in (("w1", None), ("w2", 300.0)):
        recorder = Recorder()
        for window, ttft in ((0, 200.0), (1, 400.0)):
            kw = {}
            if late_ms is not None:   # open loop: due 300 ms before it was sent
                kw = {"loadgate_window": window, "loadgate_service_ms": 500.0}
            recorder.on_request("POST", "/v1/chat/completions",
                                500.0 + (late_ms or 0.0), start_time=105.0 + 10 * window,
                                loadgate_chat=sample(ttft, tokens=3 + window), **kw)
        recorder.on_request("GET", "/health", 1.0, start_time=105.0)   # no chat sample
        rec.merge_message(worker, recorder.take())
    rec.write(tmp_path / "locust")
    back, note = read_record(tmp_path / "locust")
    assert note is None
    w0, w1 = back.window(0).chat, back.window(1).chat
    assert (w0.requests, w0.output_tokens, w1.output_tokens) == (2, 6, 8)
    # closed loop: TTFT as measured; open loop: + how late the request started
    close = pytest.approx   # a histogram bucket's midpoint: within 0.4%
    assert [w0.ttft.percentile(q) for q in (0.5, 1.0)] == close([200.0, 500.0], rel=0.004)
    assert w1.ttft.percentile(1.0) == 700.0 and w1.itl.percentile(0.5) == close(30, rel=0.004)
    f = back.whole().chat.figures(20.0)
    assert (f["chatRequests"], f["outputTokens"], f["outputTokensPerS"]) == (4, 14, 0.7)
    assert f["usageReportedShare"] == 0.5 and f["requestTokensPerSP50"] == close(6, rel=0.004)
    assert f["ttftP95Ms"] == close(700, rel=0.004) and f["itlP95Ms"] == close(30, rel=0.004)
    assert back.window(0).cells["/health"]["GET"].requests == 2
    with pytest.raises(ValueError):
        ChatData.from_json({"requests": -1})
