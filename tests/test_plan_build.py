"""reconciler.plan.build: the plan report assembled from real loaded states (small git
repositories), the real policy check and validate, and eval results built from trials."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from reconciler import __version__
from reconciler.evals.bundle import affected_agents, fingerprint, run_hash
from reconciler.evals.records import CaseResult, ToolCallSummary
from reconciler.evals.results import NotEvaluated, Results, RunInfo, agent_result, build
from reconciler.plan import model
from reconciler.plan.build import PlanInputs
from reconciler.plan.build import build as build_plan
from reconciler.plan.deploy_order import gate_words
from reconciler.plan.model import Grant, PlanReport, RefInfo
from reconciler.policy import changes
from reconciler.policy import codeowners as owners
from reconciler.policy.check import CheckInput, check
from reconciler.spec.catalog import Gates
from reconciler.spec.checks import validate
from reconciler.spec.loader import load_ref
from reconciler.spec.state import DesiredState
from tests.evalrecords import summary, trial
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import AGENT, CATALOG, PROMPT, SUITE

NEW_TOOL = """\
  - name: desk.close
    system: desk
    description: Close a ticket for good.
    access: write
    risk: high
    approvers: ["@acme/security"]
    parameters: {type: object, properties: {ticket_id: {type: string}}}
"""


def trials(states: str, agent: str = "helper", **kwargs: object) -> list[CaseResult]:
    """One single-trial case per letter: P passed, F failed, N not run."""
    names = {"P": "passed", "F": "failed", "N": "not_run"}
    return [
        trial(f"c{i}", names[s], agent=agent, suite="basic", case_hash=f"h{i}", **kwargs)  # type: ignore[arg-type]
        for i, s in enumerate(states)
    ]


def results(state: DesiredState, cases: list[CaseResult], **run: object) -> Results:
    agents = sorted({c.agent for c in cases})
    scored = []
    for name in agents:
        spec = state.agent(name)
        assert spec is not None
        scored.append(agent_result(spec.agent, [c for c in cases if c.agent == name]))
    return build(RunInfo(mode="replay", **run), scored, cases)  # type: ignore[arg-type]


def plan(
    repo: GitRepo,
    base_cases: list[CaseResult] | None,
    head_cases: list[CaseResult] | None,
    head_results: Results | None = None,
) -> PlanReport:
    """The plan of HEAD~1 -> HEAD, as alm plan gathers it."""
    root = repo.path
    base, head = load_ref(root, "HEAD~1"), load_ref(root, "HEAD")
    codeowners = owners.parse(owners.generate(base), "generated")
    changed = tuple(changes.changed_files(root, "HEAD~1", "HEAD"))
    policy = check(CheckInput(head, {}, base, changed, codeowners))
    if head_results is None and head_cases is not None:
        head_results = results(head, head_cases)
    inputs = PlanInputs(
        base=base,
        head=head,
        base_ref=RefInfo(ref="HEAD~1", commit=repo.git("rev-parse", "HEAD~1")),
        head_ref=RefInfo(ref="HEAD", commit=repo.git("rev-parse", "HEAD")),
        policy=policy,
        head_findings=validate(head),
        base_findings=validate(base),
        affected=affected_agents(base, head),
        base_results=results(base, base_cases) if base_cases is not None else None,
        head_results=head_results,
    )
    return build_plan(inputs)


def edit_prompt(repo: GitRepo) -> None:
    repo.replace(PROMPT, "Escalate angry customers.", "Escalate angry customers at once.")
    repo.commit("prompt")


def kinds(report: PlanReport) -> list[str]:
    return [r.kind for r in report.verdict.reasons]


def test_a_new_write_tool_with_approvers_is_pending_not_blocked(mini: GitRepo) -> None:
    mini.write(CATALOG, mini.read(CATALOG) + NEW_TOOL)
    mini.replace(AGENT, "  - human.escalate\n", "  - human.escalate\n  - desk.close\n")
    mini.commit("grant desk.close")
    report = plan(mini, trials("PPPPP"), trials("PPPPP"))
    assert report.verdict.status == "pending"
    assert set(kinds(report)) == {"approval"}
    (agent,) = report.changes.agents
    assert agent.agent == "helper" and agent.status == "changed"
    assert agent.new_grants == [
        Grant(tool="desk.close", access="write", risk="high", approvers=["@acme/security"])
    ]
    assert "tool granted: desk.close (write, high risk)" in [c.text for c in agent.changes]
    assert report.changes.sections["catalog"][0].text.startswith("catalog: tool added: desk.close")
    tool = [a for a in report.approvals.required if a.source == "tool"]
    assert [(a.from_, a.agents) for a in tool] == [(["@acme/security"], ["helper"])]
    assert any("@acme/security" in r.text for r in report.verdict.reasons)
    assert report.approvals.reviews_read is False
    assert report.evals.agents[0].status == "passed"


def _calls(n: int) -> tuple[ToolCallSummary, ...]:
    return tuple(ToolCallSummary("desk.route", {"queue": f"q{i}"}, True) for i in range(n))


def test_a_significant_regression_blocks_and_shows_what_went_wrong(mini: GitRepo) -> None:
    edit_prompt(mini)
    head = trials("FFFFF", must_never=True)
    head[0] = replace(head[0], trajectory=replace(summary(), tool_calls=_calls(7)))
    report = plan(mini, trials("PPPPP"), head)
    assert report.verdict.status == "blocked"
    regression = [r for r in report.verdict.reasons if r.kind == "regression"]
    assert [r.agent for r in regression] == ["helper"]
    assert regression[0].text.startswith("helper: pass rate 100.0% → 0.0%")
    assert "REGRESSED" in regression[0].text
    (agent,) = report.evals.agents
    assert agent.status == "regressed" and agent.paired == 5
    assert agent.headline == "helper: REGRESSION in pass rate: 5 paired cases"
    assert [c.metric for c in agent.checks if c.regressed] == ["pass_rate"]
    first = agent.cases[0]
    assert first.case == "basic/c0" and first.state == "failed" and first.newly_failing
    assert first.rule == "no-refunds: called billing.issue_refund"
    assert first.expected == "expected something else"
    assert [json.loads(c.arguments) for c in first.last_tool_calls] == [
        {"queue": f"q{i}"} for i in range(2, 7)
    ]  # the last five of seven


def test_a_missed_threshold_blocks_without_a_regression(mini: GitRepo) -> None:
    edit_prompt(mini)
    report = plan(mini, trials("PPPPP"), trials("PPPPF"))  # one drop: not significant
    assert kinds(report).count("regression") == 0
    threshold = [r for r in report.verdict.reasons if r.kind == "threshold"]
    assert [r.text.split(" (95% CI")[0] for r in threshold] == ["helper: task_success_rate 0.8"]
    assert "is below min 0.9" in threshold[0].text
    (agent,) = report.evals.agents
    assert agent.status == "failed"
    (metric,) = agent.metrics
    assert (metric.name, metric.base, metric.head) == ("task_success_rate", 1.0, 0.8)
    assert (metric.threshold, metric.status) == (">= 0.9", "missed")
    assert [(c.case, c.newly_failing) for c in agent.cases] == [("basic/c4", True)]


def test_cases_that_could_not_run_block_and_are_listed_first(mini: GitRepo) -> None:
    edit_prompt(mini)
    # 9 of 10 graded cases pass at head: the threshold (0.9) holds, the not-run cases block
    report = plan(mini, trials("PPPFPPPPPPPP"), trials("PNNFPPPPPPPP"))
    assert report.verdict.status == "blocked"
    not_run = [r.text for r in report.verdict.reasons if r.kind == "not_run"]
    assert not_run == ["helper: 2 cases could not run (first: basic/c1)"]
    (agent,) = report.evals.agents
    assert agent.status == "not run" and agent.not_run == 2
    assert [(c.case, c.state) for c in agent.cases] == [
        ("basic/c1", "not_run"),
        ("basic/c2", "not_run"),
        ("basic/c3", "failed"),
    ]
    assert agent.cases[0].reason == "1 of 1 trial could not run on head: timeout"
    assert agent.cases[2].newly_failing is False  # it failed on base too


def test_an_agent_the_head_results_lack_is_not_evaluated(mini: GitRepo) -> None:
    edit_prompt(mini)
    head = load_ref(mini.path, "HEAD")
    skipped = results(head, [], not_evaluated=(NotEvaluated("helper", "no eval suite"),))
    report = plan(mini, trials("PPPPP"), None, head_results=skipped)
    assert report.verdict.status == "blocked"
    assert [r.text for r in report.evals.not_evaluated] == [
        "helper: not evaluated at head: no eval suite"
    ]
    assert report.evals.agents[0].status == "not run"
    no_evals = plan(mini, None, None)
    assert [r.text for r in no_evals.verdict.reasons if r.kind == "not_evaluated"] == [
        "helper: evals were not run"
    ]


def test_an_agent_new_at_head_is_new_and_held_to_its_thresholds(mini: GitRepo) -> None:
    mini.write("agents/other/agent.yaml", mini.read(AGENT).replace("name: helper", "name: other"))
    mini.write("agents/other/prompts/system.md", "You help.\n")
    mini.write("evals/other/basic.yaml", mini.read(SUITE).replace("agent: helper", "agent: other"))
    mini.commit("a new agent")
    report = plan(mini, [], trials("PPPPP", agent="other"))
    (agent,) = report.evals.agents
    assert agent.agent == "other" and agent.status == "new"
    assert agent.headline.startswith("other: new at head, nothing to compare")
    assert [r for r in report.verdict.reasons if r.kind != "approval"] == []
    assert report.changes.agents[0].status == "added"
    assert report.changes.unchanged_agents == 1
    failing = plan(mini, [], trials("PPFFF", agent="other"))
    assert failing.evals.agents[0].status == "failed"
    assert kinds(failing)[0] == "threshold"


def test_error_findings_block_new_ones_first_saying_which(mini: GitRepo) -> None:
    mini.replace(AGENT, "  - desk.get_ticket\n", "  - desk.get_ticket\n  - desk.nope\n")
    mini.commit("an unknown tool at base")
    mini.replace(AGENT, "  - desk.get_ticket\n", "  - desk.get_ticket\n  - desk.other\n")
    mini.commit("another at head")
    report = plan(mini, trials("PPPPP"), trials("PPPPP"))
    errors = [f for f in report.findings if f.severity == "error"]
    assert [(f.source, f.new) for f in errors][:2] == [("validate", True), ("validate", False)]
    assert "desk.other" in errors[0].message and "desk.nope" in errors[1].message
    assert (errors[0].file, errors[0].line) == (AGENT, 20)
    reasons = [r for r in report.verdict.reasons if r.kind == "error_finding"]
    assert reasons[0].text.startswith(f"new error at {AGENT}:20:")
    assert reasons[1].text.startswith("pre-existing error at ")
    assert {r.agent for r in reasons} == {"helper"}
    assert report.verdict.status == "blocked"


def test_deploy_order_gates_and_provenance(mini: GitRepo) -> None:
    edit_prompt(mini)
    report = plan(mini, trials("PPPPP"), trials("PPPPP"))
    assert [(s.environment, s.agents, s.gates) for s in report.deploy] == [
        ("staging", ["helper"], ["evals pass"]),
        ("prod", ["helper"], ["evals pass", "staging healthy"]),
    ]
    head = load_ref(mini.path, "HEAD")
    spec = head.agent("helper")
    assert spec is not None and spec.prompt is not None
    (hashes,) = report.provenance.agents
    assert hashes.spec == run_hash(spec, head)
    assert hashes.prompt == spec.prompt.version
    assert hashes.dataset == fingerprint(spec, head).cases
    assert report.provenance.alm_version == __version__
    assert report.provenance.head.commit == mini.git("rev-parse", "HEAD")


def test_gate_words() -> None:
    gates = Gates(approvals=["@acme/platform", "@acme/sre"], soak_minutes=1)
    assert gate_words(gates, "staging") == [
        "evals pass",
        "staging healthy",
        "approval from @acme/platform or @acme/sre",
        "soak 1 minute",
    ]
    assert gate_words(Gates(evals_pass=False), None) == []


def test_unchanged_agents_are_only_counted(fleet_repo: GitRepo) -> None:
    fleet_repo.replace(
        "agents/email-drafting/agent.yaml", "  owners:", "  description: Drafts replies.\n  owners:"
    )
    fleet_repo.commit("describe email-drafting")
    report = plan(fleet_repo, None, None)
    assert [a.agent for a in report.changes.agents] == ["email-drafting"]
    assert report.changes.unchanged_agents == 3
    assert report.cost.rows[0].agent == "email-drafting"  # plan/costs.py's rows


COST_POLICY = """\
apiVersion: alm/v1
kind: Policy
metadata: {name: spend}
cost: {max_monthly_increase_usd: 10}
"""


def test_a_cost_rise_beyond_a_policy_limit_blocks(mini: GitRepo) -> None:
    mini.replace(AGENT, "model: {", "  volume: {tasks_per_month: 1000}\nmodel: {")
    mini.write("policies/spend.yaml", COST_POLICY)
    mini.commit("volume and a cost limit")
    edit_prompt(mini)
    report = plan(mini, trials("PPPPP", cost=0.01), trials("PPPPP", cost=0.05))
    (row,) = report.cost.rows
    assert (row.monthly_base, row.monthly_head) == (10.0, 50.0)
    cost = [r for r in report.verdict.reasons if r.kind == "cost_limit"]
    assert [r.agent for r in cost] == ["helper"] and "spend" in cost[0].text
    assert report.verdict.status == "blocked"
    assert report.evals.run_cost_usd == report.cost.eval_run_cost_usd > 0


def test_the_report_round_trips_through_its_json(mini: GitRepo, tmp_path: Path) -> None:
    edit_prompt(mini)
    report = plan(mini, trials("PPPPF"), trials("PPNFF"))
    path = tmp_path / "plan.json"
    path.write_text(model.to_json(report), "utf-8")
    assert model.read(path) == report
