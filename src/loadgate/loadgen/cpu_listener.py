"""Locust module (`-f locustfile.py,cpu_listener.py`): records the generator's own CPU.

Loaded by every Locust process next to any locustfile, the built-in one or a user's, so the
gate can call a run whose generator was saturated Invalid. See generator_cpu.py.
"""

from locust import events

from loadgate.loadgen.generator_cpu import watch

events.init.add_listener(watch)
