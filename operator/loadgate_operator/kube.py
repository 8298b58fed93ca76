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
    ("batch/v1", "Job"): "/apis/batch/v1/namespaces/{ns}/jobs",
    (names.API_VERSION, names.KIND): f"/apis/{names.API_VERSION}/namespaces/{{ns}}/{names.PLURAL}",
}


class NotFound(Exception):
    pass


def load_config() -> None:
    """Configure the module's client once (in-cluster, else kubeconfig)."""
    global _client
    with _lock:
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()
        _client = kubernetes.client.ApiClient()


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
    try:
        resp = api.call_api(
            path, method, query_params=list((query or {}).items()),
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body, auth_settings=["BearerToken"], _preload_content=False,
            _return_http_data_only=True)
    except ApiException as e:
        if e.status == 404:
            raise NotFound(path) from e
        raise
    data = resp.data
    return json.loads(data) if data else None


def collection(api_version: str, kind: str, namespace: str) -> str:
    return PATHS[(api_version, kind)].format(ns=quote(namespace))


def get(api_version: str, kind: str, namespace: str, name: str) -> dict | None:
    try:
        return request("GET", f"{collection(api_version, kind, namespace)}/{quote(name)}")
    except NotFound:
        return None


def list_(api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict]:
    doc = request("GET", collection(api_version, kind, namespace),
                  query={"labelSelector": label_selector})
    return list((doc or {}).get("items") or [])


def create(obj: dict) -> tuple[dict, bool]:
    """Create `obj`; (object, created). An existing object (409) is fine: (existing, False)."""
    ns = obj["metadata"]["namespace"]
    path = collection(obj["apiVersion"], obj["kind"], ns)
    try:
        return request("POST", path, body=obj), True
    except ApiException as e:
        if e.status != 409:
            raise
    existing = get(obj["apiVersion"], obj["kind"], ns, obj["metadata"]["name"])
    return existing or obj, False
