"""The embedding server: `uvicorn loadgate.server.app:app` or `loadgate serve`.

The port opens at once; the model loads and warms up in the background and `/health` turns 200
only then (a readiness probe's signal). `/embed` goes through the micro-batcher. On shutdown
(SIGTERM: uvicorn stops accepting and waits for in-flight requests) the lifespan exit lets the
batcher finish everything queued before the process ends.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from contextlib import asynccontextmanager
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from . import model as model_mod
from .batcher import Batcher, BatchStats, QueueFull, ShuttingDown
from .metrics import Metrics, MetricsMiddleware
from .settings import ServerSettings, SettingsError, load_settings
from .validation import InputError, check_content_type, parse_texts, read_body

# a child of uvicorn's logger: under `uvicorn ...app:app` our lines (model loaded, ONNX export)
# go where uvicorn's go, at its --log-level, with no logging setup of our own
log = logging.getLogger("uvicorn.error.loadgate")


def json_response(content: dict, status: int = 200, headers: dict | None = None) -> Response:
    # OPT_SERIALIZE_NUMPY: embeddings go out straight from the float32 array, no per-float loop
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    headers=headers, media_type="application/json")


class ServerState:
    """What the lifespan builds and the routes read (kept on app.state.server)."""

    def __init__(self, settings: ServerSettings, metrics: Metrics):
        self.settings = settings
        self.metrics = metrics
        self.embedder: model_mod.Embedder | None = None
        self.batcher: Batcher | None = None
        self.ready = False
        self.load_error: str | None = None
        self.loader: asyncio.Task | None = None

    async def load(self) -> None:
        s = self.settings
        t0 = time.perf_counter()
        try:
            def load_and_warm() -> model_mod.Embedder:
                emb = model_mod.load(s)
                if s.warmup:
                    emb.warmup(s.max_batch_size)
                return emb

            self.embedder = await asyncio.to_thread(load_and_warm)
        except Exception as e:  # keep serving /health (503) and say why; liveness fails
            log.exception("model failed to load")
            self.load_error = f"{type(e).__name__}: {e}"
            return
        seconds = time.perf_counter() - t0
        self.batcher = Batcher(self.embedder.forward, prepare=self.embedder.prepare,
                               max_batch_size=s.max_batch_size,
                               max_wait_s=s.max_batch_wait_ms / 1000, max_queue=s.max_queue,
                               stats=BatchStats(self.metrics.on_batch, self.metrics.on_queue))
        self.batcher.start()
        self.metrics.model_load_seconds.set(seconds)
        self.metrics.info.labels(s.label, s.backend).set(1)
        self.ready = True
        self.metrics.ready.set(1)
        log.info("model %s (%s) ready in %.1fs; batching=%s max_batch_size=%d wait=%sms",
                 s.label, s.backend, seconds, self.batcher.batching, s.max_batch_size,
                 s.max_batch_wait_ms)

    async def shutdown(self) -> None:
        self.ready = False
        self.metrics.ready.set(0)
        if self.loader is not None and not self.loader.done():
            self.loader.cancel()  # the loading thread itself finishes on its own
        if self.batcher is not None:
            await self.batcher.close()


def exit_zero_after_drain() -> None:
    """Let a drained SIGTERM shutdown exit 0.

    uvicorn (>= 0.29) re-raises a captured SIGTERM after its graceful shutdown, so the process
    dies of the signal (exit 143) even when every request was served. The contract here is a
    clean exit, so once the batcher has drained, SIGTERM is dropped from the signals uvicorn
    will re-raise. Its handler is a bound method of the running `uvicorn.Server`; if that ever
    changes this does nothing.
    """
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    captured = getattr(server, "_captured_signals", None)
    if isinstance(captured, list):
        captured[:] = [s for s in captured if s != signal.SIGTERM]


def server_state(request: Request) -> ServerState:
    """Dependency: the app's state, built by create_app and filled by the lifespan."""
    return request.app.state.server


State = Annotated[ServerState, Depends(server_state)]
router = APIRouter()


def error(state: ServerState, status: int, err: str, detail: str,
          headers: dict | None = None) -> Response:
    state.metrics.rejected.labels(err).inc()
    return json_response({"error": err, "detail": detail}, status, headers)


def not_ready_detail(state: ServerState) -> str:
    """Why the server cannot embed yet (both APIs say it the same way)."""
    return ("the model failed to load: " + state.load_error if state.load_error
            else "the model is still loading")


def not_ready(state: ServerState) -> Response:
    return error(state, 503, "not_ready", not_ready_detail(state),
                 {"Retry-After": str(state.settings.retry_after_s)})


@router.get("/health")
async def health(state: State) -> Response:
    if state.ready:
        return json_response({"status": "ok"})
    if state.load_error:  # never ready: say so, so a readiness wait can stop at once
        return json_response({"status": "failed", "detail": state.load_error}, 503)
    return json_response({"status": "not_ready"}, 503,
                         {"Retry-After": str(state.settings.retry_after_s)})


@router.get("/health/live")
async def live(state: State) -> Response:
    if state.load_error:  # a restart is the only cure; let the liveness probe see it
        return json_response({"status": "failed", "detail": state.load_error}, 503)
    return json_response({"status": "alive"})


@router.get("/metrics")
async def prometheus(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/embed")
async def embed(request: Request, state: State) -> Response:
    s = state.settings
    if not state.ready or state.batcher is None:
        return not_ready(state)
    try:
        check_content_type(request)
        texts = parse_texts(await read_body(request, s.max_body_bytes), s)
    except InputError as e:
        return error(state, e.status, e.error, e.detail)
    try:
        vectors = await state.batcher.submit(texts)
    except QueueFull:
        return error(state, 503, "overloaded",
                     f"more than {s.max_queue} texts are waiting; retry later",
                     {"Retry-After": str(s.retry_after_s)})
    except ShuttingDown:
        return error(state, 503, "shutting_down", "the server is shutting down",
                     {"Retry-After": str(s.retry_after_s), "Connection": "close"})
    return json_response({"embeddings": vectors, "model": s.label,
                          "dim": int(vectors.shape[1]), "count": len(texts)})


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    name = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return json_response({"error": name, "detail": str(exc.detail)}, exc.status_code,
                         getattr(exc, "headers", None))


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    return json_response({"error": "invalid_request", "detail": exc.errors()}, 422)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    # settings are read when the app is built, so env vars set before import take effect
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state: ServerState = app.state.server
        state.loader = asyncio.create_task(state.load(), name="model-load")
        try:
            yield
        finally:
            await state.shutdown()
            exit_zero_after_drain()

    app = FastAPI(title="loadgate model server", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    metrics = Metrics()
    app.state.server = ServerState(settings or load_settings(), metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(router)
    from .openai_routes import router as openai_router  # it imports this module's helpers
    app.include_router(openai_router)
    return app


try:
    app = create_app()
except SettingsError as e:  # `uvicorn loadgate.server.app:app` with a bad LOADGATE_* variable
    raise SystemExit(f"loadgate server: invalid settings:\n{e}") from None
