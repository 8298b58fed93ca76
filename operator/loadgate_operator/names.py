"""Names and labels of a LoadTest's children, in one place (63-character limits included)."""

from __future__ import annotations

import hashlib

from loadgate import spec

API_VERSION, KIND = spec.API_VERSION, spec.KIND  # the resource's identity is the spec's
GROUP, VERSION = API_VERSION.split("/")
PLURAL = "loadtests"

LOADTEST_LABEL = "loadgate.dev/loadtest"
MANAGED_BY = "loadgate-operator"
MAX_NAME = 63  # DNS-1123 label: Service names, label values

SUFFIXES = ("master", "workers", "collector", "config", "results")


def truncate(value: str, limit: int = MAX_NAME) -> str:
    """`value`, or a prefix + an 8-char hash of the whole so distinct long names stay distinct."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{value[:limit - 9].rstrip('-.')}-{digest}"


def child_name(lt_name: str, suffix: str) -> str:
    if suffix not in SUFFIXES:
        raise ValueError(f"unknown child suffix {suffix!r}")
    return truncate(f"{lt_name}-{suffix}")


def master(lt_name: str) -> str:
    return child_name(lt_name, "master")


def workers(lt_name: str) -> str:
    return child_name(lt_name, "workers")


def collector(lt_name: str) -> str:
    return child_name(lt_name, "collector")


def config(lt_name: str) -> str:
    return child_name(lt_name, "config")


def results(lt_name: str) -> str:
    return child_name(lt_name, "results")


def labels(lt_name: str, component: str) -> dict[str, str]:
    """Standard labels of every child; `selector(lt_name)` finds them all."""
    return {
        "app.kubernetes.io/name": "loadgate",
        "app.kubernetes.io/instance": truncate(lt_name),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LOADTEST_LABEL: truncate(lt_name),
    }


def selector(lt_name: str, component: str | None = None) -> dict[str, str]:
    sel = {LOADTEST_LABEL: truncate(lt_name), "app.kubernetes.io/managed-by": MANAGED_BY}
    if component:
        sel["app.kubernetes.io/component"] = component
    return sel


def label_selector(lt_name: str, component: str | None = None) -> str:
    return ",".join(f"{k}={v}" for k, v in selector(lt_name, component).items())
