"""The corpus data file and the runtime LoadTest the Locust processes read (no Locust import)."""

import pytest
from support.loadtests import loadtest

from loadgate import spec
from loadgate.loadgen import CORPUS_FILE
from loadgate.loadgen.think_time import WAIT_TIME_ENV, wait_time_s
from loadgate.spec import CONFIG_ENV, SpecError, read_runtime, write_runtime


def test_corpus_is_varied_realistic_text():
    texts = [ln.strip() for ln in CORPUS_FILE.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert len(texts) >= 300
    assert len(set(texts)) == len(texts), "duplicates"
    words = sorted(len(t.split()) for t in texts)
    assert words[0] <= 2 and words[-1] >= 40  # from one-word chat to long paragraphs
    assert 8 <= words[len(words) // 2] <= 25
    assert max(len(t) for t in texts) <= 2000  # the server's max_chars_per_text


def test_defaults_without_env():
    """`locust -f locustfile.py` alone: no runtime file, the spec's defaults and think time."""
    assert read_runtime({}) is None
    scenario = spec.Scenario()
    assert scenario.weights == {"single": 8, "batch": 2, "health": 1}
    assert scenario.single_texts == (1, 2) and scenario.batch_texts == (8, 16)
    assert spec.Load().mode == "constant"
    assert wait_time_s({}) == (0.5, 1.5)
    assert wait_time_s({WAIT_TIME_ENV: "0.05,0.2"}) == (0.05, 0.2)
    with pytest.raises(ValueError, match=WAIT_TIME_ENV):
        wait_time_s({WAIT_TIME_ENV: "fast"})
    assert CONFIG_ENV == "LOADGATE_CONFIG"


def test_runtime_file_is_read_back_whole(tmp_path):
    lt = loadtest(load={"stages": [{"duration": "5s", "users": 3}]},
                  scenario={"weights": {"single": 1}})
    path = write_runtime(lt, tmp_path)
    got = read_runtime({CONFIG_ENV: str(path)})
    assert got == lt and got.load.mode == "stages"
    assert got.scenario.weights == {"single": 1, "batch": 0, "health": 0}
    assert got.scenario.batch_texts == (8, 16)


@pytest.mark.parametrize("content,message", [(None, "cannot read"), ("{nope", "not valid JSON"),
                                             ("[1, 2]", "expected a JSON object"),
                                             ('{"kind": "LoadTest"}', "not a valid LoadTest")])
def test_bad_runtime_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SpecError, match=message) as e:
        read_runtime({CONFIG_ENV: str(path)})
    assert str(path) in str(e.value)
