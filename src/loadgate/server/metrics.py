"""Prometheus metrics, one registry per app (so tests can build many apps in one process)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# fixed route labels keep cardinality bounded whatever paths clients send
ROUTES = ("/embed", "/health", "/health/live", "/metrics", "/v1/embeddings")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                   10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "loadgate_request_duration_seconds", "HTTP request latency by route",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter(
            "loadgate_requests", "HTTP requests by route and status code",
            ["method", "route", "status"], registry=r)
        self.in_flight = Gauge(
            "loadgate_requests_in_flight", "HTTP requests being served", ["route"], registry=r)
        self.batch_texts = Histogram(
            "loadgate_batch_size_texts", "texts per model call", buckets=BATCH_BUCKETS,
            registry=r)
        self.batch_requests = Histogram(
            "loadgate_batch_size_requests", "requests merged into one model call",
            buckets=BATCH_BUCKETS, registry=r)
        self.inference_seconds = Histogram(
            "loadgate_inference_duration_seconds", "time of one model call",
            buckets=LATENCY_BUCKETS, registry=r)
        self.queue_texts = Gauge(
            "loadgate_queue_depth_texts", "texts waiting for the model", registry=r)
        self.queue_requests = Gauge(
            "loadgate_queue_depth_requests", "requests waiting for the model", registry=r)
        self.rejected = Counter(
            "loadgate_rejected_requests", "requests refused (overloaded, not_ready, bad input)",
            ["reason"], registry=r)
        self.model_load_seconds = Gauge(
            "loadgate_model_load_seconds", "time to load and warm up the model", registry=r)
        self.ready = Gauge("loadgate_ready", "1 when the model is loaded and warmed", registry=r)
        self.info = Gauge("loadgate_model_info", "the served model", ["model", "backend"],
                          registry=r)

    def on_batch(self, texts: int, requests: int, seconds: float) -> None:
        self.batch_texts.observe(texts)
        self.batch_requests.observe(requests)
        self.inference_seconds.observe(seconds)

    def on_queue(self, texts: int, requests: int) -> None:
        self.queue_texts.set(texts)
        self.queue_requests.set(requests)


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request (cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        method = scope.get("method", "")
        status = 500
        t0 = time.perf_counter()
        in_flight = self.metrics.in_flight.labels(route)
        in_flight.inc()

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            in_flight.dec()
            self.metrics.request_seconds.labels(method, route).observe(time.perf_counter() - t0)
            self.metrics.requests.labels(method, route, str(status)).inc()
