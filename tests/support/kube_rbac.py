"""Kubernetes RBAC as the API server's authorizer applies it, for the emulator.

`Authorizer` holds the rules a ServiceAccount is bound to (ClusterRoles cluster-wide, Roles per
namespace) and answers whether a request is allowed, from the same request attributes the API
server derives (verb, API group, resource[/subresource], namespace). Discovery paths are open
to every authenticated user (the `system:discovery` ClusterRole). `chart_authorizer` builds one
from what `helm template charts/loadgate` renders, so the operator under test runs with exactly
the chart's permissions.

Also here: the OwnerReferencesPermissionEnforcement admission plugin (OpenShift and other strict
clusters turn it on): setting `blockOwnerDeletion` on an owner reference needs `update` on the
owner's `finalizers` subresource.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DISCOVERY_PREFIXES = ("/api", "/apis", "/version", "/openapi", "/healthz", "/livez", "/readyz")


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str
    resource: str              # "jobs", "loadtests/status"
    namespace: str | None
    name: str | None = None


def attributes(method: str, path: str, query: dict) -> Attributes | None:
    """What RBAC checks for a request; None for discovery and other non-resource paths."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None  # /api/v1, /apis/batch/v1: discovery
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    if rest[0] == "namespaces" and name is not None:
        namespace = name  # GET /api/v1/namespaces/lg is about namespace lg itself
    method = method.upper()
    if method == "GET":
        verb = "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())
    return Attributes(verb, group, resource, namespace, name)


def _matches(rule: dict, a: Attributes) -> bool:
    def has(key: str, value: str) -> bool:
        values = rule.get(key) or []
        return "*" in values or value in values

    names = rule.get("resourceNames")
    return (has("apiGroups", a.group) and has("resources", a.resource) and has("verbs", a.verb)
            and (not names or a.name in names))


@dataclass
class Authorizer:
    """The rules bound to one subject: cluster-wide ones and per-namespace ones."""

    cluster_rules: list[dict] = field(default_factory=list)
    namespace_rules: dict[str, list[dict]] = field(default_factory=dict)

    def allows(self, a: Attributes) -> bool:
        rules = list(self.cluster_rules)
        if a.namespace is not None and a.resource != "namespaces":
            rules += self.namespace_rules.get(a.namespace, [])
        return any(_matches(r, a) for r in rules)

    def why_not(self, a: Attributes, user: str) -> str:
        where = f' in the namespace "{a.namespace}"' if a.namespace else " at the cluster scope"
        return f'{user} cannot {a.verb} resource "{a.resource}" in API group "{a.group}"{where}'

    @classmethod
    def from_objects(cls, objs: list[dict], service_account: str, namespace: str) -> Authorizer:
        """From rendered RBAC objects: the (Cluster)Roles bound to that ServiceAccount."""
        def bound(binding: dict) -> bool:
            return any(s.get("kind") == "ServiceAccount" and s.get("name") == service_account
                       and s.get("namespace") == namespace for s in binding.get("subjects") or [])

        roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
                 for o in objs if o["kind"] in ("Role", "ClusterRole")}
        auth = cls()
        for b in objs:
            if b["kind"] not in ("RoleBinding", "ClusterRoleBinding") or not bound(b):
                continue
            ref = b["roleRef"]
            ns = b["metadata"].get("namespace") if ref["kind"] == "Role" else None
            rules = roles[(ref["kind"], ns, ref["name"])]["rules"]
            if b["kind"] == "ClusterRoleBinding":
                auth.cluster_rules += rules
            else:
                auth.namespace_rules.setdefault(b["metadata"]["namespace"], []).extend(rules)
        return auth


def chart_authorizer(*, watch_namespaces: tuple[str, ...] = (),
                     release_namespace: str = "loadgate") -> Authorizer:
    """The operator ServiceAccount's permissions as charts/loadgate renders them."""
    from support.charts import docs, helm_template

    sets = [f"watchNamespaces[{i}]={ns}" for i, ns in enumerate(watch_namespaces)]
    objs = docs(helm_template("loadgate", "loadgate", namespace=release_namespace, sets=sets))
    sa = next(o for o in objs if o["kind"] == "ServiceAccount")["metadata"]["name"]
    return Authorizer.from_objects(objs, sa, release_namespace)


def owner_reference_checks(body, namespace: str | None, plurals: dict) -> list[Attributes]:
    """OwnerReferencesPermissionEnforcement: for each owner reference with blockOwnerDeletion,
    the `update` on `<owner plural>/finalizers` the requester needs. `plurals` maps
    (apiVersion group, kind) to the plural."""
    meta = body.get("metadata") if isinstance(body, dict) else None
    out = []
    for ref in (meta or {}).get("ownerReferences") or []:
        if not ref.get("blockOwnerDeletion"):
            continue
        api_version = ref.get("apiVersion") or ""
        group = api_version.split("/")[0] if "/" in api_version else ""
        plural = plurals.get((group, ref.get("kind")))
        if plural:
            out.append(Attributes("update", group, f"{plural}/finalizers", namespace,
                                  ref.get("name")))
    return out
