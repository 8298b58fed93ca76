"""The loaded model behind the batcher, for every backend, offline.

An `Embedder` splits the work in two so the batcher can overlap them: `prepare(texts)`
tokenizes (the model's fast tokenizer, no padding; any thread) and `forward(items)` packs the
tokenized texts into forwards of similar length (tokenization.plan_forwards) and runs them (the
one inference thread). `encode(texts)` does both.

Backends:
- `onnx-int8` / `onnx`: ONNX Runtime on the int8 or fp32 export (export.py), pooling in numpy;
  no torch import. The export is made by `loadgate export`; a start without one makes it (and
  says so).
- `torch`: the sentence-transformers model on torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np

from .settings import ServerSettings
from .tokenization import TextTokenizer, Tokenized, pad, plan_forwards

# Nothing may ever be downloaded at run time; these are read when the HF libraries import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# a child of uvicorn's logger: under `uvicorn ...app:app` our lines (model loaded, ONNX export)
# go where uvicorn's go, at its --log-level, with no logging setup of our own
log = logging.getLogger("uvicorn.error.loadgate")

WARMUP_TEXTS = ["warm up", "a somewhat longer sentence to warm up the tokenizer and the model"]

Run = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (input_ids, attention_mask) -> (rows, dim)


class Embedder:
    """A loaded model: `prepare` + `forward`, or `encode(texts) -> float32 (n, dim)`."""

    def __init__(self, run: Run, tokenizer: TextTokenizer, *, dim: int, label: str,
                 backend: str, max_forward_tokens: int):
        self.run = run
        self.tokenizer = tokenizer
        self.dim = dim
        self.label = label
        self.backend = backend
        self.max_forward_tokens = max(1, max_forward_tokens)

    def prepare(self, texts: list[str]) -> list[Tokenized]:
        return self.tokenizer(texts)

    def forward(self, items: list[Tokenized]) -> np.ndarray:
        out = np.empty((len(items), self.dim), np.float32)
        for rows in plan_forwards([len(t) for t in items], self.max_forward_tokens):
            ids, mask = pad([items[i] for i in rows], self.tokenizer.pad_id)
            out[rows] = self.run(ids, mask)
        return out

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.forward(self.prepare(texts))

    def warmup(self, max_batch_size: int) -> None:
        self.encode(WARMUP_TEXTS[:1])
        self.encode([WARMUP_TEXTS[i % 2] for i in range(min(max_batch_size, 64))])


def _st_runner(model) -> Run:
    """A SentenceTransformer (torch, or its own ONNX backend) as a Run."""
    import torch

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model({"input_ids": torch.from_numpy(ids),
                         "attention_mask": torch.from_numpy(mask)})["sentence_embedding"]
        return out.float().numpy()

    return run


def _st_dim(model) -> int:
    get_dim = getattr(model, "get_embedding_dimension", None) or \
        model.get_sentence_embedding_dimension  # renamed in sentence-transformers 5.x
    return int(get_dim())


def _load_torch(settings: ServerSettings, threads: int) -> Embedder:
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    torch.set_num_threads(threads)
    model = SentenceTransformer(settings.model_name, device=settings.device)
    model.eval()
    # a copy of the model's own fast tokenizer, truncating where sentence-transformers does
    tok = TextTokenizer(Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str()),
                        model.max_seq_length)
    return Embedder(_st_runner(model), tok, dim=_st_dim(model), label=settings.label,
                    backend="torch", max_forward_tokens=settings.max_forward_tokens)


def _load_onnx(settings: ServerSettings, threads: int) -> Embedder:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"backend {settings.backend} needs ONNX Runtime: pip install "
                           "'loadgate[onnx]', or set LOADGATE_BACKEND=torch") from e
    from . import export
    from .onnx_backend import OnnxRunner, Unsupported, session_options

    model_dir = export.find_export(settings)
    if model_dir is None:
        log.warning("no ONNX export of %s in %s: exporting now (run `loadgate export` once, or "
                    "at image build, so starts do not pay for it)", settings.model_name,
                    settings.onnx_cache_dir)
        model_dir = export.export(settings)
    onnx_file = export.ONNX_FILES[settings.backend]
    tok = TextTokenizer.from_dir(model_dir)
    try:
        runner = OnnxRunner(model_dir, onnx_file, threads)
        run, dim = runner, runner.dim
    except Unsupported as e:
        log.info("%s: %s; running it through sentence-transformers' ONNX backend", model_dir, e)
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), backend="onnx", device="cpu", model_kwargs={
            "file_name": onnx_file, "provider": "CPUExecutionProvider",
            "session_options": session_options(threads)})
        run, dim = _st_runner(model), _st_dim(model)
    log.info("loaded %s (%s, %d threads) from %s", settings.label, settings.backend, threads,
             model_dir / onnx_file)
    return Embedder(run, tok, dim=dim, label=settings.label, backend=settings.backend,
                    max_forward_tokens=settings.max_forward_tokens)


def load(settings: ServerSettings) -> Embedder:
    """Load the model (for ONNX, exporting it first if no export exists); blocking, so run it
    off the event loop."""
    threads = settings.resolved_threads
    if settings.backend == "torch":
        return _load_torch(settings, threads)
    return _load_onnx(settings, threads)
