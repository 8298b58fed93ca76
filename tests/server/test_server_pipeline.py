"""The inference pipeline's parts: tokenizing apart from the forward, packing by length, the
tokenizer stage of the batcher overlapping the model, threads from the CPU limit."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import numpy as np
import pytest

from loadgate.server.batcher import Batcher
from loadgate.server.cpu import cpu_limit
from loadgate.server.settings import ServerSettings, bundled_model_path
from loadgate.server.tokenization import (
    TextTokenizer,
    Tokenized,
    max_seq_length,
    pad,
    plan_forwards,
)


def cost(groups, lengths, overhead):
    return sum(overhead + len(g) * max(lengths[i] for i in g) for g in groups)


@pytest.mark.parametrize("seed", range(6))
def test_plan_forwards_covers_everything_within_budget_and_is_optimal(seed):
    rng = np.random.default_rng(seed)
    lengths = [int(x) for x in rng.integers(3, 60, size=int(rng.integers(1, 9)))]
    budget, overhead = 120, 20
    groups = plan_forwards(lengths, budget, overhead)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        assert len(g) == 1 or len(g) * max(lengths[i] for i in g) <= budget
    # no other split of the length-sorted texts into runs is cheaper (brute force)
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    best = float("inf")
    for cuts in itertools.product([0, 1], repeat=len(order) - 1):
        runs, start = [], 0
        for k, c in enumerate(cuts, 1):
            if c:
                runs.append(order[start:k])
                start = k
        runs.append(order[start:])
        if all(len(r) == 1 or len(r) * max(lengths[i] for i in r) <= budget for r in runs):
            best = min(best, cost(runs, lengths, overhead))
    assert cost(groups, lengths, overhead) == best


def test_plan_forwards_groups_equal_lengths_and_isolates_a_long_text():
    lengths = [10] * 30 + [200]
    groups = plan_forwards(lengths, 2048)
    assert [len(g) for g in groups] == [30, 1] and groups[1] == [30]
    assert plan_forwards([], 100) == []
    assert plan_forwards([500], 100) == [[0]]  # longer than the budget: alone, not dropped


def test_pad_right_pads_with_the_pad_id_and_masks():
    ids, mask = pad([Tokenized(np.array([5, 6, 7])), Tokenized(np.array([8]))], pad_id=9)
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == np.int64


def test_tokenizer_matches_sentence_transformers_and_truncates_like_it():
    from pathlib import Path

    from transformers import AutoTokenizer

    model_dir = Path(bundled_model_path())
    assert max_seq_length(model_dir) == 256
    tok = TextTokenizer.from_dir(model_dir)
    hf = AutoTokenizer.from_pretrained(str(model_dir))
    texts = ["Hello, world!", "naïve café ☕ 日本語", "word " * 400]
    ours = tok(texts)
    for text, t in zip(texts, ours, strict=True):
        assert t.ids.tolist() == hf(text, truncation=True, max_length=256)["input_ids"]
    assert len(ours[2]) == 256  # truncated where sentence-transformers truncates


def test_cpu_limit_reads_cgroup_quota(tmp_path):
    import os

    cpus = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_limit(tmp_path) == cpus
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpu_limit(tmp_path) == min(cpus, 2)  # 1.5 CPUs -> 2 threads (rounded up)
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cpu_limit(tmp_path) == 1
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_limit(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_limit(v1) == cpus
    assert ServerSettings(threads=0).resolved_threads == cpu_limit()
    assert ServerSettings(threads=3).resolved_threads == 3


class Stages:
    """prepare/forward that record which thread ran them and when."""

    def __init__(self, forward_s: float = 0.0, fail_on: str | None = None):
        self.events: list[tuple[str, str, float, float]] = []  # (stage, thread, start, end)
        self.forward_s = forward_s
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def prepare(self, texts):
        t0 = time.monotonic()
        if self.fail_on in texts:
            raise ValueError("cannot tokenize")
        out = [len(t) for t in texts]
        with self.lock:
            self.events.append(("prepare", threading.current_thread().name, t0,
                                time.monotonic()))
        return out

    def forward(self, items):
        t0 = time.monotonic()
        time.sleep(self.forward_s)
        with self.lock:
            self.events.append(("forward", threading.current_thread().name, t0,
                                time.monotonic()))
        return np.array([[float(n)] for n in items], np.float32)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_tokenizing_runs_on_its_own_thread_while_the_model_computes():
    st = Stages(forward_s=0.2)

    async def main():
        b = Batcher(st.forward, prepare=st.prepare, max_batch_size=4, max_wait_s=0.001,
                    max_queue=100)
        b.start()
        first = asyncio.ensure_future(b.submit(["aaaa"] * 4))
        await asyncio.sleep(0.05)  # first is in its forward now
        second = await asyncio.gather(b.submit(["bb"]), first)
        await b.close()
        return second

    (second, first) = run(main())
    assert first.tolist() == [[4.0]] * 4 and second.tolist() == [[2.0]]
    prepares = [e for e in st.events if e[0] == "prepare"]
    forwards = [e for e in st.events if e[0] == "forward"]
    assert {e[1].split("_")[0] for e in prepares} == {"tokenizer"}
    assert {e[1].split("_")[0] for e in forwards} == {"inference"}
    # the second request was tokenized while the first forward was still running
    assert forwards[0][2] < prepares[1][2] and prepares[1][3] < forwards[0][3]


def test_a_tokenizer_error_fails_only_its_request_and_close_waits_for_tokenizing():
    st = Stages(fail_on="boom")

    async def main():
        b = Batcher(st.forward, prepare=st.prepare, max_batch_size=8, max_wait_s=0.001,
                    max_queue=100)
        b.start()
        with pytest.raises(ValueError, match="tokenize"):
            await b.submit(["ok", "boom"])
        assert b.queued_texts == 0  # the failed request left no trace
        late = asyncio.ensure_future(b.submit(["accepted", "before", "close"]))
        await asyncio.sleep(0)  # accepted: now on the tokenizer thread
        await b.close()
        return await late

    assert run(main()).tolist() == [[8.0], [6.0], [5.0]]
