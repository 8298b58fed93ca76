"""The chat measurements without Locust: the log histogram (<= 1% error, exact merges), the SSE
parser of protocols/openai_chat.py on hand-made streams, and the chat record's file form."""

from __future__ import annotations

import json
import math
import random

import pytest

from loadgate.loadgen.chat_metrics import ChatRecord, figures, read_record, record_path
from loadgate.loadgen.log_histogram import LogHistogram
from loadgate.loadgen.protocols.openai_chat import PROMPTS, read_stream, request_body
from loadgate.spec import Scenario


def exact_quantile(values: list[float], q: float) -> float:
    return sorted(values)[max(1, math.ceil(q * len(values))) - 1]


def test_histogram_quantiles_within_one_percent_over_six_decades():
    rng = random.Random(3)
    values = [10 ** rng.uniform(-2, 4) for _ in range(20_000)]  # 0.01 ms .. 10 s
    h = LogHistogram()
    for v in values:
        h.add(v)
    for q in (0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        assert h.quantile(q) == pytest.approx(exact_quantile(values, q), rel=0.01), q
    assert h.count == len(values) and h.mean == pytest.approx(sum(values) / len(values))
    assert len(h.to_json()["buckets"]) < 800  # compact: buckets, not samples


def test_histogram_merge_is_exact_and_survives_json():
    rng = random.Random(5)
    a, b, both = LogHistogram(), LogHistogram(), LogHistogram()
    for i in range(3000):
        v = rng.expovariate(1 / 40) if i % 7 else 0.0  # zeros are counted apart
        (a if i % 2 else b).add(v)
        both.add(v)
    merged = LogHistogram.from_json(json.loads(json.dumps(a.to_json()))).merge(b)
    got, want = merged.to_json(), both.to_json()
    assert got.pop("buckets") == want.pop("buckets")
    assert got == pytest.approx(want)
    assert merged.quantile(0.1) == 0.0 and merged.zeros == both.zeros > 0
    assert LogHistogram().quantile(0.5) is None
    with pytest.raises(ValueError):
        LogHistogram.from_json({**a.to_json(), "count": a.count + 1})
    with pytest.raises(ValueError):
        LogHistogram.from_json({"gamma": 2})


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


def test_record_merges_by_second_and_reads_back(tmp_path):
    worker_a, worker_b = ChatRecord(), ChatRecord()
    worker_a.add(start=100.2, end=101.5, ttft_s=0.2, gaps_s=[0.02, 0.03], output_tokens=3,
                 usage_reported=True)
    worker_b.add(start=100.9, end=102.1, ttft_s=0.4, gaps_s=[0.05], output_tokens=2,
                 usage_reported=False)
    total = ChatRecord().merge(worker_a.take()).merge(worker_b)
    assert not worker_a and sorted(total.slots) == [101, 102]
    assert (total.first_start, total.last_end) == (100.2, 102.1)
    record_path(tmp_path / "locust").write_text(json.dumps(total.to_json()))
    back = read_record(tmp_path / "locust")
    f = figures(back.window(), back.last_end - back.first_start)
    assert f["chatRequests"] == 2 and f["outputTokens"] == 5
    assert f["ttftP50Ms"] == pytest.approx(200, rel=0.01)
    assert f["ttftP99Ms"] == pytest.approx(400, rel=0.01)
    assert f["itlP50Ms"] == pytest.approx(30, rel=0.01)
    assert f["outputTokensPerS"] == pytest.approx(5 / 1.9, rel=0.01)
    assert f["usageReportedShare"] == 0.5
    assert figures(back.window(102, 103), 1.0)["chatRequests"] == 1
    assert read_record(tmp_path / "none") is None
    record_path(tmp_path / "bad").write_text('{"version": 1, "slots": {"x": 1}}')
    with pytest.raises(ValueError, match="bad_chat.json is unusable"):
        read_record(tmp_path / "bad")
