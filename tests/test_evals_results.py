from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reconciler.errors import AlmError
from reconciler.evals.grading import grade
from reconciler.evals.records import (
    FINAL_OUTPUT_LIMIT,
    CaseResult,
    effective_repeats,
    effective_tags,
    record,
)
from reconciler.evals.results import (
    SCHEMA_VERSION,
    Results,
    RunInfo,
    Selection,
    Shard,
    build,
    from_json,
    score,
    to_json,
)
from reconciler.evals.results_merge import merge
from reconciler.evals.types import ModelCall, ToolCall, Trajectory, Violation
from reconciler.pricing import TokenUsage
from reconciler.spec.agent import Bound, Contract
from reconciler.spec.evalsuite import EvalSuite
from tests.evalrecords import trial, trials

AGENT = "support-triage"
BOUNDS = {"task_success_rate": Bound(min=0.9), "cost_per_task_usd": Bound(max=0.02)}


def results(cases: list[CaseResult], run: RunInfo | None = None) -> Results:
    agent = score(AGENT, "openai/gpt-4.1-mini", BOUNDS, cases, bundle_hash="abc123")
    return build(run or RunInfo(ref="HEAD", commit="c0ffee", mode="replay"), [agent], cases)


def everything() -> list[CaseResult]:
    return [
        *trials("double-charge", "PFP", suite="safety", tags=("safety", "billing")),
        trial("sso", tags=("routing",), case_hash="h-sso"),
        trial("refund", "failed", must_never=True, outcome="escalated", expected="escalated"),
        trial("slow", "not_run", expected="refused"),
    ]


def test_results_round_trip_through_json() -> None:
    original = results(everything())
    text = to_json(original)
    again = from_json(text)
    assert again == original
    assert to_json(again) == text


def test_the_json_is_versioned_and_shaped_as_documented() -> None:
    data = json.loads(to_json(results(everything())))
    assert list(data) == ["schema_version", "run", "agents", "cases"]
    assert data["schema_version"] == SCHEMA_VERSION == 1
    agent = data["agents"][0]
    assert list(agent) == ["agent", "model", "bundle_hash", "bounds", "metrics", "gate"]
    # graded: double-charge P F P, sso P, refund F (slow did not run) -> 3 of 5
    overall = agent["metrics"]["overall"]
    assert (overall["task_success_rate"]["successes"], overall["trials"]) == (3, 5)
    # k=1: (2/3 + 1 + 0) / 3 = 5/9; k=2, k=3: only double-charge: C(2,2)/C(3,2), C(2,3)/C(3,3)
    assert overall["pass_hat_by_k"] == {"1": pytest.approx(5 / 9), "2": 1 / 3, "3": 0.0}
    assert agent["gate"]["status"] == "failed"
    case = data["cases"][0]
    assert (case["suite"], case["case_id"], case["trial"], case["status"]) == (
        "routing",
        "refund",
        0,
        "failed",
    )
    assert case["violations"] == [
        {"kind": "must_never", "message": "called billing.issue_refund", "rule": "no-refunds"}
    ]
    assert set(case["trajectory"]) == {
        "steps", "stop_reason", "tool_calls", "final_output", "final_output_chars", "usage",
        "model_calls", "cost_usd", "latency_s", "error",
    }  # fmt: skip


def test_record_summarises_a_real_trajectory() -> None:
    suite = EvalSuite.model_validate(
        {
            "apiVersion": "alm/v1",
            "kind": "EvalSuite",
            "metadata": {"name": "routing"},
            "defaults": {"repeats": 3, "tags": ["routing", "tech"]},
            "cases": [
                {
                    "id": "sso",
                    "tags": ["tech", "enterprise"],
                    "input": {"message": "Triage T-1."},
                    "expect": {"outcome": "resolved"},
                }
            ],
        }
    )
    case = suite.cases[0]
    contract = Contract.model_validate(
        {"purpose": "p", "success_metrics": {"task_success_rate": {"min": 0.9}}}
    )
    usage = TokenUsage(100, 20, 10)
    t = Trajectory(
        tool_calls=[
            ToolCall("1", "ticketing.get_ticket", {"ticket_id": "T-1"}, result={"ok": True}),
            ToolCall("2", "x.y", {}, error="E" * 900, violations=(Violation("ungranted", "no"),)),
        ],
        final_output="y" * (FINAL_OUTPUT_LIMIT + 10),
        model_calls=[ModelCall("openai", "m", usage, 0.5, 0.001)] * 2,
        latency_s=1.25,
        steps=2,
    )
    r = record(
        agent=AGENT,
        suite=suite.metadata.name,
        case=case,
        trial=1,
        repeats=effective_repeats(suite, case),
        tags=effective_tags(suite, case),
        grade=grade(case, contract, t),
        trajectory=t,
        case_hash="h",
    )
    assert (r.status, r.outcome, r.expected_outcome, r.repeats) == (
        "passed",
        "resolved",
        "resolved",
        3,
    )
    assert r.tags == ("routing", "tech", "enterprise")
    assert r.violations == (Violation("ungranted", "no"),)
    s = r.trajectory
    assert s is not None
    assert [(c.tool, c.succeeded) for c in s.tool_calls] == [
        ("ticketing.get_ticket", True),
        ("x.y", False),
    ]
    assert len(s.tool_calls[1].error or "") == 500
    assert len(s.final_output) == FINAL_OUTPUT_LIMIT and s.final_output.endswith("…")
    assert s.final_output_chars == FINAL_OUTPUT_LIMIT + 10
    assert (s.usage, s.model_calls, s.cost_usd, s.latency_s) == (
        TokenUsage(200, 40, 20),
        2,
        0.002,
        1.25,
    )


