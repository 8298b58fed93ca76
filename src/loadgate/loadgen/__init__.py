"""The built-in load: locustfile, the one LoadTestShape, the CPU listener, the text corpus,
the request/check code per protocol, and Locust's argv.

Importing this package must stay light (no locust, no torch): the operator and the CLI import
it only for the file paths and `command`.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent

LOCUSTFILE: Path = _HERE / "locustfile.py"  # the built-in FastHttpUser traffic
SHAPE_FILE: Path = _HERE / "shape.py"  # added with -f for stages/breakpoint (master only)
CPU_LISTENER_FILE: Path = _HERE / "cpu_listener.py"  # added with -f to every Locust process
CORPUS_FILE: Path = _HERE / "corpus.txt"  # realistic texts of mixed length, one per line

__all__ = ["CORPUS_FILE", "CPU_LISTENER_FILE", "LOCUSTFILE", "SHAPE_FILE"]
