"""The one number formatter of messages and reports."""

from loadgate.numbers import fmt


def test_fmt():
    assert [fmt(v) for v in (None, 3, 500.0, 43.333, 0.01234, 12345.6, True)] == [
        "n/a", "3", "500", "43.33", "0.01234", "12346", "True"]
