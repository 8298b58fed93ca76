"""Every knob of the operator, from env vars with the `LOADGATE_` prefix (one settings class,
like the server's): what it puts into the children it creates, and how often it looks.

The charts wire exactly these env names into the operator Deployment; an empty value means
the default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorSettings:
        """From `env` (default: this process's environment); ValueError naming the variable."""
        try:
            if env is None:
                return cls()
            values = {name: env[PREFIX + name.upper()] for name in cls.model_fields
                      if (env.get(PREFIX + name.upper()) or "").strip()}
            return cls.model_validate(values)
        except ValidationError as e:
            raise ValueError("; ".join(
                f"{PREFIX}{str(err['loc'][0]).upper()}: {err['msg']}, not {err['input']!r}"
                for err in e.errors())) from None


def settings_or_exit() -> OperatorSettings:
    """`from_env()`, or one line on stderr and exit 2: a bad LOADGATE_* variable stops the
    operator at start (handlers read the settings on import) without a traceback."""
    import sys

    try:
        return OperatorSettings.from_env()
    except ValueError as e:
        print(f"loadgate operator: invalid settings: {e}", file=sys.stderr)
        raise SystemExit(2) from None
