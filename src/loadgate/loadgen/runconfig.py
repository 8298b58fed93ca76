"""Read the run's config (the JSON of `loadgate.spec.to_config`) named by env LOADGATE_CONFIG.

Shared by the locustfile and the shape; every Locust process (master, each worker, each
`--processes` child) reads it on import. No locust import here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

CONFIG_ENV = "LOADGATE_CONFIG"  # same value as loadgate.spec.CONFIG_ENV (kept import-free)

# What `locust -f locustfile.py --host URL` gets with no LOADGATE_CONFIG: the 8/2/1 mix,
# constant mode (users come from Locust's own -u/-r/-t), no thresholds.
DEFAULT_SCENARIO = {"weights": {"single": 8, "batch": 2, "health": 1},
                    "singleTexts": [1, 2], "batchTexts": [8, 16]}
# Think time per user between requests, seconds [min, max]. Not a spec field: realistic users
# pause; the benchmark sets [0, 0] to measure the generator's own ceiling.
DEFAULT_WAIT_TIME_S = [0.5, 1.5]


class ConfigError(RuntimeError):
    """LOADGATE_CONFIG names a file that is missing or not the expected JSON."""


def load_config(environ=None) -> dict:
    env = os.environ if environ is None else environ
    path = env.get(CONFIG_ENV, "").strip()
    cfg: dict = {}
    if path:
        try:
            cfg = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{CONFIG_ENV}={path}: cannot read: {e.strerror or e}") from e
        except ValueError as e:
            raise ConfigError(f"{CONFIG_ENV}={path}: not valid JSON: {e}") from e
        if not isinstance(cfg, dict):
            raise ConfigError(f"{CONFIG_ENV}={path}: expected a JSON object")
    cfg.setdefault("mode", "constant")
    cfg.setdefault("thresholds", {})
    scenario = {**DEFAULT_SCENARIO, **(cfg.get("scenario") or {})}
    cfg["scenario"] = scenario
    cfg.setdefault("waitTimeS", list(DEFAULT_WAIT_TIME_S))
    return cfg
