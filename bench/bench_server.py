"""Naive (one request per forward) vs default (micro-batched) model server under the same traffic.

    python -m bench.bench_server --seconds 30 [--rounds 2]

Each configuration runs as a real uvicorn subprocess on 127.0.0.1; one headless Locust process
(50 closed-loop FastHttpUsers, the 8/2/1 mix of 1-2 texts, 8-16 texts and /health) drives it for
--seconds, alternating a, b, a, b, ... Prints texts/s, requests/s, p50/p95/p99 per configuration,
the ratio b/a, and the in-process batched `encode` rate of the same backend as the ceiling.

texts/s = Locust's /embed requests/s x the mean texts per successful /embed the server counted
(its Prometheus metrics), so both figures describe the same window. The load generator shares
the cores with the server; its CPU is printed so a saturated generator is visible.
"""

from __future__ import annotations

import argparse
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
USERS = 50

CONFIGS = {
    "a": ("naive: batching off, torch", {"LOADGATE_MAX_BATCH_WAIT_MS": "0",
                                         "LOADGATE_BACKEND": "torch"}),
    "b": ("default config", {}),
}

# The bench's own locustfile, used only when the product one (loadgate.loadgen.LOCUSTFILE) is
# missing or BENCH_OWN_LOCUSTFILE=1.
LOCUSTFILE = r'''
import random
from locust import FastHttpUser, task, constant

WORDS = ("model latency request server batch token vector search query answer user system "
         "cloud data network memory cache queue worker thread python service embedding text "
         "fast slow load test result error metric deploy release stable canary rollback").split()

def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 24))).capitalize() + "."

class EmbedUser(FastHttpUser):
    wait_time = constant(0)  # closed loop: the next request as soon as the last one answers

    def on_start(self):
        self.rng = random.Random()

    def _embed(self, name, lo, hi):
        texts = [sentence(self.rng) for _ in range(self.rng.randint(lo, hi))]
        with self.client.post("/embed", json={"texts": texts}, name=name,
                              catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
            elif r.json().get("count") != len(texts):
                r.failure("wrong count")

    @task(8)
    def single(self):
        self._embed("/embed [single]", 1, 2)

    @task(2)
    def batch(self):
        self._embed("/embed [batch]", 8, 16)

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
    return {"texts": float(texts.group(1)) if texts else 0.0,
            "embeds": float(ok.group(1)) if ok else 0.0}


def start_server(env_extra: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env_extra}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "loadgate.server.app:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}")
        try:
            if urllib.request.urlopen(base + "/health", timeout=2).status == 200:
                return proc, base
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise TimeoutError(f"server not ready in 180 s; see {log}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def locust_command(locustfile: Path, base: str, seconds: int, prefix: Path) -> tuple[list, dict]:
    """Locust's argv and env: the product locustfile with a LoadTest config when it exists."""
    env = dict(os.environ)
    try:
        from loadgate.loadgen import LOCUSTFILE as product_locustfile  # type: ignore

        if Path(product_locustfile).is_file() and os.environ.get("BENCH_OWN_LOCUSTFILE") != "1":
            locustfile = Path(product_locustfile)
            from loadgate import spec
            from loadgate.loadgen.think_time import WAIT_TIME_ENV

            cfg = prefix.with_suffix(".loadtest.json")
            cfg.write_text(spec.runtime_json(product_loadtest(base, seconds)))
            env[spec.CONFIG_ENV] = str(cfg)
            env[WAIT_TIME_ENV] = "0,0"  # closed loop: the next request as soon as one answers
    except ImportError:
        pass
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
           "-u", str(USERS), "-r", str(USERS), "-t", f"{seconds}s", "--host", base,
           "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "5"]
    return cmd, env


def product_loadtest(base: str, seconds: int):
    """The LoadTest the product locustfile reads: 50 users, constant load, the 8/2/1 mix."""
    from loadgate import spec  # type: ignore

    return spec.parse(spec.document("bench-server", {
        "target": {"url": base},
        "load": {"users": USERS, "spawnRate": USERS, "runTime": f"{seconds}s"},
        "scenario": {"weights": {"single": 8, "batch": 2, "health": 1}}}))


def read_stats(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def run_one(key: str, seconds: int, workdir: Path, idx: int, locustfile: Path) -> dict:
    label, env_extra = CONFIGS[key]
    proc, base = start_server(env_extra, workdir / f"server-{key}{idx}.log")
    try:
        server_ps = psutil.Process(proc.pid)
        prefix = workdir / f"{key}{idx}"
        cmd, env = locust_command(locustfile, base, seconds, prefix)
        before = scrape(base)
        server_ps.cpu_percent(None)
        loc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                               stderr=(workdir / f"locust-{key}{idx}.log").open("wb"))
        loc_ps = psutil.Process(loc.pid)
        loc_ps.cpu_percent(None)
        loc_cpu: list[float] = []
        while loc.poll() is None:
            time.sleep(1)
            try:
                loc_cpu.append(loc_ps.cpu_percent(None))
            except psutil.Error:
                break
        server_cpu = server_ps.cpu_percent(None)
        after = scrape(base)
    finally:
        stop(proc)
    stats = read_stats(prefix)
    agg = stats["Aggregated"]
    embed_rps = sum(float(r["Requests/s"]) for n, r in stats.items()
                    if n.startswith("/embed"))
    embeds = after["embeds"] - before["embeds"]
    texts_per_embed = (after["texts"] - before["texts"]) / embeds if embeds else 0.0
    busy = [c for c in loc_cpu if c > 0]
    return {
        "config": key, "label": label,
        "requests": int(agg["Request Count"]), "failures": int(agg["Failure Count"]),
        "rps": float(agg["Requests/s"]), "texts_per_s": embed_rps * texts_per_embed,
        "p50": float(agg["50%"]), "p95": float(agg["95%"]), "p99": float(agg["99%"]),
        "locust_cpu_max": max(busy, default=0.0),
        "locust_cpu_mean": statistics.fmean(busy) if busy else 0.0,
        "server_cpu_mean": server_cpu,
    }


def bench_corpus() -> list[str]:
    """The product corpus when it exists (what its locustfile sends), else synthetic sentences."""
    try:
        from loadgate.loadgen import CORPUS_FILE  # type: ignore

        lines = Path(CORPUS_FILE).read_text(encoding="utf-8").splitlines()
        texts = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
        if texts:
            return texts
    except (ImportError, OSError):
        pass
    import random

    rng = random.Random(1)
    words = ("model latency request server batch token vector search query answer user "
             "system cloud data network memory cache queue").split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 24))) + "."
            for _ in range(300)]


def in_process_rates(seconds: float, env: dict[str, str]) -> tuple[float, float, int]:
    """Model-only texts/s of configuration b's model call (backend, threads, forward chunking):
    full batches of max_batch_size texts (the ceiling) and the 8/2 request mix one request per
    call (what batching off can at best do). Alternated in 1 s slices so both see the same
    noise. Returns (batched, one request per call, batch size)."""
    import random

    from loadgate.server import model as model_mod
    from loadgate.server.settings import ServerSettings

    os.environ.update(env)
    s = ServerSettings()
    batch = s.max_batch_size
    corpus = bench_corpus()
    emb = model_mod.load(s)
    emb.warmup(s.max_batch_size)
    rng = random.Random(1)
    texts = [rng.choice(corpus) for _ in range(batch)]
    requests = [[rng.choice(corpus) for _ in range(rng.randint(*rng.choices(
        [(1, 2), (8, 16)], weights=[8, 2])[0]))] for _ in range(200)]
    done = {"batched": [0, 0.0], "naive": [0, 0.0]}
    i = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for kind in ("batched", "naive"):
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 1.0:
                if kind == "batched":
                    emb.encode(texts)
                    done[kind][0] += batch
                else:
                    emb.encode(requests[i % len(requests)])
                    done[kind][0] += len(requests[i % len(requests)])
                    i += 1
            done[kind][1] += time.perf_counter() - t0
    return (done["batched"][0] / done["batched"][1], done["naive"][0] / done["naive"][1],
            batch)


def summarize(runs: list[dict], key: str) -> dict:
    rs = [r for r in runs if r["config"] == key]
    out = {k: statistics.fmean(r[k] for r in rs)
           for k in ("rps", "texts_per_s", "p50", "p95", "p99", "locust_cpu_mean",
                     "server_cpu_mean")}
    out["locust_cpu_max"] = max(r["locust_cpu_max"] for r in rs)
    out["failures"] = sum(r["failures"] for r in rs)
    out["requests"] = sum(r["requests"] for r in rs)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=30, help="Locust run time per configuration run")
    p.add_argument("--rounds", type=int, default=2, help="a,b pairs (alternating)")
    p.add_argument("--ceiling-seconds", type=float, default=12,
                   help="time for the in-process (model only) rates")
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--a-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra LOADGATE_* setting for configuration a (repeatable)")
    p.add_argument("--b-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra LOADGATE_* setting for configuration b (repeatable)")
    a = p.parse_args(argv)
    for key, extra in (("a", a.a_env), ("b", a.b_env)):
        if any("=" not in kv for kv in extra):
            p.error(f"--{key}-env takes KEY=VALUE")
        if extra:
            label, env = CONFIGS[key]
            more = dict(kv.split("=", 1) for kv in extra)
            CONFIGS[key] = (f"{label} + {' '.join(extra)}", {**env, **more})
    if a.seconds < 5 or a.rounds < 1:
        p.error("--seconds must be >= 5 and --rounds >= 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(tempfile.mkdtemp(prefix="bench-server-"))
    locustfile = workdir / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    used = locust_command(locustfile, "http://127.0.0.1:1", a.seconds, workdir / "probe")[0][4]
    print(f"locustfile: {used}")
    for key, (label, env) in CONFIGS.items():
        print(f"{key}: {label} {env}")
    print(f"bench-server: {USERS} users, 8/2/1 mix, {a.seconds}s per run, {a.rounds} round(s), "
          f"{psutil.cpu_count()} CPUs; logs and CSVs in {workdir}", flush=True)
    print("note: the machine may be shared; compare the two columns, not absolute figures",
          flush=True)
    runs = []
    for i in range(a.rounds):
        for key in ("a", "b"):
            r = run_one(key, a.seconds, workdir, i, locustfile)
            runs.append(r)
            print(f"  run {key}{i}: {r['texts_per_s']:7.1f} texts/s {r['rps']:6.1f} req/s "
                  f"p50 {r['p50']:.0f} p95 {r['p95']:.0f} p99 {r['p99']:.0f} ms, "
                  f"{r['failures']} failures, locust CPU mean {r['locust_cpu_mean']:.0f}% "
                  f"max {r['locust_cpu_max']:.0f}%, server CPU {r['server_cpu_mean']:.0f}%",
                  flush=True)
    sa, sb = summarize(runs, "a"), summarize(runs, "b")
    ceil, naive_ceil, ceil_batch = in_process_rates(a.ceiling_seconds, CONFIGS["b"][1])
    print()
    print(f"{'':34}{'texts/s':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
          f"{'fail':>6}{'locust CPU':>12}")
    for key, s in (("a", sa), ("b", sb)):
        print(f"{key} {CONFIGS[key][0][:32]:32}{s['texts_per_s']:9.1f}{s['rps']:8.1f}{s['p50']:8.0f}"
              f"{s['p95']:8.0f}{s['p99']:8.0f}{s['failures']:6d}"
              f"{s['locust_cpu_mean']:7.0f}/{s['locust_cpu_max']:.0f}%")
    ratio = sb["texts_per_s"] / sa["texts_per_s"] if sa["texts_per_s"] else float("inf")
    print(f"\nratio b/a: texts/s x{ratio:.2f}, req/s x{sb['rps'] / max(sa['rps'], 1e-9):.2f}, "
          f"p95 {sa['p95']:.0f} -> {sb['p95']:.0f} ms")
    print(f"ceiling (in-process encode of b, {ceil_batch} texts/call): {ceil:.1f} texts/s;"
          f" b reaches {sb['texts_per_s'] / ceil:.0%} of it")
    print(f"model only, one request per call (the 8/2 mix): {naive_ceil:.1f} texts/s; "
          f"batching can at most give x{ceil / naive_ceil:.2f} on this machine")
    target = ratio >= 3 and sb["p95"] < sa["p95"]
    print(f"target (b >= 3x texts/s of a, lower p95): {'met' if target else 'NOT met'}")
    if a.json:
        Path(a.json).write_text(json.dumps({"runs": runs, "a": sa, "b": sb, "ratio": ratio,
                                            "ceiling_texts_per_s": ceil,
                                            "one_request_per_call_texts_per_s": naive_ceil,
                                            "target_met": target}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
