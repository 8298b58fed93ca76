"""The `loadgate` console script.

Argument definitions live here (the CLI contract README.md documents); each subcommand's work
lives in the module that owns it and is imported only when that subcommand runs, so
`loadgate gate` never pays for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from loadgate.exit_codes import EXIT_CODES
from loadgate.spec import THRESHOLD_KEYS

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


class Parser(argparse.ArgumentParser):
    """argparse with the exit code of a usage error set per subcommand: `loadgate run` exits 3
    for a bad command line, like for a bad LoadTest file (argparse's own is 2, Error)."""

    usage_exit_code = 2

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(self.usage_exit_code, f"{self.prog}: error: {message}\n")


def port(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="loadgate", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    s = sub.add_parser("serve", help="run the model server (same as uvicorn loadgate.server.app:app)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, like uvicorn; 0.0.0.0 in a "
                        "container)")
    s.add_argument("--port", type=port, default=8000, help="1-65535 (default 8000)")
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
    r.usage_exit_code = EXIT_CODES["Invalid"]
    r.add_argument("file", help="a LoadTest manifest (loadgate.dev/v1alpha1), e.g. profiles/smoke.yaml")
    r.add_argument("--target", default=None, help="override spec.target.url")
    r.add_argument("--serve", action="store_true", help="start the local model server for the run and stop it after")
    # values are checked by the spec validator, like the file's (a bad one exits 3)
    r.add_argument("--workers", default=None, help="Locust worker processes (default: spec.workers)")
    r.add_argument("--out", default=None, help="output directory (default: results/<metadata.name>/)")
    r.add_argument("--users", default=None, help="override spec.load.users (users loads)")
    r.add_argument("--spawn-rate", default=None,
                   help="override spec.load.spawnRate (users loads) or breakpoint.spawnRate")
    r.add_argument("--run-time", default=None,
                   help="override spec.load.runTime (30s, 5m, 1h) or a rate load's duration; on "
                        "stages and breakpoint loads (users or rate) a cap: the plan is cut there")
    r.add_argument("--rps", default=None,
                   help="open loop at RPS requests/s: override spec.load.rate.rps, or run a "
                        "users load as a rate load of its runTime")
    r.add_argument("--max-users", default=None, help="override spec.load.breakpoint.maxUsers")
    r.add_argument("--max-rps", default=None,
                   help="override spec.load.breakpoint.maxRps (rate breakpoint loads)")
    r.add_argument("--step-duration", default=None,
                   help="override spec.load.breakpoint.stepDuration (30s, 1m)")
    r.add_argument("--threshold", action="append", default=[], metavar="KEY=VALUE",
                   help="override one of spec.thresholds (repeatable): "
                        + ", ".join(k.key for k in THRESHOLD_KEYS) + "; e.g. minRps=5")
    r.add_argument("--ready-timeout", default=None,
                   help="override spec.target.readyTimeout: how long to wait for the target's health")

    g = sub.add_parser("gate", help="pass/fail gate on Locust CSVs (exit 0 pass, 1 fail, 2 unusable)")
    g.add_argument("--csv-prefix", required=True, help="the prefix given to locust --csv (e.g. results/x/locust)")
    g.add_argument("--thresholds", default=None, help="YAML/JSON thresholds, or a LoadTest file (its spec.thresholds)")
    for key in THRESHOLD_KEYS:  # --p95-ms, --p99-ms, --max-error-rate, --min-rps, ...
        g.add_argument("--" + key.field.replace("_", "-"), type=float, default=None,
                       help=f"limit: {key.help} (spec.thresholds.{key.key})")
    g.add_argument("--baseline", default=None, help="a previous run's summary.json")
    g.add_argument("--max-regression-pct", type=float, default=None)
    g.add_argument("--json", default=None, help="write summary.json here")
    g.add_argument("--out", default=None, help="also write junit.xml, summary.md, timeline.png here")
    g.add_argument("--name", default=None, help="name recorded in the summary")
    g.add_argument("--force", action="store_true",
                   help="replace a summary.json that a loadgate run wrote (refused otherwise)")

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
    p.subcommands = sub.choices  # name -> its parser, for errors found after parsing
    return p


def _dash_values(argv: list[str]) -> list[str]:
    """`--run-time -5s` as `--run-time=-5s`: argparse takes "-5s" for an option, but it is a
    value the spec should judge (and reject with its field's name)."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and \
                re.match(r"^-\d", token) and not re.match(r"^-\d+(\.\d+)?$", token):
            out[-1] += "=" + token
        else:
            out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(_dash_values(sys.argv[1:] if argv is None else argv))
    if extra:  # reported by the subcommand's parser, with its usage and exit code
        parser.subcommands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    module_name, func = COMMANDS[args.command].split(":")
    return int(getattr(importlib.import_module(module_name), func)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
