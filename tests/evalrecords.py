"""Small factories of graded trials for the metrics, stats and results tests."""

from __future__ import annotations

from typing import Any

from reconciler.evals.grading import Failure, TrialStatus
from reconciler.evals.records import CaseResult, ToolCallSummary, TrajectorySummary
from reconciler.evals.types import Outcome, Violation
from reconciler.pricing import TokenUsage


def summary(
    calls: tuple[bool, ...] = (),
    cost: float = 0.0,
    latency: float = 1.0,
    output: str = "done",
) -> TrajectorySummary:
    """A trajectory summary with one tool call per entry of `calls` (True = succeeded)."""
    tool_calls = tuple(
        ToolCallSummary("ticketing.get_ticket", {"ticket_id": f"T-{i}"}, ok, None if ok else "x")
        for i, ok in enumerate(calls)
    )
    return TrajectorySummary(
        steps=len(calls) + 1,
        stop_reason="final",
        tool_calls=tool_calls,
        final_output=output,
        final_output_chars=len(output),
        usage=TokenUsage(100, 20),
        model_calls=len(calls) + 1,
        cost_usd=cost,
        latency_s=latency,
    )


def trial(
    case_id: str,
    status: TrialStatus = "passed",
    *,
    agent: str = "support-triage",
    suite: str = "routing",
    trial_no: int = 0,
    repeats: int = 1,
    tags: tuple[str, ...] = (),
    outcome: Outcome | None = "resolved",
    expected: Outcome | None = "resolved",
    must_never: bool = False,
    calls: tuple[bool, ...] = (True,),
    cost: float = 0.01,
    latency: float = 1.0,
    case_hash: str | None = None,
) -> CaseResult:
    violations = (Violation("must_never", "called billing.issue_refund", "no-refunds"),)
    failures = (Failure("outcome", "expected something else"),) if status == "failed" else ()
    not_run = status == "not_run"
    return CaseResult(
        agent=agent,
        suite=suite,
        case_id=case_id,
        trial=trial_no,
        repeats=repeats,
        tags=tags,
        status=status,
        reason="timeout" if not_run else (failures[0].message if failures else ""),
        outcome=None if not_run else outcome,
        expected_outcome=expected,
        failures=failures,
        violations=violations if must_never else (),
        trajectory=None if not_run else summary(calls, cost, latency),
        case_hash=case_hash,
    )


def trials(case_id: str, statuses: str, **kwargs: Any) -> list[CaseResult]:
    """One trial per letter: P passed, F failed, N not run; repeats = len(statuses)."""
    names: dict[str, TrialStatus] = {"P": "passed", "F": "failed", "N": "not_run"}
    return [
        trial(case_id, names[s], trial_no=i, repeats=len(statuses), **kwargs)
        for i, s in enumerate(statuses)
    ]
