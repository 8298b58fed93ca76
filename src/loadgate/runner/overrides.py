"""`loadgate run`'s command-line overrides: flags -> spec changes, validated by the spec.

Every value goes to `spec.override` as the YAML would carry it (`20` an integer, `abc` a
string), so a bad value is reported by the same validator as a bad file, with its field path,
and exits 3 like one. Which load flags apply depends on the load mode; `--run-time` on a
stages or breakpoint load (users or rate) cuts the plan at that point (`spec.capped`);
`--rps` on a users load runs it open loop at that rate (`spec.rate_override`).
"""

from __future__ import annotations

from loadgate import spec

# load flag -> {load mode: the spec field it sets}
LOAD_FLAGS = {
    "--users": {"constant": "load.users"},
    "--spawn-rate": {"constant": "load.spawnRate", "breakpoint": "load.breakpoint.spawnRate"},
    "--run-time": {"constant": "load.runTime", "rate": "load.rate.duration"},
    "--rps": {"rate": "load.rate.rps"},
    "--max-users": {"breakpoint": "load.breakpoint.maxUsers"},
    "--max-rps": {"rateBreakpoint": "load.breakpoint.maxRps"},
    "--step-duration": {"breakpoint": "load.breakpoint.stepDuration",
                        "rateBreakpoint": "load.breakpoint.stepDuration"},
}
CAP_FLAG = "--run-time"  # on loads that have no runTime: the plan is cut there
RATE_FLAG = "--rps"      # on a users load: run it open loop at that rate for its runTime
UNCAPPED = ("constant", "rate")  # loads whose --run-time is a field, not a cap
# how a load mode is written in spec.load (else its name)
MODE_FIELD = {"constant": "users", "rateBreakpoint": "breakpoint"}


class InvalidInput(Exception):
    """The LoadTest or the command line cannot be run; str() says why (exit 3)."""


def value(text):
    """A command-line value as YAML would carry it: "20" -> 20, "2.5" -> 2.5, else the text
    itself (the spec then says what is wrong with it)."""
    if text is None or not isinstance(text, str):
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def threshold_changes(items: list[str] | None) -> dict[str, object]:
    """`--threshold minRps=5` (repeatable, any spec.thresholds key) -> {"thresholds.minRps": 5}."""
    keys = [k.key for k in spec.THRESHOLD_KEYS]
    changes = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or key.strip() not in keys:
            raise InvalidInput(f"--threshold {item!r}: write KEY=VALUE with KEY one of "
                               f"{', '.join(keys)} (e.g. --threshold minRps=5)")
        changes[f"thresholds.{key.strip()}"] = value(text.strip())
    return changes


def _load_changes(lt, given: dict[str, object]) -> dict[str, object]:
    mode = lt.load.mode
    changes = {}
    for flag, text in given.items():
        if flag == CAP_FLAG and mode not in UNCAPPED:
            continue  # applied last, to the overridden plan
        path = LOAD_FLAGS[flag].get(mode)
        if path is None:
            fitting = [f for f, modes in LOAD_FLAGS.items() if mode in modes or f == CAP_FLAG
                       or (f == RATE_FLAG and mode == "constant")]
            written = MODE_FIELD.get(mode, mode)
            raise InvalidInput(f"{flag} does not apply to a {written} load (spec.load.{written})"
                               f"; a {written} load takes {', '.join(fitting)}")
        changes[path] = value(text)
    return changes


def apply(lt, args, *, target: str | None) -> spec.LoadTest:
    """`lt` with the overrides of `args` (loadgate run's Namespace) applied and re-validated;
    `target` replaces spec.target.url. InvalidInput names the field and the flags used."""
    load_given = {flag: getattr(args, flag[2:].replace("-", "_"), None) for flag in LOAD_FLAGS}
    load_given = {flag: v for flag, v in load_given.items() if v is not None}
    other = {"--target" if args.target else "--serve": ("target.url", target),
             "--workers": ("workers", value(args.workers)),
             "--ready-timeout": ("target.readyTimeout", args.ready_timeout)}
    other = {flag: change for flag, change in other.items() if change[1] is not None}
    flags = [*other, *load_given] + (["--threshold"] if args.threshold else [])
    if not flags:
        return lt
    try:
        if RATE_FLAG in load_given and lt.load.mode == "constant":
            # a users load becomes a rate load of the same run time; other flags apply to that
            lt = spec.override(lt, spec.rate_override(lt, value(load_given.pop(RATE_FLAG))))
        changes = {**dict(other.values()), **_load_changes(lt, load_given),
                   **threshold_changes(args.threshold)}
        out = spec.override(lt, changes)
        if CAP_FLAG in load_given and out.load.mode not in UNCAPPED:
            out = spec.capped(out, spec.parse_duration(load_given[CAP_FLAG], CAP_FLAG))
        return out
    except (spec.SpecError, spec.DurationError) as e:
        raise InvalidInput(f"{e}\n(with the command-line overrides {', '.join(flags)})") from None
