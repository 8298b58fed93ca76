"""Where the target falls over, from the measured windows of a run (see windows.py).

Walk the windows in time order. A window meets the SLO when its p95 is within the limit and
its error rate within the maximum (default SLO: p95 500 ms, 1% errors). The capacity,
`rps`, is the highest throughput of a window that met the SLO before the first break. The
first break is the first window that:
- has an error rate over the maximum ("errors"), else
- has p95 over the limit ("p95 over N ms"), else
- added users without adding throughput ("throughput plateau"): users grew by at least 15%
  over the best window so far (smaller steps drown in noise) but throughput grew by less than
  a quarter as much (relative), and the next window, if any, does not climb more than 5%
  above the best so far either (one noisy window is not a plateau).
The break reports that window's users, throughput, p95 and when its user count began
(seconds since the run's first history row). A run that never broke reports found=false,
its peak throughput and the highest user count reached.

Rate loads (open loop) are judged by `find_rate_breaking_point` on the windows of their
latency record instead (see there): by offered rate, with drops as a third SLO limit
(default 1%); `unit` says which: "users" or "rps".

Chat runs (`slo_limits`): a window whose TTFT p95 is over its limit breaks the SLO too
("TTFT p95 over N ms", checked after p95), and the end-to-end p95 is part of the SLO only when
its limit is given (a long answer takes seconds by design). The capacity then also says how
many output tokens per second that window produced (`outputTokensPerS`).
"""

from __future__ import annotations

from typing import NamedTuple

from loadgate.analysis.windows import Window
from loadgate.numbers import fmt

DEFAULT_P95_MS = 500.0
DEFAULT_MAX_ERROR_RATE = 0.01
DEFAULT_MAX_DROPPED_RATE = 0.01
PLATEAU_RELATIVE_GAIN = 0.25  # rps must grow at least this share of the users' growth
PLATEAU_CONFIRM = 1.05        # ... or the next window must beat the best rps by 5%
PLATEAU_MIN_USER_GAIN = 0.15  # compare only against a window with clearly fewer users


class SloLimits(NamedTuple):
    p95_ms: float | None         # None: not judged
    ttft_p95_ms: float | None    # None: not judged
    max_error_rate: float
    max_dropped_rate: float


def slo_limits(p95_ms: float | None, ttft_p95_ms: float | None, chat: bool,
               max_error_rate: float | None = None,
               max_dropped_rate: float | None = None) -> SloLimits:
    """The limits a capacity search (a step, or a window afterwards) is judged by, with their
    defaults. Latency without chat: p95 (default 500 ms). A chat run: TTFT p95 (default
    500 ms, unless only p95Ms is given) and the end-to-end p95 only when given. Errors and
    drops: default 1% each."""
    if not chat:
        p95_ms, ttft_p95_ms = (DEFAULT_P95_MS if p95_ms is None else float(p95_ms)), None
    elif ttft_p95_ms is None and p95_ms is None:
        ttft_p95_ms = DEFAULT_P95_MS
    return SloLimits(
        p95_ms, ttft_p95_ms,
        DEFAULT_MAX_ERROR_RATE if max_error_rate is None else float(max_error_rate),
        DEFAULT_MAX_DROPPED_RATE if max_dropped_rate is None else float(max_dropped_rate))


def _latency_break(w: Window, p95_limit: float | None, ttft_limit: float | None) -> str | None:
    if p95_limit is not None and w.p95_ms > p95_limit:
        return f"p95 over {fmt(p95_limit)} ms"
    if ttft_limit is not None and w.ttft_p95_ms is not None and w.ttft_p95_ms > ttft_limit:
        return f"TTFT p95 over {fmt(ttft_limit)} ms"
    return None


def _slo(p95_limit, ttft_limit, **limits) -> dict:
    slo = {"p95Ms": p95_limit, **limits}
    if ttft_limit is not None:
        slo["ttftP95Ms"] = float(ttft_limit)
    return slo


def find_breaking_point(ws: list[Window], p95_limit_ms: float | None = None,
                        max_error_rate: float | None = None, *,
                        ttft_p95_limit_ms: float | None = None, chat: bool = False) -> dict:
    p95_limit, ttft_limit, max_err, _ = slo_limits(p95_limit_ms, ttft_p95_limit_ms, chat,
                                                   max_error_rate)
    slo = _slo(p95_limit, ttft_limit, maxErrorRate=max_err)
    if not ws:
        return {"found": False, "unit": "users", "users": 0, "rps": 0.0, "p95Ms": 0.0,
                "atS": None, "reason": "no measurable window in the history", "slo": slo,
                "windows": []}
    best: Window | None = None  # the highest-throughput window that met the SLO so far
    broke: tuple[Window, str] | None = None
    for i, w in enumerate(ws):
        if w.error_rate > max_err:
            broke = (w, f"errors over {max_err:.2%}")
        elif why := _latency_break(w, p95_limit, ttft_limit):
            broke = (w, why)
        elif best is not None and _is_plateau(best, w, ws[i + 1] if i + 1 < len(ws) else None):
            broke = (w, "throughput plateau")
        if broke:
            break
        if best is None or w.rps >= best.rps:
            best = w
    table = [w.to_json() for w in ws]
    if broke is None:
        peak = max(ws, key=lambda w: w.rps)
        return {"found": False, "unit": "users", "users": max(w.users for w in ws),
                "rps": peak.rps,
                "p95Ms": peak.p95_ms, "atS": None,
                "reason": f"the SLO held at every step up to {max(w.users for w in ws)} users "
                          f"(peak {fmt(peak.rps)} req/s)",
                "slo": slo, "windows": table, **_tokens(peak, chat)}
    w, why = broke
    # A plateau window still met the SLO: what it sustained counts toward capacity.
    capacity = best.rps if best else 0.0
    if why.startswith("throughput plateau"):
        capacity = max(capacity, w.rps)
    return {"found": True, "unit": "users", "users": w.users, "rps": capacity,
            "p95Ms": w.p95_ms,
            "atS": w.users_since_s, "reason": why, "brokeAtRps": w.rps,
            "errorRate": w.error_rate, "lastGoodUsers": best.users if best else 0,
            "metSlo": best is not None,
            "slo": slo, "windows": table, **_tokens(best, chat)}


