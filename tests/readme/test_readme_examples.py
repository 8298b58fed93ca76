"""Every `make run`, `loadgate run` and `loadgate gate` example of README.md, run for real.

The commands are read from the README's ```bash blocks and run as written, with what the
README says `make test` changes: each run is cut to RUN_TIME with `--run-time` (a cap on
breakpoint loads) and its latency SLO loosened (SLO: the suite shares two cores with other
work); `make run` gets a free PORT and its results go to a temporary directory, `--target
http://127.0.0.1:8000` is the session's model server (the README's "server of your own"), and
paths are the repository's. Every one must pass. Cost: two `make run`s (--serve) side by side,
then the `loadgate run`s one after another on the shared server, then the gates.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RUN_TIME = "20s"
SLO = ["--threshold", "p95Ms=5000", "--threshold", "p99Ms=10000"]
GATE_SLO = ["--p95-ms", "5000", "--p99-ms", "10000"]
OWN_SERVER = "http://127.0.0.1:8000"   # what the README's own `loadgate serve` listens on
ONLY_INSTALL = ("TORCH_INDEX_URL",)    # make variables that change only the (stamped) install

pytestmark = pytest.mark.timeout(600)


def readme_commands() -> list[list[str]]:
    """The README's shell commands from its ```bash blocks, continuations joined, comments
    dropped, as argv lists."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), re.M | re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(argv)
    return commands


def examples(kind: tuple[str, str]) -> list[list[str]]:
    out = []
    for argv in readme_commands():
        if tuple(argv[:2]) == kind:
            if kind == ("make", "run"):
                argv = [a for a in argv if a.split("=", 1)[0] not in ONLY_INSTALL]
            if argv not in out:
                out.append(argv)
    return out


def run(argv: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=400,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})})
    print("$", shlex.join(argv), f"-> exit {r.returncode}\n", r.stdout[-3000:], r.stderr[-2000:])
    return r


def make_run(argv: list[str], tmp: Path) -> tuple[list[str], subprocess.CompletedProcess]:
    """`make run VAR=...` as written, on a free port, results under tmp/results/<name>."""
    variables = dict(a.split("=", 1) for a in argv[2:])
    profile = REPO / variables.get("PROFILE", "profiles/smoke.yaml")
    name = yaml.safe_load(profile.read_text())["metadata"]["name"]
    extra = [*shlex.split(variables.get("RUN_ARGS", "")), "--run-time", RUN_TIME, *SLO,
             "--out", str(tmp / "results" / name)]
    variables.update(PORT=str(free_port()), RUN_ARGS=shlex.join(extra))
    return argv, run(["make", "--no-print-directory", "-C", str(REPO), "run",
                      *(f"{k}={v}" for k, v in variables.items())], cwd=REPO)


def loadgate(argv: list[str], tmp: Path, server: str, extra: list[str]) -> \
        subprocess.CompletedProcess:
    """`loadgate ...` as written, run in tmp (its results/ and /tmp/... paths land there)."""
    def place(arg: str) -> str:
        if arg == OWN_SERVER:
            return server
        if arg.startswith("profiles/"):
            return str(REPO / arg)
        if arg.startswith("/tmp/"):
            return str(tmp / arg.removeprefix("/tmp/"))
        return arg

    return run([sys.executable, "-m", "loadgate", *map(place, argv[1:]), *extra], cwd=tmp)


def test_the_readme_has_the_examples_this_test_runs():
    runs = examples(("make", "run")) + examples(("loadgate", "run"))
    assert ["make", "run"] in runs and len(runs) >= 4, runs
    assert any(OWN_SERVER in argv for argv in examples(("loadgate", "run")))
    assert ["loadgate", "serve", "--port", "8000", "&"] in readme_commands(), \
        "the --target examples need the README to start that server"
    assert len(examples(("loadgate", "gate"))) >= 2


def test_every_readme_example_passes(tmp_path, model_server):
    # the make runs each start a model server (--serve): side by side, as they do not share
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda argv: make_run(argv, tmp_path), examples(("make", "run"))))
    failed = [shlex.join(argv) for argv, r in done if r.returncode != 0]
    for argv in examples(("loadgate", "run")):
        r = loadgate(argv, tmp_path, model_server, ["--run-time", RUN_TIME, *SLO])
        if r.returncode != 0 or "verdict: Pass" not in r.stdout:
            failed.append(shlex.join(argv))
    for argv in examples(("loadgate", "gate")):  # on the results of the runs above
        r = loadgate(argv, tmp_path, model_server, GATE_SLO)
        if r.returncode != 0:
            failed.append(shlex.join(argv))
    assert not failed, f"README examples that did not pass: {failed}"
    for argv, r in done:
        assert "verdict: Pass" in r.stdout, shlex.join(argv)
    summaries = sorted(p.parent.name for p in (tmp_path / "results").glob("*/summary.json"))
    assert {"smoke", "breakpoint", "smoke-gate"} <= set(summaries), summaries
    assert (tmp_path / "r" / "summary.json").is_file()  # ramp-up's --out /tmp/r
