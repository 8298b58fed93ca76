"""The ONNX export, made once and kept: `loadgate export` (image build, `make install`) or, if
it was never run, the first server start.

An export is a sentence-transformers model directory (tokenizer, pooling config, ...) holding
`onnx/model.onnx` (fp32, exported offline from the local weights with optimum) and
`onnx/model_int8.onnx` (that model quantized by `quantize.py`), plus `loadgate-export.json`
saying what it is. It lives in `<onnx_cache_dir>/<model slug>-<hash>/`; the hash covers the model
name, its weight files and EXPORT_VERSION, so changed weights or a changed quantizer never reuse
a stale export. It is written to a temporary directory and renamed into place: a crash never
leaves half an export, and two processes exporting at once both end with a whole one.

Exporting needs torch, sentence-transformers and optimum; loading an export needs only
onnxruntime and tokenizers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

from loadgate.exit_codes import EXIT_CODES

from .settings import ServerSettings, SettingsError, load_settings

log = logging.getLogger("uvicorn.error.loadgate")

# bump when the export or the quantization changes, so caches made by older code are not used
EXPORT_VERSION = 1
ONNX_FILES = {"onnx": "onnx/model.onnx", "onnx-int8": "onnx/model_int8.onnx"}
MANIFEST = "loadgate-export.json"


class _NoExportAdvice(logging.Filter):
    """sentence-transformers advises `model.save_pretrained(<model dir>)` after an ONNX
    export: for the bundled model that directory is in site-packages. loadgate keeps its
    exports in LOADGATE_ONNX_CACHE_DIR itself, so the advice is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "avoid having to export it again" not in record.getMessage()


logging.getLogger("sentence_transformers.backend.utils").addFilter(_NoExportAdvice())


def cache_key(model_name: str) -> str:
    """Directory name of a model's export: changes when its weights or EXPORT_VERSION change."""
    src = Path(model_name)
    h = hashlib.sha256(f"{model_name}\0{EXPORT_VERSION}".encode())
    if src.is_dir():
        for f in sorted(src.glob("*.safetensors")) + sorted(src.glob("*.bin")) + \
                sorted(src.glob("onnx/model.onnx")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    slug = "".join(c if c.isalnum() else "-" for c in src.name or model_name)[-40:]
    return f"{slug}-{h.hexdigest()[:12]}"


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


def _complete(d: Path) -> bool:
    return (d / MANIFEST).is_file() and all((d / f).is_file() for f in ONNX_FILES.values())


def find_export(settings: ServerSettings) -> Path | None:
    """A complete export of settings.model_name, if one was made (read-only lookup)."""
    key = cache_key(settings.model_name)
    fallback = Path(tempfile.gettempdir()) / "loadgate-onnx"
    for root in (Path(settings.onnx_cache_dir).expanduser(), fallback):
        if _complete(root / key):
            return root / key
    return None


def _copy_model_files(src: Path, dst: Path) -> None:
    """The model directory without its torch weights (tokenizer, configs, pooling, onnx/)."""
    def ignore(_dir, names):
        return [n for n in names if n.endswith((".safetensors", ".bin", ".pt", ".h5", ".msgpack"))
                or n.startswith(".")]
    shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)


def _export_fp32(model_name: str, dst: Path) -> None:
    src = Path(model_name)
    if (src / ONNX_FILES["onnx"]).is_file():  # the model ships an ONNX file: use it as is
        _copy_model_files(src, dst)
        return
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_name, backend="onnx", device="cpu")
    model.save(str(dst))
    if not (dst / ONNX_FILES["onnx"]).is_file():
        raise RuntimeError(f"the ONNX export of {model_name} wrote no {ONNX_FILES['onnx']}")


def _calibration_feeds(model_dir: Path, input_names: set[str]):
    import numpy as np

    from .quantize import CALIBRATION_TEXTS
    from .tokenization import TextTokenizer, pad

    tok = TextTokenizer.from_dir(model_dir)
    for t in tok(CALIBRATION_TEXTS):  # one text per run: no padding in the statistics
        ids, mask = pad([t])
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        yield feed


def _quantize(model_dir: Path) -> dict:
    import onnxruntime as ort

    from . import quantize

    fp32 = model_dir / ONNX_FILES["onnx"]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    inputs = {i.name for i in ort.InferenceSession(
        str(fp32), so, providers=["CPUExecutionProvider"]).get_inputs()}
    data = quantize.quantize_model(fp32.read_bytes(), _calibration_feeds(model_dir, inputs))
    (model_dir / ONNX_FILES["onnx-int8"]).write_bytes(data)
    return {"method": "per-token uint8 activations x per-channel int8 weights (MatMulInteger), "
                      "smoothed", "smoothingAlpha": quantize.SMOOTHING_ALPHA,
            "calibrationTexts": len(quantize.CALIBRATION_TEXTS)}


def export(settings: ServerSettings) -> Path:
    """Make (or find) the export of settings.model_name; returns its directory."""
    found = find_export(settings)
    if found is not None:
        return found
    root = writable_dir(settings.onnx_cache_dir)
    final = root / cache_key(settings.model_name)
    t0 = time.perf_counter()
    log.info("exporting %s to ONNX (fp32 + int8) into %s", settings.model_name, final)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    try:
        _export_fp32(settings.model_name, tmp)
        quant = _quantize(tmp)
        (tmp / MANIFEST).write_text(json.dumps({
            "exportVersion": EXPORT_VERSION, "model": settings.model_name,
            "files": ONNX_FILES, "int8": quant,
            "seconds": round(time.perf_counter() - t0, 1)}, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it 0700: an image built as root serves as another user
        if _complete(final):  # another process finished while we worked
            return final
        if final.exists():  # an incomplete leftover, e.g. from an older loadgate
            shutil.rmtree(final, ignore_errors=True)
        try:
            tmp.rename(final)
        except OSError:  # another process won the race; its export is as good as ours
            if not _complete(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("ONNX export of %s ready in %.1fs", settings.model_name, time.perf_counter() - t0)
    return final


def main(args: argparse.Namespace) -> int:
    """`loadgate export`: make the export now (image build, make install) so no start pays."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    overrides = {"model_name": args.model, "onnx_cache_dir": args.cache_dir}
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as e:
        print(f"loadgate export: invalid settings:\n{e}", file=sys.stderr)
        return EXIT_CODES["Error"]
    try:
        path = export(settings)
    except Exception as e:  # noqa: BLE001 - one sentence and a non-zero exit, not a traceback
        print(f"loadgate export: {settings.model_name}: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_CODES["Error"]
    print(path)
    return 0
