"""`loadgate run FILE`: one LoadTest on this machine, start to verdict.

parse + overrides -> (--serve: start the model server) -> wait for the target's health ->
Locust master + N workers on loopback with progress lines -> the gate's analysis -> verdict
block, exit 0 Pass / 1 Fail / 2 Error / 3 Invalid.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from loadgate.runner.ready import TargetNotReady, wait_for_target
from loadgate.runner.serve import LocalServer, ServeError, host_port

TICK_S = 0.5
CPU_EVERY_S = 1.0
PROGRESS_EVERY_S = 5.0
DEADLINE_MARGIN_S = 60.0
WORKERS_GONE_GRACE_S = 15.0
# what a previous run left in the output directory; removed first so it cannot be mistaken
# for this run's results (a half-finished run must read as "no results", not as old ones)
OUTPUT_FILES = ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
                "locust_exceptions.csv", "report.html", "summary.json", "junit.xml",
                "summary.md", "timeline.png", "locust_generator.json", "locust.log", "server.log",
                "loadtest.json")


class InvalidInput(Exception):
    """The LoadTest or the command line cannot be run; str() says why (exit 3)."""


class RunInterrupted(Exception):
    """Ctrl-C / SIGTERM before the load started: nothing to analyse."""


def say(msg: str = "") -> None:
    print(msg, flush=True)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


# --- the LoadTest and its overrides -------------------------------------------------------

def load_loadtest(args):
    """The LoadTest of args.file with the command-line overrides applied and re-validated."""
    from loadgate import spec

    try:
        lt = spec.load_file(args.file)
    except OSError as e:
        raise InvalidInput(f"cannot read {args.file}: {e.strerror or e}") from None
    except spec.SpecError as e:
        raise InvalidInput(str(e)) from None
    target = args.target
    if args.serve and not target:
        host, port = host_port(None)
        target = f"http://{host}:{port}"
    # flag -> (spec field, value); spec.override validates the result like a file
    flags = {"--serve" if not args.target else "--target": ("target.url", target),
             "--workers": ("workers", args.workers), "--users": ("load.users", args.users),
             "--spawn-rate": ("load.spawnRate", args.spawn_rate),
             "--run-time": ("load.runTime", args.run_time)}
    given = {flag: change for flag, change in flags.items() if change[1] is not None}
    if not given:
        return lt
    try:
        return spec.override(lt, dict(given.values()))
    except spec.SpecError as e:
        raise InvalidInput(f"{e}\n(with the command-line overrides {', '.join(given)})") from None


def _locustfile(lt, spec_file: str) -> Path:
    """The built-in locustfile, or spec.locustfile's key as a file next to the LoadTest."""
    from loadgate.loadgen import LOCUSTFILE

    if lt.locustfile is None:
        return Path(LOCUSTFILE)
    local = Path(spec_file).resolve().parent / lt.locustfile.key
    if not local.is_file():
        raise InvalidInput(
            f"spec.locustfile: names ConfigMap {lt.locustfile.config_map_name!r} key "
            f"{lt.locustfile.key!r}, which only exists in a cluster; for a local run put the "
            f"file at {local}")
    return local


def _baseline(lt, out: Path) -> tuple[dict | None, str | None]:
    """(previous summary.json, a note) for spec.baseline.loadTestRef, read before the run."""
    if lt.baseline is None or not lt.baseline.load_test_ref:
        return None, None
    ref = lt.baseline.load_test_ref
    candidates = [out.parent / ref / "summary.json", Path("results") / ref / "summary.json"]
    for path in candidates:
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                return None, f"baseline {path} is unreadable ({e}); thresholds only"
            if not isinstance(data, dict) or not isinstance(data.get("summary"), dict) or \
                    data.get("verdict") == "Error" or not data["summary"]:
                return None, f"baseline {path} holds no usable results; thresholds only"
            return data, f"baseline: {_shown(path.resolve())}"
    return None, (f"no baseline yet at {_shown(candidates[0].resolve())} "
                  f"(spec.baseline.loadTestRef {ref!r}); thresholds only")


# --- results when no load ran ---------------------------------------------------------------

def _no_run_summary(name: str, reason: str) -> dict:
    return {"name": name, "verdict": "Error", "reason": reason, "summary": {}, "endpoints": [],
            "thresholds": [], "breakingPoint": {"found": False, "reason": "no load was run"},
            "generator": {}}


