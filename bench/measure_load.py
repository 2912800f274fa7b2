"""One measurement in a fresh interpreter, so the cold figures and the peak memory are honest.

    python -m bench.measure_load baseline
        import what a load needs, and report the interpreter's peak RSS.
    python -m bench.measure_load load REPO REF [REF...] [--runs N]
        load_ref + checks.validate each REF: once cold (the first load in this process,
        no warm-up), then N more times; report the cold time, each warm time (wall and
        this process's CPU, which excludes git and is steadier on a busy machine), and
        the peak RSS right after the cold run.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from reconciler.spec.checks import validate
from reconciler.spec.loader import ParseCache, load_ref


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def load_and_validate(root: Path, refs: list[str]) -> dict[str, Any]:
    load_s = validate_s = 0.0
    findings = 0
    agents = 0
    cache: ParseCache = {}  # as alm does for base and head of one pull request
    for ref in refs:
        start = time.perf_counter()
        state = load_ref(root, ref, cache)
        loaded = time.perf_counter()
        findings += len(validate(state))
        validate_s += time.perf_counter() - loaded
        load_s += loaded - start
        agents += len(state.agents)
        del state
    return {"load_s": load_s, "validate_s": validate_s, "findings": findings, "agents": agents}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.measure_load")
    parser.add_argument("mode", choices=["baseline", "load"])
    parser.add_argument("repo", nargs="?")
    parser.add_argument("refs", nargs="*")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.mode == "baseline":
        print(json.dumps({"peak_rss_mb": peak_rss_mb()}))
        return 0
    if not args.repo or not args.refs:
        parser.error("load expects REPO and at least one REF")
    root = Path(args.repo)
    start, cpu = time.perf_counter(), time.process_time()
    cold = load_and_validate(root, args.refs)
    cold["total_s"] = time.perf_counter() - start
    cold["cpu_s"] = time.process_time() - cpu
    peak = peak_rss_mb()
    gc.collect()
    warm, warm_cpu = [], []
    for _ in range(args.runs):
        start, cpu = time.perf_counter(), time.process_time()
        load_and_validate(root, args.refs)
        warm.append(time.perf_counter() - start)
        warm_cpu.append(time.process_time() - cpu)
        gc.collect()
    print(json.dumps({"cold": cold, "warm_s": warm, "warm_cpu_s": warm_cpu, "peak_rss_mb": peak}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
