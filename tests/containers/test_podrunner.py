"""The pod runner itself: what each field of a rendered pod becomes on `docker run`, and that
a field it does not know fails instead of being silently dropped."""

from __future__ import annotations

import copy
import os
import stat

import pytest
from loadgate_operator import builders
from loadgate_operator.settings import OperatorSettings
from support import podrunner

from loadgate.spec import parse

LT = parse({"apiVersion": "loadgate.dev/v1alpha1", "kind": "LoadTest",
            "metadata": {"name": "pr", "namespace": "lg"},
            "spec": {"target": {"url": "http://model-server:8000"},
                     "load": {"users": 2, "runTime": "5s"}, "workers": 1}})
SETTINGS = OperatorSettings(runner_image="img:1")


def master_pod() -> dict:
    return copy.deepcopy(builders.build_master_job(LT, SETTINGS)["spec"]["template"]["spec"])


@pytest.fixture
def cluster(tmp_path):
    c = podrunner.Cluster(namespace="lg", workdir=tmp_path,
                          services={"model-server": [{"port": 8000, "name": "http"}]},
                          config_maps={"pr-config": {"loadtest.json": "{}"}})
    return c


@pytest.mark.parametrize(("where", "patch"), [
    ("pod spec", lambda s: s.update(hostPID=True)),
    ("container master", lambda s: s["containers"][0].update(lifecycle={"preStop": {}})),
    ("securityContext", lambda s: s["containers"][0]["securityContext"].update(
        procMount="Unmasked")),
    ("volume", lambda s: s["volumes"].append({"name": "s", "secret": {"secretName": "x"}})),
    ("env", lambda s: s["containers"][0]["env"].append(
        {"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})),
    ("probe", lambda s: s["containers"][0].update(readinessProbe={"exec": {"command": ["x"]}})),
])
def test_unknown_fields_fail(cluster, where, patch):
    spec = master_pod()
    patch(spec)
    with pytest.raises(podrunner.Unsupported, match="does not run|only httpGet|kind"):
        podrunner.Pod("p", spec, cluster)


def test_run_as_root_is_refused_like_the_kubelet(cluster):
    spec = master_pod()
    spec["securityContext"]["runAsUser"] = 0
    for c in spec["containers"] + spec["initContainers"]:
        c["securityContext"] = {**c["securityContext"], "runAsUser": 0}
    pod = podrunner.Pod("p", spec, cluster)
    with pytest.raises(podrunner.PodFailedToStart, match="runAsNonRoot"):
        pod.docker_run_args(spec["containers"][0], pod.main[0])


@pytest.mark.skipif(os.geteuid() != 0, reason="fsGroup ownership needs root, as the kubelet has")
def test_master_container_flags(cluster):
    spec = master_pod()
    pod = podrunner.Pod("p", spec, cluster)
    pod.dir.mkdir(parents=True)
    args = pod.docker_run_args(spec["containers"][0], pod.main[0])
    joined = " ".join(args)
    assert "--user 10001:10001" in joined and "--group-add 10001" in joined
    assert "--read-only" in args and "--cap-drop ALL" in joined
    assert "--security-opt no-new-privileges" in joined
    assert f"--tmpfs /tmp:rw,exec,nosuid,nodev,mode=0777,size={256 * 2**20}" in joined
    assert "--cpus 1 --memory 536870912 --memory-swap 536870912" in joined
    assert "--network host" in joined and "--add-host model-server:127.0.0.1" in joined
    assert "--add-host model-server.lg.svc.cluster.local:127.0.0.1" in joined
    assert "--env LOADGATE_CONFIG=/config/loadtest.json" in joined
    assert "MODEL_SERVER_SERVICE_HOST" not in joined  # enableServiceLinks: false
    assert args[args.index("--entrypoint") + 1] == "locust"
    cm = next(a for a in args if a.endswith(":/config:ro"))
    assert (podrunner.Path(cm.split(":")[0]) / "loadtest.json").read_text() == "{}"
    # the results PVC: the kubelet's fsGroup ownership, subPath made inside it
    results = cluster.claims["pr-results"]
    assert f"{results}/pr:/results:rw" in args
    for d in (results, results / "pr"):
        st = d.stat()
        assert st.st_gid == 10001 and st.st_mode & stat.S_ISGID and st.st_mode & 0o070 == 0o070
    termlog = next(a for a in args if a.endswith(":/dev/termination-log"))
    assert stat.S_IMODE(os.stat(termlog.split(":")[0]).st_mode) == 0o666


def test_expand_and_quantities():
    assert podrunner.expand("$(A)-$$(A)-$(B)", {"A": "x"}) == "x-$(A)-$(B)"
    assert podrunner.cpu_limit("500m") == "0.5" and podrunner.cpu_limit(2) == "2"
    assert podrunner.memory_bytes("1Gi") == 2**30 and podrunner.memory_bytes("128M") == 128 * 10**6
