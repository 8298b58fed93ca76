"""The built-in load: locustfile, the one LoadTestShape, the CPU listener, the text corpus,
the request/check code per protocol, and Locust's argv.

Importing this package must stay light (no locust, no torch): the operator and the CLI import
it only for the file paths and `command`.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent

LOCUSTFILE: Path = _HERE / "locustfile.py"  # the built-in FastHttpUser traffic
SHAPE_FILE: Path = _HERE / "shape.py"  # added with -f for shaped loads (master only)
CPU_LISTENER_FILE: Path = _HERE / "cpu_listener.py"  # added with -f to every Locust process
LATENCY_LISTENER_FILE: Path = _HERE / "latency_listener.py"  # -f, every process: histograms
RATE_DRIVER_FILE: Path = _HERE / "rate_driver.py"  # -f, every process of a rate load
CORPUS_FILE: Path = _HERE / "corpus.txt"  # realistic texts of mixed length, one per line

__all__ = ["CORPUS_FILE", "CPU_LISTENER_FILE", "LATENCY_LISTENER_FILE", "LOCUSTFILE",
           "RATE_DRIVER_FILE", "SHAPE_FILE"]
