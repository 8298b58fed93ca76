"""The model server at saturation: the naive design vs each backend vs the defaults, one run.

    python -m bench.bench_server --seconds 20 [--rounds 2] [--users 100]
        [--only naive,default] [--env onnx:LOADGATE_THREADS=1] [--external infinity=URL]

Each configuration runs as a real uvicorn subprocess on 127.0.0.1; one headless Locust process
drives it with --users closed-loop FastHttpUsers sending their next request the moment the last
one answered (saturation: the queue never empties, so the figures describe the server, not the
offered load), the 8/2/1 mix of 1-2 texts, 8-16 texts and /health from the product locustfile
and corpus. Configurations alternate (a, b, c, a, b, c, ...) so each sees the same noise.

  naive      one request per forward, torch: the tutorial design (batching off)
  torch      dynamic batching, torch
  onnx       dynamic batching, ONNX Runtime fp32
  onnx-int8  dynamic batching, ONNX Runtime int8 (per-token, quantize.py)
  default    the server's defaults, whatever they are (shown as "= <name>" when they equal one)

Prints texts/s, requests/s, p50/p95/p99, failures, startup-to-ready seconds, the load
generator's and the server's CPU, the share of the run the model was computing (from the
server's inference-time metric: near 100% means no idle model); every figure as a ratio to
naive; and each backend's
in-process ceiling (its Embedder's batched `encode`, no HTTP: what batching and the backend
could at most give on this machine), alternated in 1 s slices.

texts/s = Locust's /embed requests/s x the mean texts per successful /embed the server counted
(its Prometheus metrics), so both figures describe the same window. --external measures another
server's OpenAI-compatible /v1/embeddings (e.g. Infinity) with the same traffic; its texts/s is
counted by the bench's locustfile. The load generator shares the cores with the server: its CPU
is printed so a saturated generator is visible.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from loadgate.runner.serve import free_port

REPO = Path(__file__).resolve().parents[1]
USERS = 100

# name -> (what it is, extra env). "default" adds nothing: the server's own defaults.
CONFIGS: dict[str, tuple[str, dict[str, str]]] = {
    "naive": ("one request per forward, torch", {"LOADGATE_MAX_BATCH_WAIT_MS": "0",
                                                 "LOADGATE_BACKEND": "torch"}),
    "torch": ("batching, torch", {"LOADGATE_BACKEND": "torch"}),
    "onnx": ("batching, ONNX fp32", {"LOADGATE_BACKEND": "onnx"}),
    "onnx-int8": ("batching, ONNX int8", {"LOADGATE_BACKEND": "onnx-int8"}),
    "default": ("the server's defaults", {}),
}
BACKENDS = ("torch", "onnx", "onnx-int8")

# For --external targets (and when the product locustfile is missing): the same mix against
# an OpenAI-compatible /v1/embeddings (or /embed), texts counted per successful response and
# written at the end to BENCH_TEXTS_FILE.
LOCUSTFILE = r'''
import json, os, random
from locust import FastHttpUser, task, constant, events

ROUTE = os.environ.get("BENCH_ROUTE", "/v1/embeddings")
MODEL = os.environ.get("BENCH_MODEL", "")
CORPUS = [l.strip() for l in open(os.environ["BENCH_CORPUS"], encoding="utf-8")
          if l.strip() and not l.startswith("#")]
TEXTS = [0]

@events.quitting.add_listener
def _write(environment, **kw):
    with open(os.environ["BENCH_TEXTS_FILE"], "w") as f:
        json.dump({"texts": TEXTS[0]}, f)

class EmbedUser(FastHttpUser):
    wait_time = constant(0)
    network_timeout = 60.0

    def _embed(self, name, lo, hi):
        texts = random.choices(CORPUS, k=random.randint(lo, hi))
        body = {"input": texts} if ROUTE != "/embed" else {"texts": texts}
        if MODEL and ROUTE != "/embed":
            body["model"] = MODEL
        with self.client.post(ROUTE, json=body, name=name, catch_response=True) as r:
            data = r.json().get("data" if ROUTE != "/embed" else "embeddings") \
                if r.status_code == 200 else None
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
            elif not isinstance(data, list) or len(data) != len(texts):
                r.failure("wrong count")
            else:
                TEXTS[0] += len(texts)

    @task(8)
    def single(self):
        self._embed(ROUTE + " [single]", 1, 2)

    @task(2)
    def batch(self):
        self._embed(ROUTE + " [batch]", 8, 16)

    @task(1)
    def health(self):
        self.client.get("/health", name="/health")
'''


def scrape(base: str) -> dict[str, float]:
    """Embedded texts and successful /embed requests so far, from the server's /metrics."""
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    texts = re.search(r"^loadgate_batch_size_texts_sum ([0-9.e+]+)$", text, re.M)
    ok = re.search(r'^loadgate_requests_total\{method="POST",route="/embed",status="200"\} '
                   r"([0-9.e+]+)$", text, re.M)
    busy = re.search(r"^loadgate_inference_duration_seconds_sum ([0-9.e+]+)$", text, re.M)
    return {"texts": float(texts.group(1)) if texts else 0.0,
            "embeds": float(ok.group(1)) if ok else 0.0,
            "busy_s": float(busy.group(1)) if busy else 0.0}


