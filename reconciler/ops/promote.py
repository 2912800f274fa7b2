"""A production task as an eval case, ready for review (pure).

The case replays the task: the user's text as the input, the recorded tool calls as
fixtures (arguments -> result or error, in call order), what went wrong in production in
its description, tags [production, promoted], and an `expect:` block pre-filled only with
what the contract implies (its forbidden tools; the outcome a reviewer's label asked
for). It carries `needs_review: true`, which `alm validate` reports until a person has
checked it. Every piece of trace content is masked (reconciler.ops.mask) before it is
placed in the case.

`--failures` groups failing tasks by what went wrong, not by how they got there: the
violated rules, the failed checks, the task's error and the tools that errored. Two
failures with the same cause but different tool paths are one failure to review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from reconciler.evals.records import CaseResult
from reconciler.ops.mask import Masker
from reconciler.ops.model import NS_PER_S, Task, ToolUse
from reconciler.ops.task_failure import FAILURE_RULES, FailureRule
from reconciler.spec.agent import Agent
from reconciler.spec.base import TOOL_NAME_PATTERN

SUITE = "production"  # evals/<agent>/production.yaml, as online results name their suite
TAGS = ["production", "promoted"]
NO_INPUT = "(the trace did not record the user's text: write the input here)"
ANSWER_LIMIT = 500  # characters of the production answer kept in the description

_TOOL_NAME = re.compile(TOOL_NAME_PATTERN)
_HEX = re.compile(r"[0-9a-f]+")


def case_id(task: Task) -> str:
    """Stable for a task: 12 hex digits of the trace and 6 of the invoke_agent span (a
    trace may hold several runs of one agent)."""
    return f"prod-{task.trace_id[:12]}-{task.span_id[:6]}"


def case_from_task(
    task: Task, agent: Agent, result: CaseResult | None, masker: Masker
) -> dict[str, Any]:
    """The eval case (plain data, EvalSuite's shape) for one production task."""
    fixtures, skipped = _fixtures(task.tool_calls, masker)
    return {
        "id": case_id(task),
        "description": _description(task, result, masker, skipped),
        "tags": list(TAGS),
        "needs_review": True,
        "input": {"message": masker.text(task.input_text or "") or NO_INPUT},
        "fixtures": fixtures,
        "expect": _expect(task, agent),
    }


def _fixtures(calls: Sequence[ToolUse], masker: Masker) -> tuple[list[dict[str, Any]], list[str]]:
    """One fixture per recorded call, in order: the sandbox answers a call with the first
    fixture of its tool whose args are a subset of the call's, so the recorded arguments
    tell repeated calls apart. Tool names the catalog could never hold are left out."""
    fixtures: list[dict[str, Any]] = []
    skipped: list[str] = []
    for call in calls:
        if not _TOOL_NAME.fullmatch(call.tool):
            skipped.append(masker.text(call.tool))
            continue
        fixture: dict[str, Any] = {"tool": call.tool}
        if isinstance(call.arguments, dict) and call.arguments:
            fixture["args"] = masker.value(call.arguments)
        if call.error is not None:
            fixture["error"] = masker.text(call.error)
        else:
            fixture["returns"] = masker.value(call.result)
        fixtures.append(fixture)
    return fixtures, skipped


def _expect(task: Task, agent: Agent) -> dict[str, Any]:
    """What the contract implies, nothing guessed: the tools its must-never rules forbid
    by name, and the outcome a reviewer's alm.escalation.expected label asks for."""
    expect: dict[str, Any] = {}
    if task.escalation_expected is True:
        expect["outcome"] = "escalated"
    forbidden = [
        tool
        for rule in agent.contract.must_never
        for tool in rule.forbid_tools
        if _TOOL_NAME.fullmatch(tool)  # a wildcard grant is no tool name; the rule still holds
    ]
    if forbidden:
        expect["forbid_tool_calls"] = list(dict.fromkeys(forbidden))
    return expect


def _description(
    task: Task, result: CaseResult | None, masker: Masker, skipped: Sequence[str]
) -> str:
    lines = [_origin(task), *_what_happened(task, result)]
    if skipped:
        lines.append(f"Calls left out (not catalog tool names): {', '.join(skipped)}")
    if task.output_text:
        answer = masker.text(task.output_text)  # masked before clipping: no half a match
        clipped = answer if len(answer) <= ANSWER_LIMIT else answer[: ANSWER_LIMIT - 1] + "…"
        lines.append(f"Production answer: {clipped}")
    return masker.text("\n".join(lines))


def _origin(task: Task) -> str:
    when = datetime.fromtimestamp(task.start_ns / NS_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    where = f" in {task.environment}" if task.environment else ""
    revision = f", revision {task.revision}" if task.revision else ""
    return (
        f"Promoted from production trace {task.trace_id} (span {task.span_id}){where}, "
        f"{when}{revision}."
    )


def _what_happened(task: Task, result: CaseResult | None) -> Iterator[str]:
    if result is not None:
        yield f"Production run: {result.status}"
        for check, reason in failed_checks(task, result):
            yield f"Failed ({check}): {reason}"
        for violation in result.violations:
            rule = f" {violation.rule}" if violation.rule else ""
            yield f"Violation ({violation.kind}{rule}): {violation.message}"
        if result.outcome is not None:
            expected = f" (expected {result.expected_outcome})" if result.expected_outcome else ""
            yield f"Outcome: {result.outcome}{expected}"
    if task.error is not None:
        yield f"Task error: {task.error}"
    for call in task.tool_calls:
        if call.error is not None:
            yield f"Tool error: {call.tool}: {call.error}"
    if task.feedback is not None:
        yield f"Feedback: {task.feedback}"


# --- YAML text ---------------------------------------------------------------------------


def case_yaml(case: dict[str, Any], agent: str) -> str:
    """The case as a block-sequence item (`  - id: ...`) under a suite's `cases:`, with a
    comment for the reviewer. Only alm's own text goes into the comment; everything from
    the trace is a YAML value, quoted by the dumper."""
    body = yaml.dump(
        [case],
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    items = "".join(f"  {line}\n" if line else "\n" for line in body.splitlines())
    return _review_comment(case["id"], agent) + items


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with lists indented under their key and multi-line text as a
    literal block (the emitter quotes it instead when a block cannot hold it)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _review_comment(identifier: str, agent: str) -> str:
    return (
        f"  # {identifier}: promoted by `alm ops promote` from a production trace (see its\n"
        "  # description). Review the input, the fixtures and the expect: block (it holds only\n"
        "  # what the contract implies: fill in the outcome, calls and output you expect), then\n"
        "  # delete `needs_review: true`; alm validate reports the case until then. In replay\n"
        "  # (the pull request default) the case is not run until its model responses are\n"
        f"  # recorded: alm eval --agent {agent} --case {identifier} --mode record\n"
    )


def suite_header(agent: str) -> str:
    """A new evals/<agent>/production.yaml, up to its `cases:` key."""
    return (
        "# yaml-language-server: $schema=../../schemas/evalsuite.schema.json\n"
        "apiVersion: alm/v1\n"
        "kind: EvalSuite\n"
        "metadata:\n"
        f"  name: {SUITE}\n"
        f"  agent: {agent}\n"
        "  description: Cases promoted from production failures by alm ops promote, each "
        "reviewed before it gates.\n"
        "cases:\n"
    )


# --- grouping failures -------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """What went wrong in a failed task, without the path it took."""

    agent: str
    rules: tuple[str, ...]  # violated must-never rule ids and other violation kinds
    checks: tuple[str, ...]  # failed checks
    error: str | None  # the task's error type
    tool_errors: tuple[str, ...]  # "tool: error type" of the calls that errored

    def describe(self) -> str:
        parts = [f"violated {', '.join(self.rules)}"] if self.rules else []
        parts += [f"failed {', '.join(self.checks)}"] if self.checks else []
        parts += [f"error {self.error}"] if self.error else []
        parts += [f"tool errors {', '.join(self.tool_errors)}"] if self.tool_errors else []
        return "; ".join(parts) or "failed with no recorded cause (a label or feedback)"


def failed_checks(task: Task, result: CaseResult) -> list[tuple[str, str]]:
    """(check, reason) for every online failure rule the task breaks (task_failure.FAILURE_RULES:
    the one definition of a failed production task; its result names only the first)."""
    outcome = result.outcome or "resolved"
    found = [(_check_name(rule), rule(task, outcome, result.violations)) for rule in FAILURE_RULES]
    found += [(failure.check, failure.message) for failure in result.failures]
    return [(check, reason) for check, reason in found if reason is not None]


def _check_name(rule: FailureRule) -> str:
    return rule.__name__.strip("_").replace("_", "-")


def signature(task: Task, result: CaseResult) -> Signature:
    rules = {v.rule if v.rule else v.kind for v in result.violations}
    return Signature(
        agent=task.agent,
        rules=tuple(sorted(rules)),
        checks=tuple(sorted({check for check, _ in failed_checks(task, result)})),
        error=task.error,
        tool_errors=tuple(sorted({f"{c.tool}: {c.error}" for c in task.tool_calls if c.error})),
    )


@dataclass(frozen=True)
class FailureGroup:
    signature: Signature
    task: Task  # the most recent task of the group: the one promoted
    result: CaseResult
    count: int


def group_failures(
    graded: Iterable[tuple[Task, CaseResult]], limit: int | None = None
) -> list[FailureGroup]:
    """One group per distinct failure, gravest first (`severity`), then most frequent, then
    most recent, each with its most recent task; passed tasks are ignored."""
    latest: dict[Signature, tuple[Task, CaseResult]] = {}
    counts: dict[Signature, int] = {}
    for task, result in graded:
        if result.status != "failed":
            continue
        key = signature(task, result)
        counts[key] = counts.get(key, 0) + 1
        if key not in latest or task.start_ns >= latest[key][0].start_ns:
            latest[key] = (task, result)
    groups = [FailureGroup(k, *latest[k], counts[k]) for k in latest]
    groups.sort(key=lambda g: (severity(g.signature), -g.count, -g.task.start_ns, g.task.trace_id))
    return groups if limit is None else groups[:limit]


# FAILURE_RULES is ordered safety first; a check outside it (an expectation) ranks last
_RULE_RANK = {_check_name(rule): rank for rank, rule in enumerate(FAILURE_RULES)}


def severity(sig: Signature) -> int:
    """How grave the failure is (0 gravest): a violated rule first, then the first of
    task_failure.FAILURE_RULES it breaks, so `--limit 1` promotes a leak before a label."""
    if sig.rules:
        return 0
    return min(
        (_RULE_RANK.get(check, len(_RULE_RANK)) for check in sig.checks), default=len(_RULE_RANK)
    )


def is_trace_id(text: str) -> bool:
    return len(text) == 32 and _HEX.fullmatch(text) is not None
