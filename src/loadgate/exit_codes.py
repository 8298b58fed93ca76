"""Exit codes of every loadgate command, in one table: the verdict is the exit code.

`loadgate run`: 0 Pass, 1 Fail, 2 Error (also: target never ready, port taken, results
unusable, run interrupted), 3 Invalid (a bad LoadTest, override or command line, or a saturated
load generator).
`loadgate serve`, `loadgate operator`: 2 when they cannot start (settings, port, kubeconfig).
`loadgate gate`: the same (bad input is 2: the results cannot be judged).
`loadgate wait`: 0 Pass, 1 Fail, 2 anything else (Error, Invalid, Failed phase, timeout).
`loadgate export`: 2 when the export cannot be made (settings, model, cache directory).
"""

from __future__ import annotations

EXIT_CODES = {"Pass": 0, "Fail": 1, "Error": 2, "Invalid": 3}
ERROR = EXIT_CODES["Error"]
# `loadgate wait` gates a deployment: Invalid numbers are no verdict either
WAIT_EXIT_CODES = {**EXIT_CODES, "Invalid": ERROR}
