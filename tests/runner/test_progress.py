"""Progress lines read the tail of a history file Locust is still appending to."""

from __future__ import annotations

from loadgate.runner.progress import last_snapshot, progress_line

HEADER = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,"
          "99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,"
          "Total Median Response Time,Total Average Response Time,Total Min Response Time,"
          "Total Max Response Time,Total Average Content Size\n")
START = "1795926140,0,,Aggregated,0.0,0.0" + ",N/A" * 11 + ",0,0,0,0.0,0,0,0\n"
ENDPOINT = "1795926146,5,GET,/health,61.6,0.0" + ",7" * 11 + ",405,0,7,7.1,5.7,38.2,15.0\n"
AGG = "1795926146,5,,Aggregated,61.6,0.5" + ",9" * 11 + ",405,3,7,7.1,5.7,38.2,15.0\n"


def test_newest_complete_aggregated_row_wins(tmp_path):
    f = tmp_path / "locust_stats_history.csv"
    f.write_text(HEADER + START + ENDPOINT + AGG + "1795926147,6,,Aggreg")  # half-written
    snap = last_snapshot(f)
    assert (snap.users, snap.rps, snap.p95_ms, snap.requests, snap.failures) == (
        5, 61.6, 9.0, 405, 3)
    line = progress_line(12.3, snap)
    assert line.startswith("[   12s] users 5")
    assert "rps    61.6" in line and "p95     9 ms" in line and "failures 3 (0.74%)" in line


def test_nothing_yet_is_not_an_error(tmp_path):
    f = tmp_path / "locust_stats_history.csv"
    assert last_snapshot(f) is None  # not created yet
    f.write_text(HEADER[:40])  # header still being written
    assert last_snapshot(f) is None
    f.write_text(HEADER + START)  # N/A percentiles before the first response
    snap = last_snapshot(f)
    assert snap.users == 0 and snap.p95_ms is None
    assert "starting Locust" in progress_line(3, snap)
