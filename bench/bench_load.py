"""Loading and validating a large fleet from git refs.

(a) one ref: `load_ref` + `checks.validate` of N agents x G grants (default 1000 x 20):
    cold first run and best of 3 (target < 2 s), peak RSS (target < 300 MB), and
    the increase over an interpreter that only imported reconciler;
(b) one pull request: base and head loaded and validated (target < 4 s).

Each measurement runs in a fresh interpreter (bench.measure_load), so "cold" really
is the first load in its process and the peak RSS is that of one load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench import PROJECT_ROOT, Config, Result, below
from bench.fleet import BASE_TAG, HEAD_TAG, cached_fleet

LOAD_TARGET_S = 2.0
PR_TARGET_S = 4.0
PEAK_TARGET_MB = 300.0


def _measure(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.measure_load", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.measure_load {args[0]} failed:\n{done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _runs(measured: dict[str, Any]) -> str:
    wall = ", ".join(f"{t:.2f}" for t in measured["warm_s"])
    cpu = ", ".join(f"{t:.2f}" for t in measured["warm_cpu_s"])
    return f"after the cold run, same process: wall {wall} s; CPU {cpu} s"


def run(config: Config) -> list[Result]:
    start = time.perf_counter()
    fleet, reused = cached_fleet(config.cache, config.agents, config.grants)
    generated = time.perf_counter() - start
    size = f"{config.agents} agents x {config.grants} grants"
    results = [
        Result(
            "fleet.prepare",
            generated,
            "s",
            note=f"{size}, {'reused from cache' if reused else 'generated'}: {fleet.root}",
        )
    ]

    baseline = _measure("baseline")["peak_rss_mb"]
    one = _measure("load", str(fleet.root), HEAD_TAG, "--runs", str(config.runs))
    pr = _measure("load", str(fleet.root), BASE_TAG, HEAD_TAG, "--runs", str(config.runs))

    cold = one["cold"]
    results += [
        Result(
            "fleet.findings",
            cold["findings"] + pr["cold"]["findings"],
            "findings",
            "== 0",
            cold["findings"] == 0 and pr["cold"]["findings"] == 0,
            f"{cold['agents']} agents loaded; a non-zero count means the fleet is broken",
        ),
        below(
            "load.cold",
            cold["total_s"],
            "s",
            LOAD_TARGET_S,
            f"first run in a fresh process: load {cold['load_s']:.2f} s"
            f" + validate {cold['validate_s']:.2f} s; CPU {cold['cpu_s']:.2f} s",
        ),
        below(
            f"load.best_of_{config.runs}",
            min(one["warm_s"]),
            "s",
            LOAD_TARGET_S,
            _runs(one),
        ),
        below(
            "load.peak_rss",
            one["peak_rss_mb"],
            "MB",
            PEAK_TARGET_MB,
            "ru_maxrss of a fresh process after one load + validate",
        ),
        Result(
            "load.peak_rss_over_baseline",
            one["peak_rss_mb"] - baseline,
            "MB",
            note=f"over {baseline:.0f} MB for an interpreter that only imported reconciler",
        ),
        below(
            "pr.cold",
            pr["cold"]["total_s"],
            "s",
            PR_TARGET_S,
            f"base + head, fresh process: load {pr['cold']['load_s']:.2f} s"
            f" + validate {pr['cold']['validate_s']:.2f} s; CPU {pr['cold']['cpu_s']:.2f} s",
        ),
        below(
            f"pr.best_of_{config.runs}",
            min(pr["warm_s"]),
            "s",
            PR_TARGET_S,
            _runs(pr),
        ),
        Result(
            "pr.peak_rss",
            pr["peak_rss_mb"],
            "MB",
            note="ru_maxrss of a fresh process after loading and validating both refs",
        ),
    ]
    return results
