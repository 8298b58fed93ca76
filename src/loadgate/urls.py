"""Joining a target's base URL and a path: the one place it is done.

A target may be written with or without a trailing slash, and with a path prefix
(`http://gateway/models/minilm/`); paths may be written with or without a leading slash.
Plain concatenation turns `http://host:8000/` + `/embed` into `//embed`, which servers reject
("invalid request URI"), so every URL loadgate builds goes through `join` (health checks,
request paths), and Locust's `--host` is `base(url)`. Standard library only.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def base(url: str) -> str:
    """`url` without trailing slashes: what relative request paths are appended to."""
    return url.rstrip("/")


def join(base_url: str | None, path: str) -> str:
    """`base_url` + `path` with exactly one slash between them; an absolute `path`
    (http://...) is returned as it is. join("http://h:1/", "/health") -> "http://h:1/health",
    join("http://h/api", "v1/embeddings") -> "http://h/api/v1/embeddings"."""
    if urlsplit(path).scheme in ("http", "https"):
        return path
    return base(base_url or "") + "/" + path.lstrip("/")
