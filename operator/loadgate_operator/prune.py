"""Which finished LoadTests go, so one per Argo Rollouts revision and one PVC per run do not
pile up: the newest `keep` finished ones per namespace stay (pure; plain dicts).

Never pruned: runs still going, LoadTests annotated `loadgate.dev/keep: "true"`, and LoadTests
an Argo CD Application tracks as its own resource (not a hook): Argo CD would create them again,
and with them a new run.
"""

from __future__ import annotations

from loadgate_operator import names
from loadgate_operator.status import TERMINAL

KEEP_ANNOTATION = f"{names.GROUP}/keep"
ARGOCD_TRACKING = "argocd.argoproj.io/tracking-id"
ARGOCD_HOOK = "argocd.argoproj.io/hook"


def _protected(lt: dict) -> bool:
    notes = (lt.get("metadata") or {}).get("annotations") or {}
    if str(notes.get(KEEP_ANNOTATION, "")).lower() == "true":
        return True
    return ARGOCD_TRACKING in notes and ARGOCD_HOOK not in notes


def _finished_at(lt: dict) -> tuple[str, str, str]:
    st, meta = lt.get("status") or {}, lt.get("metadata") or {}
    return (st.get("completionTime") or meta.get("creationTimestamp") or "",
            meta.get("creationTimestamp") or "", meta.get("name") or "")


def to_prune(loadtests: list[dict], keep: int) -> list[str]:
    """Names of the finished LoadTests beyond the newest `keep` (0 keeps all), oldest last."""
    if keep <= 0:
        return []
    finished = [lt for lt in loadtests if (lt.get("status") or {}).get("phase") in TERMINAL
                and not (lt.get("metadata") or {}).get("deletionTimestamp")
                and not _protected(lt)]
    finished.sort(key=_finished_at, reverse=True)
    return [lt["metadata"]["name"] for lt in finished[keep:]]
