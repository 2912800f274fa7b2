"""Pausing the cyclic garbage collector around work over a large, long-lived heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; the previous setting is restored.

    Loading and validating a large fleet allocate millions of small objects that stay
    alive (values, positions, models) and create almost no reference cycles. The
    collector's full passes over that heap took about 40% of the load time of 1000
    agents, and a full pass landing inside validation or not (an accident of allocation
    counts) moved cold validation by 0.3 s (bench/bench_load.py). Reference counting
    still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            # what the block allocated goes to the oldest generation unscanned: else the
            # first young collection after it walks all of it (1.2 s of 1000 agents' 7 s)
            gc.freeze()
            gc.unfreeze()
            gc.enable()
