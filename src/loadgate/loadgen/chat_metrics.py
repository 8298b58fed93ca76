"""Chat measurements Locust's response time cannot hold, kept per plan window in the run's
latency record (latency_record.py: `WindowData.chat`, written into `<prefix>_latency.json`).

Per successful chat request (protocols/openai_chat.py):
  time to first token (TTFT)  from sending the request to the first content chunk
  inter-token latency (ITL)   each gap between two content chunks
  output tokens               the server's usage.completion_tokens, else the content chunks
  tokens per second           that request's output tokens / its time from sending to the end

The protocol hands a `ChatSample` to Locust's request event (request_meta[META_KEY]); the
recorder (recorder.py) files it under the window it files the request's latency in and adds it
to that window's `ChatData`, so it is flushed to the master and merged exactly like the latency
histograms. Under a rate load the request's latency counts from its *scheduled* start, and so
does its TTFT: the recorder adds how late the request started (`late_ms`).

No locust import: the gate reads these back.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadgate.histogram import Histogram

META_KEY = "loadgate_chat"   # request_meta key: the ChatSample of a successful chat request


@dataclass(frozen=True)
class ChatSample:
    """What one successful chat request measured (times from sending it)."""

    ttft_ms: float | None            # None: not streamed
    gaps_ms: tuple[float, ...]
    output_tokens: int
    usage_reported: bool             # the token count came from the server's usage
    duration_s: float                # sending to the end of the answer


def _ms(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


class ChatData:
    """The chat requests of one window (a part of it, in one process, or all of it)."""

    __slots__ = ("requests", "output_tokens", "usage_reported", "ttft", "itl", "tokens_per_s")

    def __init__(self) -> None:
        self.requests = 0
        self.output_tokens = 0
        self.usage_reported = 0
        self.ttft = Histogram()
        self.itl = Histogram()
        # per-request tokens/s, recorded with record_ms: percentile() reads it back in tokens/s
        self.tokens_per_s = Histogram()

    def add(self, sample: ChatSample, late_ms: float = 0.0) -> None:
        """One request; `late_ms`: how late it started after its scheduled time (rate loads)."""
        self.requests += 1
        self.output_tokens += sample.output_tokens
        self.usage_reported += int(sample.usage_reported)
        if sample.ttft_ms is not None:
            self.ttft.record_ms(sample.ttft_ms + max(0.0, late_ms))
        for gap in sample.gaps_ms:
            self.itl.record_ms(gap)
        if sample.duration_s > 0:
            self.tokens_per_s.record_ms(sample.output_tokens / sample.duration_s)

    def merge(self, other: ChatData) -> ChatData:
        self.requests += other.requests
        self.output_tokens += other.output_tokens
        self.usage_reported += other.usage_reported
        self.ttft.merge(other.ttft)
        self.itl.merge(other.itl)
        self.tokens_per_s.merge(other.tokens_per_s)
        return self

    def __bool__(self) -> bool:
        return self.requests > 0

    def figures(self, seconds: float | None) -> dict:
        """summary.json's chat keys; `seconds`: the time these requests were sent over (for
        the aggregate output tokens per second), None when unknown."""
        per_s = self.output_tokens / seconds if seconds else None
        tps = self.tokens_per_s.percentile(0.5)
        return {"chatRequests": self.requests, "outputTokens": self.output_tokens,
                "ttftP50Ms": _ms(self.ttft.percentile(0.5)),
                "ttftP95Ms": _ms(self.ttft.percentile(0.95)),
                "ttftP99Ms": _ms(self.ttft.percentile(0.99)),
                "itlP50Ms": _ms(self.itl.percentile(0.5)),
                "itlP95Ms": _ms(self.itl.percentile(0.95)),
                "outputTokensPerS": _ms(per_s, 2), "requestTokensPerSP50": _ms(tps, 2),
                "usageReportedShare": (round(self.usage_reported / self.requests, 4)
                                       if self.requests else None)}

    # JSON: {"requests", "outputTokens", "usageReported", "ttft", "itl", "tokensPerS"}
    def to_json(self) -> dict:
        return {"requests": self.requests, "outputTokens": self.output_tokens,
                "usageReported": self.usage_reported, "ttft": self.ttft.to_json(),
                "itl": self.itl.to_json(), "tokensPerS": self.tokens_per_s.to_json()}

    @classmethod
    def from_json(cls, doc) -> ChatData:
        """ValueError for anything to_json did not write."""
        if not isinstance(doc, dict):
            raise ValueError("chat data must be an object")
        data = cls()
        for key, attr in (("requests", "requests"), ("outputTokens", "output_tokens"),
                          ("usageReported", "usage_reported")):
            v = doc.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"chat {key!r} must be a non-negative integer, not {v!r}")
            setattr(data, attr, v)
        for key, attr in (("ttft", "ttft"), ("itl", "itl"), ("tokensPerS", "tokens_per_s")):
            if key in doc:
                setattr(data, attr, Histogram.from_json(doc[key]))
        return data
