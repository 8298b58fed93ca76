"""The built-in load: locustfile, the one LoadTestShape, its text corpus, and Locust's argv.

Importing this package must stay light (no locust, no torch): the operator and the CLI import
it only for the file paths and `command`.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent

LOCUSTFILE: Path = _HERE / "locustfile.py"  # the built-in FastHttpUser traffic
SHAPE_FILE: Path = _HERE / "shape.py"  # added with -f a.py,shape.py for stages/breakpoint
CORPUS_FILE: Path = _HERE / "corpus.txt"  # realistic texts of mixed length, one per line

__all__ = ["CORPUS_FILE", "LOCUSTFILE", "SHAPE_FILE"]