def start_server(env_extra: dict[str, str], log: Path) -> tuple[subprocess.Popen, str, float]:
    """A uvicorn server process; returns it, its URL and seconds from start to /health 200."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env_extra}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "loadgate.server.app:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = t0 + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}")
        try:
            if urllib.request.urlopen(base + "/health", timeout=2).status == 200:
                return proc, base, time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise TimeoutError(f"server not ready in 300 s; see {log}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def product_loadtest(base: str, seconds: int, users: int):
    """The LoadTest the product locustfile reads: constant load, the 8/2/1 mix."""
    from loadgate import spec  # type: ignore

    return spec.parse(spec.document("bench-server", {
        "target": {"url": base},
        "load": {"users": users, "spawnRate": users, "runTime": f"{seconds}s"},
        "scenario": {"weights": {"single": 8, "batch": 2, "health": 1}}}))


def product_locustfile() -> Path | None:
    try:
        from loadgate.loadgen import LOCUSTFILE as product  # type: ignore
    except ImportError:
        return None
    product = Path(product)
    return product if product.is_file() and os.environ.get("BENCH_OWN_LOCUSTFILE") != "1" \
        else None


def locust_command(base: str, seconds: int, users: int, prefix: Path, workdir: Path,
                   external: bool) -> tuple[list, dict]:
    """Locust's argv and env: the product locustfile for our server, the bench's otherwise."""
    env = dict(os.environ)
    locustfile = None if external else product_locustfile()
    if locustfile is not None:
        from loadgate import spec
        from loadgate.loadgen.think_time import WAIT_TIME_ENV

        cfg = prefix.with_suffix(".loadtest.json")
        cfg.write_text(spec.runtime_json(product_loadtest(base, seconds, users)))
        env[spec.CONFIG_ENV] = str(cfg)
        env[WAIT_TIME_ENV] = "0,0"  # closed loop: the next request as soon as one answers
    else:
        locustfile = workdir / "bench_locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        env.update(BENCH_CORPUS=str(bench_corpus_file(workdir)),
                   BENCH_TEXTS_FILE=str(prefix.with_suffix(".texts.json")),
                   BENCH_ROUTE="/v1/embeddings" if external else "/embed")
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
           "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", base,
           "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "5"]
    return cmd, env


def read_stats(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def drive(base: str, seconds: int, users: int, prefix: Path, workdir: Path,
          server_pid: int | None, external: bool) -> dict:
    """One Locust run against base; Locust's figures plus both processes' CPU."""
    cmd, env = locust_command(base, seconds, users, prefix, workdir, external)
    before = None if external else scrape(base)
    server_ps = psutil.Process(server_pid) if server_pid else None
    if server_ps:
        server_ps.cpu_percent(None)
    loc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                           stderr=(prefix.with_suffix(".locust.log")).open("wb"))
    loc_ps = psutil.Process(loc.pid)
    loc_ps.cpu_percent(None)
    t0 = time.monotonic()
    loc_cpu: list[float] = []
    # the model's busy share is measured strictly inside the load (from 2 s in to 1 s before
    # the end): Locust's start-up and its stop, with requests still in flight, are not load
    window: list[tuple[float, float]] = []
    while loc.poll() is None:
        time.sleep(1)
        try:
            loc_cpu.append(loc_ps.cpu_percent(None))
        except psutil.Error:
            break
        since = time.monotonic() - t0
        if not external and (len(window) == 0 and since >= 2
                              or len(window) == 1 and since >= seconds - 1):
            window.append((time.monotonic(), scrape(base)["busy_s"]))
    server_cpu = server_ps.cpu_percent(None) if server_ps else 0.0
    stats = read_stats(prefix)
    agg = stats["Aggregated"]
    embed_rps = sum(float(r["Requests/s"]) for n, r in stats.items()
                    if n != "Aggregated" and n != "/health")
    if external:  # texts the bench's locustfile counted on good answers, over Locust's run
        texts = json.loads(prefix.with_suffix(".texts.json").read_text())["texts"]
        good = sum(int(r["Request Count"]) - int(r["Failure Count"]) for n, r in stats.items()
                   if n not in ("Aggregated", "/health"))
        texts_per_s = embed_rps * (texts / good if good else 0.0)
    else:
        after = scrape(base)
        embeds = after["embeds"] - before["embeds"]
        per_embed = (after["texts"] - before["texts"]) / embeds if embeds else 0.0
        texts_per_s = embed_rps * per_embed
    model_busy = (window[1][1] - window[0][1]) / (window[1][0] - window[0][0]) \
        if len(window) == 2 else 0.0
    busy = [c for c in loc_cpu if c > 0]
    return {
        "model_busy": model_busy,
        "requests": int(agg["Request Count"]), "failures": int(agg["Failure Count"]),
        "rps": float(agg["Requests/s"]), "texts_per_s": texts_per_s,
        "p50": float(agg["50%"]), "p95": float(agg["95%"]), "p99": float(agg["99%"]),
        "locust_cpu_max": max(busy, default=0.0),
        "locust_cpu_mean": statistics.fmean(busy) if busy else 0.0,
        "server_cpu_mean": server_cpu,
    }


def run_one(name: str, env_extra: dict[str, str], seconds: int, users: int, workdir: Path,
            idx: int) -> dict:
    proc, base, ready_s = start_server(env_extra, workdir / f"server-{name}{idx}.log")
    try:
        r = drive(base, seconds, users, workdir / f"{name}{idx}", workdir, proc.pid, False)
    finally:
        stop(proc)
    return {"config": name, "startup_s": ready_s, **r}


def run_external(name: str, url: str, seconds: int, users: int, workdir: Path, idx: int) -> dict:
    return {"config": name, "startup_s": 0.0,
            **drive(url.rstrip("/"), seconds, users, workdir / f"{name}{idx}", workdir, None,
                    True)}


def bench_corpus() -> list[str]:
    """The product corpus (what its locustfile sends)."""
    from loadgate.loadgen import CORPUS_FILE  # type: ignore

    lines = Path(CORPUS_FILE).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def bench_corpus_file(workdir: Path) -> Path:
    path = workdir / "corpus.txt"
    if not path.exists():
        path.write_text("\n".join(bench_corpus()) + "\n", encoding="utf-8")
    return path


def ceiling_worker(kind: str) -> int:
    """`--ceiling-worker KIND` (a subprocess of the bench): load one backend, then on each
    `run SECONDS` line from stdin encode for that long and answer `texts seconds`.

    KIND is a backend (full batches of max_batch_size corpus texts: its ceiling) or `naive`
    (torch, one 8/2-mix request per call: what the naive design can at best do)."""
    import random

    from loadgate.server import model as model_mod
    from loadgate.server.settings import ServerSettings

    rng = random.Random(1)
    corpus = bench_corpus()
    settings = ServerSettings(backend="torch" if kind == "naive" else kind)
    batch = [rng.choice(corpus) for _ in range(settings.max_batch_size)]
    requests = [[rng.choice(corpus) for _ in range(rng.randint(*rng.choices(
        [(1, 2), (8, 16)], weights=[8, 2])[0]))] for _ in range(200)]
    emb = model_mod.load(settings)
    # the model runs on its own thread, as in the server (torch's OpenMP pool behaves
    # differently on the main thread of a busy machine)
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="inference")
    pool.submit(emb.warmup, settings.max_batch_size).result()
    print("ready", flush=True)
    cycle = iter(range(10**12))

    def run(seconds: float) -> tuple[int, float]:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            texts = requests[next(cycle) % len(requests)] if kind == "naive" else batch
            emb.encode(texts)
            n += len(texts)
        return n, time.perf_counter() - t0

    for line in sys.stdin:
        if not line.startswith("run "):
            break
        n, t = pool.submit(run, float(line.split()[1])).result()
        print(n, t, flush=True)
    pool.shutdown()
    return 0


def in_process_rates(seconds: float, kinds: list[str]) -> dict[str, float]:
    """Model-only texts/s per backend (and `naive`), each in its own process (runtimes' thread
    pools do not share one well), taking turns in 1 s slices so all see the same noise."""
    procs = {k: subprocess.Popen([sys.executable, "-m", "bench.bench_server", "--ceiling-worker",
                                  k], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True) for k in kinds}
    try:
        for k, p in procs.items():
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"ceiling worker {k} failed to start")
        done = {k: [0, 0.0] for k in kinds}
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for k, p in procs.items():
                p.stdin.write("run 1\n")
                p.stdin.flush()
                n, t = p.stdout.readline().split()
                done[k][0] += int(n)
                done[k][1] += float(t)
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait(30)
    return {k: n / t for k, (n, t) in done.items()}


def summarize(runs: list[dict], key: str) -> dict:
    rs = [r for r in runs if r["config"] == key]
    out = {k: statistics.fmean(r[k] for r in rs)
           for k in ("rps", "texts_per_s", "p50", "p95", "p99", "locust_cpu_mean",
                     "server_cpu_mean", "startup_s", "model_busy")}
    out["texts_per_s_runs"] = [round(r["texts_per_s"], 1) for r in rs]
    out["locust_cpu_max"] = max(r["locust_cpu_max"] for r in rs)
    out["failures"] = sum(r["failures"] for r in rs)
    out["requests"] = sum(r["requests"] for r in rs)
    return out


def default_backend() -> str:
    from loadgate.server.settings import ServerSettings

    return ServerSettings().backend


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=20, help="Locust run time per configuration run")
    p.add_argument("--rounds", type=int, default=2, help="passes over all configurations")
    p.add_argument("--users", type=int, default=USERS, help="closed-loop users (no think time)")
    p.add_argument("--only", default=None,
                   help=f"comma-separated configurations to run (of {', '.join(CONFIGS)})")
    p.add_argument("--env", action="append", default=[], metavar="NAME:KEY=VALUE",
                   help="extra setting for configuration NAME (repeatable); "
                        "a new NAME makes a new configuration on top of the defaults")
    p.add_argument("--external", action="append", default=[], metavar="NAME=URL",
                   help="also drive a running OpenAI-compatible server (POST URL/v1/embeddings)")
    p.add_argument("--ceiling-seconds", type=float, default=12,
                   help="time for the in-process (model only) rates; 0 skips them")
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--ceiling-worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.ceiling_worker:
        return a
    if a.seconds < 5 or a.rounds < 1 or a.users < 1:
        p.error("--seconds must be >= 5, --rounds >= 1, --users >= 1")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.ceiling_worker:
        return ceiling_worker(a.ceiling_worker)
    configs = dict(CONFIGS)
    for item in a.env:
        name, sep, kv = item.partition(":")
        if not sep or "=" not in kv:
            sys.exit(f"--env takes NAME:KEY=VALUE, got {item!r}")
        key, value = kv.split("=", 1)
        label, env = configs.get(name, ("the defaults +", {}))
        configs[name] = (f"{label} {kv}" if name not in CONFIGS else label, {**env, key: value})
    names = a.only.split(",") if a.only else list(configs)
    unknown = [n for n in names if n not in configs]
    if unknown:
        sys.exit(f"--only: unknown configuration(s) {unknown}; known: {list(configs)}")
    externals = dict(x.split("=", 1) for x in a.external if "=" in x)
    if len(externals) != len(a.external):
        sys.exit("--external takes NAME=URL")
    default_is = default_backend()
    # the label names the backend; an --env default:KEY=VALUE given above stays
    configs["default"] = (f"the defaults = {default_is}", configs.get("default", ("", {}))[1])
    if "default" in names and default_is in names:
        names.remove(default_is)  # the same server twice would only halve the rounds
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(tempfile.mkdtemp(prefix="bench-server-"))
    print(f"locustfile: {product_locustfile() or 'bench (--external / no product locustfile)'}")
    for n in names:
        print(f"  {n:10} {configs[n][0]} {configs[n][1]}")
    for n, url in externals.items():
        print(f"  {n:10} external, {url}/v1/embeddings")
    print(f"bench-server: {a.users} closed-loop users (no think time: saturation), 8/2/1 mix, "
          f"{a.seconds}s per run, {a.rounds} round(s), {psutil.cpu_count()} CPUs; "
          f"logs and CSVs in {workdir}", flush=True)
    print("note: the machine may be shared; compare columns of one run, not absolute figures",
          flush=True)
    runs = []
    for i in range(a.rounds):
        for n in [*names, *externals]:
            if n in externals:
                r = run_external(n, externals[n], a.seconds, a.users, workdir, i)
            else:
                r = run_one(n, configs[n][1], a.seconds, a.users, workdir, i)
            runs.append(r)
            print(f"  run {n}{i}: {r['texts_per_s']:7.1f} texts/s {r['rps']:6.1f} req/s "
                  f"p50 {r['p50']:.0f} p95 {r['p95']:.0f} p99 {r['p99']:.0f} ms, "
                  f"{r['failures']} failures, ready in {r['startup_s']:.1f}s, locust CPU mean "
                  f"{r['locust_cpu_mean']:.0f}% max {r['locust_cpu_max']:.0f}%, "
                  f"server CPU {r['server_cpu_mean']:.0f}%, model busy {r['model_busy']:.0%}",
                  flush=True)
    order = [*names, *externals]
    summary = {n: summarize(runs, n) for n in order}
    ceilings: dict[str, float] = {}
    if a.ceiling_seconds > 0:
        wanted = [b for b in BACKENDS if b in names or (b == default_is and "default" in names)
                  or (b == "torch" and "naive" in names)]
        ceilings = in_process_rates(a.ceiling_seconds, wanted + (["naive"] if "naive" in names
                                                                 else []))
    naive_ceiling = ceilings.pop("naive", 0.0)
    from loadgate.server.settings import ServerSettings

    batch = ServerSettings().max_batch_size
    report(summary, order, configs, ceilings, naive_ceiling, batch, default_is)
    if a.json:
        Path(a.json).write_text(json.dumps({
            "runs": runs, "summary": summary, "ceilings_texts_per_s": ceilings,
            "naive_ceiling_texts_per_s": naive_ceiling, "ceiling_batch": batch,
            "default_backend": default_is, "users": a.users, "seconds": a.seconds,
            "rounds": a.rounds}, indent=2))
    return 0


def report(summary: dict, order: list[str], configs: dict, ceilings: dict[str, float],
           naive_ceiling: float, batch: int, default_is: str) -> None:
    print()
    print(f"{'':26}{'texts/s':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
          f"{'fail':>6}{'ready s':>8}{'busy':>6}{'locust CPU':>12}{'x naive':>9}"
          f"{'p95/naive':>10}")
    base = summary.get("naive")
    for n in order:
        s = summary[n]
        label = f"{n} ({configs[n][0]})" if n in configs else f"{n} (external)"
        ratio = s["texts_per_s"] / base["texts_per_s"] if base and base["texts_per_s"] else 0
        p95r = s["p95"] / base["p95"] if base and base["p95"] else 0
        vs_naive = f"{ratio:9.2f}{p95r:10.2f}" if base else f"{'-':>9}{'-':>10}"
        print(f"{label[:25]:26}{s['texts_per_s']:9.1f}{s['rps']:8.1f}{s['p50']:8.0f}"
              f"{s['p95']:8.0f}{s['p99']:8.0f}{s['failures']:6d}{s['startup_s']:8.1f}"
              f"{s['model_busy']:6.0%}{s['locust_cpu_mean']:7.0f}/{s['locust_cpu_max']:.0f}%"
              f"{vs_naive}")
    if "default" in summary:
        d = summary["default"]
        print()
        for n in order:
            if n != "default" and summary[n]["texts_per_s"]:
                s = summary[n]
                print(f"default vs {n}: texts/s x{d['texts_per_s'] / s['texts_per_s']:.2f}, "
                      f"p95 {s['p95']:.0f} -> {d['p95']:.0f} ms")
    if ceilings:
        print(f"\nin-process ceiling (Embedder.encode, {batch} corpus texts per call, no HTTP):")
        for b, rate in ceilings.items():
            served = [summary[n]["texts_per_s"] for n in order
                      if n == b or (n == "default" and b == default_is)]
            share = f"; served {served[0] / rate:.0%} of it over HTTP" if served else ""
            print(f"  {b:10} {rate:8.1f} texts/s{share}")
        if naive_ceiling:
            print(f"  {'naive':10} {naive_ceiling:8.1f} texts/s (torch, one 8/2-mix request per "
                  f"call)")


if __name__ == "__main__":
    sys.exit(main())
