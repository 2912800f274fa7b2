"""How fast this machine is right now: a fixed pure-Python workload, timed.

The same 2-core machine ran a plain loop 2-3x slower on some days than on others, so a
figure from one session cannot be read against another's without knowing which kind of
day it was. Every `python -m bench` run times this reference at its start and its end
and records both beside the results: divide two sessions' figures by their references
to compare them.
"""

from __future__ import annotations

import time

ITERATIONS = 1_000_000


def _workload() -> int:
    """Integer arithmetic, a dict and a list: the interpreter's common paths."""
    seen: dict[int, int] = {}
    total = 0
    for i in range(ITERATIONS):
        total += i * 3 % 7
        if i % 16 == 0:
            seen[i & 1023] = total
    return total + len(seen)


def reference_ms(repeats: int = 3) -> float:
    """The best of ``repeats`` timings of the workload, in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        _workload()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)
