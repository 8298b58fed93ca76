"""`loadgate run FILE`: one LoadTest on this machine, start to verdict.

parse + overrides -> (--serve: start the model server) -> wait for the target's health ->
Locust master + N workers on loopback (loop.py) -> the summary (gate.summary, the same
function the Kubernetes collector calls) -> reports written once, the verdict block, exit
0 Pass / 1 Fail / 2 Error / 3 Invalid.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from loadgate.exit_codes import EXIT_CODES
from loadgate.runner import overrides
from loadgate.runner.console import say, shown
from loadgate.runner.loop import RunInterrupted, run_loop, stop_signals
from loadgate.runner.overrides import InvalidInput
from loadgate.runner.ready import TargetNotReady, wait_for_target
from loadgate.runner.serve import LocalServer, ServeError, host_port
from loadgate.urls import join

# what a previous run left in the output directory; removed first so it cannot be mistaken
# for this run's results (a half-finished run must read as "no results", not as old ones)
OUTPUT_FILES = ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
                "locust_exceptions.csv", "report.html", "summary.json", "junit.xml",
                "summary.md", "timeline.png", "locust_generator.json", "locust.log", "server.log",
                "loadtest.json", "locust_latency.json")


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
    return overrides.apply(lt, args, target=target)


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
    from loadgate.gate.results import BaselineUnusable, read_baseline

    if lt.baseline is None or not lt.baseline.load_test_ref:
        return None, None
    ref = lt.baseline.load_test_ref
    candidates = [out.parent / ref / "summary.json", Path("results") / ref / "summary.json"]
    for path in candidates:
        if path.is_file():
            try:
                return read_baseline(path), f"baseline: {shown(path.resolve())}"
            except BaselineUnusable as e:
                return None, f"{e}; thresholds only"
    return None, (f"no baseline yet at {shown(candidates[0].resolve())} "
                  f"(spec.baseline.loadTestRef {ref!r}); thresholds only")


# every file a run writes starts with one of these (Locust's CSVs and whatever else is written
# beside them under the prefix "locust", the worker logs), or is one of OUTPUT_FILES
OWNED_PATTERNS = ("locust_*", "locust-worker-*.log")


def _fresh_output_dir(out: Path) -> None:
    """Remove every file an earlier run left here before this one starts: a stale generator
    record or CSV must never be read as this run's. OSError if `out` cannot be written."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=out):  # writable, before any load is sent
        pass
    owned = [out / name for name in OUTPUT_FILES]
    owned += [p for pattern in OWNED_PATTERNS for p in out.glob(pattern)]
    for path in owned:
        if path.is_file() or path.is_symlink():
            path.unlink()


def _report_invalid(args, problems: str) -> None:
    """With --out, a LoadTest that cannot run still leaves its verdict there (Invalid, with
    a junit.xml error), so a CI step reading the reports sees why. Without --out nothing is
    written: a typo must not replace results/<name>/ of the last good run."""
    from loadgate.gate.report import write_reports
    from loadgate.gate.summary import error_summary

    if not args.out:
        return
    out = Path(args.out).resolve()
    reason = (f"{args.file} is not a valid LoadTest or the command line does not fit it: "
              + "; ".join(line.strip() for line in problems.splitlines() if line.strip()) + ".")
    try:
        _fresh_output_dir(out)
        write_reports(error_summary(out.name, reason, verdict="Invalid",
                                    breaking_reason="no load was run"), out)
    except OSError as e:
        say(f"(cannot write the reports to {shown(out)}: {e.strerror or e})")


# --- the run --------------------------------------------------------------------------------

def _finish_without_load(name: str, reason: str, out: Path) -> int:
    from loadgate.gate.report import format_verdict, write_reports
    from loadgate.gate.summary import error_summary

    summary = error_summary(name, reason, breaking_reason="no load was run")
    write_reports(summary, out)
    say()
    say(format_verdict(summary))
    say(f"results: {shown(out)}/ (summary.json, junit.xml, summary.md)")
    return EXIT_CODES["Error"]


def _start_server(lt, out: Path) -> LocalServer:
    host, port = host_port(lt.target.url)
    server = LocalServer(host, port, out / "server.log")
    server.start()
    say(f"serve: model server starting on {server.url} (log {shown(server.log_path)})")
    return server