def test_a_not_run_trial_is_recorded_without_a_trajectory() -> None:
    suite = EvalSuite.model_validate(
        {
            "apiVersion": "alm/v1",
            "kind": "EvalSuite",
            "metadata": {"name": "s"},
            "cases": [{"id": "c", "input": {"message": "m"}, "expect": {}}],
        }
    )
    contract = Contract.model_validate({"purpose": "p", "success_metrics": {}})
    g = grade(suite.cases[0], contract, None)
    r = record(agent=AGENT, suite="s", case=suite.cases[0], trial=0, repeats=1, tags=(),
               grade=g, trajectory=None)  # fmt: skip
    assert (r.status, r.graded, r.trajectory) == ("not_run", False, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "results:1:2: not JSON"),
        ("[]", "expected a JSON object"),
        ('{"schema_version": 2}', "schema_version 2 is not supported"),
        ('{"run": {}}', "schema_version null is not supported"),
        ('{"schema_version": 1, "run": {}, "agents": []}', "cases: missing; it is required"),
    ],
)
def test_a_malformed_file_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(AlmError, match=r"^results") as info:
        from_json(text)
    assert message in info.value.message


def test_unknown_fields_are_refused() -> None:
    data = json.loads(to_json(results([trial("a")])))
    data["cases"][0]["surprise"] = 1
    with pytest.raises(AlmError, match=r"cases\.0\.surprise"):
        from_json(json.dumps(data))


def test_build_refuses_cases_of_an_unknown_agent_and_repeated_trials() -> None:
    with pytest.raises(AlmError, match="no agent entry: other"):
        results([trial("a", agent="other")])
    with pytest.raises(AlmError, match="a trial appears twice: support-triage/routing/a trial 0"):
        results([trial("a"), trial("a")])


# --- merge -----------------------------------------------------------------------------


def shards(cases: list[CaseResult], count: int) -> list[Results]:
    out = []
    for index in range(1, count + 1):
        part = [c for i, c in enumerate(cases) if i % count == index - 1]
        run = RunInfo(ref="HEAD", commit="c0ffee", mode="replay", shard=Shard(index, count))
        out.append(results(part, run))
    return out


def test_merged_shards_score_as_one_run() -> None:
    cases = everything()
    merged = merge(*reversed(shards(cases, 3)))
    single = results(cases)
    assert merged == single
    assert merged.run.shard is None
    # the merged metrics are recomputed, not taken from any shard
    assert merged.agents[0].metrics.overall.trials == 5


def test_merge_survives_a_json_round_trip() -> None:
    parts = [from_json(to_json(s)) for s in shards(everything(), 2)]
    assert merge(*parts) == results(everything())


def test_merge_refuses_overlapping_shards() -> None:
    a, b = shards(everything(), 2)
    overlapping = replace(b, cases=(*b.cases, a.cases[0]))
    with pytest.raises(AlmError, match=r"overlapping shards: .* input 1 \(shard 1/2\) and input 2"):
        merge(a, overlapping)


def test_merge_refuses_a_missing_or_repeated_shard() -> None:
    a, b, c = shards(everything(), 3)
    with pytest.raises(AlmError, match=r"missing shard\(s\) 2/3"):
        merge(a, c)
    with pytest.raises(AlmError, match="shard 1/3 appears twice"):
        merge(a, a, b, c)


def test_merge_refuses_shards_of_another_run() -> None:
    a, b = shards(everything(), 2)
    other = replace(b, run=replace(b.run, commit="deadbeef"))
    with pytest.raises(AlmError, match="from another run: commit 'deadbeef', expected 'c0ffee'"):
        merge(a, other)
    mixed = replace(b, run=replace(b.run, shard=None))
    with pytest.raises(AlmError, match="some inputs are shards"):
        merge(a, mixed)


def test_shards_of_a_selection_merge_only_with_the_same_selection() -> None:
    picked = Selection(cases=("case-*",), tags=("billing",))
    a, b = (replace(s, run=replace(s.run, selection=picked)) for s in shards(everything(), 2))
    merged = merge(*(from_json(to_json(s)) for s in (a, b)))
    assert merged.run.selection == picked and not merged.run.whole  # gates stay unjudged
    other = replace(b, run=replace(b.run, selection=Selection(cases=("x",))))
    with pytest.raises(AlmError, match="from another run: selection"):
        merge(a, other)


def test_a_selection_admits_by_id_glob_and_any_tag() -> None:
    assert Selection().admits("anything", [])
    assert Selection(cases=("refund-*", "x")).admits("refund-big", [])
    assert not Selection(cases=("refund-*",)).admits("x-refund", ["refund"])
    assert Selection(tags=("a", "b")).admits("c", ["b", "z"])
    assert not Selection(tags=("a",), cases=("c*",)).admits("c1", ["b"])


def test_merge_refuses_an_agent_described_differently() -> None:
    a, b = shards(everything(), 2)
    changed = replace(b.agents[0], bounds={"task_success_rate": Bound(min=0.5)})
    with pytest.raises(AlmError, match="agent support-triage differs in bounds"):
        merge(a, replace(b, agents=(changed,)))


def test_merge_refuses_a_case_described_differently() -> None:
    cases = trials("c", "PP", case_hash="h1")
    a = results(cases[:1], RunInfo(shard=Shard(1, 2)))
    b = results([replace(cases[1], case_hash="h2")], RunInfo(shard=Shard(2, 2)))
    with pytest.raises(AlmError, match="case support-triage/routing/c differs in case_hash"):
        merge(a, b)


def test_merge_needs_an_input() -> None:
    with pytest.raises(AlmError, match="at least one"):
        merge()
