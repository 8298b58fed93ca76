"""The `loadgate` console script.

Argument definitions live here (the CLI contract of design.md); each subcommand's work lives
in the module that owns it and is imported only when that subcommand runs, so
`loadgate gate` never pays for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> "module:function"; the function takes the parsed Namespace, returns an exit code
COMMANDS = {
    "serve": "loadgate.server.cli:main",
    "export": "loadgate.server.export:main",
    "run": "loadgate.runner.local:main",
    "gate": "loadgate.gate.cli:main",
    "wait": "loadgate_operator.wait:main",
    "operator": "loadgate_operator.main:main",
    "collect": "loadgate_operator.collect:main",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loadgate", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the model server (same as uvicorn loadgate.server.app:app)")
    s.add_argument("--host", default="0.0.0.0")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--backend", choices=["onnx-int8", "onnx", "torch"], default=None,
                   help="inference backend (default: settings / LOADGATE_BACKEND, onnx-int8)")
    s.add_argument("--model", default=None, help="model name or local path (LOADGATE_MODEL_NAME)")
    s.add_argument("--max-batch-size", type=int, default=None, help="texts per model call; 1 disables batching")
    s.add_argument("--max-batch-wait-ms", type=float, default=None, help="how long to gather a batch; 0 disables batching")
    s.add_argument("--log-level", default="info")

    e = sub.add_parser("export", help="make the model's ONNX export (fp32 + int8) once, so no "
                                      "server start pays for it (image build, make install)")
    e.add_argument("--model", default=None, help="model name or local path (LOADGATE_MODEL_NAME)")
    e.add_argument("--cache-dir", default=None,
                   help="where to put it (LOADGATE_ONNX_CACHE_DIR; default ~/.cache/loadgate/onnx)")

    r = sub.add_parser("run", help="run a LoadTest file locally: Locust master + workers, analysis, gate")
    r.add_argument("file", help="a LoadTest manifest (loadgate.dev/v1alpha1), e.g. profiles/smoke.yaml")
    r.add_argument("--target", default=None, help="override spec.target.url")
    r.add_argument("--serve", action="store_true", help="start the local model server for the run and stop it after")
    r.add_argument("--workers", type=int, default=None, help="Locust worker processes (default: spec.workers)")
    r.add_argument("--out", default=None, help="output directory (default: results/<metadata.name>/)")
    r.add_argument("--users", type=int, default=None, help="override spec.load.users")
    r.add_argument("--spawn-rate", type=float, default=None, help="override spec.load.spawnRate")
    r.add_argument("--run-time", default=None, help="override spec.load.runTime (30s, 5m, 1h)")

    g = sub.add_parser("gate", help="pass/fail gate on Locust CSVs (exit 0 pass, 1 fail, 2 unusable)")
    g.add_argument("--csv-prefix", required=True, help="the prefix given to locust --csv (e.g. results/x/locust)")
    g.add_argument("--thresholds", default=None, help="YAML/JSON thresholds, or a LoadTest file (its spec.thresholds)")
    g.add_argument("--p95-ms", type=float, default=None)
    g.add_argument("--p99-ms", type=float, default=None)
    g.add_argument("--max-error-rate", type=float, default=None, help="fraction, e.g. 0.01")
    g.add_argument("--min-rps", type=float, default=None)
    g.add_argument("--baseline", default=None, help="a previous run's summary.json")
    g.add_argument("--max-regression-pct", type=float, default=None)
    g.add_argument("--json", default=None, help="write summary.json here")
    g.add_argument("--out", default=None, help="also write junit.xml, summary.md, timeline.png here")
    g.add_argument("--name", default=None, help="name recorded in the summary")

    w = sub.add_parser("wait", help="wait for a LoadTest's verdict in a cluster (exit 0 Pass, 1 Fail, 2 Error/timeout)")
    w.add_argument("name")
    w.add_argument("-n", "--namespace", default=None)
    w.add_argument("--timeout", default="30m", help="30s, 5m, 1h")

    o = sub.add_parser("operator", help="run the kopf operator")
    o.add_argument("--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    o.add_argument("--all-namespaces", action="store_true", help="watch all namespaces (the default)")
    o.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="liveness endpoint URL")
    o.add_argument("--verbose", action="store_true")

    c = sub.add_parser("collect", help="(collector Job) analyse a run's CSVs on the PVC, print the summary")
    c.add_argument("--config", required=True, help="the run's LoadTest (JSON/YAML) as mounted from its ConfigMap")
    c.add_argument("--results", required=True, help="the run's results directory on the PVC")
    c.add_argument("--baseline", default=None, help="baseline summary JSON file (optional)")
    c.add_argument("--termination-log", default="/dev/termination-log")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, func = COMMANDS[args.command].split(":")
    return int(getattr(importlib.import_module(module_name), func)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
