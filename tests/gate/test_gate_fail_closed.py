"""Broken result sets never pass: each variant of a real CSV set -> Error, one clear sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadgate.gate import EXIT_CODES, ResultsUnusable, analyze
from loadgate.gate.csvread import read_results
from loadgate.spec import Thresholds

LENIENT = Thresholds(p95_ms=10_000, max_error_rate=1.0)  # would pass any usable run


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _edit_agg(path: Path, column: str, value: str) -> None:
    lines = _lines(path)
    header = lines[0].rstrip("\r\n").split(",")
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.rstrip("\r\n").split(",")
        if cells[1] == "Aggregated":
            cells[header.index(column)] = value
        out.append(",".join(cells) + "\n")
    path.write_text("".join(out))


def missing_stats(p):
    Path(p + "_stats.csv").unlink()


def empty_stats(p):
    Path(p + "_stats.csv").write_text("")


def header_only(p):
    f = Path(p + "_stats.csv")
    f.write_text(_lines(f)[0])


def no_aggregated(p):
    f = Path(p + "_stats.csv")
    f.write_text("".join(line for line in _lines(f) if ",Aggregated," not in line))


def cut_mid_line(p):
    f = Path(p + "_stats.csv")
    data = f.read_bytes()
    f.write_bytes(data[: len(data) - 15])  # the last row loses its tail, no newline


def short_row(p):
    f = Path(p + "_stats.csv")
    lines = _lines(f)
    lines[1] = ",".join(lines[1].split(",")[:-4]) + "\n"  # a row with too few fields
    f.write_text("".join(lines))


def na_in_number(p):
    _edit_agg(Path(p + "_stats.csv"), "95%", "N/A")


def zero_requests(p):
    f = Path(p + "_stats.csv")
    _edit_agg(f, "Request Count", "0")


def wrong_file(p):
    Path(p + "_stats.csv").write_text("a,b,c\n1,2,3\n")


def history_empty(p):
    Path(p + "_stats_history.csv").write_text("")


def history_cut(p):
    f = Path(p + "_stats_history.csv")
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


def history_na(p):
    f = Path(p + "_stats_history.csv")
    lines = _lines(f)
    cells = lines[-1].rstrip("\r\n").split(",")
    cells[6] = "N/A"  # the 50% column of a row that has requests
    lines[-1] = ",".join(cells) + "\n"
    f.write_text("".join(lines))


def history_of_another_run(p):
    f = Path(p + "_stats_history.csv")
    lines = _lines(f)
    f.write_text("".join(lines[: len(lines) // 2]))  # complete lines, but stops half-way


def missing_failures(p):
    Path(p + "_failures.csv").unlink()


def missing_exceptions(p):
    Path(p + "_exceptions.csv").unlink()


BROKEN = {
    missing_stats: r"_stats\.csv was not found",
    empty_stats: r"_stats\.csv is empty",
    header_only: r"_stats\.csv has a header but no rows",
    no_aggregated: r"no 'Aggregated' row",
    cut_mid_line: r"ends in the middle of a line",
    short_row: r"line 2 has \d+ fields instead of 22",
    na_in_number: r"'N/A' in column '95%'",
    zero_requests: r"(zero requests|inconsistent)",
    wrong_file: r"not a Locust CSV",
    history_empty: r"_stats_history\.csv is empty",
    history_cut: r"_stats_history\.csv (ends in the middle|line \d+ has)",
    history_na: r"_stats_history\.csv line \d+ has 'N/A' in column '50%'",
    history_of_another_run: r"stopped before its final write or the files come from",
    missing_failures: r"_failures\.csv was not found",
    missing_exceptions: r"_exceptions\.csv was not found",
}


@pytest.mark.parametrize("breaker", list(BROKEN), ids=[f.__name__ for f in BROKEN])
def test_broken_results_are_an_error_with_one_sentence(csv_copy, breaker, tmp_path):
    assert analyze("ok", csv_copy, LENIENT)["verdict"] == "Pass"  # usable before the damage
    breaker(csv_copy)
    with pytest.raises(ResultsUnusable) as exc:
        read_results(csv_copy)
    out = tmp_path / "out"
    summary = analyze("broken", csv_copy, LENIENT, out_dir=out)
    assert summary["verdict"] == "Error"
    assert EXIT_CODES[summary["verdict"]] == 2
    reason = summary["reason"]
    assert reason == str(exc.value)
    assert re.search(BROKEN[breaker], reason), reason
    assert "\n" not in reason and reason.endswith(".")
    # the reports still say what happened
    assert (out / "summary.json").exists() and "Verdict: ERROR" in (out / "summary.md").read_text()


def test_zero_requests_everywhere(csv_copy):
    """A run that never reached the target: every row at zero requests."""
    f = Path(csv_copy + "_stats.csv")
    header = _lines(f)[0]
    f.write_text(header + ",Aggregated,0,0,0,0.0,0,0,0.0,0.0,0.0,"
                 + ",".join(["N/A"] * 11) + "\n")
    summary = analyze("zero", csv_copy, LENIENT)
    assert summary["verdict"] == "Error"
    assert "zero requests" in summary["reason"]


URI_ERROR = "invalid request URI '//embed': protocol-relative targets are not origin-form"


def _exceptions(prefix: str, *rows: tuple[int, str]) -> None:
    """Locust's exceptions file with these (count, message) rows (a traceback each)."""
    body = "".join(f'{n},{msg},"  File ""task.py"", line 1\n    boom",local\n' for n, msg in rows)
    Path(prefix + "_exceptions.csv").write_text("Count,Message,Traceback,Nodes\n" + body)


