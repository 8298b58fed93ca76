"""The quality guard: each backend's embeddings against sentence-transformers on torch.

onnx-int8 is the default only because it passes this: cosine similarity to the fp32 embeddings
of at least 0.99 on every sentence of the load generator's corpus, and the same nearest
neighbour as fp32 for every query of a small retrieval check. The exports come from the
ONNX cache (`loadgate export`, run by `make install`); a missing one is made once here.
"""

from __future__ import annotations

import numpy as np
import pytest

from loadgate.loadgen import CORPUS_FILE
from loadgate.server import model as model_mod
from loadgate.server.settings import ServerSettings

CORPUS = [ln.strip() for ln in CORPUS_FILE.read_text(encoding="utf-8").splitlines()
          if ln.strip() and not ln.startswith("#")]

# query -> the corpus sentence it paraphrases (fp32 must find it, int8 must agree with fp32)
RETRIEVAL = {
    "the battery runs flat by lunchtime on an ordinary day":
        "Battery life is disappointing; it barely lasts half a day with normal use.",
    "when does the museum open again after the building work":
        "The museum will reopen in the spring after a two-year renovation of its east wing.",
    "how much sea life depends on coral reefs":
        "Coral reefs cover less than one percent of the ocean floor but support roughly a "
        "quarter of marine species.",
    "the sign-in SQL query is slow because a database index is missing":
        "Consider adding an index on the email column; the login query is doing a full table "
        "scan.",
    "when should I salt the water for spaghetti":
        "Add a pinch of salt to the pasta water once it comes to a rolling boil.",
    "signs that you are not drinking enough water":
        "Common symptoms of dehydration include thirst, dark urine, fatigue and dizziness.",
    "why are passive funds cheaper than active ones":
        "An index fund tracks a market benchmark and typically charges lower fees than an "
        "actively managed fund.",
    "how frequently should the AC filter be replaced":
        "How often should I change the filter in the air conditioner?",
    "we cut our heating costs by insulating the attic":
        "Insulating the loft reduced our heating bill by almost a fifth.",
    "what does a text embedding model produce":
        "A sentence embedding maps a piece of text to a fixed-length vector that captures its "
        "meaning.",
    "our plane had to wait in the air because of fog":
        "The pilot announced that we would be circling for twenty minutes due to fog at the "
        "destination airport.",
    "planting trees to cool down hot districts":
        "The city plans to plant twenty thousand trees over the next five years, focusing on "
        "neighbourhoods with the least shade and the highest summer temperatures.",
}


@pytest.fixture(scope="module")
def embedded() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """backend -> (corpus embeddings, query embeddings), each backend loaded once."""
    out = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        emb = model_mod.load(ServerSettings(backend=backend))
        out[backend] = (emb.encode(CORPUS), emb.encode(list(RETRIEVAL)))
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_every_target_sentence_is_in_the_corpus():
    assert set(RETRIEVAL.values()) <= set(CORPUS)
    assert len(CORPUS) >= 300


def test_onnx_fp32_equals_torch(embedded):
    cos = cosines(embedded["onnx"][0], embedded["torch"][0])
    assert cos.min() >= 0.9999, (cos.min(), CORPUS[int(cos.argmin())])


def test_int8_cosine_to_fp32_is_at_least_0_99_on_every_corpus_sentence(embedded):
    cos = cosines(embedded["onnx-int8"][0], embedded["onnx"][0])
    worst = int(cos.argmin())
    print(f"\nint8 vs fp32 over {len(CORPUS)} corpus sentences: min cosine {cos.min():.4f} "
          f"({CORPUS[worst]!r}), mean {cos.mean():.4f}")
    assert cos.min() >= 0.99, (cos.min(), CORPUS[worst])


def test_int8_finds_the_same_nearest_neighbour_as_fp32(embedded):
    found = {}
    for backend in ("onnx", "onnx-int8"):
        corpus, queries = embedded[backend]
        found[backend] = [CORPUS[i] for i in (queries @ corpus.T).argmax(axis=1)]
    expected = list(RETRIEVAL.values())
    # fp32 finds what each query paraphrases, so agreeing with it is a real retrieval check
    assert found["onnx"] == expected
    assert found["onnx-int8"] == found["onnx"]
    # and over the whole corpus (each sentence's nearest other sentence), for the record
    nn = {}
    for backend in ("onnx", "onnx-int8"):
        corpus = embedded[backend][0]
        sim = corpus @ corpus.T
        np.fill_diagonal(sim, -2)
        nn[backend] = sim.argmax(axis=1)
    agree = int((nn["onnx"] == nn["onnx-int8"]).sum())
    print(f"\nretrieval: {len(RETRIEVAL)}/{len(RETRIEVAL)} queries same top-1; corpus "
          f"self-retrieval: {agree}/{len(CORPUS)} same nearest neighbour")
