"""Dynamic micro-batching: concurrent requests merged into one model call, in two stages.

1. `submit` hands a request's texts to the tokenizer thread (`prepare`) as soon as it arrives,
   then queues the tokenized texts. Tokenizing overlaps the model's current forward, so the
   model never waits for it.
2. One asyncio task gathers queued requests into a batch (at most `max_batch_size` texts,
   waiting at most `max_wait_s` after the oldest request arrived), runs `forward` on a single
   inference thread (so the event loop keeps serving HTTP) and hands each request its own rows
   back. The moment a forward ends the next batch is already tokenized and waiting.

With batching off every request is its own forward: the naive design, kept for comparison.
Without `prepare`, `forward` gets the texts themselves (tokenizing inside the forward).

The queue is bounded in texts: `submit` raises `QueueFull` instead of letting a backlog grow.
`close()` stops taking work, finishes everything already queued, then ends the task, which is
what a graceful shutdown needs.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


class QueueFull(Exception):
    """The queue holds max_queue texts already; the caller should answer 503 + Retry-After."""


class ShuttingDown(Exception):
    """close() was called; no new work is accepted."""


@dataclass
class _Pending:
    texts: list  # what `prepare` made of the request's texts (the texts without it)
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    """Callbacks for metrics; all optional."""
    on_batch: Callable[[int, int, float], None] | None = None  # texts, requests, seconds
    on_queue: Callable[[int, int], None] | None = None  # texts, requests waiting


class Batcher:
    def __init__(self, forward: Callable[[list], np.ndarray], *, max_batch_size: int,
                 max_wait_s: float, max_queue: int, stats: BatchStats | None = None,
                 prepare: Callable[[list[str]], list] | None = None):
        self._forward = forward
        self._prepare = prepare
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait_s = max(0.0, max_wait_s)
        self.max_queue = max_queue
        self.batching = self.max_batch_size > 1 and self.max_wait_s > 0
        self._stats = stats or BatchStats()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._queued_texts = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._preparing = 0  # accepted requests still on the tokenizer thread
        self._task: asyncio.Task | None = None
        # one inference thread: the runtime already uses several cores inside one forward
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._tokenizer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tokenizer")

    @property
    def queued_texts(self) -> int:
        return self._queued_texts

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def submit(self, texts: list[str]) -> np.ndarray:
        """Embeddings for texts, in order, once their batch has run."""
        if self._closing:
            raise ShuttingDown()
        # an empty queue takes any request, so one larger than max_queue is slow, not refused
        if self._queued_texts and self._queued_texts + len(texts) > self.max_queue:
            raise QueueFull()
        loop = asyncio.get_running_loop()
        item = _Pending(texts, loop.create_future())
        self._queued_texts += len(texts)  # counted from arrival: tokenizing texts wait too
        if self._prepare is not None:
            self._preparing += 1
            try:
                item.texts = await loop.run_in_executor(self._tokenizer, self._prepare, texts)
            except BaseException:  # a tokenizer error or a cancelled caller: leave no trace
                self._queued_texts -= len(texts)
                raise
            finally:
                self._preparing -= 1
                self._wake.set()  # close() may be waiting for this one
        self._queue.append(item)
        self._report_queue()
        self._wake.set()
        return await item.future

    async def close(self) -> None:
        """Finish every queued request, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)
        self._tokenizer.shutdown(wait=True)

    def _report_queue(self) -> None:
        if self._stats.on_queue:
            self._stats.on_queue(self._queued_texts, len(self._queue))

    def _take(self) -> _Pending:
        item = self._queue.popleft()
        self._queued_texts -= len(item.texts)
        return item

    async def _gather(self) -> list[_Pending]:
        """Wait for work, then collect a batch."""
        while not self._queue:
            if self._closing and not self._preparing:
                return []
            self._wake.clear()
            await self._wake.wait()
        batch = [self._take()]
        n = len(batch[0].texts)
        if self.batching:
            # the oldest request waits at most max_wait_s in total, including time it already
            # spent queued behind the previous forward
            deadline = batch[0].enqueued + self.max_wait_s
            while n < self.max_batch_size:
                if self._queue:
                    if n + len(self._queue[0].texts) > self.max_batch_size:
                        break
                    item = self._take()
                    batch.append(item)
                    n += len(item.texts)
                    continue
                timeout = deadline - time.monotonic()
                if timeout <= 0 or self._closing:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    break
        self._report_queue()
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            if not batch:
                return
            batch = [p for p in batch if not p.future.done()]  # caller gave up (cancelled)
            if not batch:
                continue
            texts = [t for p in batch for t in p.texts]
            t0 = time.perf_counter()
            try:
                emb = await loop.run_in_executor(self._executor, self._forward, texts)
            except Exception as e:  # a model failure fails this batch, not the server
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(e)
                continue
            if self._stats.on_batch:
                self._stats.on_batch(len(texts), len(batch), time.perf_counter() - t0)
            start = 0
            for p in batch:
                end = start + len(p.texts)
                if not p.future.done():
                    p.future.set_result(emb[start:end])
                start = end
