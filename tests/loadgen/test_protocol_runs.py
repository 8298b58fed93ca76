"""Real Locust runs of each protocol against servers that speak it (tests/support/model_apis.py,
and the real model server's /v1/embeddings).

- openai-chat end to end (`loadgate run`, master + worker) on a chat server with a known time
  to first token and inter-token gap: measured within 10% of the truth, the key sent from the
  environment, the chat rows in summary.json, junit.xml and summary.md, `loadgate gate` on the
  same results;
- a misbehaving chat server (no [DONE], a malformed chunk, an error event, a connection cut
  mid-stream, 429s): each its own failure reason, tokens counted from chunks when the server sends no usage;
- Retry-After honoured only when the scenario says so;
- tei and openai-embeddings: right answers pass, a wrong dimension is a failure.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from support import model_apis
from support.loadtests import loadtest, write_loadtest
from support.locust_runs import run_builtin

from loadgate.gate.results import read_run
from loadgate.gate.summary import judge
from loadgate.loadgen.think_time import WAIT_TIME_ENV
from loadgate.spec import Thresholds

pytestmark = pytest.mark.slow
TTFT_MS, ITL_MS = 150.0, 25.0
KEY = "Bearer s3cret-chat-key"


def rows(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def failures(prefix: str) -> dict[str, int]:
    """{reason: occurrences} of locust_failures.csv (Locust wraps it as CatchResponseError)."""
    return {r["Error"].removeprefix("CatchResponseError(")[1:-2]: int(r["Occurrences"])
            for r in rows(f"{prefix}_failures.csv")}


def stats(prefix: str) -> dict[str, dict]:
    return {r["Name"]: r for r in rows(f"{prefix}_stats.csv")}


def loadgate(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loadgate", *args], capture_output=True,
                          text=True, timeout=180, env=env)


def test_chat_run_measures_ttft_and_itl(tmp_path):
    out = tmp_path / "out"
    # the key guards the health path too: the readiness wait must send it
    with model_apis.running(ttft_ms=TTFT_MS, itl_ms=ITL_MS, guard_health=True,
                            require_header=f"Authorization: {KEY}") as base:
        path = write_loadtest(
            tmp_path, "chat", url=base + "/",   # a trailing slash: no //v1/... paths
            target={"headers": [{"name": "Authorization", "valueFrom": {"env": "CHAT_KEY"}}],
                    "readyTimeout": "20s"},
            load={"stages": [{"duration": "4s", "users": 2}, {"duration": "5s", "users": 6}],
                  "stopTimeout": "5s"},
            scenario={"protocol": "openai-chat", "model": "m", "maxTokens": [8, 16]},
            thresholds={"ttftP95Ms": 1000, "itlP95Ms": 200, "minOutputTokensPerS": 5,
                        "maxErrorRate": 0.01})
        run = loadgate("run", str(path), "--out", str(out),
                       env={**os.environ, "CHAT_KEY": KEY, WAIT_TIME_ENV: "0.05,0.1"})
        served = json.loads(urllib.request.urlopen(base + "/stats").read())["chat"]
    assert run.returncode == 0, run.stdout[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    s = summary["summary"]
    print(f"true TTFT {TTFT_MS} ms, ITL {ITL_MS} ms; measured TTFT p50 {s['ttftP50Ms']} "
          f"p95 {s['ttftP95Ms']} p99 {s['ttftP99Ms']}, ITL p50 {s['itlP50Ms']} "
          f"p95 {s['itlP95Ms']} ms over {s['chatRequests']} requests")
    assert s["failures"] == 0 and s["requests"] >= 20  # the key was sent (else 401s)
    # the latency record has every request; Locust's CSV may miss a worker's last report
    assert s["requests"] <= s["chatRequests"] <= served
    assert abs(s["ttftP50Ms"] - TTFT_MS) <= 0.1 * TTFT_MS
    assert abs(s["itlP50Ms"] - ITL_MS) <= 0.1 * ITL_MS
    assert TTFT_MS * 0.95 <= s["ttftP95Ms"] <= s["ttftP99Ms"] and ITL_MS * 0.95 <= s["itlP95Ms"]
    # one token per chunk, 8-16 asked; the server reports usage, which is what is counted
    assert 8 * s["chatRequests"] <= s["outputTokens"] <= 16 * s["chatRequests"]
    assert s["usageReportedShare"] == 1.0 and s["outputTokensPerS"] > 0
    assert s["requestTokensPerSP50"] == pytest.approx(1000 / ITL_MS, rel=0.35)

    chat_rows = {r["metric"]: r for r in summary["thresholds"]}
    for metric in ("ttftP95Ms", "itlP95Ms", "outputTokensPerS"):
        assert chat_rows[metric]["passed"] and chat_rows[metric]["observed"] == s[metric]
        assert f'name="{metric}"' in (out / "junit.xml").read_text()
        assert f"| {metric} |" in (out / "summary.md").read_text()
    assert "TTFT p50" in run.stdout and (out / "timeline.png").stat().st_size > 0
    for name in ("loadtest.json", "locust.log", "locust-worker-0.log", "summary.json"):
        assert KEY not in (out / name).read_text(), name  # the value is never written

    # the gate on the same files: a TTFT limit under the truth fails, in junit too
    gate = loadgate("gate", "--csv-prefix", str(out / "locust"), "--ttft-p95-ms", "100",
                    "--json", str(tmp_path / "gate.json"))
    assert gate.returncode == 1, gate.stdout
    row = next(r for r in json.loads((tmp_path / "gate.json").read_text())["thresholds"]
               if r["metric"] == "ttftP95Ms")
    assert not row["passed"] and row["observed"] > 100


def test_chat_under_a_rate_breakpoint(tmp_path):
    """Open loop: chat requests started on schedule, TTFT counted from the scheduled start (the
    recorder adds the generator's lateness, see test_chat_record), and the live early stop of a
    rate breakpoint on the step's TTFT p95 (true TTFT 150 ms, limit 100 ms: the first step)."""
    out = tmp_path / "out"
    with model_apis.running(ttft_ms=TTFT_MS, itl_ms=5) as base:
        path = write_loadtest(
            tmp_path, "chat-rate", url=base,
            load={"breakpoint": {"startRps": 6, "stepRps": 6, "maxRps": 18,
                                 "stepDuration": "4s"}, "stopTimeout": "3s"},
            scenario={"protocol": "openai-chat", "maxTokens": [4, 6]},
            thresholds={"ttftP95Ms": 100})
        run = loadgate("run", str(path), "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    s, bp = summary["summary"], summary["breakingPoint"]
    assert run.returncode == 0, run.stdout[-3000:]
    assert s["openLoop"] and s["dropped"] == 0 and s["failures"] == 0
    assert s["chatRequests"] == s["scheduled"] - s["unfinished"] >= 20
    assert abs(s["ttftP50Ms"] - TTFT_MS) <= 0.1 * TTFT_MS
    assert bp["found"] and bp["unit"] == "rps" and bp["brokeAtRps"] == 6
    assert bp["reason"] == "TTFT p95 over 100 ms" and bp["slo"]["p95Ms"] is None
    assert summary["windows"][0]["ttftP95Ms"] > 100
    assert len(summary["windows"]) < 3   # stopped live, after the first step's grace
    assert "TTFT p95" in (out / "locust.log").read_text()


def test_chat_misbehaviour_is_reported_as_failures(tmp_path):
    with model_apis.running(ttft_ms=20, itl_ms=5, no_usage=True,
                            pattern="ok,no-done,malformed,error,cut,429") as base:
        lt = loadtest(url=base, scenario={"protocol": "openai-chat", "maxTokens": [4, 6]})
        prefix = run_builtin(tmp_path, lt, users=3, seconds=4, wait_time_s="0.02,0.05")
        served_ok = json.loads(urllib.request.urlopen(base + "/stats").read())["kinds"]["ok"]
    got = failures(prefix)
    cut = [reason for reason in got if reason.startswith("chat stream broke off: ")]
    assert len(cut) == 1, got  # the connection closed mid-stream (the parser's own words)
    assert set(got) - set(cut) == {"chat stream ended without [DONE]",
                                   "chat stream: malformed chunk (not JSON)",
                                   "chat stream: error event: engine overloaded",
                                   "rate limited: HTTP 429 Too Many Requests (rate_limit)"}, got
    results = read_run(prefix)
    summary = judge("m", results, Thresholds())
    s = summary["summary"]
    assert s["rateLimited"] == got["rate limited: HTTP 429 Too Many Requests (rate_limit)"]
    # only the good sixth is measured (Locust's CSV may miss the last second's requests,
    # the chat record has them all); without usage, tokens are the content chunks
    assert 0 < s["requests"] - s["failures"] <= s["chatRequests"] <= served_ok
    assert s["usageReportedShare"] == 0.0
    assert 4 * s["chatRequests"] <= s["outputTokens"] <= 6 * s["chatRequests"]


@pytest.mark.parametrize("honour", [True, False])
def test_retry_after_is_honoured_when_asked(tmp_path, honour):
    with model_apis.running(pattern="429", retry_after=2) as base:
        lt = loadtest(url=base, scenario={"protocol": "openai-chat",
                                          "honorRetryAfter": honour})
        prefix = run_builtin(tmp_path, lt, users=2, seconds=3)
    requests = int(stats(prefix)["Aggregated"]["Request Count"])
    assert set(failures(prefix)) == {"rate limited: HTTP 429 Too Many Requests (rate_limit)"}
    if honour:
        assert requests <= 2 * 3  # each user: one request, then 2 s of waiting, ...
    else:
        assert requests > 40      # no think time: they hammer on


def test_tei_answers_pass_and_a_wrong_dimension_fails(tmp_path):
    with model_apis.running() as base:
        good = run_builtin(tmp_path / "good", loadtest(url=base, scenario={"protocol": "tei"}),
                           users=2, seconds=3)
        bad = run_builtin(tmp_path / "bad", loadtest(url=base, scenario={
            "protocol": "tei", "dimension": 768}), users=2, seconds=3)
    by_name = stats(good)
    assert {"/embed [single]", "/embed [batch]", "/health"} <= set(by_name)
    assert by_name["Aggregated"]["Failure Count"] == "0", failures(good)
    assert set(failures(bad)) == {"embedding of dimension 384, expected 768"}
    assert stats(bad)["/health"]["Failure Count"] == "0"


def test_openai_embeddings_against_our_server(model_server, tmp_path):
    lt = loadtest(url=model_server, scenario={"protocol": "openai-embeddings", "model": "any",
                                              "weights": {"single": 3, "batch": 1, "health": 1}})
    prefix = run_builtin(tmp_path, lt, users=3, seconds=4, wait_time_s="0.05,0.1")
    by_name = stats(prefix)
    assert {"/v1/embeddings [single]", "/v1/embeddings [batch]", "/health"} <= set(by_name)
    assert by_name["Aggregated"]["Failure Count"] == "0", failures(prefix)
