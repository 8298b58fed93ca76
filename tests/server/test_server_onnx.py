"""The ONNX export: made by `loadgate export` (or the first start without one), cached, whole.

Most tests load the export `make install` put in the default cache; the export itself is made
for real once here (into a temporary cache) because that is the path a start without
`loadgate export` takes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from loadgate.server import export
from loadgate.server import model as model_mod
from loadgate.server.app import create_app
from loadgate.server.settings import ServerSettings

REPO = Path(__file__).resolve().parents[2]

TEXTS = ["A man is eating food.", "The stock market fell sharply today.", "hi",
         "A considerably longer sentence, to make the batch pad: load tests find where "
         "a model endpoint falls over before users do."]


@pytest.fixture(scope="module")
def default_export() -> Path:
    """The export in the default cache (made by `make install`; made now if it is missing)."""
    return export.export(ServerSettings())


def test_loadgate_export_makes_fp32_and_int8_once(tmp_path, default_export):
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "loadgate.cli", "export", "--cache-dir", str(cache)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                           cwd=REPO)
    assert first.returncode == 0, first.stdout + first.stderr
    # loadgate keeps the export itself: no advice to save it into the model's (site-packages)
    # directory
    assert "save_pretrained" not in first.stderr and "avoid having to export" not in first.stderr
    made = Path(first.stdout.strip().splitlines()[-1])
    assert made.parent == cache and made.name == default_export.name
    for f in export.ONNX_FILES.values():
        assert (made / f).stat().st_size > 1_000_000
    manifest = json.loads((made / export.MANIFEST).read_text())
    assert manifest["exportVersion"] == export.EXPORT_VERSION
    assert manifest["int8"]["calibrationTexts"] > 10
    assert stat.S_IMODE(made.stat().st_mode) == 0o755  # readable by an image's other user
    assert not list(cache.glob(".export-*")), "temporary export dir left behind"
    # deterministic: the same int8 model as the one `make install` made
    assert (made / export.ONNX_FILES["onnx-int8"]).read_bytes() == \
        (default_export / export.ONNX_FILES["onnx-int8"]).read_bytes()

    t0 = time.monotonic()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           cwd=REPO)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == str(made)
    assert "exporting" not in again.stdout + again.stderr
    assert time.monotonic() - t0 < 60


def test_loadgate_export_errors_are_one_line_and_exit_2(tmp_path):
    cmd = [sys.executable, "-m", "loadgate.cli", "export", "--cache-dir", str(tmp_path)]
    bad = subprocess.run(cmd, env={**os.environ, "LOADGATE_MAX_QUEUE": "zero"}, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == "", bad.stdout + bad.stderr
    assert bad.stderr.splitlines()[1].startswith("max_queue (LOADGATE_MAX_QUEUE): ")
    missing = subprocess.run([*cmd, "--model", str(tmp_path / "no-model")], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stdout == "", missing.stdout + missing.stderr
    assert missing.stderr.splitlines()[-1].startswith(
        f"loadgate export: {tmp_path / 'no-model'}: ")
    assert "Traceback" not in missing.stderr and not list(tmp_path.glob(".export-*"))


def test_a_start_without_an_export_makes_it_and_says_so(tmp_path, default_export, caplog):
    """A model directory that ships onnx/model.onnx (the quick path: copied, then quantized)."""
    src = tmp_path / "model"
    shutil.copytree(default_export, src,
                    ignore=shutil.ignore_patterns(export.MANIFEST, "model_int8.onnx"))
    caplog.set_level(logging.INFO, logger="uvicorn.error.loadgate")
    settings = ServerSettings(model_name=str(src), onnx_cache_dir=tmp_path / "cache")
    emb = model_mod.load(settings)
    assert "no ONNX export" in caplog.text and "loadgate export" in caplog.text
    assert export.find_export(settings) is not None
    reference = model_mod.load(ServerSettings())  # the default export's int8 model
    np.testing.assert_allclose(emb.encode(TEXTS), reference.encode(TEXTS), atol=1e-6)

    caplog.clear()
    model_mod.load(settings)  # second start: from the cache
    assert "no ONNX export" not in caplog.text and "exporting" not in caplog.text


def test_onnx_backend_serves_embed(default_export):
    app = create_app(ServerSettings(backend="onnx"))
    with TestClient(app) as c:
        deadline = time.monotonic() + 120
        while c.get("/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = c.post("/embed", json={"texts": TEXTS})
        assert r.status_code == 200 and r.json()["count"] == len(TEXTS)
        assert 'backend="onnx"' in c.get("/metrics").text


def test_a_model_our_runner_does_not_know_goes_through_sentence_transformers(tmp_path,
                                                                              default_export):
    """Pooling we do not implement (weighted mean): sentence-transformers' ONNX backend runs
    the same export instead, and its pooling is really used."""
    src = tmp_path / "weighted"
    shutil.copytree(default_export, src)
    cfg_path = src / "1_Pooling" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["pooling_mode"] = "weightedmean"
    cfg_path.write_text(json.dumps(cfg))
    settings = ServerSettings(model_name=str(src), backend="onnx", onnx_cache_dir=src.parent)
    (src.parent / export.cache_key(str(src))).symlink_to(src)  # the export is the model itself
    weighted = model_mod.load(settings).encode(TEXTS)
    plain = model_mod.load(ServerSettings(backend="onnx")).encode(TEXTS)
    assert weighted.shape == plain.shape
    np.testing.assert_allclose(np.linalg.norm(weighted, axis=1), 1.0, atol=1e-5)
    assert np.abs(weighted - plain).max() > 1e-3  # not the mean pooling


def test_unwritable_cache_dir_falls_back_to_temp(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    got = export.writable_dir(blocker / "onnx")
    assert got != blocker / "onnx" and got.is_dir()


def test_cache_key_follows_the_weights_and_the_export_version(tmp_path, monkeypatch):
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"1")
    key = export.cache_key(str(model))
    (model / "model.safetensors").write_bytes(b"22")
    assert export.cache_key(str(model)) != key
    key = export.cache_key(str(model))
    monkeypatch.setattr(export, "EXPORT_VERSION", export.EXPORT_VERSION + 1)
    assert export.cache_key(str(model)) != key
