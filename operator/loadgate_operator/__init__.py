"""The loadgate kopf operator: a LoadTest custom resource becomes Locust Jobs and a verdict.

`kopf run -m loadgate_operator` (or `loadgate operator`) loads the handlers below.
"""

from loadgate_operator import handlers as handlers  # noqa: F401  (registers kopf handlers)
