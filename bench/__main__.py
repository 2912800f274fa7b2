"""Run the benchmarks: `python -m bench [NAME...] [--agents N] [--grants G] [--runs R]`."""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import platform
import sys
import time
from collections.abc import Callable

from bench import REGISTRY, RESULTS_DIR, Config, Result
from bench.calibrate import reference_ms

Runner = Callable[[Config], list[Result]]


def _format_value(result: Result) -> str:
    if result.unit in ("s",):
        return f"{result.value:.3f} {result.unit}"
    if result.unit == "MB":
        return f"{result.value:.1f} {result.unit}"
    return f"{result.value:g} {result.unit}"


def print_table(results: list[Result]) -> None:
    rows = [("benchmark", "measured", "target", "status")]
    rows += [(r.name, _format_value(r), r.target or "-", r.status) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * width for width in widths))
    for result in results:
        if result.note:
            print(f"  {result.name}: {result.note}")
    misses = [r.name for r in results if r.ok is False]
    if misses:
        print(f"\nMISS: {len(misses)} target(s) missed: {', '.join(misses)}")
    else:
        print("\nall targets met")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default all: {', '.join(REGISTRY)})"
    )
    parser.add_argument("--agents", type=int, default=Config.agents)
    parser.add_argument("--grants", type=int, default=Config.grants)
    parser.add_argument("--runs", type=int, default=Config.runs, help="warm runs (best of)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n.removeprefix("bench_") not in REGISTRY]
    if unknown:
        parser.error(
            f"unknown benchmark {', '.join(unknown)}; expected one of: {', '.join(REGISTRY)}"
        )
    names = [n.removeprefix("bench_") for n in args.names] or list(REGISTRY)
    config = Config(agents=args.agents, grants=args.grants, runs=max(1, args.runs))

    results: list[Result] = []
    failed: dict[str, str] = {}
    started = time.perf_counter()
    speed_before = reference_ms()
    for name in names:
        print(f"running {name} ...", flush=True)
        run: Runner = importlib.import_module(REGISTRY[name]).run
        try:
            results += run(config)
        except Exception as err:  # a broken benchmark is reported, the others still run
            failed[name] = f"{type(err).__name__}: {err}"
            results.append(Result(f"{name}.error", 0, "", "runs", False, failed[name]))
    speed_after = reference_ms()
    print()
    print_table(results)
    print(
        f"\nmachine speed: the reference workload took {speed_before:g} ms before and "
        f"{speed_after:g} ms after (bench/calibrate.py; lower is faster)"
    )

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "config": {"agents": config.agents, "grants": config.grants, "runs": config.runs},
        "benchmarks": names,
        "elapsed_s": round(time.perf_counter() - started, 3),
        "reference_ms": {"before": speed_before, "after": speed_after},
        "results": [r.to_dict() for r in results],
        "errors": failed,
    }
    out = RESULTS_DIR / "latest.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {out.relative_to(RESULTS_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
