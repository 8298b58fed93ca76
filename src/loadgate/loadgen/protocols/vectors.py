"""Embeddings counted, not parsed: the size of every vector in an answer without building its
floats.

Decoding an answer is most of a generator's cost per request: a batch of 12 embeddings of 384
floats is 50 KB of JSON, and building 4,608 Python floats only to count them costs more than
sending the request. These functions find each vector in the raw bytes, count its numbers
(commas + 1) and cut it out; the rest of the answer (now a few bytes) is decoded with orjson
and checked as before, so `count`, the key names, `index`, `usage` and everything else are still
real JSON checks.

This fast path only takes *compact* answers whose vectors hold nothing but number characters
(what orjson, pydantic and serde_json write: our server, vLLM, TEI, Infinity). Anything else
(whitespace, null for a NaN, a string, a nested array or object, a missing bracket, a vector
cut short) returns None, or leaves a skeleton the caller finds wrong, and the caller decodes the
whole answer and checks it the slow way, with the same failure messages. A number is recognised
by its characters (digits . e E + -), not parsed: a malformed number (`1.2.3`) or an empty
element inside a vector (`1,,2`) passes here where the full decoder would refuse it; JSON
encoders do not write those. Every test is a C-speed scan of the bytes (one-character finds and
comma counts; a two-character find costs as much as decoding).
"""

from __future__ import annotations

# characters a compact array of JSON numbers never holds: strings, objects, null/true/false
# (a NaN encodes as null), whitespace
_NOT_NUMBERS = (b'"', b"{", b"n", b"t", b"f", b" ", b"\n", b"\r", b"\t")


def _only_numbers(body: bytes, start: int, stop: int) -> bool:
    find = body.find
    return all(find(c, start, stop) < 0 for c in _NOT_NUMBERS)


def _vector(body: bytes, start: int, end: int) -> int | None:
    """How many numbers body[start:end] (the inside of one vector) holds, or None if it holds
    an array or starts or ends with an empty element."""
    if start == end:
        return 0
    if body.find(b"[", start, end) >= 0 or body[start] == 44 or body[end - 1] == 44:  # ","
        return None
    return body.count(b",", start, end) + 1


def cut_array(body: bytes, marker: bytes) -> tuple[bytes, list[int]] | None:
    """The sizes of the vectors in the array of vectors that follows the first `marker` (b""
    for an answer that is that array), and the answer with that array emptied ("[]"), or None
    when the answer is not that simple (see the module doc). The caller checks that the
    emptied array is where it belongs (a marker in a nested object comes out elsewhere)."""
    if marker:
        at = body.find(marker)
        if at < 0:
            return None
        at += len(marker)
    else:
        at = 0
    if body[at:at + 2] == b"[]":
        return body, []
    if body[at:at + 2] != b"[[":
        return None
    find, sizes, pos = body.find, [], at + 2
    while True:
        end = find(b"]", pos)
        if end < 0:
            return None
        size = _vector(body, pos, end)
        if size is None:
            return None
        sizes.append(size)
        after = body[end + 1:end + 3]
        if after == b",[":
            pos = end + 3
        elif after[:1] == b"]":
            stop = end + 2
            break
        else:
            return None
    if not _only_numbers(body, at, stop):
        return None
    return body[:at] + b"[]" + body[stop:], sizes


def cut_each(body: bytes, marker: bytes) -> tuple[bytes, list[int]] | None:
    """The sizes of the vectors that each follow an occurrence of `marker` (which ends with
    "["), in the order they appear, and the answer with each emptied, or None when the answer
    is not that simple."""
    find, pieces, sizes, pos = body.find, [], [], 0
    while True:
        at = find(marker, pos)
        if at < 0:
            break
        start = at + len(marker)
        end = find(b"]", start)
        if end < 0 or not _only_numbers(body, start, end):
            return None
        size = _vector(body, start, end)
        if size is None:
            return None
        sizes.append(size)
        pieces.append(body[pos:start])
        pos = end
    if not sizes:
        return None
    pieces.append(body[pos:])
    return b"".join(pieces), sizes
