"""A sentence-transformers model run by ONNX Runtime alone: no torch in the serving path.

The model directory is an export (see export.py). What sentence-transformers does after the
transformer is done here in numpy: pooling (mean, cls or max, from `1_Pooling/config.json`) and
the optional `Normalize` module. Models with other modules (Dense layers, ...) raise
`Unsupported` and are run through sentence-transformers' own ONNX backend instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _module_kind(type_name: str | None) -> str | None:
    """'Transformer', 'Pooling', ... for sentence-transformers' own modules, wherever the
    version at hand keeps them (`sentence_transformers.models.Pooling` before 5.x,
    `sentence_transformers.sentence_transformer.modules.pooling.Pooling` after)."""
    if not type_name or not type_name.startswith("sentence_transformers."):
        return None
    return type_name.rsplit(".", 1)[-1]


class Unsupported(Exception):
    """The model needs something this runner does not do; use sentence-transformers'."""


def _pooling(model_dir: Path) -> tuple[str, bool]:
    """(pooling mode, normalize) from modules.json; Unsupported for anything else."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Unsupported(f"no readable modules.json: {e}") from e
    kinds = [_module_kind(m.get("type")) for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise Unsupported(f"modules {[m.get('type') for m in modules]}")
    cfg = json.loads((model_dir / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
    mode = cfg.get("pooling_mode")
    if mode is None:  # older configs: one boolean per mode
        on = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
        mode = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls",
                "pooling_mode_max_tokens": "max"}.get(on[0]) if len(on) == 1 else None
    if mode not in ("mean", "cls", "max"):
        raise Unsupported(f"pooling {mode or cfg}")
    return mode, "Normalize" in kinds


def session_options(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ORT's pool threads spin after each op waiting for the next; with 2 CPUs shared with the
    # HTTP loop and the tokenizer thread, that spinning takes CPU they need
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


class OnnxRunner:
    """(input_ids, attention_mask) -> sentence embeddings, float32 (rows, dim)."""

    def __init__(self, model_dir: Path, onnx_file: str, threads: int):
        import onnxruntime as ort

        self.mode, self.normalize = _pooling(model_dir)
        self.session = ort.InferenceSession(str(model_dir / onnx_file), session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        if not {"input_ids", "attention_mask"} <= self.inputs:
            raise Unsupported(f"ONNX inputs {sorted(self.inputs)}")
        self.dim = int(self(np.array([[0]], np.int64), np.array([[1]], np.int64)).shape[1])

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run([self.output], feed)[0]  # (rows, tokens, dim)
        m = mask.astype(np.float32)
        if self.mode == "mean":
            out = np.matmul(m[:, None, :], hidden)[:, 0] / np.maximum(m.sum(1, keepdims=True),
                                                                      1e-9)
        elif self.mode == "cls":
            out = hidden[:, 0]
        else:  # max over real tokens
            out = np.where(m[..., None] > 0, hidden, -1e9).max(axis=1)
        if self.normalize:
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(out, dtype=np.float32)
