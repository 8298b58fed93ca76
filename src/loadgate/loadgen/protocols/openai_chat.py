"""OpenAI-compatible chat completions (vLLM, Ollama, LiteLLM, hosted APIs), streamed.

  chat    POST scenario.path (default /v1/chat/completions)   name "<path>"
  health  GET target.healthPath, any 200                      name "<healthPath>"

A chat request sends one prompt from the prompt corpus (short questions to long documents),
asks for a random number of output tokens in scenario.maxTokens, and with scenario.stream
(default) reads the Server-Sent Events as they arrive, timing each content chunk:

  time to first token (TTFT)  from sending the request to the first content chunk
  inter-token latency (ITL)   each gap between two content chunks
  output tokens               usage.completion_tokens when the server sends usage (asked for
                              with stream_options.include_usage), else the content chunks
  end-to-end latency          Locust's response time for the request (the whole stream)

A successful request hands its measurements (chat_metrics.ChatSample) to Locust's request
event, which the latency recorder files per window; a stream that ends without [DONE], a chunk
that is not JSON, an error event, or no content at all is a failure with that reason. Without
streaming, the answer's message content and usage are checked and only tokens are recorded.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import orjson

from loadgate.loadgen import PROMPTS_FILE
from loadgate.loadgen.chat_metrics import META_KEY, ChatSample
from loadgate.loadgen.protocols.common import (
    CORPUS,
    NOT_JSON,
    health,
    json_body,
    read_lines,
    status_ok,
    url,
)

LONG_PROMPTS = 40   # documents built from the corpus, next to the prompt file's lines
LONG_SENTENCES = (8, 30)
_INSTRUCTIONS = ("Summarize the following text in a few sentences.",
                 "List the main topics of the following text.",
                 "Answer briefly: what is the following text mostly about?")
# identity: a gzipped stream cannot be read line by line as it arrives
STREAM_HEADERS = {"Accept": "text/event-stream", "Accept-Encoding": "identity"}


def _prompts() -> list[str]:
    rng = random.Random(11)  # the same long prompts in every process and run
    long = [f"{rng.choice(_INSTRUCTIONS)}\n\n"
            + " ".join(rng.sample(CORPUS, rng.randint(*LONG_SENTENCES)))
            for _ in range(LONG_PROMPTS)]
    return read_lines(PROMPTS_FILE) + long


PROMPTS = _prompts()


@dataclass
class StreamResult:
    """What one streamed answer showed; `problem` is why it is a failure, else None."""

    ttft_s: float | None = None
    gaps_s: list[float] = field(default_factory=list)
    content_chunks: int = 0
    usage_tokens: int | None = None
    problem: str | None = None
    nbytes: int = 0

    @property
    def output_tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.content_chunks


def _usage_tokens(doc: dict) -> int | None:
    usage = doc.get("usage")
    n = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None


def read_stream(lines, t0: float) -> StreamResult:
    """Parse SSE `lines` — (perf_counter when it arrived, raw line) pairs — of a chat stream
    whose request was sent at t0. Reads to the end even after a problem (the connection is
    then clean for the next request); the first problem is the one reported."""
    out = StreamResult()
    done, last = False, None

    def fail(why: str) -> None:
        out.problem = out.problem or why

    for t, raw in lines:
        out.nbytes += len(raw)
        line = raw.strip()
        if not line.startswith(b"data:") or done:
            continue  # blank separators, ": keep-alive" comments, event:/id: fields
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            continue
        try:
            chunk = orjson.loads(data)   # a JSONDecodeError is a ValueError
        except ValueError:
            fail("chat stream: malformed chunk (not JSON)")
            continue
        if not isinstance(chunk, dict):
            fail("chat stream: malformed chunk (not a JSON object)")
            continue
        if "error" in chunk:
            err = chunk["error"]
            msg = err.get("message") if isinstance(err, dict) else err
            fail(f"chat stream: error event: {str(msg)[:120]}")
            continue
        if (n := _usage_tokens(chunk)) is not None:
            out.usage_tokens = n
        choices = chunk.get("choices")
        deltas = [c.get("delta") for c in choices if isinstance(c, dict)] \
            if isinstance(choices, list) else []
        if any(isinstance(d, dict) and (d.get("content") or d.get("reasoning_content"))
               for d in deltas):
            out.content_chunks += 1
            if last is None:
                out.ttft_s = t - t0
            else:
                out.gaps_s.append(t - last)
            last = t
    if not done:
        fail("chat stream ended without [DONE]")
    elif out.content_chunks == 0:
        fail("chat stream: no content tokens")
    return out


def _lines(resp):
    """(arrival time, line) of a streamed body, each as soon as it is complete.
    geventhttpclient's readline returns a line once it is in; Locust's iter_content would
    wait for 1 KiB, and the chunk timing would be wrong."""
    raw = resp._response
    while True:
        line = raw.readline(b"\n")
        if not line:
            return
        yield time.perf_counter(), line


def _whole(resp) -> StreamResult:
    """A non-streamed answer: content present, tokens from usage (no TTFT/ITL)."""
    body = json_body(resp)
    out = StreamResult(nbytes=len(resp.content or b""))
    if body is NOT_JSON:
        out.problem = "response is not JSON"
        return out
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if not content:
        out.problem = "chat answer has no message content"
    out.usage_tokens = _usage_tokens(body) if isinstance(body, dict) else None
    return out


def request_body(scenario) -> dict:
    body = {"messages": [{"role": "user", "content": random.choice(PROMPTS)}],
            "max_tokens": random.randint(*scenario.max_tokens), "stream": scenario.stream}
    if scenario.model:
        body["model"] = scenario.model
    if scenario.stream:
        body["stream_options"] = {"include_usage": True}
    return body


def chat(user, scenario) -> None:
    path = scenario.request_path
    t0 = time.perf_counter()
    with user.client.post(url(user.host, path), json=request_body(scenario), name=path,
                          catch_response=True,
                          stream=scenario.stream,
                          headers=STREAM_HEADERS if scenario.stream else None) as resp:
        if not status_ok(resp, user, scenario):
            return
        try:
            result = read_stream(_lines(resp), t0) if scenario.stream else _whole(resp)
        except Exception as e:  # noqa: BLE001 - a reset or timeout mid-stream: a failure, counted
            result = StreamResult(problem=f"chat stream broke off: {type(e).__name__}: {e}"[:200])
        elapsed = time.perf_counter() - t0
        # a streamed request's Locust time stops at the headers: make it end to end
        resp.request_meta["response_time"] = elapsed * 1000
        resp.request_meta["response_length"] = result.nbytes
        if result.problem:
            resp.failure(result.problem)
            return
        resp.request_meta[META_KEY] = ChatSample(
            ttft_ms=None if result.ttft_s is None else result.ttft_s * 1000,
            gaps_ms=tuple(g * 1000 for g in result.gaps_s), output_tokens=result.output_tokens,
            usage_reported=result.usage_tokens is not None, duration_s=elapsed)
        resp.success()


TASKS = {"chat": chat, "health": health}
