"""One graded trial as plain data: what the results JSON holds per case and what metrics read.

Metrics, gates and statistics are computed from these records alone, so that shards
can be merged and the scores recomputed without the specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.evals.grading import Failure, Grade, TrialStatus
from reconciler.evals.safejson import JsonRefused, check_depth
from reconciler.evals.types import Outcome, StopReason, ToolCall, Trajectory, Violation
from reconciler.pricing import TokenUsage
from reconciler.spec.evalsuite import Case, EvalSuite

FINAL_OUTPUT_LIMIT = 2000  # characters of the final output kept in a record
ERROR_LIMIT = 500  # characters of an error message kept in a record

CaseKey = tuple[str, str, str]  # (agent, suite, case id)
TrialKey = tuple[str, str, str, int]  # (agent, suite, case id, trial)


@dataclass(frozen=True)
class ToolCallSummary:
    tool: str
    arguments: dict[str, Any]
    succeeded: bool
    error: str | None = None


@dataclass(frozen=True)
class TrajectorySummary:
    steps: int
    stop_reason: StopReason
    tool_calls: tuple[ToolCallSummary, ...]
    final_output: str  # truncated to FINAL_OUTPUT_LIMIT characters
    final_output_chars: int  # the length before truncation
    usage: TokenUsage  # summed over model calls
    model_calls: int
    cost_usd: float
    latency_s: float
    error: str | None = None


@dataclass(frozen=True)
class CaseResult:
    """One trial of one case for one agent, graded."""

    agent: str
    suite: str
    case_id: str
    trial: int
    repeats: int  # the k declared for this case
    tags: tuple[str, ...]
    status: TrialStatus
    reason: str
    outcome: Outcome | None
    expected_outcome: Outcome | None
    failures: tuple[Failure, ...] = ()
    violations: tuple[Violation, ...] = ()
    trajectory: TrajectorySummary | None = None
    case_hash: str | None = None  # identifies the case's content; pairs base and head

    @property
    def case_key(self) -> CaseKey:
        return (self.agent, self.suite, self.case_id)

    @property
    def key(self) -> TrialKey:
        return (self.agent, self.suite, self.case_id, self.trial)

    @property
    def graded(self) -> bool:
        """Passed or failed: counted in metrics. A not-run trial is not."""
        return self.status != "not_run"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def must_never_violated(self) -> bool:
        return any(v.kind == "must_never" for v in self.violations)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _call_summary(call: ToolCall) -> ToolCallSummary:
    error = None if call.error is None else _clip(call.error, ERROR_LIMIT)
    arguments = dict(call.arguments)
    # the sandbox refuses deeper arguments; a record must still serialise if one slips by
    try:
        check_depth(arguments)
    except JsonRefused as exc:
        arguments = {"_truncated": str(exc)}
    return ToolCallSummary(call.tool, arguments, call.succeeded, error)


def summarize(trajectory: Trajectory) -> TrajectorySummary:
    usages = [c.usage for c in trajectory.model_calls]
    usage = TokenUsage(
        input_tokens=sum(u.input_tokens for u in usages),
        output_tokens=sum(u.output_tokens for u in usages),
        cached_input_tokens=sum(u.cached_input_tokens for u in usages),
    )
    output = trajectory.final_output
    error = None if trajectory.error is None else _clip(trajectory.error, ERROR_LIMIT)
    return TrajectorySummary(
        steps=trajectory.steps,
        stop_reason=trajectory.stop_reason,
        tool_calls=tuple(_call_summary(c) for c in trajectory.tool_calls),
        final_output=_clip(output, FINAL_OUTPUT_LIMIT),
        final_output_chars=len(output),
        usage=usage,
        model_calls=len(trajectory.model_calls),
        cost_usd=trajectory.cost_usd,
        latency_s=trajectory.latency_s,
        error=error,
    )


def effective_tags(suite: EvalSuite, case: Case) -> tuple[str, ...]:
    """The suite's default tags, then the case's own, without repeats."""
    return tuple(dict.fromkeys([*suite.defaults.tags, *case.tags]))


def effective_repeats(suite: EvalSuite, case: Case) -> int:
    return case.repeats if case.repeats is not None else suite.defaults.repeats


def record(
    *,
    agent: str,
    suite: str,
    case: Case,
    trial: int,
    repeats: int,
    tags: Sequence[str],
    grade: Grade,
    trajectory: Trajectory | None,
    case_hash: str | None = None,
) -> CaseResult:
    """The record of one graded trial."""
    return CaseResult(
        agent=agent,
        suite=suite,
        case_id=case.id,
        trial=trial,
        repeats=repeats,
        tags=tuple(tags),
        status=grade.status,
        reason=grade.reason,
        outcome=grade.outcome,
        expected_outcome=case.expect.outcome,
        failures=grade.failures,
        violations=grade.violations,
        trajectory=None if trajectory is None else summarize(trajectory),
        case_hash=case_hash,
    )
