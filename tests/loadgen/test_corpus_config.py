"""The corpus data file and the LOADGATE_CONFIG reader (no Locust import needed)."""

import json

import pytest

from loadgate.loadgen import CORPUS_FILE
from loadgate.loadgen.runconfig import CONFIG_ENV, ConfigError, load_config
from loadgate.spec import CONFIG_ENV as SPEC_CONFIG_ENV


def test_corpus_is_varied_realistic_text():
    texts = [ln.strip() for ln in CORPUS_FILE.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert len(texts) >= 300
    assert len(set(texts)) == len(texts), "duplicates"
    words = sorted(len(t.split()) for t in texts)
    assert words[0] <= 2 and words[-1] >= 40  # from one-word chat to long paragraphs
    assert 8 <= words[len(words) // 2] <= 25
    assert max(len(t) for t in texts) <= 2000  # the server's max_chars_per_text


def test_config_defaults_without_env():
    cfg = load_config({})
    assert cfg["scenario"]["weights"] == {"single": 8, "batch": 2, "health": 1}
    assert cfg["scenario"]["singleTexts"] == [1, 2] and cfg["scenario"]["batchTexts"] == [8, 16]
    assert cfg["mode"] == "constant" and cfg["waitTimeS"] == [0.5, 1.5]
    assert CONFIG_ENV == SPEC_CONFIG_ENV


def test_config_file_is_read_and_completed(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"mode": "stages", "scenario": {"weights": {"single": 1}}}))
    cfg = load_config({CONFIG_ENV: str(path)})
    assert cfg["mode"] == "stages" and cfg["scenario"]["weights"] == {"single": 1}
    assert cfg["scenario"]["batchTexts"] == [8, 16]


@pytest.mark.parametrize("content,message", [(None, "cannot read"), ("{nope", "not valid JSON"),
                                             ("[1, 2]", "expected a JSON object")])
def test_bad_config_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as e:
        load_config({CONFIG_ENV: str(path)})
    assert str(path) in str(e.value)
