"""Dynamic micro-batching: concurrent requests merged into one model call, in two stages.

1. `submit` hands a request's texts to the tokenizer thread (`prepare`) as soon as it arrives,
   then queues the tokenized texts. Tokenizing overlaps the model's current forward, so the
   model never waits for it.
2. One inference thread takes queued requests as a batch (at most `max_batch_size` texts,
   waiting at most `max_wait_s` after the oldest request arrived), runs `forward` and hands the
   rows to the event loop, which gives each request its own. The thread takes the next batch
   the moment a forward ends, already tokenized: the event loop (HTTP parsing, JSON, answering
   the last batch's requests) is never on the path between two forwards, so the model does not
   idle while the loop is busy.

With batching off every request is its own forward: the naive design, kept for comparison.
Without `prepare`, `forward` gets the texts themselves (tokenizing inside the forward).

The queue is bounded in texts: `submit` raises `QueueFull` instead of letting a backlog grow.
`close()` stops taking work, finishes everything already accepted, then ends the thread, which
is what a graceful shutdown needs.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
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
        # everything below is shared with the inference thread: read and written under _cond
        self._cond = threading.Condition()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._queued_texts = 0  # accepted and not yet in a forward (tokenizing ones too)
        self._arriving = 0  # accepted, not yet queued (on the tokenizer thread)
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future | None = None
        self._thread: threading.Thread | None = None
        self._tokenizer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tokenizer")

    @property
    def queued_texts(self) -> int:
        return self._queued_texts

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        # one inference thread: the runtime already uses several cores inside one forward
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()

    async def submit(self, texts: list[str]) -> np.ndarray:
        """Embeddings for texts, in order, once their batch has run."""
        return (await self._submit(texts))[0]

    async def submit_counted(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """submit, and the tokens the model read for these texts, counted on what `prepare`
        (a tokenizer: one sequence per text) made of them, not tokenized a second time."""
        vectors, prepared = await self._submit(texts)
        return vectors, sum(len(t) for t in prepared)

    async def _submit(self, texts: list[str]) -> tuple[np.ndarray, list]:
        """(embeddings, what `prepare` made of the texts) once their batch has run."""
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._closing:
                raise ShuttingDown()
            # an empty queue takes any request, so one larger than max_queue is slow, not refused
            if self._queued_texts and self._queued_texts + len(texts) > self.max_queue:
                raise QueueFull()
            self._queued_texts += len(texts)  # counted from arrival: tokenizing texts wait too
            self._arriving += 1
        item = _Pending(texts, loop.create_future())
        try:
            if self._prepare is not None:
                item.texts = await loop.run_in_executor(self._tokenizer, self._prepare, texts)
        except BaseException:  # a tokenizer error or a cancelled caller: leave no trace
            with self._cond:
                self._queued_texts -= len(texts)
                self._arriving -= 1
                self._cond.notify_all()  # close() may be waiting for this one
            raise
        with self._cond:
            self._arriving -= 1
            self._queue.append(item)
            self._report_queue()
            self._cond.notify_all()
        return await item.future, item.texts

    async def close(self) -> None:
        """Finish every accepted request, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._stopped is not None:
            await self._stopped
        self._tokenizer.shutdown(wait=True)

    def _report_queue(self) -> None:
        if self._stats.on_queue:
            self._stats.on_queue(self._queued_texts, len(self._queue))

    def _take(self) -> _Pending:
        item = self._queue.popleft()
        self._queued_texts -= len(item.texts)
        return item

    def _gather(self) -> list[_Pending]:
        """(inference thread) Wait for work, then collect a batch; [] once closed and drained."""
        with self._cond:
            while not self._queue:
                if self._closing and not self._arriving:
                    return []
                self._cond.wait()
            batch = [self._take()]
            n = len(batch[0].texts)
            if self.batching:
                # the oldest request waits at most max_wait_s in total, including time it
                # already spent queued behind the previous forward
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
                    self._cond.wait(timeout)
            self._report_queue()
            return batch

    def _run(self) -> None:
        """(inference thread) Forward batch after batch; results go back through the loop."""
        try:
            while batch := self._gather():
                batch = [p for p in batch if not p.future.done()]  # caller gave up (cancelled)
                if not batch:
                    continue
                texts = [t for p in batch for t in p.texts]
                t0 = time.perf_counter()
                try:
                    emb, error = self._forward(texts), None
                except Exception as e:  # a model failure fails this batch, not the server
                    emb, error = None, e
                if error is None and self._stats.on_batch:
                    self._stats.on_batch(len(texts), len(batch), time.perf_counter() - t0)
                self._loop.call_soon_threadsafe(self._deliver, batch, emb, error)
        finally:
            try:
                self._loop.call_soon_threadsafe(self._finish)
            except RuntimeError:  # the loop is already closed: nobody is waiting
                pass

    @staticmethod
    def _deliver(batch: list[_Pending], emb: np.ndarray | None,
                 error: Exception | None) -> None:
        """(event loop) Each request its own rows, or the batch's error."""
        start = 0
        for p in batch:
            end = start + len(p.texts)
            if not p.future.done():
                if error is not None:
                    p.future.set_exception(error)
                else:
                    p.future.set_result(emb[start:end])
            start = end

    def _finish(self) -> None:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)