def _finish_without_load(name: str, reason: str, out: Path) -> int:
    from loadgate.gate.errors import EXIT_CODES
    from loadgate.gate.report import format_verdict, write_reports

    summary = _no_run_summary(name, reason)
    write_reports(summary, out)
    say()
    say(format_verdict(summary))
    say(f"results: {_shown(out)}/ (summary.json, junit.xml, summary.md)")
    return EXIT_CODES["Error"]


# --- the run --------------------------------------------------------------------------------

def _run_locust(lt, locustfile: Path, out: Path, workers: int, stop_state: dict) -> dict:
    """Run master + workers to the end; returns facts about the run for the summary."""
    from loadgate.runner.cluster import LocustCluster, locust_env
    from loadgate.runner.cpu import CpuSampler
    from loadgate.runner.progress import last_snapshot, progress_line
    from loadgate.spec import write_runtime

    cluster = LocustCluster(lt, locustfile=locustfile, out_dir=out, workers=workers,
                            env=locust_env(write_runtime(lt, out)))
    history = Path(str(cluster.csv_prefix) + "_stats_history.csv")
    limit_s = min(lt.load.duration_s + lt.timeouts.workers_connect_s + lt.load.stop_timeout_s
                  + DEADLINE_MARGIN_S, lt.timeouts.deadline_s)
    plural = "s" if workers != 1 else ""
    say(f"locust: master + {workers} worker{plural} on 127.0.0.1, "
        f"{lt.load.mode} load up to {lt.load.max_users} users, "
        f"planned {lt.load.duration_s:.0f}s (logs in {_shown(cluster.log_path)})")
    facts = {"interrupted": False, "deadlineHit": False, "workersLost": False}
    stop_state["cluster"] = cluster  # from here a signal stops Locust instead of raising
    cluster.start()
    sampler = CpuSampler(cluster.pids)
    start = time.monotonic()
    next_cpu, next_progress = start + CPU_EVERY_S, start + PROGRESS_EVERY_S
    snap, grace_warned, signals_seen, workers_gone_at = None, False, 0, None
    try:
        while cluster.master_running():
            now = time.monotonic()
            elapsed = now - start
            if stop_state["signals"] > signals_seen:
                signals_seen = stop_state["signals"]
                facts["interrupted"] = True
                say(f"[{elapsed:5.0f}s] stopping: SIGINT to the Locust master; waiting for its "
                    "final statistics (Locust is never killed)")
                cluster.stop()
            if elapsed > limit_s and cluster.stop_sent_at is None:
                facts["deadlineHit"] = True
                say(f"[{elapsed:5.0f}s] the run passed its time limit ({limit_s:.0f}s): "
                    "stopping Locust")
                cluster.stop()
            dead = cluster.dead_workers()
            if dead and len(dead) == len(cluster.workers) and workers_gone_at is None:
                workers_gone_at = now
            # workers also leave first when a run ends normally (the master tells them to
            # quit, then writes its final files): only a master that lingers gets SIGINT
            if workers_gone_at is not None and cluster.stop_sent_at is None and \
                    now - workers_gone_at > lt.load.stop_timeout_s + WORKERS_GONE_GRACE_S:
                facts["workersLost"] = True
                say(f"[{elapsed:5.0f}s] every Locust worker exited but the master did not; "
                    f"stopping it (see {_shown(cluster.worker_log(dead[0]))})")
                cluster.stop()
            if now >= next_cpu:
                next_cpu += CPU_EVERY_S
                snap = last_snapshot(history) or snap
                loaded = snap is not None and snap.users > 0 and cluster.stop_sent_at is None
                sampler.sample(count=loaded)
            if now >= next_progress:
                next_progress += PROGRESS_EVERY_S
                say(progress_line(elapsed, snap))
            if cluster.stop_grace_over() and not grace_warned:
                grace_warned = True
                say("the Locust master has not exited after SIGINT and its stop timeout; "
                    "sending SIGINT again and giving up waiting")
                cluster.stop()
                break
            time.sleep(TICK_S)
    finally:
        problems = cluster.finish()
    for p in problems:
        say(f"warning: {p}")
    code = cluster.master.returncode if cluster.master else None
    facts.update(durationS=round(time.monotonic() - start, 1), locustExitCode=code)
    snap = last_snapshot(history) or snap
    say(progress_line(time.monotonic() - start, snap) + "  (done)")
    # Locust runs with --exit-code-on-error 0: any other code means Locust itself broke
    if code not in (0, None) and not facts["interrupted"]:
        say(f"locust exited with code {code}; the end of {_shown(cluster.log_path)}:")
        for line in cluster.log_tail().splitlines():
            say("  | " + line)
    facts["generator"] = {"maxCpuPercent": sampler.result(), "workers": workers}
    if facts["generator"]["maxCpuPercent"] is None:  # too short for psutil: Locust's own figure
        from loadgate.loadgen.generator_cpu import read_record
        facts["generator"].update(read_record(cluster.csv_prefix))
    facts["csvPrefix"] = str(cluster.csv_prefix)
    return facts


