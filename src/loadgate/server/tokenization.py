"""Tokenizing texts apart from the forward, and packing them into forwards with little padding.

The tokenizer is the model's own fast (Rust) `tokenizer.json`, run without its padding (the
packing below pads each forward only to its own longest text) and truncated like
sentence-transformers truncates (`max_seq_length`). It releases the GIL, so it runs on its own
thread while the model computes the previous batch.

Packing: a forward costs about `overhead + rows x longest row` token-steps (the matrix products
dominate and every row is padded to the longest). Sorting a call's texts by length and cutting
the sorted list where that total is least (a small dynamic programme) beats fixed-size chunks:
texts of one length share a forward, a lone long text does not drag short ones with it, and no
forward exceeds `max_tokens` padded tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A forward's fixed cost in token-steps (graph launch, per-op overhead), measured with the
# ONNX backends on 2 cores: a 1 x 8 forward costs about as much as 20 more tokens of a big one.
FORWARD_OVERHEAD_TOKENS = 20


@dataclass(frozen=True)
class Tokenized:
    """One text's token ids (no padding)."""
    ids: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.ids)


def max_seq_length(model_dir: Path) -> int:
    """sentence-transformers' rule: its config, else the tokenizer's model_max_length, capped by
    the model's position embeddings."""
    def read(name: str) -> dict:
        try:
            return json.loads((model_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    limit = read("sentence_bert_config.json").get("max_seq_length")
    if not limit:
        limit = read("tokenizer_config.json").get("model_max_length")
    positions = read("config.json").get("max_position_embeddings")
    if not isinstance(limit, int) or limit <= 0 or limit > 100_000:  # HF's "no limit" sentinel
        limit = positions or 512
    return min(limit, positions) if positions else limit


class TextTokenizer:
    """texts -> Tokenized, with a model's fast tokenizer (a `tokenizers.Tokenizer`)."""

    def __init__(self, tokenizer, max_length: int):
        self.max_length = max_length
        padding = tokenizer.padding or {}
        self.pad_id = int(padding.get("pad_id", 0))
        self._tok = tokenizer
        self._tok.no_padding()  # tokenizer.json may pad to a fixed length; we pad per forward
        self._tok.enable_truncation(max_length)

    @classmethod
    def from_dir(cls, model_dir: Path, max_length: int | None = None) -> TextTokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(model_dir / "tokenizer.json")),
                   max_length or max_seq_length(model_dir))

    def __call__(self, texts: list[str]) -> list[Tokenized]:
        return [Tokenized(np.asarray(e.ids, dtype=np.int64))
                for e in self._tok.encode_batch(texts, add_special_tokens=True)]


def plan_forwards(lengths: list[int], max_tokens: int,
                  overhead: int = FORWARD_OVERHEAD_TOKENS) -> list[list[int]]:
    """Indices of `lengths` grouped into forwards: each group is a run of the texts sorted by
    length, groups chosen to minimise sum(overhead + rows x longest), none over max_tokens
    padded tokens (a single text longer than that still gets its own forward)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    n = len(order)
    if n == 0:
        return []
    sl = [lengths[i] for i in order]
    inf = float("inf")
    best = [0.0] + [inf] * n  # best[j]: least cost of the first j sorted texts
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        longest = sl[j - 1]  # sorted: the group ending at j is padded to it
        for i in range(j - 1, -1, -1):
            rows = j - i
            if rows > 1 and rows * longest > max_tokens:
                break
            cost = best[i] + overhead + rows * longest
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups = []
    j = n
    while j > 0:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def pad(batch: list[Tokenized], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), int64, right-padded to the longest text."""
    longest = max(len(t) for t in batch)
    ids = np.full((len(batch), longest), pad_id, np.int64)
    mask = np.zeros((len(batch), longest), np.int64)
    for row, t in enumerate(batch):
        ids[row, :len(t)] = t.ids
        mask[row, :len(t)] = 1
    return ids, mask
