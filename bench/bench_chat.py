"""How many streamed chat requests per second one Locust worker process sustains.

    python -m bench.bench_chat --seconds 20 [--users 20] [--tokens 16]

The chat test server (tests/support/model_apis.py, a separate process) streams every answer at
once: a role chunk, `--tokens` content chunks, usage and [DONE], with no time to first token or
gap, so the worker, not the target, is the limit. A headless master and ONE worker process run
closed-loop users of the built-in locustfile with scenario.protocol openai-chat (each chunk
read as it arrives, timed and parsed, recorded and flushed to the master) for --seconds.

Prints requests/s, output tokens/s, the worker's CPU (busy % of one core, CPU ms per request)
and the server's CPU (near 100 %: the figure is the server's, not the worker's). The machine
is shared and noisy: read it as an order of magnitude.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from bench.bench_loadgen import run_one, wait_ok
from loadgate.loadgen import LOCUSTFILE
from loadgate.loadgen.latency_record import read_record
from loadgate.runner.serve import free_port

CHAT_SERVER = Path(__file__).resolve().parents[1] / "tests" / "support" / "model_apis.py"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=16, help="content chunks per answer")
    args = ap.parse_args(argv)
    if args.seconds < 6:
        ap.error("--seconds must be at least 6")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([sys.executable, str(CHAT_SERVER), "--port", str(port),
                            "--ttft-ms", "0", "--itl-ms", "0"])
    try:
        wait_ok(base + "/health")
        with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
            r = run_one("chat", LOCUSTFILE, base, args.seconds, args.users, Path(tmp),
                        psutil.Process(srv.pid),
                        scenario={"protocol": "openai-chat",
                                  "maxTokens": [args.tokens, args.tokens]})
            record, _ = read_record(r["prefix"])
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    total = record.whole().chat if record else None
    span = record.duration_s(0) if record else None   # a constant load: one window
    overall = total.requests / span if span else 0.0
    tokens = total.output_tokens / span if span else 0.0
    print(f"one Locust worker process, {args.users} closed-loop users, openai-chat streaming "
          f"{args.tokens} chunks per answer, {args.seconds}s, {psutil.cpu_count()} CPUs "
          "(shared: noisy)")
    print(f"{'req/s':>8} {'(middle)':>9} {'tokens/s':>9} {'requests':>9} {'fails':>6} "
          f"{'worker CPU':>11} {'CPU ms/req':>11} {'server CPU':>11}")
    print(f"{overall:>8.0f} {r['rps']:>9.0f} {tokens:>9.0f} {r['requests']:>9} "
          f"{r['failures']:>6} {r['worker_cpu_pct']:>10.0f}% {r['cpu_ms_per_request']:>11.3f} "
          f"{r['server_cpu_pct']:>10.0f}%")
    print("req/s: chat requests over the whole run (the latency record); (middle): Locust's "
          "history, the steady middle, which CPU ms/req is measured over")
    if r["server_cpu_pct"] > 90:
        print("note: the server was near a full core; req/s may be the server's limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
