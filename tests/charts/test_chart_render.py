"""helm lint --strict and helm template | kubernetes-validate --strict for every ci scenario."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from support.charts import (
    CHARTS,
    KUBE_VERSION,
    docs,
    helm_template,
    run,
    scenario_id,
    scenarios,
    tool,
    venv_tool,
)

CHART_NAMES = ["model-server", "loadgate"]
CASES = [(c, s) for c in CHART_NAMES for s in scenarios(c)]
IDS = [f"{c}-{scenario_id(s)}" for c, s in CASES]
# kinds kubernetes-validate has no schema for; checked by their own tests instead
NOT_CORE = {"ServiceMonitor", "CustomResourceDefinition"}


@pytest.mark.parametrize(("chart", "values"), CASES, ids=IDS)
def test_helm_lint_strict(chart, values):
    args = [tool("helm"), "lint", "--strict", str(CHARTS / chart)]
    if values is not None:
        args += ["-f", str(values)]
    proc = run(args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize(("chart", "values"), CASES, ids=IDS)
def test_rendered_objects_validate_strictly(chart, values):
    objs = docs(helm_template(chart, chart, values=values))
    core = [o for o in objs if o["kind"] not in NOT_CORE]
    assert core, "nothing rendered"
    proc = run([venv_tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, "--quiet", "-"],
               stdin=yaml.safe_dump_all(core))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kubernetes_validate_rejects_a_bad_field():
    """The validator must fail on unknown fields, or the test above proves nothing."""
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"ports": [{"port": 80}], "portz": 1}}
    proc = run([venv_tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, "--quiet", "-"],
               stdin=yaml.safe_dump(bad))
    assert proc.returncode != 0


def test_validator_bundles_schemas_for_the_target_version():
    """Offline: the strict schemas for our Kubernetes version ship inside the package."""
    from pathlib import Path

    import kubernetes_validate

    bundled = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    assert (bundled / f"v{KUBE_VERSION}-local-strict" / "deployment-apps-v1.json").is_file()


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_values_match_their_schema(chart):
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())

    def merged(base, over):  # what helm does with -f: maps merge, everything else replaces
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merged(base.get(k), v) for k, v in over.items()}}
        return over

    for values in scenarios(chart):
        overlay = yaml.safe_load(values.read_text()) if values else {}
        jsonschema.validate(merged(defaults, overlay or {}), schema)


@pytest.mark.parametrize(("chart", "bad"), [
    ("model-server", "service.port=http"),
    ("model-server", "server.backend=tensorflow"),
    ("model-server", "image.pullPolicy=Sometimes"),
    ("loadgate", "results.size=lots"),
    ("loadgate", "results.accessMode=ReadWriteAlways"),
    ("loadgate", "watchNamespaces[0]=Not_A_Namespace"),
])
def test_schema_rejects_bad_values(chart, bad):
    proc = run([tool("helm"), "template", "x", str(CHARTS / chart), "--set", bad])
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr


def _leaf_keys_without_doc(text: str) -> list[str]:
    """Leaf keys of values.yaml not preceded by a `# --` comment (helm-docs style).

    A documented key covers everything nested under it; an undocumented parent map is fine
    as long as each of its children is documented.
    """
    lines = text.splitlines()
    missing, covered_indent, comment_block = [], None, []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            comment_block = []
            continue
        indent = len(line) - len(line.lstrip())
        if covered_indent is not None and indent > covered_indent:
            continue
        covered_indent = None
        if stripped.startswith("#"):
            comment_block.append(stripped)
            continue
        if stripped.startswith("- ") or ":" not in stripped:
            continue
        key, _, rest = stripped.partition(":")
        documented = any(c.startswith("# --") for c in comment_block)
        comment_block = []
        nxt = next((x for x in lines[i + 1:] if x.strip() and not x.strip().startswith("#")), "")
        is_parent = not rest.strip() and (len(nxt) - len(nxt.lstrip())) > indent
        if documented:
            covered_indent = indent
        elif not is_parent:
            missing.append(key)
    return missing


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_every_value_is_documented_and_camel_case(chart):
    text = (CHARTS / chart / "values.yaml").read_text()
    assert _leaf_keys_without_doc(text) == []

    def keys(node, path=""):
        if isinstance(node, dict):
            for k, v in node.items():
                yield f"{path}.{k}".lstrip("."), k
                yield from keys(v, f"{path}.{k}")

    bad = [p for p, k in keys(yaml.safe_load(text)) if not k[:1].islower() or "_" in k or "-" in k]
    assert bad == []


def test_doc_check_catches_an_undocumented_key():
    assert _leaf_keys_without_doc("# -- fine\na: 1\nb:\n  # -- fine\n  c: 2\n  d: 3\n") == ["d"]


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_chart_metadata(chart):
    meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["name"] == chart and meta["type"] == "application"
    helpers = (CHARTS / chart / "templates" / "_helpers.tpl").read_text()
    for label in ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                  "app.kubernetes.io/version", "app.kubernetes.io/managed-by"):
        assert label in helpers


def _render_notes(chart: str, tmp_path, sets=()) -> str:
    """helm template skips NOTES.txt; wrap it in a throwaway ConfigMap in a copy of the chart."""
    import shutil

    copy = tmp_path / f"{chart}-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(CHARTS / chart, copy)
    notes = (copy / "templates" / "NOTES.txt").read_text()
    (copy / "templates" / "_notes_under_test.tpl").write_text(
        '{{- define "notes.under.test" -}}\n' + notes + "\n{{- end }}\n")
    (copy / "templates" / "notes-under-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ include "notes.under.test" . | quote }}\n')
    args = [tool("helm"), "template", chart, str(copy), "-n", "loadgate",
            "--show-only", "templates/notes-under-test.yaml"]
    for s in sets:
        args += ["--set", s]
    proc = run(args)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)["data"]["notes"]


def test_model_server_notes_show_port_forward_and_curl(tmp_path):
    notes = _render_notes("model-server", tmp_path)
    assert "kubectl -n loadgate port-forward svc/model-server 8000:8000" in notes
    assert "curl -s http://127.0.0.1:8000/health" in notes
    assert "/embed" in notes and '"texts"' in notes
    assert "helm test model-server" in notes


def test_loadgate_notes_name_the_watch_scope(tmp_path):
    assert "watching all namespaces" in _render_notes("loadgate", tmp_path)
    scoped = _render_notes("loadgate", tmp_path, sets=["watchNamespaces={a,b}"])
    assert "namespaces: a, b" in scoped
