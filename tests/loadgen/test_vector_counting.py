"""Embeddings counted without decoding their floats (protocols/vectors.py), checked against
orjson's full decode: on every body, the fast path either gives exactly the true sizes and a
skeleton equal to the decoded answer with its vectors emptied, or steps aside (None) so the
full decode checks it. Then the protocol checks on whole answers, good and wrong, as the
locustfile calls them (a Locust-shaped response that records success/failure)."""

from __future__ import annotations

import random

import orjson
import pytest

from loadgate.loadgen.protocols import common, openai_embeddings, tei, vectors
from loadgate.loadgen.protocols import loadgate as loadgate_protocol
from loadgate.spec import Scenario


def floats(rng: random.Random, n: int) -> list[float]:
    return [rng.uniform(-1, 1) * 10 ** rng.randint(-9, 2) for _ in range(n)]


def fast(body: bytes, cut=vectors.cut_array, marker=b'"embeddings":',
         placed=loadgate_protocol._placed):
    """What `common.counted` takes from the fast path: the decoded skeleton and the sizes, or
    None when the cut, the skeleton's decode or the protocol's placement check refuses it."""
    out = cut(body, marker)
    if out is None:
        return None
    try:
        doc = orjson.loads(out[0])
    except orjson.JSONDecodeError:
        return None
    return (doc, out[1]) if placed(doc, out[1]) else None


def ours(vecs: list, **extra) -> bytes:
    return orjson.dumps({"embeddings": vecs, "model": "all-MiniLM-L6-v2", "dim": 384,
                         "count": len(vecs), **extra})


def openai(vecs: list, order=None) -> bytes:
    order = order or list(range(len(vecs)))
    return orjson.dumps({"object": "list", "model": "m",
                         "data": [{"object": "embedding", "index": i, "embedding": vecs[i]}
                                  for i in order],
                         "usage": {"prompt_tokens": 7, "total_tokens": 7}})


