"""The failing and not-run cases of one agent, with what went wrong (pure).

A case is listed when it failed or is flaky at head (newly failing when it passed on
base), or when a trial of it could not run on either side. Each entry carries the
failed trial's reason, the expectations that did not hold (expected vs got), the
must-never rule it violated, and its last tool calls with their arguments as JSON.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from reconciler.evals.records import CaseResult, ToolCallSummary
from reconciler.evals.regression_checks import case_state
from reconciler.plan.model import CaseEntry, ToolCallEntry
from reconciler.wording import plural

LAST_CALLS = 5  # tool calls shown per case, the last ones
ARGUMENTS_CHARS = 300  # of a call's arguments as JSON
OUTPUT_CHARS = 500  # of the final output shown as what the agent answered


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def by_case(trials: Sequence[CaseResult]) -> dict[str, list[CaseResult]]:
    grouped: dict[str, list[CaseResult]] = defaultdict(list)
    for trial in trials:
        grouped[f"{trial.suite}/{trial.case_id}"].append(trial)
    return grouped


def _call(call: ToolCallSummary) -> ToolCallEntry:
    arguments = json.dumps(call.arguments, sort_keys=True, ensure_ascii=False, default=str)
    error = None if call.error is None else clip(call.error, ARGUMENTS_CHARS)
    return ToolCallEntry(
        tool=call.tool,
        arguments=clip(arguments, ARGUMENTS_CHARS),
        succeeded=call.succeeded,
        error=error,
    )


def _got(trial: CaseResult) -> str | None:
    summary = trial.trajectory
    if summary is None:
        return None
    output = clip(summary.final_output, OUTPUT_CHARS) if summary.final_output else "no answer"
    return f"outcome {trial.outcome}: {output}"


def _expected(trial: CaseResult) -> str | None:
    held = [f.message for f in trial.failures if f.check != "must_never"]
    return "; ".join(held) or None


def _rule(trial: CaseResult) -> str | None:
    rules = [f"{v.rule}: {v.message}" for v in trial.violations if v.kind == "must_never"]
    return "; ".join(rules) or None


def _trials(trial: CaseResult) -> list[ToolCallEntry]:
    calls = trial.trajectory.tool_calls if trial.trajectory else ()
    return [_call(c) for c in calls[-LAST_CALLS:]]


def failing_entry(case: str, trials: Sequence[CaseResult], newly: bool) -> CaseEntry:
    """A case that failed (every graded trial) or is flaky at head."""
    failed = next(t for t in trials if t.status == "failed")
    state = case_state(trials)
    reason = failed.reason
    if state == "flaky":
        passed = sum(t.passed for t in trials)
        reason = f"{passed} of {plural(sum(t.graded for t in trials), 'trial')} passed; {reason}"
    return CaseEntry(
        case=case,
        state="flaky" if state == "flaky" else "failed",
        newly_failing=newly,
        reason=reason,
        expected=_expected(failed),
        got=_got(failed),
        rule=_rule(failed),
        last_tool_calls=_trials(failed),
    )


def not_run_entry(case: str, trials: Sequence[CaseResult], side: str) -> CaseEntry:
    missed = [t for t in trials if not t.graded]
    total = plural(len(trials), "trial")
    reason = f"{len(missed)} of {total} could not run on {side}: {missed[0].reason}"
    return CaseEntry(case=case, state="not_run", newly_failing=False, reason=reason)


def case_entries(base: Sequence[CaseResult], head: Sequence[CaseResult]) -> list[CaseEntry]:
    """Not-run cases first (they block), then newly failing, then the other failing ones."""
    before, after = by_case(base), by_case(head)
    not_run, failing = [], []
    for case in sorted(after):
        trials = after[case]
        if any(not t.graded for t in trials):
            not_run.append(not_run_entry(case, trials, "head"))
        elif case_state(trials) in ("failed", "flaky"):
            newly = case in before and case_state(before[case]) == "passed"
            failing.append(failing_entry(case, trials, newly))
        if case in before and any(not t.graded for t in before[case]):
            not_run.append(not_run_entry(case, before[case], "base"))
    failing.sort(key=lambda e: not e.newly_failing)
    return [*not_run, *failing]
