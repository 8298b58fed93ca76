"""Locust module (`-f ...,rate_driver.py`, rate loads only, every process): the open-loop driver.

Locust runs the User classes it finds in its -f modules; this one brings `OpenLoopDriver`
(open_loop.py), which the shape starts once per worker instead of the locustfile's users.
"""

from loadgate.loadgen.open_loop import OpenLoopDriver

__all__ = ["OpenLoopDriver"]
