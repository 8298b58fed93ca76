"""Assertions on the objects the charts render, parsed with PyYAML."""

from __future__ import annotations

import pytest
from support.charts import CHARTS, by_kind, docs, helm_template, one, scenario_id, scenarios

from loadgate.cli import build_parser

STANDARD_LABELS = {"helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/version", "app.kubernetes.io/managed-by"}


def _assert_restricted(pod_spec: dict) -> None:
    """The restricted Pod Security Standard, plus a read-only root with a writable /tmp."""
    psc = pod_spec["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    for c in pod_spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["seccompProfile"]["type"] == "RuntimeDefault"
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts
        vol = next(v for v in pod_spec["volumes"] if v["name"] == mounts["/tmp"])
        assert "emptyDir" in vol


def _container_argv(container: dict) -> list[str]:
    """The image's ENTRYPOINT is `loadgate`; args are its subcommand."""
    assert "command" not in container, "the chart must use the image's loadgate entrypoint"
    return container["args"]


# ---------------------------------------------------------------- model-server

@pytest.fixture(scope="module")
def server_objs() -> list[dict]:
    return docs(helm_template("model-server", "model-server"))


def test_service_is_named_what_the_profiles_target(server_objs):
    svc = one(server_objs, "Service")
    assert svc["metadata"]["name"] == "model-server"  # profiles: http://model-server:8000
    assert svc["spec"]["ports"][0]["port"] == 8000
    dep = one(server_objs, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()


def test_server_probes(server_objs):
    c = one(server_objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/health"  # started = model loaded and warmed
    # model loading on a cold CPU node: allow minutes before liveness can kill the Pod
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] == "http"
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in c["ports"]


def test_server_security_and_resources(server_objs):
    spec = one(server_objs, "Deployment")["spec"]["template"]["spec"]
    _assert_restricted(spec)
    assert spec["automountServiceAccountToken"] is False
    res = spec["containers"][0]["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]


def test_server_command_parses_with_the_real_cli(server_objs):
    c = one(server_objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    args = build_parser().parse_args(_container_argv(c))
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8000)


def test_server_env_names_are_real_settings(server_objs):
    from loadgate.server.settings import ServerSettings

    c = one(server_objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    loadgate_env = {k: v for k, v in env.items() if k.startswith("LOADGATE_")}
    fields = set(ServerSettings.model_fields)
    unknown = [k for k in loadgate_env if k.removeprefix("LOADGATE_").lower() not in fields]
    assert unknown == [], f"not ServerSettings fields: {unknown}"
    assert {"LOADGATE_BACKEND", "LOADGATE_MAX_BATCH_SIZE", "LOADGATE_MAX_BATCH_WAIT_MS",
            "LOADGATE_MAX_QUEUE", "LOADGATE_MAX_TEXTS_PER_REQUEST"} <= loadgate_env.keys()
    # the rendered values are accepted by the real settings class
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, loadgate_env, clear=False):
        s = ServerSettings()
    assert s.max_batch_size == int(loadgate_env["LOADGATE_MAX_BATCH_SIZE"])
    assert env["HF_HUB_OFFLINE"] == "1" and env["HOME"] == "/tmp"


def test_null_server_setting_is_left_out():
    objs = docs(helm_template("model-server", "model-server",
                              sets=["server.maxQueue=null", "server.modelName=/models/x"]))
    env = {e["name"]: e["value"] for e in
           one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "LOADGATE_MAX_QUEUE" not in env
    assert env["LOADGATE_MODEL_NAME"] == "/models/x"


def test_optional_objects_only_when_enabled(server_objs):
    assert not {o["kind"] for o in server_objs} & {"HorizontalPodAutoscaler",
                                                   "PodDisruptionBudget", "ServiceMonitor"}
    prod = docs(helm_template("model-server", "model-server",
                              values=CHARTS / "model-server" / "ci" / "production-values.yaml"))
    dep = one(prod, "Deployment")
    assert "replicas" not in dep["spec"]  # the HPA owns the replica count
    hpa = one(prod, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = one(prod, "PodDisruptionBudget")
    selector = dep["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["selector"]["matchLabels"] == selector and pdb["spec"]["minAvailable"] == 1
    sm = one(prod, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    svc = one(prod, "Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"


def test_helm_test_hook_calls_health_and_embed(server_objs):
    pods = by_kind(server_objs, "Pod")
    assert len(pods) == 1
    pod = pods[0]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    svc = one(server_objs, "Service")
    # the Service must never select the test Pod
    assert not svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    script = pod["spec"]["containers"][0]["command"][-1]
    assert '"/health"' in script and '"/embed"' in script
    compile(script, "helm-test", "exec")
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["BASE_URL"] == "http://model-server:8000"
    assert pod["spec"]["restartPolicy"] == "Never"
    _assert_restricted(pod["spec"])


def test_kind_values_expose_the_mapped_node_port():
    import yaml

    objs = docs(helm_template("model-server", "model-server",
                              values=CHARTS / "model-server" / "ci" / "kind-values.yaml"))
    svc = one(objs, "Service")
    kind_cfg = yaml.safe_load((CHARTS.parent / "kind-config.yaml").read_text())
    mapped = {m["containerPort"] for n in kind_cfg["nodes"] for m in n.get("extraPortMappings", [])}
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["ports"][0]["nodePort"] in mapped


# ---------------------------------------------------------------- loadgate operator

EXPECTED_RULES = {
    ("loadgate.dev", "loadtests"): ["get", "list", "watch", "patch", "delete"],
    ("loadgate.dev", "loadtests/status"): ["get", "patch"],
    ("loadgate.dev", "loadtests/finalizers"): ["update"],
    ("batch", "jobs"): ["get", "list", "watch", "create", "patch", "delete"],
    ("", "pods"): ["get", "list", "watch"],
    ("", "services"): ["get", "list", "watch", "create"],
    ("", "configmaps"): ["get", "list", "watch", "create"],
    ("", "persistentvolumeclaims"): ["get", "list", "watch", "create"],
    ("", "events"): ["list", "create", "patch"],
    ("events.k8s.io", "events"): ["create", "patch"],
}
OPERATOR_ENV = {"LOADGATE_RUNNER_IMAGE", "LOADGATE_IMAGE_PULL_POLICY", "LOADGATE_RESULTS_CLAIM",
                "LOADGATE_STORAGE_CLASS", "LOADGATE_STORAGE_SIZE", "LOADGATE_ACCESS_MODE",
                "LOADGATE_POD_START_GRACE", "LOADGATE_DISABLE_MESH_SIDECARS",
                "LOADGATE_PREVENT_EVICTION", "LOADGATE_IMAGE_PULL_SECRETS",
                "LOADGATE_SERVICE_ACCOUNT_NAME", "LOADGATE_NODE_SELECTOR", "LOADGATE_TOLERATIONS",
                "LOADGATE_AFFINITY", "LOADGATE_POD_LABELS", "LOADGATE_POD_ANNOTATIONS",
                "LOADGATE_RESOURCES", "LOADGATE_KEEP_FINISHED"}


def _rules(role: dict) -> dict:
    out: dict = {}
    for rule in role["rules"]:
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                assert (group, res) not in out, f"duplicate rule for {group}/{res}"
                out[(group, res)] = sorted(rule["verbs"])
    return out


def _operator(objs: list[dict]) -> dict:
    return one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture(scope="module")
def operator_objs() -> list[dict]:
    return docs(helm_template("loadgate", "loadgate"))


def test_cluster_wide_rbac_is_exactly_the_least_privilege_list(operator_objs):
    role = one(operator_objs, "ClusterRole")
    assert _rules(role) == {k: sorted(v) for k, v in EXPECTED_RULES.items()}
    binding = one(operator_objs, "ClusterRoleBinding")
    sa = one(operator_objs, "ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": "loadgate"}]
    dep = one(operator_objs, "Deployment")
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    assert not by_kind(operator_objs, "Role")


def test_rbac_rules_are_commented():
    text = (CHARTS / "loadgate" / "templates" / "_rbac_rules.tpl").read_text().splitlines()
    starts = [i for i, line in enumerate(text) if line.startswith("- apiGroups:")]
    assert len(starts) == len(EXPECTED_RULES) - 2  # services/configmaps/PVCs share one rule
    for i in starts:
        assert text[i - 1].startswith("# "), f"rule at line {i + 1} lacks a comment saying what needs it"


def test_namespaced_watch_uses_roles_only():
    objs = docs(helm_template("loadgate", "loadgate",
                              values=CHARTS / "loadgate" / "ci" / "namespaced-values.yaml"))
    assert not by_kind(objs, "ClusterRole") and not by_kind(objs, "ClusterRoleBinding")
    roles = by_kind(objs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for role in roles:
        assert _rules(role) == {k: sorted(v) for k, v in EXPECTED_RULES.items()}
    bindings = by_kind(objs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for b in bindings:
        assert b["subjects"][0]["namespace"] == "loadgate"  # the operator's own namespace
    args = build_parser().parse_args(_operator_args(objs))
    assert args.namespace == ["team-a", "team-b"] and not args.all_namespaces


def _operator_args(objs):
    return _container_argv(_operator(objs))


def test_operator_command_liveness_and_security(operator_objs):
    c = _operator(operator_objs)
    args = build_parser().parse_args(_operator_args(operator_objs))
    assert args.command == "operator" and args.all_namespaces and args.namespace == []
    assert args.liveness == "http://0.0.0.0:8080/healthz"
    probe = c["livenessProbe"]["httpGet"]
    port = next(p for p in c["ports"] if p["name"] == probe["port"])
    assert probe["path"] == "/healthz" and port["containerPort"] == 8080
    dep = one(operator_objs, "Deployment")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    _assert_restricted(dep["spec"]["template"]["spec"])


def test_operator_env_defaults(operator_objs):
    env = {e["name"]: e["value"] for e in _operator(operator_objs)["env"]}
    assert OPERATOR_ENV <= env.keys()
    assert env["LOADGATE_RUNNER_IMAGE"] == "loadgate/loadgate:0.1.0"
    assert env["LOADGATE_IMAGE_PULL_POLICY"] == "IfNotPresent"
    assert env["LOADGATE_RESULTS_CLAIM"] == ""  # the operator creates one PVC per run
    assert env["LOADGATE_STORAGE_CLASS"] == ""
    assert env["LOADGATE_STORAGE_SIZE"] == "1Gi"
    assert env["LOADGATE_ACCESS_MODE"] == "ReadWriteOnce"
    assert env["LOADGATE_POD_START_GRACE"] == "2m"
    assert env["LOADGATE_KEEP_FINISHED"] == "20"
    assert env["LOADGATE_DISABLE_MESH_SIDECARS"] == env["LOADGATE_PREVENT_EVICTION"] == "true"


@pytest.mark.parametrize(("values", "expected"), [
    ("storage-values.yaml", {"LOADGATE_RUNNER_IMAGE": "registry.example.com/loadgate/runner:1.2.3-locust",
                             "LOADGATE_IMAGE_PULL_POLICY": "Always",
                             "LOADGATE_STORAGE_CLASS": "nfs-client",
                             "LOADGATE_STORAGE_SIZE": "10Gi",
                             "LOADGATE_ACCESS_MODE": "ReadWriteMany"}),
    ("existing-claim-values.yaml", {"LOADGATE_RESULTS_CLAIM": "shared-results",
                                    "LOADGATE_RUNNER_IMAGE": "loadgate/loadgate:0.1.0"}),
])
def test_operator_env_from_values(values, expected):
    objs = docs(helm_template("loadgate", "loadgate", values=CHARTS / "loadgate" / "ci" / values))
    env = {e["name"]: e["value"] for e in _operator(objs)["env"]}
    assert expected.items() <= env.items()


def test_runner_pods_fit_the_cluster_from_values():
    """runner.* values -> operator env -> OperatorSettings -> the Jobs' pod specs."""
    from loadgate_operator import builders
    from loadgate_operator.settings import OperatorSettings
    from support.loadtests import loadtest

    objs = docs(helm_template("loadgate", "loadgate",
                              values=CHARTS / "loadgate" / "ci" / "runner-scheduling-values.yaml"))
    env = {e["name"]: e["value"] for e in _operator(objs)["env"]}
    settings = OperatorSettings.from_env(env)
    pod = builders.build_worker_job(loadtest("x", namespace="perf"), settings)["spec"]["template"]
    spec = pod["spec"]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]  # the runner's, not the operator's
    assert spec["serviceAccountName"] == "loadgen" and spec["nodeSelector"] == {"pool": "loadgen"}
    assert spec["tolerations"][0]["key"] == "loadgen"
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert "sidecar.istio.io/inject" not in pod["metadata"]["labels"]  # turned off here
    assert pod["metadata"]["annotations"]["example.com/cost-center"] == "perf"
    assert spec["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert settings.pod_start_grace == 300
    # without runner.imagePullSecrets the Jobs use the chart's imagePullSecrets
    objs = docs(helm_template("loadgate", "loadgate", sets=["imagePullSecrets[0].name=shared"]))
    env = {e["name"]: e["value"] for e in _operator(objs)["env"]}
    assert OperatorSettings.from_env(env).image_pull_secrets == ["shared"]


def test_runner_image_follows_operator_tag():
    objs = docs(helm_template("loadgate", "loadgate", sets=["image.tag=dev"]))
    env = {e["name"]: e["value"] for e in _operator(objs)["env"]}
    assert env["LOADGATE_RUNNER_IMAGE"] == "loadgate/loadgate:dev"


# ---------------------------------------------------------------- both charts

@pytest.mark.parametrize(("chart", "values"),
                         [(c, s) for c in ("model-server", "loadgate") for s in scenarios(c)],
                         ids=lambda v: v if isinstance(v, str) else scenario_id(v))
def test_standard_labels_everywhere(chart, values):
    for obj in docs(helm_template(chart, "rel", values=values)):
        labels = obj["metadata"].get("labels", {})
        missing = STANDARD_LABELS - labels.keys()
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/instance"] == "rel"


# ---------------------------------------------------------------- the CRD shipped in crds/

def test_chart_ships_the_crd_and_rbac_matches_it():
    from support.charts import KUBE_VERSION, run, venv_tool

    crd_path = CHARTS / "loadgate" / "crds" / "loadtests.loadgate.dev.yaml"
    if not crd_path.exists():
        pytest.skip("the CRD is not there yet (operator work)")
    objs = docs(helm_template("loadgate", "loadgate", extra=["--include-crds"]))
    crd = one(objs, "CustomResourceDefinition")
    assert crd["metadata"]["name"] == "loadtests.loadgate.dev"
    proc = run([venv_tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, "--quiet", "-"],
               stdin=crd_path.read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = crd["spec"]["names"]
    assert (crd["spec"]["group"], names["plural"], names["kind"]) == (
        "loadgate.dev", "loadtests", "LoadTest")
    assert "lt" in names["shortNames"]
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    assert "status" in version["subresources"]  # the loadtests/status rule needs it
    # the columns README shows for `kubectl get lt`
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Phase", "Verdict", "RPS", "P95", "Breaking-RPS", "Age"]
    rules = _rules(one(objs, "ClusterRole"))
    assert (crd["spec"]["group"], names["plural"]) in rules
    assert (crd["spec"]["group"], names["plural"] + "/status") in rules


@pytest.mark.parametrize("values", scenarios("loadgate"), ids=scenario_id)
def test_operator_accepts_the_env_the_chart_renders(values):
    """The operator's own settings parser reads what the chart passes (no typo, valid values)."""
    settings_mod = pytest.importorskip("loadgate_operator.settings")
    env = {e["name"]: e["value"] for e in
           _operator(docs(helm_template("loadgate", "loadgate", values=values)))["env"]}
    fields = set(settings_mod.OperatorSettings.model_fields)
    unknown = [k for k in env if k.startswith("LOADGATE_")
               and k.removeprefix("LOADGATE_").lower() not in fields]
    assert unknown == [], f"not OperatorSettings fields: {unknown}"
    s = settings_mod.OperatorSettings.from_env(env)
    assert s.runner_image == env["LOADGATE_RUNNER_IMAGE"]
    assert s.pod_start_grace > 0 and s.prevent_eviction
    assert s.results_claim == env["LOADGATE_RESULTS_CLAIM"]
    assert (s.storage_size, s.access_mode) == (env["LOADGATE_STORAGE_SIZE"],
                                               env["LOADGATE_ACCESS_MODE"])


def test_profiles_target_the_charts_service(server_objs):
    """profiles/*.yaml target http://model-server:8000: the Service the chart creates."""
    from urllib.parse import urlsplit

    import yaml

    profiles = sorted((CHARTS.parent / "profiles").glob("*.yaml"))
    if not profiles:
        pytest.skip("no profiles/*.yaml yet")
    svc = one(server_objs, "Service")
    for path in profiles:
        doc = yaml.safe_load(path.read_text())
        url = urlsplit(doc["spec"]["target"]["url"])
        assert (url.hostname, url.port) == (svc["metadata"]["name"], svc["spec"]["ports"][0]["port"]), path


@pytest.mark.timeout(180)
def test_helm_test_script_passes_against_the_real_server(server_objs, model_server):
    """Run the exact script of the `helm test` Pod against a real uvicorn + model server."""
    import os
    import subprocess
    import sys

    pod = one(server_objs, "Pod")
    script = pod["spec"]["containers"][0]["command"][-1]
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "BASE_URL": model_server})
    assert proc.returncode == 0, proc.stderr
    assert "ok: /health and /embed (dim 384)" in proc.stdout


def test_helm_test_script_fails_when_the_server_is_down(server_objs):
    import os
    import subprocess
    import sys

    from support.servers import free_port

    port = free_port()  # a port nobody listens on
    script = one(server_objs, "Pod")["spec"]["containers"][0]["command"][-1]
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "BASE_URL": f"http://127.0.0.1:{port}"})
    assert proc.returncode != 0
