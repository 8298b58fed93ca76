"""LoadTest documents for tests: one factory with valid defaults that each test tweaks.

    loadtest_doc("ramp", namespace="perf", load={"stages": [...]}, workers=3)
    loadtest(url=base, thresholds={"p95Ms": 500})          # parsed: a loadgate.spec.LoadTest
    write_loadtest(tmp_path, "smoke", url=base, load=...)  # a YAML file for `loadgate run`

`url` sets spec.target.url; `target` is merged into the default target (so
`target={"readyTimeout": "30s"}` keeps the url); every other keyword replaces that spec field.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from loadgate import spec as lgspec

DEFAULT_SPEC = {"target": {"url": "http://127.0.0.1:8000"},
                "load": {"users": 10, "spawnRate": 5, "runTime": "30s"}}


def loadtest_doc(name: str = "t", *, namespace: str | None = None, url: str | None = None,
                 target: dict | None = None, **spec) -> dict:
    body = copy.deepcopy(DEFAULT_SPEC)
    body["target"].update(target or {})
    if url is not None:
        body["target"]["url"] = url
    body.update(copy.deepcopy(spec))
    return lgspec.document(name, body, namespace=namespace)


def loadtest(name: str = "t", **kwargs) -> lgspec.LoadTest:
    return lgspec.parse(loadtest_doc(name, **kwargs))


def write_loadtest(directory: Path, name: str = "t", **kwargs) -> Path:
    path = Path(directory) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(loadtest_doc(name, **kwargs), sort_keys=False))
    return path
