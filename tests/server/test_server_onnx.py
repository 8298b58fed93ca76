"""The ONNX backend: exported offline from the bundled weights once, cached, same embeddings."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from loadgate.server import model as model_mod
from loadgate.server.app import create_app
from loadgate.server.settings import ServerSettings

TEXTS = ["A man is eating food.", "The stock market fell sharply today.", "hi",
         "A considerably longer sentence, to make the batch pad: load tests find where "
         "a model endpoint falls over before users do."]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


def test_onnx_export_is_cached_and_matches_torch(client, onnx_cache, caplog):
    caplog.set_level(logging.INFO, logger="uvicorn.error.loadgate")
    caplog.set_level(logging.INFO, logger="sentence_transformers")
    settings = ServerSettings(backend="onnx", onnx_cache_dir=onnx_cache)
    onnx = model_mod.load(settings)
    assert "exporting" in caplog.text
    # loadgate keeps the export itself: no advice to save it into the model's (site-packages)
    # directory
    assert "save_pretrained" not in caplog.text and "push_to_hub" not in caplog.text
    exported = list(onnx_cache.glob("*/onnx/model.onnx"))
    assert len(exported) == 1, list(onnx_cache.rglob("*"))
    assert not list(onnx_cache.glob(".export-*")), "temporary export dir left behind"

    torch_emb = client.app.state.server.embedder.encode(TEXTS)
    onnx_emb = onnx.encode(TEXTS)
    assert onnx_emb.shape == torch_emb.shape == (len(TEXTS), 384)
    cos = (onnx_emb * torch_emb).sum(1) / (np.linalg.norm(onnx_emb, axis=1)
                                            * np.linalg.norm(torch_emb, axis=1))
    assert cos.min() >= 0.999, cos

    caplog.clear()
    again = model_mod.load(settings)  # second start: from the cache, no export
    assert "loading cached ONNX export" in caplog.text and "exporting" not in caplog.text
    np.testing.assert_allclose(again.encode(TEXTS), onnx_emb, atol=1e-5)


def test_onnx_backend_serves_embed(onnx_cache):
    app = create_app(ServerSettings(backend="onnx", onnx_cache_dir=onnx_cache))
    with TestClient(app) as c:
        deadline = time.monotonic() + 120
        while c.get("/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = c.post("/embed", json={"texts": TEXTS})
        assert r.status_code == 200 and r.json()["count"] == len(TEXTS)
        assert 'backend="onnx"' in c.get("/metrics").text


def test_unwritable_cache_dir_falls_back_to_temp(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    got = model_mod.writable_dir(blocker / "onnx")
    assert got != blocker / "onnx" and got.is_dir()
