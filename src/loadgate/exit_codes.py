"""Exit codes of every loadgate command, in one table: the verdict is the exit code.

`loadgate run`: 0 Pass, 1 Fail, 2 Error (also: target never ready, port taken, results
unusable), 3 Invalid (a bad LoadTest or override, or a saturated load generator).
`loadgate gate`: the same (bad input is 2: the results cannot be judged).
`loadgate wait`: 0 Pass, 1 Fail, 2 anything else (Error, Invalid, Failed phase, timeout).
"""

from __future__ import annotations

EXIT_CODES = {"Pass": 0, "Fail": 1, "Error": 2, "Invalid": 3}
ERROR = EXIT_CODES["Error"]
# `loadgate wait` gates a deployment: Invalid numbers are no verdict either
WAIT_EXIT_CODES = {**EXIT_CODES, "Invalid": ERROR}