def _stop_server(server: LocalServer | None) -> None:
    if server is None:
        return
    if server.running():
        say("serve: stopping the model server")
    else:
        say(f"serve: the model server had already exited (code {server.proc.returncode})")
    server.stop()


# said once when the target's host name does not resolve: profiles target a cluster Service
UNRESOLVED_HINT = ("a profile's target is a Service in a cluster; to run it on this machine "
                   "add --serve (starts the local model server) or --target http://HOST:PORT "
                   "(a server you started)")


def _wait_for_target(lt, server: LocalServer | None) -> None:
    health = join(lt.target.url, lt.target.health_path)
    say(f"waiting for {health} (up to {lt.target.ready_timeout_s:g}s)")
    t0 = time.monotonic()
    wait_for_target(health, lt.target.ready_timeout_s, log=say,
                    give_up=server.exited if server else None,
                    unresolved_hint=None if server else UNRESOLVED_HINT)
    say(f"target ready after {time.monotonic() - t0:.1f}s")


def _cluster(lt, locustfile: Path, out: Path):
    from loadgate.runner.cluster import LocustCluster, locust_env
    from loadgate.spec import write_runtime

    cluster = LocustCluster(lt, locustfile=locustfile, out_dir=out, workers=lt.workers,
                            env=locust_env(write_runtime(lt, out)))
    plural = "s" if lt.workers != 1 else ""
    peak = (f"{lt.load.max_rps:g} req/s open loop ({lt.load.arrival} arrivals, "
            f"maxInFlight {lt.load.max_in_flight})" if lt.load.open_loop
            else f"{lt.load.max_users} users")
    say(f"locust: master + {lt.workers} worker{plural} on 127.0.0.1, "
        f"{lt.load.mode} load up to {peak}, "
        f"planned {lt.load.duration_s:.0f}s (logs in {shown(cluster.log_path)})")
    return cluster


def run(args) -> int:
    from loadgate.gate.report import format_verdict, write_reports
    from loadgate.gate.results import read_run
    from loadgate.gate.summary import summarize

    try:
        lt = load_loadtest(args)
        locustfile = _locustfile(lt, args.file)
    except InvalidInput as e:
        say(f"{args.file}: not a valid LoadTest:\n{e}")
        _report_invalid(args, str(e))
        return EXIT_CODES["Invalid"]
    out = Path(args.out or Path("results") / lt.name).resolve()
    try:
        baseline, baseline_note = _baseline(lt, out)
        _fresh_output_dir(out)
    except OSError as e:
        say(f"loadgate run: cannot write the results to {shown(out)}: {e.strerror or e} "
            "(--out must be a writable directory)")
        return EXIT_CODES["Invalid"]

    say(f"loadgate run: {lt.name} -> {lt.target.url} ({shown(out)}/)")
    if baseline_note:
        say(baseline_note)
    server = None
    no_load = None  # why no load was sent, if so
    with stop_signals() as signals:
        try:
            try:
                if args.serve:
                    server = _start_server(lt, out)
                _wait_for_target(lt, server)
                cluster = _cluster(lt, locustfile, out)
            except ServeError as e:
                no_load = f"The model server could not start: {e}."
            except TargetNotReady as e:
                no_load = str(e)
            except RunInterrupted as e:
                say(f"interrupted ({e}) before the load started")
                no_load = f"The run was interrupted ({e}) before any load was sent."
            if no_load is None:
                facts = run_loop(lt, cluster, signals)
        finally:
            signals.locust_started = True  # from here a signal is counted, not raised
            _stop_server(server)
    if no_load is not None:
        return _finish_without_load(lt.name, no_load, out)

    results = read_run(cluster.csv_prefix)
    summary = summarize(lt, results, facts, baseline=baseline)
    write_reports(summary, out, results=results)
    say()
    say(format_verdict(summary))
    for note in summary.get("notes") or []:
        say(f"note: {note}")
    present = [n for n in OUTPUT_FILES if (out / n).is_file() and n != "loadtest.json"]
    say(f"results: {shown(out)}/ ({', '.join(present)})")
    return EXIT_CODES[summary["verdict"]]


def main(args) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    return run(args)
