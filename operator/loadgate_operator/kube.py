"""A thin dict-in/dict-out Kubernetes client on top of the `kubernetes` package.

Honours in-cluster config first, then KUBECONFIG / ~/.kube/config (tests point it at kmock).
Synchronous; the async handlers call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

import kubernetes
from kubernetes.client.rest import ApiException

from loadgate_operator import names

_lock = threading.Lock()
_client: kubernetes.client.ApiClient | None = None

PATHS = {
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("v1", "PersistentVolumeClaim"): "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services",
    ("v1", "Pod"): "/api/v1/namespaces/{ns}/pods",
    ("v1", "Event"): "/api/v1/namespaces/{ns}/events",
    ("batch/v1", "Job"): "/apis/batch/v1/namespaces/{ns}/jobs",
    (names.API_VERSION, names.KIND): f"/apis/{names.API_VERSION}/namespaces/{{ns}}/{names.PLURAL}",
}


class NotFound(Exception):
    pass


def load_config(config_file: str | None = None) -> None:
    """Configure the module's client (in-cluster, else kubeconfig / KUBECONFIG)."""
    global _client
    with _lock:
        configuration = kubernetes.client.Configuration()
        try:
            if config_file:
                raise kubernetes.config.ConfigException("explicit kubeconfig")
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config(config_file=config_file,
                                               client_configuration=configuration)
        _client = kubernetes.client.ApiClient(configuration)


def reset() -> None:
    global _client
    with _lock:
        _client = None


def client() -> kubernetes.client.ApiClient:
    if _client is None:
        load_config()
    assert _client is not None
    return _client


def request(method: str, path: str, *, body=None, query: dict | None = None,
            content_type: str = "application/json"):
    api = client()
    m, url, headers, payload, post = api.param_serialize(
        method, path, query_params=list((query or {}).items()),
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body, auth_settings=["BearerToken"])
    resp = api.call_api(m, url, header_params=headers, body=payload, post_params=post,
                        _request_timeout=30)
    resp.read()
    if resp.status == 404:
        raise NotFound(path)
    if not 200 <= resp.status < 300:
        raise ApiException(http_resp=resp)
    data = resp.data
    return json.loads(data) if data else None


def collection(api_version: str, kind: str, namespace: str) -> str:
    return PATHS[(api_version, kind)].format(ns=quote(namespace))


def served(api_version: str, plural: str) -> bool:
    """Whether the API server serves this resource type, from its discovery document: a 404
    for one object cannot tell a missing object from a missing CRD, discovery can."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    try:
        doc = request("GET", base)
    except NotFound:
        return False
    return any(r.get("name") == plural for r in (doc or {}).get("resources") or [])


def get(api_version: str, kind: str, namespace: str, name: str) -> dict | None:
    try:
        return request("GET", f"{collection(api_version, kind, namespace)}/{quote(name)}")
    except NotFound:
        return None


def list_(api_version: str, kind: str, namespace: str, label_selector: str = "", *,
          field_selector: str = "") -> list[dict]:
    query = {"labelSelector": label_selector}
    if field_selector:
        query["fieldSelector"] = field_selector
    doc = request("GET", collection(api_version, kind, namespace), query=query)
    return list((doc or {}).get("items") or [])


def patch(api_version: str, kind: str, namespace: str, name: str, body: dict, *,
          subresource: str = "") -> dict:
    path = f"{collection(api_version, kind, namespace)}/{quote(name)}"
    if subresource:
        path += f"/{subresource}"
    return request("PATCH", path, body=body, content_type="application/merge-patch+json")


def delete(api_version: str, kind: str, namespace: str, name: str) -> bool:
    """Delete with background propagation (the garbage collector removes its dependents);
    False if it was already gone."""
    try:
        request("DELETE", f"{collection(api_version, kind, namespace)}/{quote(name)}",
                body={"apiVersion": "v1", "kind": "DeleteOptions",
                      "propagationPolicy": "Background"})
    except NotFound:
        return False
    return True


def create(obj: dict) -> tuple[dict | None, bool]:
    """Create `obj`; (object, created). On a 409, (the existing object, False) — whoever's it
    is: the caller decides (None if it vanished in between)."""
    ns = obj["metadata"]["namespace"]
    path = collection(obj["apiVersion"], obj["kind"], ns)
    try:
        return request("POST", path, body=obj), True
    except ApiException as e:
        if e.status != 409:
            raise
    return get(obj["apiVersion"], obj["kind"], ns, obj["metadata"]["name"]), False
