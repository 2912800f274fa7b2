"""What a results file's schema cannot say by shape alone (docs/results-schema.md,
"Validation"): a possible shard, and trials whose numbers and status agree.

A results file comes from elsewhere (another job's artifact, a shard): each rule says
what was expected, and never echoes a long value.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.evals.records import CaseResult

MAX_SHARDS = 10_000  # more shards than a CI matrix could ever run is a forged file


def short(value: Any) -> str:
    """A value as JSON, cut to 20 characters (a forged number may have thousands of digits)."""
    if isinstance(value, int) and abs(value) >= 10**20:
        return "a huge number"
    simple = isinstance(value, (int, float, str, bool)) or value is None
    text = json.dumps(value) if simple else type(value).__name__
    return text if len(text) <= 20 else text[:19] + "…"


def shard_problem(index: int, count: int) -> str | None:
    if 1 <= index <= count <= MAX_SHARDS:
        return None
    return (
        f"{short(index)}/{short(count)} is impossible; expected 1 <= index <= count <= {MAX_SHARDS}"
    )


_NON_NEGATIVE = ("steps", "final_output_chars", "model_calls", "cost_usd", "latency_s")


def case_problem(case: CaseResult) -> str | None:
    if case.status == "passed" and case.failures:
        return "status passed with failures; expected no failures"
    if case.status == "failed" and not case.failures:
        return "status failed without a failure; expected at least one"
    if case.status == "not_run" and case.failures:
        return "status not_run with failures; expected failed"
    if not 0 <= case.trial < case.repeats:
        trial, repeats = short(case.trial), short(case.repeats)
        return f"trial {trial} of {repeats} repeats; expected 0 <= trial < repeats"
    summary = case.trajectory
    if summary is None:
        return None
    usage = summary.usage
    counts = (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens)
    values = (*(getattr(summary, name) for name in _NON_NEGATIVE), *counts)
    if any(value < 0 for value in values):
        return "a negative count, cost or latency in trajectory; expected numbers >= 0"
    return None
