"""`to_config`: the JSON-able settings the locustfile and the shape read (via LOADGATE_CONFIG).

camelCase keys like the manifest, seconds as numbers. The locustfile and shape only read this
dict, never the YAML, so a Kubernetes pod needs nothing but a mounted config.json.
"""

from __future__ import annotations

from loadgate.spec.model import LoadTest, Thresholds

CONFIG_ENV = "LOADGATE_CONFIG"  # env var: path of a JSON file holding to_config(lt)


def _thresholds(t: Thresholds) -> dict:
    out = {"p95Ms": t.p95_ms, "p99Ms": t.p99_ms, "maxErrorRate": t.max_error_rate,
           "minRps": t.min_rps}
    out = {k: v for k, v in out.items() if v is not None}
    if t.endpoints:
        out["endpoints"] = {name: _thresholds(sub) for name, sub in t.endpoints.items()}
    return out


def to_config(lt: LoadTest) -> dict:
    load = lt.load
    cfg: dict = {
        "name": lt.name,
        "host": lt.target.url,
        "healthPath": lt.target.health_path,
        "mode": load.mode,
        "maxUsers": load.max_users,
        "durationS": load.duration_s,
        "stopTimeoutS": load.stop_timeout_s,
        "workers": lt.workers,
        "scenario": {
            "weights": dict(lt.scenario.weights),
            "singleTexts": list(lt.scenario.single_texts),
            "batchTexts": list(lt.scenario.batch_texts),
        },
        "thresholds": _thresholds(lt.thresholds),
    }
    if load.mode == "constant":
        cfg.update(users=load.users, spawnRate=load.spawn_rate, runTimeS=load.run_time_s)
    elif load.mode == "stages":
        cfg["stages"] = [{"durationS": s.duration_s, "users": s.users, "spawnRate": s.spawn_rate}
                         for s in load.stages]
    else:
        b = load.breakpoint
        cfg["breakpoint"] = {"startUsers": b.start_users, "stepUsers": b.step_users,
                             "stepDurationS": b.step_duration_s, "maxUsers": b.max_users,
                             "spawnRate": b.spawn_rate}
    return cfg
