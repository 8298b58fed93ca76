"""How much load one Locust worker process generates with loadgate's locustfile, and its cost.

    python -m bench.bench_loadgen --seconds 20 [--rounds 3] [--users 20]

A tiny fast server (a separate process, raw asyncio, precomputed bodies) answers valid
/embed and /health responses, so the worker, not the target, is the limit. A headless master
and ONE worker process (the topology of `loadgate run` and the Kubernetes Jobs) run closed-loop
users (no think time) for --seconds, once with each locustfile, side by side:

  a  bare:      what a user writes by hand: a FastHttpUser sending the same 8/2/1 mix of
                corpus texts (1-2 texts, 8-16 texts, health), no response checks, plain Locust
                (no loadgate listeners): the floor of Locust's own cost
  b  loadgate:  the built-in locustfile with loadgate's listeners, as `loadgate run` starts it
                (every answer checked: status, count, the size of every vector)

Prints requests/s, the worker's CPU (psutil: busy % of one core, and CPU ms per request), the
server's CPU (if near 100 % the figure is the server's, not the worker's), and the ratio b/a of
the medians over --rounds alternating a, b passes (a shared machine's noise moves one pass by
±30 %).

Then the open-loop mode (skip with --no-open-loop): the same topology runs the built-in
locustfile as a rate load stepping the offered rate (default: from half of b's rate in steps
of a tenth of it, every --rate-step-s seconds) until a step drops a request; per step it prints
offered, achieved, dropped, the generator's lateness (p99) and the worker's CPU, and the
highest rate one worker process keeps on schedule (achieved/offered >= 0.99, nothing dropped)
as a ratio to a's closed-loop rate.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from loadgate import spec
from loadgate.analysis import record_windows
from loadgate.loadgen import LOCUSTFILE
from loadgate.loadgen.command import master_args, worker_args
from loadgate.loadgen.latency_record import read_record
from loadgate.loadgen.think_time import WAIT_TIME_ENV
from loadgate.runner.ready import wait_for_target
from loadgate.runner.serve import free_port

DIM = 384

SERVER = r'''
import asyncio, json, sys
DIM = 384
VEC = "[" + ",".join(["0.0123"] * DIM) + "]"
EMBED = {n: ('{"embeddings":[' + ",".join([VEC] * n) + '],"model":"bench","dim":384,"count":%d}'
             % n).encode() for n in range(1, 65)}
HEALTH = b'{"status":"ok"}'

def reply(body):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            if head.startswith(b"POST"):
                n = len(json.loads(body)["texts"])
                writer.write(reply(EMBED[n]))
            else:
                writer.write(reply(HEALTH))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()

asyncio.run(main(int(sys.argv[1])))
'''

BARE = r'''
import random

from locust import FastHttpUser, constant, task

from loadgate.loadgen.protocols.common import CORPUS   # the same texts, nothing else


class BareUser(FastHttpUser):
    wait_time = constant(0)

    @task(8)
    def single(self):
        self.client.post("/embed", json={"texts": random.choices(CORPUS, k=random.randint(1, 2))},
                         name="/embed [single]")

    @task(2)
    def batch(self):
        self.client.post("/embed", json={"texts": random.choices(CORPUS, k=random.randint(8, 16))},
                         name="/embed [batch]")

    @task(1)
    def health(self):
        self.client.get("/health")
'''


def wait_ok(url: str, timeout: float = 20) -> None:
    """Poll `url` until it answers 200 (the runner's readiness wait, quiet)."""
    wait_for_target(url, timeout, interval=0.1, log=lambda _: None)

def start_locust(lt, locustfile: Path, work: Path, prefix: Path, *, bare: bool = False,
                 env: dict | None = None) -> tuple[subprocess.Popen, subprocess.Popen]:
    """A headless master and ONE worker for LoadTest `lt` (as `loadgate run` starts them),
    CSVs at `prefix`; `bare`: plain Locust, the locustfile alone without loadgate's listeners."""
    cfg = work / f"{prefix.name}.loadtest.json"
    cfg.write_text(spec.runtime_json(lt))
    env = {**os.environ, spec.CONFIG_ENV: str(cfg), **(env or {})}
    port = free_port()
    wargs = worker_args(lt, locustfile=locustfile, master_host="127.0.0.1", master_port=port)
    margs = master_args(lt, locustfile=locustfile, csv_prefix=prefix,
                        html=work / f"{prefix.name}.html", expect_workers=1, bind_port=port)
    if bare:
        wargs[wargs.index("-f") + 1] = margs[margs.index("-f") + 1] = str(locustfile)
    quiet = {"env": env, "cwd": work, "stdout": subprocess.DEVNULL,
             "stderr": subprocess.DEVNULL}
    worker = subprocess.Popen([sys.executable, "-m", "locust", *wargs], **quiet)
    master = subprocess.Popen([sys.executable, "-m", "locust", *margs, "--loglevel", "WARNING"],
                              **quiet)
    return master, worker


def run_one(label: str, locustfile: Path, base: str, seconds: int, users: int, work: Path,
            server: psutil.Process, *, bare: bool = False, scenario: dict | None = None) -> dict:
    lt = spec.parse(spec.document(f"bench-{label}", {
        "target": {"url": base},
        "load": {"users": users, "spawnRate": users, "runTime": f"{seconds}s",
                 "stopTimeout": "2s"}, **({"scenario": scenario} if scenario else {})}))
    prefix = work / label
    master, worker = start_locust(lt, locustfile, work, prefix, bare=bare,
                                  env={WAIT_TIME_ENV: "0,0"})  # closed loop, no think time
    wproc = psutil.Process(worker.pid)
    # measure the steady middle: skip spawning, stop before the end
    time.sleep(min(3.0, seconds / 4))
    w0, s0, t0 = wproc.cpu_times(), server.cpu_times(), time.monotonic()
    time.sleep(max(1.0, seconds - min(3.0, seconds / 4) - 1.0))
    w1, s1, t1 = wproc.cpu_times(), server.cpu_times(), time.monotonic()
    master.wait(timeout=seconds + 60)
    worker.wait(timeout=30)
    with open(f"{prefix}_stats.csv", newline="") as f:
        agg = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    with open(f"{prefix}_stats_history.csv", newline="") as f:
        hist = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"]
    window = [float(r["Requests/s"]) for r in hist[len(hist) // 4: -1] if r["Requests/s"] != "N/A"]
    rps = sum(window) / len(window) if window else float(agg["Requests/s"])
    busy = (w1.user + w1.system - w0.user - w0.system) / (t1 - t0)
    server_busy = (s1.user + s1.system - s0.user - s0.system) / (t1 - t0)
    return {"label": label, "rps": rps, "requests": int(agg["Request Count"]), "prefix": prefix,
            "failures": int(agg["Failure Count"]), "worker_cpu_pct": 100 * busy,
            "cpu_ms_per_request": 1000 * busy / rps if rps else float("nan"),
            "server_cpu_pct": 100 * server_busy}


def median_of(runs: list[dict]) -> dict:
    """One row of the median of each figure over the runs of one locustfile."""
    out = {"label": f"{runs[0]['label'].split('-', 1)[1]} median", "prefix": None}
    for key in ("rps", "requests", "failures", "worker_cpu_pct", "cpu_ms_per_request",
                "server_cpu_pct"):
        value = statistics.median(r[key] for r in runs)
        out[key] = int(value) if key in ("requests", "failures") else value
    return out


ON_SCHEDULE = 0.99  # achieved / offered, with nothing dropped


def run_open_loop(base: str, work: Path, server: psutil.Process, *, start: int, step: int,
                  step_s: int, max_rps: int) -> list[dict]:
    """One rate breakpoint (master + one worker) that stops at the first step with a drop;
    per step: offered, achieved, dropped, lateness, the worker's and the server's CPU."""
    lt = spec.parse(spec.document("bench-open-loop", {
        "target": {"url": base},
        "load": {"breakpoint": {"startRps": start, "stepRps": step,
                                "stepDuration": f"{step_s}s", "maxRps": max_rps,
                                "maxInFlight": 2000}, "stopTimeout": "3s"},
        "thresholds": {"p95Ms": 60_000, "maxErrorRate": 1.0, "maxDroppedRate": 0.0}}))
    prefix = work / "open-loop"
    master, worker = start_locust(lt, LOCUSTFILE, work, prefix)
    wproc = psutil.Process(worker.pid)
    cpu: list[tuple[float, float, float]] = []   # (time, worker cpu s, server cpu s)
    while master.poll() is None:
        try:
            w, sv = wproc.cpu_times(), server.cpu_times()
        except psutil.Error:
            break
        cpu.append((time.time(), w.user + w.system, sv.user + sv.system))
        time.sleep(0.5)
    master.wait(timeout=60)
    worker.wait(timeout=30)
    record, why = read_record(prefix)
    if record is None:
        raise RuntimeError(f"the open-loop run left no latency record ({why})")

    def busy(t0: float, t1: float, column: int) -> float:
        inside = [c for c in cpu if t0 <= c[0] <= t1]
        if len(inside) < 2:
            return float("nan")
        return 100 * (inside[-1][column] - inside[0][column]) / (inside[-1][0] - inside[0][0])

    out = []
    for w in record_windows(record):
        meta = record.meta[w.index]
        out.append({"rps": w.planned_rps, "offered": w.offered_rps, "achieved": w.rps,
                    "dropped": w.dropped, "lag_p99_ms": w.lag_p99_ms, "p95_ms": w.p95_ms,
                    "worker_cpu_pct": busy(meta["startS"], meta["endS"], 1),
                    "server_cpu_pct": busy(meta["startS"], meta["endS"], 2)})
    return out


def print_open_loop(steps: list[dict], bare_rps: float) -> None:
    print()
    print("open loop: one Locust worker process, built-in locustfile, rate steps until a drop")
    print(f"{'rate':>6} {'offered':>8} {'achieved':>9} {'dropped':>8} {'late p99':>9} "
          f"{'p95':>8} {'worker CPU':>11} {'server CPU':>11}")
    for r in steps:
        print(f"{r['rps']:>6.0f} {r['offered']:>8.1f} {r['achieved']:>9.1f} {r['dropped']:>8} "
              f"{r['lag_p99_ms']:>7.1f}ms {r['p95_ms']:>6.1f}ms {r['worker_cpu_pct']:>10.0f}% "
              f"{r['server_cpu_pct']:>10.0f}%")
    kept = [r for r in steps if r["dropped"] == 0 and r["offered"] and
            r["achieved"] / r["offered"] >= ON_SCHEDULE]
    best = max((r["rps"] for r in kept), default=None)
    print(f"highest rate kept on schedule (achieved/offered >= {ON_SCHEDULE}, no drops): "
          f"{best:.0f} req/s, {best / bare_rps:.2f}x the bare closed-loop rate"
          if best is not None else "no step kept its schedule")
    if any(r["server_cpu_pct"] > 90 for r in steps):
        print("note: the server was near a full core in some steps; the limit may be its")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="alternating a, b passes")
    ap.add_argument("--no-open-loop", action="store_true", help="skip the open-loop mode")
    ap.add_argument("--rate-start", type=int, default=0,
                    help="first offered rate (default: half of the built-in closed-loop rate)")
    ap.add_argument("--rate-step", type=int, default=0,
                    help="rate step (default: a tenth of the built-in closed-loop rate)")
    ap.add_argument("--rate-step-s", type=int, default=5)
    ap.add_argument("--rate-max", type=int, default=20000)
    args = ap.parse_args(argv)
    if args.seconds < 6 or args.rounds < 1:
        ap.error("--seconds must be at least 6, --rounds at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as tmp:
        work = Path(tmp)
        (work / "bare.py").write_text(BARE)
        (work / "server.py").write_text(SERVER)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        srv = subprocess.Popen([sys.executable, str(work / "server.py"), str(port)])
        try:
            wait_ok(base + "/health")
            server = psutil.Process(srv.pid)
            results = []
            for _ in range(args.rounds):
                results += [run_one("a-bare", work / "bare.py", base, args.seconds, args.users,
                                    work, server, bare=True),
                            run_one("b-loadgate", LOCUSTFILE, base, args.seconds, args.users,
                                    work, server)]
            a, b = (median_of([r for r in results if r["label"] == label])
                    for label in ("a-bare", "b-loadgate"))
            tenth = max(10, round(b["rps"] / 10, -1))
            steps = None if args.no_open_loop else run_open_loop(
                base, work, server, start=args.rate_start or int(5 * tenth),
                step=args.rate_step or int(tenth), step_s=args.rate_step_s,
                max_rps=args.rate_max)
        finally:
            srv.terminate()
            srv.wait(timeout=10)
    print(f"one Locust worker process, {args.users} closed-loop users, {args.seconds}s each, "
          f"{args.rounds} round(s), {psutil.cpu_count()} CPUs (shared: noisy)")
    print(f"{'locustfile':<16} {'req/s':>8} {'requests':>9} {'fails':>6} {'worker CPU':>11} "
          f"{'CPU ms/req':>11} {'server CPU':>11}")
    for r in sorted(results, key=lambda r: r["label"]) + [a, b]:
        print(f"{r['label']:<16} {r['rps']:>8.0f} {r['requests']:>9} {r['failures']:>6} "
              f"{r['worker_cpu_pct']:>10.0f}% {r['cpu_ms_per_request']:>11.3f} "
              f"{r['server_cpu_pct']:>10.0f}%")
    print(f"ratio b/a of the medians: req/s {b['rps'] / a['rps']:.2f}, "
          f"CPU per request {b['cpu_ms_per_request'] / a['cpu_ms_per_request']:.2f}")
    if any(r["server_cpu_pct"] > 90 for r in results):
        print("note: the server was near a full core; req/s may be the server's limit")
    if steps is not None:
        print_open_loop(steps, a["rps"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