def test_compact_answers_are_counted_exactly():
    rng = random.Random(5)
    for n in (1, 2, 8, 16):
        vecs = [floats(rng, 384) for _ in range(n)]
        skeleton, sizes = vectors.cut_array(ours(vecs), b'"embeddings":')
        assert sizes == [384] * n
        assert orjson.loads(skeleton) == {"embeddings": [], "model": "all-MiniLM-L6-v2",
                                          "dim": 384, "count": n}
        skeleton, sizes = vectors.cut_array(orjson.dumps(vecs), b"")
        assert (skeleton, sizes) == (b"[]", [384] * n)
        skeleton, sizes = vectors.cut_each(openai(vecs), b'"embedding":[')
        assert sizes == [384] * n
        doc = orjson.loads(skeleton)
        assert [d["embedding"] for d in doc["data"]] == [[]] * n
        assert doc["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    ragged = [floats(rng, 384), floats(rng, 383), [1], floats(rng, 1024)]
    assert vectors.cut_array(ours(ragged), b'"embeddings":')[1] == [384, 383, 1, 1024]
    assert vectors.cut_each(openai(ragged), b'"embedding":[')[1] == [384, 383, 1, 1024]
    # an empty vector counts 0 (the check calls it "not a non-empty list")
    assert vectors.cut_array(b'{"embeddings":[[],[1.0]],"count":2}', b'"embeddings":')[1] == \
        [0, 1]
    assert vectors.cut_array(b'{"embeddings":[],"count":0}', b'"embeddings":')[1] == []


NOT_SIMPLE = [
    # pretty-printed, NaN as null, strings/objects/literals in a vector, nesting, empty
    # elements, truncation, the marker twice (once inside a string), no marker at all
    b'{"embeddings": [[0.1, 0.2], [0.3, 0.4]], "count": 2}',
    b'{"embeddings":[\n[0.1,0.2]\n],"count":1}',
    b'{"embeddings":[[0.1,null],[0.3,0.4]],"count":2}',
    b'{"embeddings":[[0.1,"0.2"],[0.3,0.4]],"count":2}',
    b'{"embeddings":[[0.1,true]],"count":1}',
    b'{"embeddings":[[0.1,{"a":1}]],"count":1}',
    b'{"embeddings":[[0.1,[0.2,0.3]]],"count":1}',
    b'{"embeddings":[[[0.1,0.2]]],"count":1}',
    b'{"embeddings":[[,0.2]],"count":1}',
    b'{"embeddings":[[0.2,]],"count":1}',
    b'{"embeddings":[[0.1,0.2],[0.3',
    b'{"meta":{"embeddings":[[1]]},"embeddings":[[0.1,0.2]],"count":1}',
    b'{"embeddings":[[0.1,0.2]]x,"count":1}',
    b'{"embeddings":[0.1,0.2],"count":1}',
    b'{"embeddings":"[[0.1]]","count":1}',
    b'{"error":"overloaded"}',
    b'',
]


@pytest.mark.parametrize("body", NOT_SIMPLE)
def test_anything_not_simple_goes_to_the_full_decode(body):
    assert fast(body) is None


def test_a_marker_inside_a_string_is_escaped_and_harmless():
    body = b'{"embeddings":[[0.1,0.2]],"model":"\\"embeddings\\":[[1]]","count":1}'
    assert fast(body) == ({"embeddings": [], "model": '"embeddings":[[1]]', "count": 1}, [2])


@pytest.mark.parametrize("body", [
    b'{"data":[{"index":0,"embedding":[0.1, 0.2]}]}',
    b'{"data":[{"index":0,"embedding":[0.1,null]}]}',
    b'{"data":[{"index":0,"embedding":[[0.1]]}]}',
    b'{"data":[{"index":0,"embedding":[,0.2]}]}',
    b'{"data":[{"index":0,"embedding":[0.1',
    b'{"data":[{"index":0,"embedding":"AAAA"}]}',     # base64: not counted here
    b'{"data":[]}',
])
def test_openai_answers_not_simple_go_to_the_full_decode(body):
    assert fast(body, vectors.cut_each, b'"embedding":[', lambda doc, sizes: True) is None


def test_numbers_are_recognised_not_parsed():
    """The documented limit: inside a vector, a malformed number or an empty element counts
    as a number (encoders do not write them); at a vector's edge an empty element is refused."""
    assert fast(b'{"embeddings":[[1.2.3,0.1]],"count":1}') == ({"embeddings": [], "count": 1},
                                                               [2])
    assert fast(b'{"embeddings":[[0.1,,0.2]],"count":1}')[1] == [3]
    assert fast(b'{"embeddings":[[,0.2]],"count":1}') is None


def test_random_bodies_agree_with_the_full_decode():
    """Whatever the fast path accepts, it counts exactly as orjson does."""
    rng = random.Random(11)
    pieces = ["0.5", "-1e-3", "null", '"x"', "[1,2]", "{}", "true", " 2", "[]"]
    accepted = 0
    for _ in range(3000):
        vecs = []
        for _ in range(rng.randint(0, 4)):
            items = [str(round(rng.uniform(-1, 1), 6)) for _ in range(rng.randint(0, 6))]
            if rng.random() < 0.3 and items:   # spoil one element now and then
                items[rng.randrange(len(items))] = rng.choice(pieces)
            vecs.append("[" + ",".join(items) + "]")
        body = ('{"embeddings":[' + ",".join(vecs) + '],"count":' + str(len(vecs)) + "}")
        if rng.random() < 0.1:
            body = body[:rng.randrange(len(body))]   # truncated
        raw = body.encode()
        got = fast(raw)
        if got is None:
            continue
        doc = orjson.loads(raw)   # the fast path accepted it: it must be valid JSON
        assert got[1] == [len(v) for v in doc["embeddings"]], body
        assert all(isinstance(x, float | int) for v in doc["embeddings"] for x in v), body
        assert got[0] == {**doc, "embeddings": []}
        accepted += 1
    assert accepted > 500   # and the fast path is not a path nobody takes


class Answer:
    """What the checks use of Locust's response under catch_response: status, raw body,
    headers, and the verdict they give it."""

    def __init__(self, body: bytes, status: int = 200):
        self.status_code, self.content, self.headers = status, body, {}
        self.text = body.decode(errors="replace")
        self.verdict: str | None = None

    def success(self) -> None:
        self.verdict = "ok"

    def failure(self, why: str) -> None:
        self.verdict = why


def verdict(check, body: bytes, sent: int, scenario: Scenario) -> str | None:
    common._DIMENSIONS.clear()   # each case learns its own dimension
    resp = Answer(body)
    check(resp, object(), scenario, sent)
    return resp.verdict


def test_protocol_checks_on_whole_answers():
    rng = random.Random(3)
    v384 = [floats(rng, 384) for _ in range(3)]
    ok = Scenario()
    check = loadgate_protocol.check_embed
    assert verdict(check, ours(v384), 3, ok) == "ok"
    assert verdict(check, orjson.dumps({"embeddings": v384, "count": 3},
                                       option=orjson.OPT_INDENT_2), 3, ok) == "ok"
    assert verdict(check, ours(v384), 4, ok) == "count 3 != 4 texts sent"
    assert verdict(check, ours(v384[:2], count=3), 3, ok) == "2 embeddings for 3 texts"
    assert verdict(check, ours([floats(rng, 383)] * 3), 3, ok) == \
        "embedding of dimension 383, expected 384"
    assert verdict(check, ours([v384[0], v384[1], [None] * 384]), 3, ok) == \
        "an embedding is not a non-empty list of numbers"   # a NaN is encoded as null
    assert verdict(check, ours([v384[0], []]), 2, ok) == \
        "an embedding is not a non-empty list of numbers"
    assert verdict(check, b'{"embeddings":[[0.1,0.2]', 1, ok) == "response is not JSON"
    assert verdict(check, b"[]", 0, ok) == "response is not a JSON object"

    tei_scenario = Scenario(protocol="tei")
    assert verdict(tei.check, orjson.dumps(v384), 3, tei_scenario) == "ok"
    assert verdict(tei.check, orjson.dumps(v384[:2]), 3, tei_scenario) == \
        "2 embeddings for 3 texts"
    assert verdict(tei.check, b'{"error":"x"}', 3, tei_scenario) == "dict embeddings for 3 texts"

    oai = Scenario(protocol="openai-embeddings")
    assert verdict(openai_embeddings.check, openai(v384, order=[2, 0, 1]), 3, oai) == "ok"
    mixed = [v384[0], floats(rng, 10), v384[2]]
    assert verdict(openai_embeddings.check, openai(mixed, order=[1, 0, 2]), 3, oai) == \
        "embeddings of different dimensions in one answer"
    assert verdict(openai_embeddings.check, openai(v384[:2]), 3, oai) == \
        "2 embeddings for 3 texts"
    bad_index = openai(v384).replace(b'"index":2', b'"index":5')
    assert verdict(openai_embeddings.check, bad_index, 3, oai) == "data indexes are not 0..n-1"
