"""Online metrics: a production task is graded as an eval trial, and the metrics of a
window are the evals' metrics (reconciler.ops.online)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.evals import grading, records
from reconciler.evals.metrics import compute
from reconciler.evals.sandbox import Sandbox
from reconciler.evals.types import ModelCall, Trajectory
from reconciler.ops.model import NS_PER_S, ModelUse, Span, Task, ToolUse
from reconciler.ops.online import labelled, priced, to_result, window_metrics
from reconciler.ops.tracegen import ModelStep, Recorder, TaskSpec, ToolStep
from reconciler.pricing import PriceBook, TokenUsage
from reconciler.spec.agent import Agent
from tests import evals_support as es

REVISION = "sha256:" + "1" * 64
START = 1_790_000_000 * NS_PER_S
MODEL = ModelStep(input_tokens=900, output_tokens=150, duration_s=0.75)
ESCALATION = {"tool": "human.escalate", "when": ["billing dispute"]}


def triage() -> Agent:
    contract = {**es.AGENT["contract"], "escalation": ESCALATION}
    return es.agent(contract=contract)


@dataclass(frozen=True)
class Scenario:
    calls: tuple[tuple[str, dict[str, Any]], ...]
    output: str
    expect: str  # the case's expected outcome


SCENARIOS = (
    Scenario(
        (
            ("ticketing.get_ticket", {"ticket_id": "TCK-1"}),
            ("human.escalate", {"summary": "a dispute"}),
        ),
        "Escalated to tier 2.",
        "escalated",
    ),
    Scenario(
        (
            ("ticketing.get_ticket", {"ticket_id": "TCK-2"}),
            ("ticketing.update_ticket", {"ticket_id": "TCK-2", "queue": "billing"}),
        ),
        "Routed to billing.",
        "escalated",
    ),
    Scenario((("billing.issue_refund", {"amount": 5}),), "Refunded.", "resolved"),
    Scenario((("crm.update_record", {"id": "A-1"}),), "I can't change that record.", "refused"),
    Scenario(
        (("ticketing.update_ticket", {"ticket_id": "TCK-1", "queue": "legal"}),),
        "Routed.",
        "resolved",
    ),
    Scenario((), "Routed to tech.", "resolved"),
    Scenario((("human.escalate", {"summary": "the customer wants a human"}),), "Done.", "resolved"),
)


# --- offline: the sandbox and the grader, as alm eval runs them ------------------------


def offline_trajectory(scenario: Scenario, agent: Agent, prices: PriceBook) -> Trajectory:
    sandbox = Sandbox(agent, es.catalog(), es.case().fixtures)
    calls = [sandbox.call(f"c{i}", tool, args) for i, (tool, args) in enumerate(scenario.calls)]
    usage = TokenUsage(MODEL.input_tokens, MODEL.output_tokens)
    cost = prices.cost_usd(MODEL.provider, MODEL.model, usage)
    models = [
        ModelCall(MODEL.provider, MODEL.model, usage, MODEL.duration_s, cost)
        for _ in range(len(calls) + 1)
    ]
    # the recorder's timeline: 10 ms in, a chat before each tool call and one after, 5 ms out
    step_ns = [int(MODEL.duration_s * NS_PER_S)] * len(models)
    tool_ns = [int(ToolStep("x").duration_s * NS_PER_S)] * len(calls)
    latency = (10_000_000 + sum(step_ns) + sum(tool_ns) + 5_000_000) / NS_PER_S
    return Trajectory(
        tool_calls=calls,
        final_output=scenario.output,
        model_calls=models,
        latency_s=latency,
        steps=len(models),
    )


def offline_results(agent: Agent, prices: PriceBook) -> list[records.CaseResult]:
    found = []
    for number, scenario in enumerate(SCENARIOS):
        case = es.case(id=f"s{number}", expect={"outcome": scenario.expect})
        path = offline_trajectory(scenario, agent, prices)
        grade = grading.grade(case, agent.contract, path)
        kept = records.record(
            agent=agent.name, suite="s", case=case, trial=0, repeats=1, tags=(),
            grade=grade, trajectory=path,
        )  # fmt: skip
        found.append(kept)
    return found


# --- online: the same runs as OpenTelemetry traces -------------------------------------


def record_traces(agent: Agent, graded: list[records.CaseResult]) -> Recorder:
    recorder = Recorder("prod")
    for number, (scenario, result) in enumerate(zip(SCENARIOS, graded, strict=True)):
        sandbox = Sandbox(agent, es.catalog(), es.case().fixtures)
        steps = []
        for tool, args in scenario.calls:
            call = sandbox.call("c", tool, args)
            steps.append(ToolStep(tool, error=call.error, arguments=args, result=call.result))
        recorder.record(
            TaskSpec(
                agent=agent.name,
                revision=REVISION,
                start_ns=START + number * 60 * NS_PER_S,
                tools=steps,
                model=MODEL,
                output_text=scenario.output,
                success=result.passed,  # the business label agrees with the evals' verdict
                escalation_expected=scenario.expect == "escalated",
            )
        )
    return recorder


def tasks_from(recorder: Recorder, agents: list[str]) -> list[Task]:
    """The traces read back as alm reads them: OTLP JSON lines, then assembled per trace."""
    otlp = pytest.importorskip("reconciler.ops.otlp")
    assemble = pytest.importorskip("reconciler.ops.assemble")
    by_trace: defaultdict[str, list[Span]] = defaultdict(list)
    for item in otlp.read_lines(recorder.lines(), "traces.jsonl"):
        assert isinstance(item, Span), item
        by_trace[item.trace_id].append(item)
    tasks: list[Task] = []
    for spans in by_trace.values():
        found, bad = assemble.assemble(spans, agents)
        assert not bad
        tasks.extend(found)
    return tasks


def test_a_trace_and_an_eval_trial_of_the_same_run_give_identical_metrics() -> None:
    agent, prices = triage(), PriceBook()
    offline = offline_results(agent, prices)
    assert {r.status for r in offline} == {"passed", "failed"}  # the scenarios differ
    tasks = tasks_from(record_traces(agent, offline), [agent.name])
    assert len(tasks) == len(SCENARIOS)
    online = window_metrics(tasks, {agent.name: agent}, prices, es.catalog())
    assert list(online) == [(agent.name, REVISION)]
    expected = compute(offline)
    assert online[(agent.name, REVISION)] == expected
    assert expected.tool_call_success_rate.total == 8 and expected.escalation_precision.total == 2
    assert 0 < expected.policy_compliance.value < 1 and expected.cost_per_task_usd


# --- single tasks ----------------------------------------------------------------------


def task(
    *tools: ToolUse,
    output: str = "Routed.",
    models: tuple[ModelUse, ...] = (ModelUse("m" * 16, "openai", "gpt-4.1-mini", 800, 100),),
    **labels: Any,
) -> Task:
    return Task(
        "a" * 32, "b" * 16, "triage", REVISION, "prod", START, START + 2 * NS_PER_S,
        model_calls=models, tool_calls=tools, output_text=output, **labels,
    )  # fmt: skip


def test_an_unlabelled_task_that_finished_cleanly_passes() -> None:
    result = to_result(task(ToolUse("t" * 16, "ticketing.get_ticket")), triage(), PriceBook())
    assert result.status == "passed" and result.outcome == "resolved"
    assert result.case_id == "a" * 32 + ":" + "b" * 16 and result.suite == "production"
    assert result.trajectory is not None and result.trajectory.latency_s == 2.0


@pytest.mark.parametrize(
    ("the_task", "reason"),
    [
        (task(ToolUse("t" * 16, "billing.issue_refund")), "must-never violation"),
        (task(error="Timeout"), "the task failed: Timeout"),
        (task(success=False), "alm.task.success false"),
        (task(feedback="negative"), "negative feedback"),
        (task(escalation_expected=True), "expected an escalation, got outcome resolved"),
        (task(outcome="escalated", escalation_expected=False), "expected no escalation"),
    ],
)
def test_what_fails_a_task_online(the_task: Task, reason: str) -> None:
    result = to_result(the_task, triage(), PriceBook())
    assert result.status == "failed" and reason in result.reason


def test_an_ungranted_tool_is_a_violation_and_a_failed_call() -> None:
    result = to_result(task(ToolUse("t" * 16, "crm.update_record")), triage(), PriceBook())
    assert [v.kind for v in result.violations] == ["ungranted"]
    assert result.trajectory is not None and not result.trajectory.tool_calls[0].succeeded
    assert result.status == "passed"  # not a must-never rule: it costs tool-call success only


def test_arguments_are_checked_only_when_recorded() -> None:
    bad = ToolUse("t" * 16, "ticketing.update_ticket", arguments={"ticket_id": "1", "queue": "x"})
    unseen = ToolUse("u" * 16, "ticketing.update_ticket")
    result = to_result(task(bad, unseen), triage(), PriceBook(), es.catalog())
    assert result.trajectory is not None
    assert [c.succeeded for c in result.trajectory.tool_calls] == [False, True]
    assert {v.kind for v in result.violations} == {"arguments", "constraint"}


def test_the_escalation_tool_makes_the_outcome_escalated() -> None:
    result = to_result(task(ToolUse("t" * 16, "human.escalate")), triage(), PriceBook())
    assert result.outcome == "escalated"


def test_an_unpriced_model_is_never_priced_at_zero() -> None:
    unknown = ModelUse("m" * 16, "acme", "acme-llm-9", 800, 100)
    tasks = [task(), task(models=(unknown,))]
    result = to_result(tasks[1], triage(), PriceBook())
    assert not priced(result) and result.trajectory is not None
    assert math.isnan(result.trajectory.cost_usd)
    metrics = window_metrics(tasks, {"triage": triage()}, PriceBook())[("triage", REVISION)]
    alone = to_result(tasks[0], triage(), PriceBook()).trajectory
    assert alone is not None and metrics.cost_per_task_usd == alone.cost_usd > 0


def test_escalation_precision_counts_labelled_tasks_only() -> None:
    escalate = ToolUse("t" * 16, "human.escalate")
    tasks = [
        task(escalate, escalation_expected=True),
        task(escalate, escalation_expected=False),
        task(escalate),  # no label: neither a hit nor a miss
    ]
    results = [to_result(t, triage(), PriceBook()) for t in tasks]
    assert [labelled(r) for r in results] == [True, True, False]
    metrics = window_metrics(tasks, {"triage": triage()}, PriceBook())[("triage", REVISION)]
    assert metrics.escalation_precision.total == 2 and metrics.escalation_precision.value == 0.5
    assert metrics.task_success_rate.total == 3


def test_window_metrics_group_by_revision_and_skip_unknown_agents() -> None:
    other = Task("c" * 32, "d" * 16, "triage", None, "prod", START, START + NS_PER_S)
    stranger = Task("e" * 32, "f" * 16, "nobody", REVISION, "prod", START, START + NS_PER_S)
    found = window_metrics([task(), other, stranger], {"triage": triage()}, PriceBook())
    assert set(found) == {("triage", REVISION), ("triage", None)}