def test_zero_requests_quote_the_most_frequent_exception(csv_copy):
    """A trailing-slash target once sent every request to //embed: Locust raised in its
    tasks, recorded no request, and the reason must say what it raised."""
    test_zero_requests_everywhere(csv_copy)
    _exceptions(csv_copy, (3, "ConnectionResetError(104)"), (38, URI_ERROR))
    reason = analyze("zero", csv_copy, LENIENT)["reason"]
    assert "zero requests" in reason
    assert f"(38 times, locust_exceptions.csv): {URI_ERROR}." in reason, reason
    assert "\n" not in reason


def test_more_exceptions_than_requests_is_no_pass(csv_copy):
    """Almost no requests: most tasks crashed, the few recorded ones must not pass the gate."""
    requests = read_results(csv_copy).total.requests
    _exceptions(csv_copy, (requests + 5, URI_ERROR))
    summary = analyze("crashing", csv_copy, LENIENT)
    assert summary["verdict"] == "Error"
    assert f"{requests + 5} exceptions in Locust's tasks against only {requests}" in \
        summary["reason"]
    assert URI_ERROR in summary["reason"]
    _exceptions(csv_copy, (requests - 1, URI_ERROR))  # fewer than requests: judged as usual
    assert analyze("some", csv_copy, LENIENT)["verdict"] == "Pass"


def test_history_may_be_absent(csv_copy):
    Path(csv_copy + "_stats_history.csv").unlink()
    summary = analyze("nohist", csv_copy, LENIENT)
    assert summary["verdict"] == "Pass"
    assert summary["breakingPoint"]["found"] is False
    assert "no stats history" in summary["breakingPoint"]["reason"]
    assert any("absent" in n for n in summary["notes"])


def test_an_endpoint_without_requests_may_have_na(csv_copy):
    """N/A is fine where there is nothing to measure (0 requests), an error anywhere else."""
    f = Path(csv_copy + "_stats.csv")
    lines = _lines(f)
    header_len = len(lines[0].split(","))
    idle = ",".join(["GET", "/idle", "0", "0", "0", "0", "0", "0", "0", "0.0", "0.0"]
                    + ["N/A"] * (header_len - 11)) + "\n"
    f.write_text(lines[0] + idle + "".join(lines[1:]))
    s = analyze("idle", csv_copy, LENIENT)
    assert s["verdict"] == "Pass", s["reason"]
    assert any(e["name"] == "/idle" and e["requests"] == 0 for e in s["endpoints"])


def test_garbage_bytes_are_an_error(csv_copy):
    f = Path(csv_copy + "_stats.csv")
    f.write_bytes(f.read_bytes().replace(b"Aggregated", b"Aggre\x00gated"))
    s = analyze("nul", csv_copy, LENIENT)
    assert s["verdict"] == "Error" and "_stats.csv" in s["reason"]
