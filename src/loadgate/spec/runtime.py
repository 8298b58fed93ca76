"""The one runtime form of a LoadTest: its manifest as JSON, in the file LOADGATE_CONFIG names.

Every Locust process (the locustfile, the shape, the CPU listener) and the collector read it
back with the same parser as the YAML; the local runner writes it next to the results and the
operator into the run's ConfigMap, both with `runtime_json`. So a Kubernetes pod needs nothing
but that mounted file. Standard library only: every Locust process imports this on start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from loadgate.spec.manifest import manifest
from loadgate.spec.model import LoadTest
from loadgate.spec.parser import SpecError, parse

CONFIG_ENV = "LOADGATE_CONFIG"   # env var: the path of the runtime file
RUNTIME_FILE = "loadtest.json"   # its name, locally (results dir) and in the ConfigMap


def runtime_json(lt: LoadTest) -> str:
    return json.dumps(manifest(lt), indent=2, sort_keys=True)


def write_runtime(lt: LoadTest, directory: str | Path) -> Path:
    """`<directory>/loadtest.json`; point LOADGATE_CONFIG at the returned path."""
    path = Path(directory) / RUNTIME_FILE
    path.write_text(runtime_json(lt) + "\n")
    return path


def read_runtime(environ=None) -> LoadTest | None:
    """The LoadTest in the file LOADGATE_CONFIG names; None when it is unset (a locustfile run
    on its own); SpecError, naming the variable and the file, when it cannot be used."""
    env = os.environ if environ is None else environ
    path = env.get(CONFIG_ENV, "").strip()
    if not path:
        return None
    where = f"{CONFIG_ENV}={path}"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise SpecError([("", f"{where}: cannot read: {e.strerror or e}")]) from e
    except ValueError as e:
        raise SpecError([("", f"{where}: not valid JSON: {e}")]) from e
    if not isinstance(doc, dict):
        raise SpecError([("", f"{where}: expected a JSON object (a LoadTest manifest)")])
    try:
        return parse(doc)
    except SpecError as e:
        raise SpecError([("", f"{where}: not a valid LoadTest:"), *e.errors]) from e
