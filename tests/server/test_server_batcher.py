"""The micro-batcher's rules, with a deterministic encoder standing in for the model.

The real model goes through the same code in test_server_embed.py; here the encoder records
every call so the batch composition itself can be checked exactly.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from loadgate.server.batcher import Batcher, QueueFull, ShuttingDown


class RecordingEncoder:
    """Row i is [hash-ish of text i, len]; records the texts of every call."""

    def __init__(self, delay: float = 0.0):
        self.calls: list[list[str]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        return np.array([[float(sum(map(ord, t))), float(len(t))] for t in texts], np.float32)


def expected(texts):
    return np.array([[float(sum(map(ord, t))), float(len(t))] for t in texts], np.float32)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def requests(n: int, size: int) -> list[list[str]]:
    return [[f"request {i} text {j}" for j in range(size)] for i in range(n)]


def test_concurrent_requests_share_calls_and_get_their_own_rows():
    enc = RecordingEncoder(delay=0.01)

    async def main():
        b = Batcher(enc, max_batch_size=16, max_wait_s=0.05, max_queue=1000)
        b.start()
        reqs = requests(20, 3)
        outs = await asyncio.gather(*(b.submit(r) for r in reqs))
        await b.close()
        return reqs, outs

    reqs, outs = run(main())
    for r, out in zip(reqs, outs, strict=True):
        np.testing.assert_array_equal(out, expected(r))
    assert len(enc.calls) < 20, "concurrent requests were not merged"
    assert all(len(c) <= 16 for c in enc.calls), "a model call exceeded max_batch_size"
    assert sum(map(len, enc.calls)) == 60
    assert enc.threads and all(t.startswith("inference") for t in enc.threads)


def test_batching_off_is_one_request_per_call():
    for kwargs in ({"max_batch_size": 1, "max_wait_s": 0.05}, {"max_batch_size": 64,
                                                               "max_wait_s": 0}):
        enc = RecordingEncoder()

        async def main(kwargs=kwargs, enc=enc):
            b = Batcher(enc, max_queue=1000, **kwargs)
            assert not b.batching
            b.start()
            reqs = requests(10, 4)
            outs = await asyncio.gather(*(b.submit(r) for r in reqs))
            await b.close()
            return reqs, outs

        reqs, outs = run(main())
        assert sorted(map(tuple, enc.calls)) == sorted(map(tuple, reqs))
        for r, out in zip(reqs, outs, strict=True):
            np.testing.assert_array_equal(out, expected(r))


def test_a_lone_request_waits_at_most_max_wait():
    enc = RecordingEncoder()

    async def main():
        b = Batcher(enc, max_batch_size=64, max_wait_s=0.2, max_queue=100)
        b.start()
        t0 = time.monotonic()
        await b.submit(["alone"])
        waited = time.monotonic() - t0
        await b.close()
        return waited

    waited = run(main())
    assert 0.15 < waited < 10  # it did wait for company, and did not hang
    assert enc.calls == [["alone"]]


def test_queue_bound_rejects_and_close_drains_what_was_queued():
    enc = RecordingEncoder(delay=0.05)

    async def main():
        b = Batcher(enc, max_batch_size=4, max_wait_s=0.001, max_queue=8)
        b.start()
        first = asyncio.ensure_future(b.submit(["a"] * 4))
        await asyncio.sleep(0.02)  # first is now inside the model call, the queue is empty
        queued = [asyncio.ensure_future(b.submit([f"q{i}"] * 4)) for i in range(2)]
        await asyncio.sleep(0)
        assert b.queued_texts == 8
        with pytest.raises(QueueFull):
            await b.submit(["one too many"])
        assert b.queued_texts == 8  # the refused request left no trace
        closing = asyncio.ensure_future(b.close())
        await asyncio.sleep(0)
        with pytest.raises(ShuttingDown):
            await b.submit(["late"])
        outs = await asyncio.gather(first, *queued)
        await closing
        return outs

    outs = run(main())
    assert [o.shape for o in outs] == [(4, 2)] * 3
    assert len(enc.calls) == 3


def test_a_request_larger_than_the_queue_is_served_when_the_queue_is_empty():
    enc = RecordingEncoder()

    async def main():
        b = Batcher(enc, max_batch_size=4, max_wait_s=0.001, max_queue=2)
        b.start()
        out = await b.submit(["big"] * 6)
        await b.close()
        return out

    assert run(main()).shape == (6, 2)


def test_a_model_error_fails_only_its_batch():
    calls = []

    def flaky(texts):
        calls.append(texts)
        if "boom" in texts:
            raise RuntimeError("model exploded")
        return np.zeros((len(texts), 2), np.float32)

    async def main():
        b = Batcher(flaky, max_batch_size=8, max_wait_s=0, max_queue=100)
        b.start()
        with pytest.raises(RuntimeError, match="exploded"):
            await b.submit(["boom"])
        out = await b.submit(["fine", "too"])
        await b.close()
        return out

    assert run(main()).shape == (2, 2)
