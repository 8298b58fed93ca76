"""The Argo CD health check for LoadTest, run in real Lua 5.1 (lupa.lua51, what Argo CD's
gopher-lua implements) on status fixtures for every phase and verdict."""

from __future__ import annotations

import lupa.lua51 as lua51
import pytest
import yaml
from argocd_cm import KEY, LUA, SNIPPET, render
from support.crd import validate_loadtest


def health(obj: dict, script: str | None = None) -> dict:
    rt = lua51.LuaRuntime(unpack_returned_tuples=True)
    assert rt.eval("_VERSION") == "Lua 5.1"
    rt.globals().obj = rt.table_from(obj, recursive=True)
    hs = rt.execute(script if script is not None else LUA.read_text())
    return {"status": hs["status"], "message": hs["message"]}


def lt(status: dict | None) -> dict:
    obj = {"apiVersion": "loadgate.dev/v1alpha1", "kind": "LoadTest",
           "metadata": {"name": "postsync-smoke", "namespace": "default"},
           "spec": {"target": {"url": "http://model-server:8000"}}}
    if status is not None:
        obj["status"] = status
    return obj


SUMMARY = {"requests": 1200, "failures": 0, "errorRate": 0.0, "rps": 19.8, "p50Ms": 40,
           "p95Ms": 120, "p99Ms": 200, "maxUsers": 20, "durationS": 60.0}

CASES = [
    # (id, status, expected Argo CD health)
    ("no-status", None, "Progressing"),
    ("empty-status", {}, "Progressing"),
    ("pending", {"phase": "Pending"}, "Progressing"),
    ("waiting-for-target", {"phase": "WaitingForTarget", "reason": "waiting for /health"}, "Progressing"),
    ("running", {"phase": "Running", "startTime": "2026-01-01T00:00:00Z"}, "Progressing"),
    ("collecting", {"phase": "Collecting"}, "Progressing"),
    ("pass", {"phase": "Succeeded", "verdict": "Pass", "reason": "all thresholds met",
              "summary": SUMMARY}, "Healthy"),
    ("fail", {"phase": "Succeeded", "verdict": "Fail", "reason": "p95 120 ms over 100 ms",
              "summary": SUMMARY}, "Degraded"),
    ("invalid", {"phase": "Succeeded", "verdict": "Invalid",
                 "reason": "load generator CPU at 97%"}, "Degraded"),
    ("error", {"phase": "Failed", "verdict": "Error", "reason": "target never became ready"},
     "Degraded"),
    ("failed-without-verdict", {"phase": "Failed", "reason": "deadline exceeded"}, "Degraded"),
    ("unknown-verdict", {"phase": "Running", "verdict": "Maybe"}, "Progressing"),
]


@pytest.mark.parametrize(("status", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_health_for_every_phase_and_verdict(status, expected):
    hs = health(lt(status))
    assert hs["status"] == expected
    assert isinstance(hs["message"], str) and hs["message"]
    if status and status.get("reason"):
        assert status["reason"] in hs["message"]


def test_message_carries_the_numbers():
    hs = health(lt({"phase": "Succeeded", "verdict": "Pass", "reason": "ok", "summary": SUMMARY}))
    assert hs["message"] == "Pass: ok; rps 19.8; p95 120 ms"


def test_snippet_is_generated_from_the_lua_file():
    text = SNIPPET.read_text()
    assert text == render(LUA.read_text()), (
        "examples/argocd/argocd-cm-health.yaml is stale: run "
        "`.venv/bin/python tests/examples/argocd_cm.py`")
    cm = yaml.safe_load(text)
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "argocd-cm"
    # the key Argo CD looks up: resource.customizations.health.<group>_<kind>
    assert KEY == "resource.customizations.health.loadgate.dev_LoadTest"
    script = cm["data"][KEY]
    assert script == LUA.read_text()
    # and the text in the ConfigMap is what actually runs
    assert health(lt({"phase": "Succeeded", "verdict": "Pass"}), script)["status"] == "Healthy"


def test_bad_lua_would_fail():
    """The harness itself can fail: a script returning the wrong health is caught."""
    wrong = LUA.read_text().replace('hs.status = "Healthy"', 'hs.status = "Progressing"')
    assert health(lt({"phase": "Succeeded", "verdict": "Pass"}), wrong)["status"] != "Healthy"


def test_hook_manifest():
    hook = yaml.safe_load((LUA.parent / "loadtest-hook.yaml").read_text())
    assert hook["apiVersion"] == "loadgate.dev/v1alpha1" and hook["kind"] == "LoadTest"
    ann = hook["metadata"]["annotations"]
    assert ann["argocd.argoproj.io/hook"] == "PostSync"
    assert ann["argocd.argoproj.io/hook-delete-policy"] in {
        "BeforeHookCreation", "HookSucceeded", "HookFailed"}
    assert hook["spec"]["target"]["url"] == "http://model-server:8000"
    validate_loadtest(hook)


def test_every_phase_and_verdict_of_the_crd():
    """Cross every phase and verdict the CRD allows (plus absent) with the health mapping."""
    from support.crd import version

    status = version()["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    phases = [None, *status["phase"]["enum"]]
    verdicts = [None, *status["verdict"]["enum"]]
    assert set(verdicts) == {None, "Pass", "Fail", "Error", "Invalid"}
    for phase in phases:
        for verdict in verdicts:
            st = {k: v for k, v in {"phase": phase, "verdict": verdict}.items() if v}
            got = health(lt(st))["status"]
            if verdict == "Pass":
                want = "Healthy"
            elif verdict in {"Fail", "Error", "Invalid"} or phase == "Failed":
                want = "Degraded"
            else:
                want = "Progressing"
            assert got == want, (phase, verdict, got)


def test_chart_readme_carries_the_same_script():
    readme = (LUA.parents[2] / "charts" / "loadgate" / "README.md").read_text()
    block = readme.split(f"  {KEY}: |\n", 1)[1].split("```", 1)[0]
    script = "".join(line[4:] + "\n" if line.strip() else "\n" for line in block.splitlines())
    assert script.rstrip("\n") == LUA.read_text().rstrip("\n"), (
        "charts/loadgate/README.md has a stale copy of examples/argocd/loadtest-health.lua")


def test_application_deploys_the_chart_and_only_the_hook():
    app = yaml.safe_load((LUA.parent / "application.yaml").read_text())
    assert app["kind"] == "Application" and app["apiVersion"] == "argoproj.io/v1alpha1"
    chart_src, hook_src = app["spec"]["sources"]
    repo = LUA.parents[2]
    assert (repo / chart_src["path"] / "Chart.yaml").is_file()
    assert chart_src["helm"]["releaseName"] == "model-server"  # Service the hook targets
    included = sorted((repo / hook_src["path"]).glob(hook_src["directory"]["include"]))
    assert [p.name for p in included] == ["loadtest-hook.yaml"]
    hook = yaml.safe_load(included[0].read_text())
    assert hook["spec"]["target"]["url"].startswith("http://model-server:")
