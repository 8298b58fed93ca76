"""The one formatter for numbers in messages, reports and the verdict block."""

from __future__ import annotations


def fmt(value) -> str:
    """None -> "n/a"; ints as they are; floats to 4 significant digits, and large ones whole
    rather than in e-notation (12345.6 -> "12346", 0.01234 -> "0.01234", 500.0 -> "500")."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:.4g}"
        return f"{value:.0f}" if "e+" in text else text
    return str(value)
