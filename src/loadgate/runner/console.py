"""What `loadgate run` prints: one line at a time, flushed; paths relative to where it runs."""

from __future__ import annotations

from pathlib import Path


def say(msg: str = "") -> None:
    print(msg, flush=True)


def shown(path: Path) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)
