"""Which objects belong to this run: pure checks on owner references (plain dicts).

A LoadTest's children are named after it, so a LoadTest deleted and created again (`kubectl
delete` + `create`, Argo CD's BeforeHookCreation) finds the previous run's children still there
while the garbage collector deletes them in the background. A child is this run's only if its
controller owner reference carries this LoadTest's uid and it is not being deleted; a Pod is
its Job's only if its controller reference carries that Job's uid.
"""

from __future__ import annotations


def controller_uid(obj: dict | None) -> str | None:
    for ref in ((obj or {}).get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def deleting(obj: dict | None) -> bool:
    return bool(((obj or {}).get("metadata") or {}).get("deletionTimestamp"))


def is_ours(obj: dict | None, owner_uid: str) -> bool:
    return obj is not None and controller_uid(obj) == owner_uid and not deleting(obj)


def ours_or_none(obj: dict | None, owner_uid: str) -> dict | None:
    """`obj` if it belongs to the owner, else None (a leftover counts as not there yet)."""
    return obj if is_ours(obj, owner_uid) else None


def pods_of(job: dict | None, pods: list[dict]) -> list[dict]:
    """The pods the Job controller created for this very Job."""
    uid = ((job or {}).get("metadata") or {}).get("uid")
    return [p for p in pods if uid and controller_uid(p) == uid] if job else []


def conflict(obj: dict, owner_uid: str, owner_kind: str) -> tuple[str, str] | None:
    """None if `obj` is the owner's; else ("wait", why) while it is on its way out, or
    ("foreign", why) when nothing will ever remove it."""
    kind, name = obj.get("kind") or "object", (obj.get("metadata") or {}).get("name")
    if is_ours(obj, owner_uid):
        return None
    if deleting(obj):
        return "wait", f"{kind} {name} of an earlier run is still being deleted"
    refs = [r for r in (obj.get("metadata") or {}).get("ownerReferences") or []
            if r.get("controller")]
    if refs and refs[0].get("kind") == owner_kind:
        return "wait", (f"{kind} {name} belongs to an earlier {owner_kind} of the same name "
                        f"and awaits garbage collection")
    owner = f"owned by {refs[0].get('kind')} {refs[0].get('name')}" if refs else "owned by nothing"
    return "foreign", (f"{kind} {name} already exists and is not this run's ({owner}); "
                       f"delete it or rename the {owner_kind}")
