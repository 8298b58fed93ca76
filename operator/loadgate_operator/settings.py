"""Every knob of the operator, from env vars with the `LOADGATE_` prefix (one settings class,
like the server's): what it puts into the children it creates, and how often it looks.

The charts wire exactly these env names into the operator Deployment; an empty value means
the default. Lists and mappings (pod scheduling, labels, resources) are JSON, as the chart's
`toJson` writes them.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loadgate.spec import parse_duration

PREFIX = "LOADGATE_"


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="ignore",
                                      frozen=True)

    runner_image: str = "loadgate:dev"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    results_claim: str = Field("", description="empty: one PVC per run; set: subPath <name> "
                                               "of this claim")
    storage_class: str = Field("", description="empty: the cluster's default StorageClass")
    storage_size: str = "1Gi"
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod",
                         "ReadOnlyMany"] = "ReadWriteOnce"
    # how often a running LoadTest looks at its Jobs and Pods (tests shorten it)
    operator_interval: float = Field(5.0, gt=0, description="seconds")
    watch_timeout: int = Field(300, gt=0, description="seconds a watch request stays open")
    # a run whose pods cannot start (unschedulable, a mount or container config that keeps
    # failing, its PVC unbound) fails once that lasted this long; image pull errors at once
    pod_start_grace: float = Field(120.0, gt=0, description="seconds, or a duration: 2m")
    # keep service-mesh sidecars out of the Jobs' pods (a sidecar that never exits keeps a Job
    # from completing, and proxies the load) and keep cluster autoscalers from evicting them
    disable_mesh_sidecars: bool = True
    prevent_eviction: bool = True
    # finished LoadTests kept per namespace (older ones are deleted with their children)
    keep_finished: int = Field(20, ge=0, description="0 keeps all")
    # what every Job's pods get, so they fit the cluster: as in a pod spec (imagePullSecrets
    # also as bare names); labels and annotations are added to the operator's own
    image_pull_secrets: list[str] = Field(default_factory=list)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    affinity: dict[str, Any] = Field(default_factory=dict)
    service_account_name: str = Field("", description="empty: the namespace's default "
                                                      "(no token is mounted either way)")
    pod_labels: dict[str, str] = Field(default_factory=dict)
    pod_annotations: dict[str, str] = Field(default_factory=dict)
    # per component (master, workers, collector, wait): replaces that component's default
    resources: dict[Literal["master", "workers", "collector", "wait"], dict[str, Any]] = \
        Field(default_factory=dict)

    @field_validator("pod_start_grace", mode="before")
    @classmethod
    def _duration(cls, value):
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("image_pull_secrets", mode="before")
    @classmethod
    def _secret_names(cls, value):
        if isinstance(value, list):
            return [v.get("name") if isinstance(v, dict) else v for v in value]
        return value

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorSettings:
        """From `env` (default: this process's environment); ValueError naming the variable."""
        env = os.environ if env is None else env
        values, errors = {}, []
        for name, info in cls.model_fields.items():
            raw = (env.get(PREFIX + name.upper()) or "").strip()
            if not raw:
                continue
            if _structured(info.annotation):
                try:
                    values[name] = json.loads(raw)
                except ValueError as e:
                    errors.append(f"{PREFIX}{name.upper()}: not JSON ({e}), not {raw!r}")
                    continue
            else:
                values[name] = raw
        try:
            settings = cls.model_validate(values)
        except ValidationError as e:
            errors += [f"{PREFIX}{str(err['loc'][0]).upper()}: {err['msg']}, not {err['input']!r}"
                       for err in e.errors()]
        if errors:
            raise ValueError("; ".join(errors))
        return settings


def _structured(annotation) -> bool:
    origin = getattr(annotation, "__origin__", None)
    return origin in (list, dict)


def settings_or_exit() -> OperatorSettings:
    """`from_env()`, or one line on stderr and exit 2: a bad LOADGATE_* variable stops the
    operator at start (handlers read the settings on import) without a traceback."""
    import sys

    try:
        return OperatorSettings.from_env()
    except ValueError as e:
        print(f"loadgate operator: invalid settings: {e}", file=sys.stderr)
        raise SystemExit(2) from None
