"""Test servers speaking other model APIs, with known timing: an OpenAI chat endpoint that
streams SSE, and a Hugging Face TEI embeddings endpoint.

    python tests/support/model_apis.py --port 8123 --ttft-ms 150 --itl-ms 25

or from a test: `with model_apis.running(ttft_ms=150, itl_ms=25) as base_url: ...`.

POST /v1/chat/completions  streamed (`"stream": true`): a role chunk at once, then exactly
    `max_tokens` content chunks (one token each), the first `--ttft-ms` after the request
    arrived and each next one `--itl-ms` later (on an absolute schedule, so gaps do not
    drift), a finish chunk, a usage chunk when `stream_options.include_usage` (unless
    `--no-usage`), then `data: [DONE]`. Not streamed: one JSON answer after
    ttft + (n-1) * itl with its usage.
    `--pattern` cycles what each request gets: `ok`, `no-done` (the stream just ends),
    `malformed` (a chunk that is not JSON), `error` (an error event), `cut` (the connection
    closed mid-stream), `429` (HTTP 429 with
    `Retry-After: --retry-after`), `503`. Default: `ok` for every request.
POST /embed  TEI: {"inputs": [...]} -> a list of `--dim`-float vectors.
GET /health  200 with an empty body (as vLLM and TEI answer).
`--require-header "Authorization: Bearer x"`: POSTs without exactly that header get 401 (and
GET /health too with `--guard-health`, as an API gateway in front of the model might).
GET /stats   {"chat": requests, "kinds": {kind: count}} received so far.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Iterator

from aiohttp import web

KINDS = ("ok", "no-done", "malformed", "error", "cut", "429", "503")


def _chunk(delta: dict | None = None, finish: str | None = None, **extra) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    doc = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": "test",
           "choices": choices, **extra}
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


class ModelApis:
    def __init__(self, args: argparse.Namespace):
        self.ttft_s = args.ttft_ms / 1000
        self.itl_s = args.itl_ms / 1000
        self.usage = not args.no_usage
        self.dim = args.dim
        self.retry_after = args.retry_after
        self.pattern = itertools.cycle(args.pattern.split(","))
        self.kinds: Counter = Counter()
        name, _, value = (args.require_header or "").partition(":")
        self.required = (name.strip(), value.strip()) if name else None
        self.guarded = {"POST", "GET"} if args.guard_health else {"POST"}

    @web.middleware
    async def auth(self, request: web.Request, handler):
        if self.required and request.method in self.guarded and request.path != "/stats" and \
                request.headers.get(self.required[0]) != self.required[1]:
            return web.json_response({"error": {"message": "bad key", "type": "auth",
                                                "code": "invalid_api_key"}}, status=401)
        return await handler(request)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        body = await request.json()
        kind = next(self.pattern)
        self.kinds[kind] += 1
        if kind in ("429", "503"):
            return web.json_response(
                {"error": {"message": "slow down", "type": "rate_limit", "code": None}},
                status=int(kind), headers={"Retry-After": str(self.retry_after)})
        n = int(body.get("max_tokens") or 16)
        if not body.get("stream"):
            await asyncio.sleep(max(0.0, arrived + self.ttft_s + (n - 1) * self.itl_s
                                    - loop.time()))
            return web.json_response({
                "object": "chat.completion", "model": "test",
                "choices": [{"index": 0, "finish_reason": "length",
                             "message": {"role": "assistant", "content": "tok " * n}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": n, "total_tokens": n + 7}})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        try:
            await self._stream(resp, request, body, kind, arrived, n)
        except ConnectionResetError:
            pass  # the client left mid-stream (Locust stopping its users)
        return resp

    async def _stream(self, resp, request, body: dict, kind: str, arrived: float, n: int):
        loop = asyncio.get_running_loop()
        await resp.prepare(request)
        await resp.write(_chunk({"role": "assistant", "content": ""}))
        for i in range(n):
            await asyncio.sleep(max(0.0, arrived + self.ttft_s + i * self.itl_s - loop.time()))
            if kind == "cut" and i == n // 2:
                request.transport.close()
                return
            if kind == "malformed" and i == n // 2:
                await resp.write(b"data: {\"choices\": [{\"delta\": {\"content\": \"tru\n\n")
            await resp.write(_chunk({"content": f"tok{i} "}))
        if kind == "error":
            await resp.write(b'data: {"error": {"message": "engine overloaded", "code": 500}}'
                             b"\n\n")
        await resp.write(_chunk({}, finish="length"))
        if self.usage and (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(_chunk(None, usage={"prompt_tokens": 7, "completion_tokens": n,
                                                 "total_tokens": n + 7}))
        if kind != "no-done":
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()

    async def tei(self, request: web.Request) -> web.Response:
        inputs = (await request.json()).get("inputs")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        return web.json_response([[0.01] * self.dim for _ in inputs])

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"chat": sum(self.kinds.values()), "kinds": self.kinds})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.auth])
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/embed", self.tei)
        app.router.add_get("/health", self.health)
        app.router.add_get("/stats", self.stats)
        return app


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ttft-ms", type=float, default=150.0)
    p.add_argument("--itl-ms", type=float, default=25.0)
    p.add_argument("--no-usage", action="store_true")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--retry-after", default="1")
    p.add_argument("--pattern", default="ok")
    p.add_argument("--require-header", default="")
    p.add_argument("--guard-health", action="store_true")
    return p


@contextlib.contextmanager
def running(**options) -> Iterator[str]:
    """Start this server in a subprocess on a free loopback port; yields its base URL.
    Options are the flags' names: ttft_ms=150, itl_ms=25, pattern="ok,429", no_usage=True."""
    from support.servers import running_script  # the test process only, not the script

    args = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    with running_script(__file__, *args, health="/stats") as base:
        yield base


def main() -> None:
    args = parser().parse_args()
    unknown = set(args.pattern.split(",")) - set(KINDS)
    if unknown:
        raise SystemExit(f"--pattern: unknown kinds {sorted(unknown)} (known: {KINDS})")
    web.run_app(ModelApis(args).app(), host=args.host, port=args.port, print=None,
                access_log=None, handle_signals=True)


if __name__ == "__main__":
    main()
