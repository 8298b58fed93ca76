"""Locust module (`-f locustfile.py,cpu_listener.py,latency_listener.py`): the latency record.

Loaded by every Locust process next to any locustfile, the built-in one or a user's: each
process records every request into mergeable histograms, the master merges them and writes
`<csv prefix>_latency.json` (see recorder.py and latency_record.py).
"""

from locust import events

from loadgate.loadgen.recorder import watch

events.init.add_listener(watch)
