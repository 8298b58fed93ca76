"""What the operator puts into the children it creates, read once from the environment.

The charts engineer wires exactly these env names into the operator Deployment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")


@dataclass(frozen=True)
class OperatorSettings:
    runner_image: str = "loadgate:dev"
    image_pull_policy: str = "IfNotPresent"
    results_claim: str = ""      # empty: one PVC per run; set: subPath <name> of this claim
    storage_class: str = ""      # empty: the cluster's default StorageClass
    storage_size: str = "1Gi"
    access_mode: str = "ReadWriteOnce"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorSettings:
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return (env.get(name) or "").strip() or default

        s = cls(
            runner_image=get("LOADGATE_RUNNER_IMAGE", cls.runner_image),
            image_pull_policy=get("LOADGATE_IMAGE_PULL_POLICY", cls.image_pull_policy),
            results_claim=get("LOADGATE_RESULTS_CLAIM", ""),
            storage_class=get("LOADGATE_STORAGE_CLASS", ""),
            storage_size=get("LOADGATE_STORAGE_SIZE", cls.storage_size),
            access_mode=get("LOADGATE_ACCESS_MODE", cls.access_mode),
        )
        if s.image_pull_policy not in PULL_POLICIES:
            raise ValueError(f"LOADGATE_IMAGE_PULL_POLICY must be one of {PULL_POLICIES}, "
                             f"not {s.image_pull_policy!r}")
        if s.access_mode not in ACCESS_MODES:
            raise ValueError(f"LOADGATE_ACCESS_MODE must be one of {ACCESS_MODES}, "
                             f"not {s.access_mode!r}")
        return s
