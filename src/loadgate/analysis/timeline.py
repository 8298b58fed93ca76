"""`timeline.png`: users, throughput and p50/p95 over time, the breaking point marked.

A rate load (open loop) shows what was offered against what was achieved, and the dropped
requests per second, instead of users; with a latency record, each window's exact p95 is
drawn over Locust's 10 s percentiles."""

from __future__ import annotations

from pathlib import Path

from loadgate.analysis.history import HistoryPoint

RPS_WINDOW_S = 6.0


def _trailing_rps(points: list[HistoryPoint]) -> list[float]:
    """Throughput from the cumulative count, measured between the moments the count changed.

    Exact, unlike Locust's smoothed value; a distributed master receives the workers' counts
    only every ~3 s, so per-second differences alternate between 0 and spikes. Each point gets
    the rate between the last arrival at or before it and the earliest arrival within
    RPS_WINDOW_S before that one (or the arrival just before, when none is)."""
    arrivals: list[tuple[float, int]] = []  # (t, total) where the total changed
    for p in points:
        if not arrivals or p.total_requests != arrivals[-1][1]:
            arrivals.append((p.t, p.total_requests))
    out, k = [], -1
    for p in points:
        while k + 1 < len(arrivals) and arrivals[k + 1][0] <= p.t:
            k += 1
        if k < 1:
            out.append(0.0)
            continue
        m = k - 1
        while m > 0 and arrivals[k][0] - arrivals[m - 1][0] <= RPS_WINDOW_S:
            m -= 1
        (t1, n1), (t0, n0) = arrivals[k], arrivals[m]
        out.append((n1 - n0) / (t1 - t0))
    return out


def _window_steps(windows: list[dict], key: str, per_second: bool = False):
    """(x, y) of one flat segment per window (y per second of the window with per_second),
    broken between windows (NaN), so a gap between windows is not drawn as a slope."""
    xs, ys = [], []
    for w in windows:
        value = w.get(key)
        if value is None:
            continue
        if per_second:
            value = value / max(w["endS"] - w["startS"], 1e-9)
        xs += [w["startS"], w["endS"], w["endS"]]
        ys += [value, value, float("nan")]
    return xs, ys


def write_timeline(points: list[HistoryPoint], path: str | Path, breaking_point: dict | None,
                   title: str = "", windowed: bool = True,
                   windows: list[dict] | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    path = Path(path)
    t0 = points[0].t if points else 0.0
    ts = [p.t - t0 for p in points]
    rps = _trailing_rps(points)
    fig, (ax_load, ax_lat) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    # A row describes the second that ends at its timestamp: steps drawn "pre".
    windows = [w for w in windows or [] if "startS" in w and "endS" in w]
    open_loop = any("offeredRps" in w for w in windows)
    ax_load.set_ylabel("requests/s")
    if open_loop:
        ax_load.step(ts, rps, where="pre", color="tab:blue", alpha=0.35, linewidth=1,
                     label="answered req/s (Locust's counts)")
        ax_load.plot(*_window_steps(windows, "offeredRps"), color="tab:orange", linewidth=2.5,
                     label="offered req/s")
        ax_load.plot(*_window_steps(windows, "rps"), color="tab:blue", linewidth=2,
                     label="achieved req/s (per window)")
        ax_load.plot(*_window_steps(windows, "dropped", per_second=True), color="tab:red",
                     linestyle="--", label="dropped req/s")
        ax_users = None
    else:
        ax_load.step(ts, rps, where="pre", color="tab:blue", label="req/s")
        ax_users = ax_load.twinx()
        ax_users.step(ts, [p.users for p in points], where="pre", color="tab:gray",
                      label="users")
        ax_users.set_ylabel("users")
    kind = "10 s window" if windowed else "cumulative"
    ax_lat.plot(ts, [p.p50_ms for p in points], color="tab:green", label=f"p50 ({kind})")
    ax_lat.plot(ts, [p.p95_ms for p in points], color="tab:red", label=f"p95 ({kind})")
    exact = [w for w in windows if w.get("latencySource") == "histogram"]
    if exact:
        ax_lat.plot(*_window_steps(exact, "p95Ms"), color="black", linewidth=1.5,
                    label="p95 per window (exact" + (", from scheduled start)" if open_loop
                                                     else ")"))
    ax_lat.set_ylabel("latency (ms)")
    ax_lat.set_xlabel("seconds since start")
    bp = breaking_point or {}
    if bp.get("found") and bp.get("atS") is not None:
        for ax in (ax_load, ax_lat):
            ax.axvline(bp["atS"], color="black", linestyle="--", linewidth=1)
        right_half = bp["atS"] > (ts[-1] if ts else 0) / 2
        where = (f"{bp.get('brokeAtRps')} req/s offered" if bp.get("unit") == "rps"
                 else f"{bp.get('users')} users")
        ax_load.annotate(f"broke: {where}, {bp['reason']}",
                         xy=(bp["atS"], 0.03 if open_loop else 0.97),
                         xycoords=("data", "axes fraction"),
                         fontsize=8, ha="right" if right_half else "left",
                         va="bottom" if open_loop else "top",
                         bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    limit = bp.get("slo", {}).get("p95Ms")
    if limit and limit <= 1.5 * max((p.p95_ms for p in points), default=0) or (
            limit and exact and limit <= 1.5 * max(w["p95Ms"] for w in exact)):
        ax_lat.axhline(bp["slo"]["p95Ms"], color="tab:red", linestyle=":", linewidth=1,
                       label="p95 limit")
    lines = ax_load.get_legend_handles_labels()[0] + (
        ax_users.get_legend_handles_labels()[0] if ax_users is not None else [])
    ax_load.legend(lines, [h.get_label() for h in lines], loc="upper left", fontsize=8)
    ax_lat.legend(loc="upper left", fontsize=8)
    fig.suptitle(title or "load test timeline")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
