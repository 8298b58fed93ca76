"""`timeline.png`: users, throughput and p50/p95 over time, the breaking point marked; chat
runs add a panel with TTFT and inter-token p95 and output tokens per second."""

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


def write_timeline(points: list[HistoryPoint], path: str | Path, breaking_point: dict | None,
                   title: str = "", windowed: bool = True, chat=None) -> Path:
    """`chat`: the run's ChatRecord (loadgate.loadgen.chat_metrics), for the third panel."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    path = Path(path)
    t0 = points[0].t if points else 0.0
    ts = [p.t - t0 for p in points]
    rps = _trailing_rps(points)
    rows = 3 if chat else 2
    fig, axes = plt.subplots(rows, 1, sharex=True, figsize=(10, 6.5 if rows == 2 else 9))
    ax_load, ax_lat = axes[0], axes[1]
    # A row describes the second that ends at its timestamp: steps drawn "pre".
    ax_load.step(ts, rps, where="pre", color="tab:blue", label="req/s")
    ax_load.set_ylabel("requests/s")
    ax_users = ax_load.twinx()
    ax_users.step(ts, [p.users for p in points], where="pre", color="tab:gray",
                  label="users")
    ax_users.set_ylabel("users")
    kind = "10 s window" if windowed else "cumulative"
    ax_lat.plot(ts, [p.p50_ms for p in points], color="tab:green", label=f"p50 ({kind})")
    ax_lat.plot(ts, [p.p95_ms for p in points], color="tab:red", label=f"p95 ({kind})")
    ax_lat.set_ylabel("latency (ms)")
    axes[-1].set_xlabel("seconds since start")
    if chat:
        _chat_panel(axes[2], ts, points, chat)
    bp = breaking_point or {}
    if bp.get("found") and bp.get("atS") is not None:
        for ax in axes:
            ax.axvline(bp["atS"], color="black", linestyle="--", linewidth=1)
        right_half = bp["atS"] > (ts[-1] if ts else 0) / 2
        ax_load.annotate(f"broke: {bp['users']} users, {bp['reason']}",
                         xy=(bp["atS"], 0.97), xycoords=("data", "axes fraction"),
                         fontsize=8, ha="right" if right_half else "left", va="top",
                         bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    limit = bp.get("slo", {}).get("p95Ms")
    if limit and limit <= 1.5 * max((p.p95_ms for p in points), default=0):
        ax_lat.axhline(bp["slo"]["p95Ms"], color="tab:red", linestyle=":", linewidth=1,
                       label="p95 limit")
    lines = ax_load.get_legend_handles_labels()[0] + ax_users.get_legend_handles_labels()[0]
    ax_load.legend(lines, [h.get_label() for h in lines], loc="upper left", fontsize=8)
    ax_lat.legend(loc="upper left", fontsize=8)
    fig.suptitle(title or "load test timeline")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _chat_panel(ax, ts: list[float], points: list[HistoryPoint], chat) -> None:
    from loadgate.analysis.chat import SERIES_WINDOW_S, chat_series

    series = chat_series(points, chat)
    ax.plot(ts, series["ttftP95Ms"], color="tab:purple", label=f"TTFT p95 ({SERIES_WINDOW_S} s)")
    ax.plot(ts, series["itlP95Ms"], color="tab:orange",
            label=f"inter-token p95 ({SERIES_WINDOW_S} s)")
    ax.set_ylabel("chat latency (ms)")
    ax_tokens = ax.twinx()
    ax_tokens.step(ts, series["outputTokensPerS"], where="pre", color="tab:cyan",
                   label="output tokens/s")
    ax_tokens.set_ylabel("output tokens/s")
    lines = ax.get_legend_handles_labels()[0] + ax_tokens.get_legend_handles_labels()[0]
    ax.legend(lines, [h.get_label() for h in lines], loc="upper left", fontsize=8)