def _tokens(w: Window | None, chat: bool) -> dict:
    if not chat:
        return {}
    return {"outputTokensPerS": w.output_tokens_per_s if w is not None else None}


def _is_plateau(best: Window, w: Window, nxt: Window | None) -> bool:
    if w.users <= best.users or best.rps <= 0:
        return False
    user_gain = w.users / best.users - 1
    if user_gain < PLATEAU_MIN_USER_GAIN:
        return False
    rps_gain = w.rps / best.rps - 1
    if rps_gain >= PLATEAU_RELATIVE_GAIN * user_gain:
        return False
    return nxt is None or nxt.rps < max(best.rps, w.rps) * PLATEAU_CONFIRM


def find_rate_breaking_point(ws: list[Window], p95_limit_ms: float | None = None,
                            max_error_rate: float | None = None,
                            max_dropped_rate: float | None = None, *,
                            ttft_p95_limit_ms: float | None = None, chat: bool = False) -> dict:
    """The capacity of a rate load: walk its windows (steps or stages) in time order; each is
    judged on the requests scheduled in it. The first with a dropped share over the maximum
    ("drops"), errors over the maximum, or p95 (from the scheduled start, unanswered requests
    at their age) over the limit is the break. `rps` is the highest offered rate (the plan's)
    of a window that met the SLO before it: the goodput capacity; `brokeAtRps` the offered
    rate of the break. Windows that offered nothing (rps 0) are skipped. Chat runs: as for
    find_breaking_point (TTFT p95, from the scheduled start too)."""
    p95_limit, ttft_limit, max_err, max_drop = slo_limits(
        p95_limit_ms, ttft_p95_limit_ms, chat, max_error_rate, max_dropped_rate)
    slo = _slo(p95_limit, ttft_limit, maxErrorRate=max_err, maxDroppedRate=max_drop)
    table = [w.to_json() for w in ws]
    ws = [w for w in ws if w.scheduled]
    if not ws:
        return {"found": False, "unit": "rps", "rps": 0.0, "p95Ms": 0.0, "atS": None,
                "reason": "no window of the run scheduled a request", "slo": slo,
                "windows": table}
    best: Window | None = None
    broke: tuple[Window, str] | None = None
    for w in ws:
        if (w.dropped_rate or 0.0) > max_drop:
            broke = (w, f"drops over {max_drop:.2%}")
        elif w.error_rate > max_err:
            broke = (w, f"errors over {max_err:.2%}")
        elif why := _latency_break(w, p95_limit, ttft_limit):
            broke = (w, why)
        if broke:
            break
        if best is None or _offered(w) >= _offered(best):
            best = w
    if broke is None:
        peak = max(ws, key=_offered)
        return {"found": False, "unit": "rps", "rps": _offered(peak), "achievedRps": peak.rps,
                "p95Ms": peak.p95_ms, "atS": None,
                "reason": f"the SLO held at every step up to {fmt(_offered(peak))} req/s "
                          f"offered (achieved {fmt(peak.rps)} req/s)",
                "slo": slo, "windows": table, **_tokens(peak, chat)}
    w, why = broke
    return {"found": True, "unit": "rps", "rps": _offered(best) if best else 0.0,
            "achievedRps": best.rps if best else 0.0, "p95Ms": w.p95_ms, "atS": w.start_s,
            "reason": why, "brokeAtRps": _offered(w), "brokeAchievedRps": w.rps,
            "errorRate": w.error_rate, "droppedRate": w.dropped_rate or 0.0,
            "metSlo": best is not None, "slo": slo, "windows": table, **_tokens(best, chat)}


def _offered(w: Window) -> float:
    """A window's offered rate: the plan's, else what was scheduled per second."""
    return float(w.planned_rps if w.planned_rps is not None else w.offered_rps or 0.0)


def breaking_point_sentence(bp: dict) -> str:
    if not bp.get("found"):
        return f"No breaking point: {bp.get('reason', 'not computed')}."
    if bp.get("unit") == "rps":
        capacity = (f"highest offered rate within the SLO: {fmt(bp['rps'])} req/s"
                    if bp.get("metSlo", True) else "no step met the SLO")
        return (f"Broke at {fmt(bp['brokeAtRps'])} req/s offered, {fmt(bp['atS'])} s in "
                f"({bp['reason']}: achieved {fmt(bp.get('brokeAchievedRps'))} req/s, "
                f"p95 {fmt(bp['p95Ms'])} ms, {bp.get('droppedRate', 0.0):.1%} dropped); "
                f"{capacity}.")
    detail = (f"{fmt(bp['brokeAtRps'])} req/s, p95 {fmt(bp['p95Ms'])} ms"
              if "brokeAtRps" in bp else f"p95 {fmt(bp['p95Ms'])} ms")
    capacity = (f"highest throughput within the SLO: {fmt(bp['rps'])} req/s"
                if bp.get("metSlo", True) else "no step met the SLO")
    return (f"Broke at {bp['users']} users, {fmt(bp['atS'])} s in ({bp['reason']}: {detail}); "
            f"{capacity}.")
