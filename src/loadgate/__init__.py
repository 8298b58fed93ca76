"""loadgate: repeatable load tests and a pass/fail gate for ML model HTTP APIs."""

__version__ = "0.1.0"
