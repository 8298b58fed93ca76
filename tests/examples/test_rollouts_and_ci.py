"""The Argo Rollouts analysis example and the GitHub Actions workflow example."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.crd import validate_loadtest

from loadgate.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
ROLLOUTS = REPO / "examples" / "argo-rollouts"
WORKFLOW = REPO / "examples" / "ci" / "github-actions-loadtest.yml"


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def analysis() -> dict[str, dict]:
    return {d["kind"]: d for d in load_all(ROLLOUTS / "analysis-template.yaml")}


def test_every_template_arg_used_is_declared(analysis):
    tmpl = analysis["AnalysisTemplate"]
    declared = {a["name"] for a in tmpl["spec"]["args"]}
    used = set(re.findall(r"\{\{args\.([\w-]+)\}\}", yaml.safe_dump(tmpl)))
    assert used and used <= declared
    # args without a default must come from the Rollout
    required = {a["name"] for a in tmpl["spec"]["args"] if "value" not in a}
    rollout = next(d for d in load_all(ROLLOUTS / "rollout.yaml") if d["kind"] == "Rollout")
    analysis_ref = rollout["spec"]["strategy"]["blueGreen"]["prePromotionAnalysis"]
    assert analysis_ref["templates"] == [{"templateName": tmpl["metadata"]["name"]}]
    assert required <= {a["name"] for a in analysis_ref["args"]}


def test_job_creates_then_waits_with_the_real_cli(analysis, tmp_path):
    """Run the Job's shell script with stand-ins for python and loadgate that record their
    arguments: the name create_loadtest.py prints is the LoadTest `loadgate wait` waits for."""
    import os

    tmpl = analysis["AnalysisTemplate"]
    metric = tmpl["spec"]["metrics"][0]
    job = metric["provider"]["job"]["spec"]
    assert job["backoffLimit"] == 0  # one pod per analysis run: its uid is the run's id
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == analysis["ServiceAccount"]["metadata"]["name"]
    container = pod["containers"][0]
    assert {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}} in \
        container["env"]
    values = {a["name"]: a.get("value", f"x-{a['name']}") for a in tmpl["spec"]["args"]}
    script = re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: values[m.group(1)], container["args"][0])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text('#!/bin/sh\necho "$@" > "$LOG.python"\n'
                                    'echo rollout-gate-x-revision-0a1b2c3d\n')
    (bin_dir / "loadgate").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$LOG.loadgate"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    log = tmp_path / "log"
    subprocess.run(["sh", "-c", script], check=True, timeout=10,
                   env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log)})
    assert (tmp_path / "log.python").read_text().split() == [
        "/config/create_loadtest.py", "/config/loadtest.yaml", "rollout-gate", "x-revision",
        "x-namespace", "http://model-server-preview:8000"]
    args = build_parser().parse_args((tmp_path / "log.loadgate").read_text().split())
    assert args.command == "wait" and args.name == "rollout-gate-x-revision-0a1b2c3d"
    assert args.namespace == "x-namespace" and args.timeout == "30m"
    # exit 0 Pass -> Successful; non-zero -> Failed, rollback. The deadline covers the wait.
    assert job["activeDeadlineSeconds"] > 30 * 60


def test_each_analysis_run_gets_its_own_loadtest(analysis, tmp_path):
    """Two analysis runs of the same revision (a retry, or a rollback to the same pod template)
    create two LoadTests: the second never returns the first one's verdict. The same run
    again (a restarted container) finds its own. Against the Kubernetes emulator."""
    import os

    from support.kmock_emulator import EmulatorThread

    data = analysis["ConfigMap"]["data"]
    (tmp_path / "loadtest.yaml").write_text(data["loadtest.yaml"])
    (tmp_path / "create_loadtest.py").write_text(data["create_loadtest.py"])

    def create(pod_uid: str, em) -> str:
        proc = subprocess.run(
            [sys.executable, str(tmp_path / "create_loadtest.py"), str(tmp_path / "loadtest.yaml"),
             "rollout-gate", "5d8f7c9b4", "lg", "http://model-server-preview:8000"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "POD_UID": pod_uid, "KUBECONFIG": str(em.kubeconfig)})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    with EmulatorThread(tmp_path) as em:
        first = create("0a1b2c3d-1111-4111-8111-111111111111", em)
        second = create("9f8e7d6c-2222-4222-8222-222222222222", em)
        again = create("0a1b2c3d-1111-4111-8111-111111111111", em)
        stored = {o["metadata"]["name"]: o for o in em.objects("loadgate.dev/v1alpha1/loadtests")}
    assert (first, second, again) == ("rollout-gate-5d8f7c9b4-0a1b2c3d",
                                      "rollout-gate-5d8f7c9b4-9f8e7d6c", first)
    assert sorted(stored) == [first, second]
    for lt in stored.values():
        assert lt["metadata"]["labels"]["loadgate.dev/revision"] == "5d8f7c9b4"
        assert lt["spec"]["target"]["url"] == "http://model-server-preview:8000"
        lt.pop("status", None)
        validate_loadtest({k: v for k, v in lt.items() if k in ("apiVersion", "kind",
                                                                 "metadata", "spec")})


def test_configmap_loadtest_and_script(analysis):
    data = analysis["ConfigMap"]["data"]
    lt = yaml.safe_load(data["loadtest.yaml"])
    lt["metadata"]["name"] = "rollout-gate-abc123"
    lt["spec"]["target"]["url"] = "http://model-server-preview:8000"
    validate_loadtest(lt)
    compile(data["create_loadtest.py"], "create_loadtest.py", "exec")
    assert 'create_namespaced_custom_object("loadgate.dev", "v1alpha1"' in data["create_loadtest.py"]
    assert "e.status != 409" in data["create_loadtest.py"]  # a restarted container


def test_create_loadtest_script_rejects_missing_arguments(analysis, tmp_path):
    script = tmp_path / "create_loadtest.py"
    script.write_text(analysis["ConfigMap"]["data"]["create_loadtest.py"])
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "ValueError" in proc.stderr  # not enough values to unpack


def test_analysis_rbac_is_read_and_create_loadtests_only(analysis):
    rules = analysis["Role"]["rules"]
    assert rules == [{"apiGroups": ["loadgate.dev"], "resources": ["loadtests"],
                      "verbs": ["get", "list", "watch", "create"]}]
    binding = analysis["RoleBinding"]
    assert binding["roleRef"]["name"] == analysis["Role"]["metadata"]["name"]
    assert binding["subjects"][0]["name"] == analysis["ServiceAccount"]["metadata"]["name"]


def test_core_objects_validate_strictly():
    core = [d for p in (ROLLOUTS / "analysis-template.yaml", ROLLOUTS / "rollout.yaml")
            for d in load_all(p) if not d["apiVersion"].startswith("argoproj.io/")]
    assert {d["kind"] for d in core} >= {"ConfigMap", "ServiceAccount", "Role", "RoleBinding",
                                         "Service"}
    validator = Path(sys.executable).parent / "kubernetes-validate"
    proc = subprocess.run([str(validator), "--strict", "-k", "1.33.0", "--quiet", "-"],
                          input=yaml.safe_dump_all(core), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rollout_pod_matches_the_chart_probes():
    rollout = next(d for d in load_all(ROLLOUTS / "rollout.yaml") if d["kind"] == "Rollout")
    c = rollout["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert build_parser().parse_args(c["args"]).command == "serve"
    services = {d["metadata"]["name"] for d in load_all(ROLLOUTS / "rollout.yaml")
                if d["kind"] == "Service"}
    bg = rollout["spec"]["strategy"]["blueGreen"]
    assert {bg["activeService"], bg["previewService"]} == services


# ---------------------------------------------------------------- GitHub Actions

@pytest.fixture(scope="module")
def workflow() -> dict:
    wf = yaml.safe_load(WORKFLOW.read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the bare key `on` as true
    return wf


def _steps(workflow):
    return workflow["jobs"]["loadtest"]["steps"]


def test_workflow_runs_loadgate_run_with_a_valid_command_line(workflow):
    step = next(s for s in _steps(workflow) if "loadgate run" in s.get("run", ""))
    env = {"PROFILE": "profiles/smoke.yaml", "OUT": "results/ci"}
    argv = shlex.split(step["run"].replace('"$PROFILE"', env["PROFILE"]).replace('"$OUT"', env["OUT"]))
    assert argv[0] == ".venv/bin/loadgate"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.serve and args.out == "results/ci"
    assert "if" not in step  # its exit code (the verdict) fails the job
    default_profile = workflow["jobs"]["loadtest"]["env"]["PROFILE"]
    assert "profiles/smoke.yaml" in default_profile
    assert (REPO / "profiles" / "smoke.yaml").is_file()
    assert workflow["jobs"]["loadtest"]["env"]["OUT"] == "results/ci"


def test_workflow_publishes_summary_and_junit_whatever_the_verdict(workflow):
    steps = _steps(workflow)
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert '"$OUT/summary.md"' in summary["run"] and summary["if"] == "always()"
    subprocess.run(["bash", "-n", "-c", summary["run"]], check=True, timeout=10)
    junit = next(s for s in steps if "junit.xml" in str(s.get("with", {})))
    assert junit["if"] == "always()" and junit["with"]["report_paths"] == "results/ci/junit.xml"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    install = next(s for s in steps if "make install" in s.get("run", ""))
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in install["run"]
    assert workflow["jobs"]["loadtest"]["timeout-minutes"] <= 60
    assert "pull_request" in workflow["on"]


@pytest.mark.parametrize("has_summary", [True, False])
def test_publish_step_runs(workflow, tmp_path, has_summary):
    """Run the workflow's publish step in bash, as the runner would."""
    import os

    step = next(s for s in _steps(workflow) if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    out = tmp_path / "results" / "ci"
    out.mkdir(parents=True)
    if has_summary:
        (out / "summary.md").write_text("## ramp-up: Pass\n")
    summary_file = tmp_path / "step-summary.md"
    summary_file.write_text("")
    subprocess.run(["bash", "-e", "-c", step["run"]], check=True, timeout=10,
                   env={**os.environ, "OUT": str(out), "GITHUB_STEP_SUMMARY": str(summary_file)})
    text = summary_file.read_text()
    assert ("## ramp-up: Pass" in text) if has_summary else ("No summary.md" in text)


def test_crd_check_rejects_a_bad_loadtest(analysis):
    """validate_loadtest must be able to fail: a LoadTest with no load at all."""
    lt = yaml.safe_load(analysis["ConfigMap"]["data"]["loadtest.yaml"])
    lt["metadata"]["name"] = "x"
    lt["spec"]["target"]["url"] = "http://model-server-preview:8000"
    del lt["spec"]["load"]
    with pytest.raises(Exception, match="load"):
        validate_loadtest(lt)


def test_rollout_shares_no_name_or_pods_with_the_readme_chart_install():
    """The README installs charts/model-server as release `model-server` in the namespace the
    Rollout example is applied to: no object of the example may take a name of the chart's,
    nor may its Services select the chart's Pods."""
    from support.charts import docs, helm_template

    chart = docs(helm_template("model-server", "model-server"))
    taken = {(o["kind"], o["metadata"]["name"]) for o in chart}
    pod_labels = next(o for o in chart if o["kind"] == "Deployment")["spec"]["template"][
        "metadata"]["labels"]
    example = load_all(ROLLOUTS / "rollout.yaml") + load_all(ROLLOUTS / "analysis-template.yaml")
    assert not taken & {(o["kind"], o["metadata"]["name"]) for o in example}
    services = [o for o in example if o["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {"model-server-active",
                                                         "model-server-preview"}
    for svc in services:
        selector = svc["spec"]["selector"]
        assert not selector.items() <= pod_labels.items(), svc["metadata"]["name"]
    rollout = next(o for o in example if o["kind"] == "Rollout")
    blue_green = rollout["spec"]["strategy"]["blueGreen"]
    assert (blue_green["activeService"], blue_green["previewService"]) == (
        "model-server-active", "model-server-preview")
    readme = (REPO / "README.md").read_text()
    assert f"get rollout {rollout['metadata']['name']} " in readme
