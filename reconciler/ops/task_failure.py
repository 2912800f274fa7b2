"""When a production task failed: the one definition `alm ops check` grades by and
`alm ops promote` names every broken rule of (online.Grader keeps only the first).

Online a task has no expectations; it **fails** when a must-never rule is broken, the
invoke_agent span errored, `alm.task.success` is false, `alm.feedback` is negative, or
`alm.escalation.expected` disagrees with the outcome. A task with no label that finished
without error or violation passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reconciler.evals.grading import TrialStatus
from reconciler.evals.types import Outcome, Violation
from reconciler.ops.model import Task

FailureRule = Callable[[Task, Outcome, Sequence[Violation]], str | None]


def _broke_must_never(_: Task, __: Outcome, violations: Sequence[Violation]) -> str | None:
    broken = next((v for v in violations if v.kind == "must_never"), None)
    return None if broken is None else f"must-never violation: {broken.message}"


def _errored(task: Task, _: Outcome, __: Sequence[Violation]) -> str | None:
    return None if task.error is None else f"the task failed: {task.error}"


def _labelled_failure(task: Task, _: Outcome, __: Sequence[Violation]) -> str | None:
    return "labelled unsuccessful (alm.task.success false)" if task.success is False else None


def _negative_feedback(task: Task, _: Outcome, __: Sequence[Violation]) -> str | None:
    return "negative feedback (alm.feedback)" if task.feedback == "negative" else None


def _escalation_disagrees(task: Task, outcome: Outcome, _: Sequence[Violation]) -> str | None:
    expected = task.escalation_expected
    if expected is None or expected == (outcome == "escalated"):
        return None
    return f"expected {'an' if expected else 'no'} escalation, got outcome {outcome}"


# the order the first reason is chosen in: safety first, as in the evals' grading
FAILURE_RULES: tuple[FailureRule, ...] = (
    _broke_must_never,
    _errored,
    _labelled_failure,
    _negative_feedback,
    _escalation_disagrees,
)


def task_status(
    task: Task, outcome: Outcome, violations: Sequence[Violation]
) -> tuple[TrialStatus, str]:
    reasons = (rule(task, outcome, violations) for rule in FAILURE_RULES)
    first = next((r for r in reasons if r is not None), None)
    return ("passed", "") if first is None else ("failed", first)