def _install_signals(stop_state: dict) -> dict:
    def handler(signum, _frame):
        stop_state["signals"] += 1
        if stop_state.get("cluster") is None:
            raise RunInterrupted(signal.Signals(signum).name)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def run(args) -> int:
    from loadgate.gate import EXIT_CODES, analyze
    from loadgate.gate.report import format_verdict, summary_markdown, write_summary_json

    try:
        lt = load_loadtest(args)
        locustfile = _locustfile(lt, args.file)
    except InvalidInput as e:
        say(f"{args.file}: not a valid LoadTest:\n{e}")
        return EXIT_CODES["Invalid"]
    except ServeError as e:
        say(f"cannot serve: {e}")
        return EXIT_CODES["Error"]
    out = Path(args.out or Path("results") / lt.name).resolve()
    baseline, baseline_note = _baseline(lt, out)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)
    for old in out.glob("locust-worker-*.log"):
        old.unlink()
    workers = lt.workers

    say(f"loadgate run: {lt.name} -> {lt.target.url} ({_shown(out)}/)")
    if baseline_note:
        say(baseline_note)
    server = None
    stop_state = {"signals": 0, "cluster": None}
    previous = _install_signals(stop_state)
    try:
        try:
            if args.serve:
                host, port = host_port(lt.target.url)
                server = LocalServer(host, port, out / "server.log")
                server.start()
                say(f"serve: model server starting on {server.url} "
                    f"(log {_shown(server.log_path)})")
            health = lt.target.url.rstrip("/") + lt.target.health_path
            say(f"waiting for {health} (up to {lt.target.ready_timeout_s:g}s)")
            t0 = time.monotonic()
            wait_for_target(health, lt.target.ready_timeout_s, log=say,
                            give_up=server.exited if server else None)
            say(f"target ready after {time.monotonic() - t0:.1f}s")
        except ServeError as e:
            return _finish_without_load(lt.name, f"The model server could not start: {e}.", out)
        except TargetNotReady as e:
            return _finish_without_load(lt.name, str(e), out)
        except RunInterrupted as e:
            say(f"interrupted ({e}) before the load started")
            return _finish_without_load(
                lt.name, f"The run was interrupted ({e}) before any load was sent.", out)

        facts = _run_locust(lt, locustfile, out, workers, stop_state)
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
        if server is not None:
            say("serve: stopping the model server")
            server.stop()

    pct = lt.baseline.max_regression_pct if lt.baseline else None
    summary = analyze(lt.name, facts["csvPrefix"], lt.thresholds, baseline=baseline,
                      max_regression_pct=pct, generator=facts.pop("generator"), out_dir=out,
                      capacity_search=lt.load.mode == "breakpoint")
    facts.pop("csvPrefix")
    summary["run"] = {"targetUrl": lt.target.url, "mode": lt.load.mode, **facts}
    notes = summary.setdefault("notes", [])
    if facts["interrupted"]:
        notes.append(f"The run was stopped by a signal after {facts['durationS']:.0f}s; "
                     "the results cover the load sent until then.")
    if facts["deadlineHit"]:
        notes.append("The run passed its time limit and was stopped.")
    if not notes:
        summary.pop("notes")
    write_summary_json(summary, out / "summary.json")
    (out / "summary.md").write_text(summary_markdown(summary))

    say()
    say(format_verdict(summary))
    for note in notes:
        say(f"note: {note}")
    present = [n for n in OUTPUT_FILES if (out / n).is_file() and n != "loadtest.json"]
    say(f"results: {_shown(out)}/ ({', '.join(present)})")
    return EXIT_CODES.get(summary["verdict"], EXIT_CODES["Error"])


def main(args) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    return run(args)
