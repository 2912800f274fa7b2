"""Realistic PlanReport objects for the renderers' and the GitHub side's tests.

tiny: nothing but a prompt wording change, ready. typical: the demo's change (a cheaper
model that regresses support-triage, plus a new write tool that needs security's
approval) with a cost table. huge: a 200-agent fleet where every changed agent fails
many cases, so that the full markdown is well over 70,000 characters. hostile: every
text a pull request controls carries mentions, references, images, HTML, pipes,
newlines, `</details>`, backtick runs and bidirectional overrides.
"""

from __future__ import annotations

from reconciler.plan.model import (
    AgentChange,
    AgentEval,
    AgentHashes,
    Approval,
    Approvals,
    CaseEntry,
    ChangeLine,
    Changes,
    CheckEntry,
    Cost,
    CostBreach,
    CostRow,
    EnvironmentStep,
    Evals,
    FindingEntry,
    Grant,
    Links,
    Metric,
    NotCounted,
    PlanReport,
    Provenance,
    PullRequest,
    Reason,
    RefInfo,
    ToolCallEntry,
    Verdict,
)

BASE = "a" * 40
HEAD = "b" * 40
PRICES = "genai-prices 0.2.3 (bundled snapshot)"
LINKS = Links(
    html_report="https://github.com/acme/agents/actions/runs/42/artifacts/7",
    job_summary="https://github.com/acme/agents/actions/runs/42#summary",
    run="https://github.com/acme/agents/actions/runs/42",
)


def provenance(agents: list[str]) -> Provenance:
    return Provenance(
        base=RefInfo(ref="origin/main", commit=BASE),
        head=RefInfo(ref="HEAD", commit=HEAD),
        alm_version="0.1.0",
        agents=[
            AgentHashes(agent=a, spec=f"sha256:{i:064x}", prompt=f"sha256:{i + 1:064x}",
                        dataset=f"sha256:{i + 2:064x}")
            for i, a in enumerate(agents)
        ],
    )  # fmt: skip


def metrics(success_base: float, success_head: float, cost_head: float) -> list[Metric]:
    ok = "ok" if success_head >= 0.9 else "missed"
    return [
        Metric(name="task_success_rate", base=success_base, head=success_head,
               threshold=">= 0.90", status=ok),
        Metric(name="tool_call_success_rate", base=0.99, head=0.98, threshold=">= 0.97",
               status="ok"),
        Metric(name="escalation_precision", base=0.9, head=None, threshold=">= 0.85",
               status="not measured"),
        Metric(name="policy_compliance", base=1.0, head=0.96, threshold=">= 1.0",
               status="missed"),
        Metric(name="cost_per_task_usd", base=0.0042, head=cost_head, threshold="<= 0.01",
               status="ok"),
        Metric(name="latency_p95_s", base=3.1, head=2.4, threshold="<= 6", status="ok"),
        Metric(name="escalation_recall", base=0.8, head=0.75, threshold=None,
               status="no threshold"),
    ]  # fmt: skip


def failing_case(agent: str, n: int, newly: bool = True) -> CaseEntry:
    return CaseEntry(
        case=f"refunds/case-{n:03d}",
        state="failed",
        newly_failing=newly,
        reason=f"{agent} issued a refund instead of escalating the billing dispute #{n}",
        expected="escalate_to_human(reason='billing dispute')",
        got="billing.issue_refund(ticket_id='T-1042', amount=49.0)",
        rule="no-refunds: Never issue refunds or credits.",
        last_tool_calls=[
            ToolCallEntry(tool="ticketing.get_ticket", arguments='{"ticket_id": "T-1042"}',
                          succeeded=True),
            ToolCallEntry(tool="billing.issue_refund",
                          arguments='{"ticket_id": "T-1042", "amount": 49.0}', succeeded=False,
                          error="forbidden by must-never rule no-refunds"),
        ],
    )  # fmt: skip


def regressed_eval(agent: str, cases: int, not_run: int = 0) -> AgentEval:
    failing = [failing_case(agent, n, newly=n % 3 != 0) for n in range(cases)]
    skipped = [
        CaseEntry(case=f"timeouts/case-{n:03d}", state="not_run", newly_failing=False,
                  reason="the model endpoint timed out after 3 retries")
        for n in range(not_run)
    ]  # fmt: skip
    return AgentEval(
        agent=agent,
        status="regressed",
        headline="task success dropped 95.0% → 82.0% on 40 paired cases (p = 0.004): regressed",
        metrics=metrics(0.95, 0.82, 0.0018),
        checks=[
            CheckEntry(metric="pass_rate", base=0.95, head=0.82, p_value=0.004, regressed=True,
                       why="drop of 13.0 pp beyond the 2 pp tolerance, significant"),
            CheckEntry(metric="cost", base=0.0042, head=0.0018, p_value=None, regressed=False,
                       why="cheaper"),
        ],
        paired=40,
        cases=failing + skipped,
        not_run=not_run,
    )  # fmt: skip


def passed_eval(agent: str) -> AgentEval:
    return AgentEval(agent=agent, status="passed", headline="no significant change on 30 cases",
                     metrics=metrics(0.93, 0.94, 0.0042), paired=30)  # fmt: skip


def cost_row(agent: str, base: float, head: float, volume: int) -> CostRow:
    return CostRow(
        agent=agent, model_base="gpt-4.1", model_head="gpt-4.1-mini" if head < base else "gpt-4.1",
        per_task_base=base, per_task_head=head, tasks_per_month=volume,
        monthly_base=base * volume, monthly_head=head * volume,
        delta_monthly=(head - base) * volume,
    )  # fmt: skip


def _cost(rows: list[CostRow], breaches: list[CostBreach] | None = None) -> Cost:
    base = sum(r.monthly_base or 0 for r in rows)
    head = sum(r.monthly_head or 0 for r in rows)
    return Cost(rows=rows, total_monthly_base=base + 1200.0, total_monthly_head=head + 1200.0,
                eval_run_cost_usd=0.37, price_source=PRICES, breaches=breaches or [])  # fmt: skip


def security_approval(approved_by: list[str] | None = None) -> Approval:
    return Approval.model_validate({
        "id": "tool:billing.issue_refund", "from": ["@acme/security"],
        "reason": "new write tool billing.issue_refund (risk high)", "source": "tool",
        "agents": ["support-triage"], "files": ["agents/support-triage/agent.yaml"],
        "policy": "tools", "approved_by": approved_by or [],
    })  # fmt: skip


def owners_approval() -> Approval:
    return Approval.model_validate({
        "id": "codeowners:agents/support-triage/", "from": ["@acme/support-eng"],
        "reason": "code owners of agents/support-triage/", "source": "codeowners",
        "agents": ["support-triage"], "files": ["agents/support-triage/agent.yaml"],
        "approved_by": ["carol"],
    })  # fmt: skip


def deploy(agents: list[str]) -> list[EnvironmentStep]:
    return [
        EnvironmentStep(environment="staging", agents=agents, gates=["evals pass"]),
        EnvironmentStep(environment="prod", agents=agents,
                        gates=["staging healthy", "soak 60 minutes", "approval by @acme/sre"]),
    ]  # fmt: skip


def tiny() -> PlanReport:
    agent = "email-drafting"
    return PlanReport(
        schema_version=1,
        verdict=Verdict(status="ready"),
        provenance=provenance([agent]),
        changes=Changes(agents=[AgentChange(agent=agent, status="changed", changes=[
            ChangeLine(text="prompt system.md reworded (3 lines changed)")])],
            unchanged_agents=3),
        approvals=Approvals(reviews_read=True, head_sha=HEAD),
        evals=Evals(ran=True, agents=[passed_eval(agent)], trials={"run": 30}),
        cost=_cost([]),
        deploy=deploy([agent])[:1],
    )  # fmt: skip


TYPICAL_REASONS = [
    Reason(kind="regression", agent="support-triage",
           text="support-triage: task_success_rate regressed 95.0% → 82.0% (p = 0.004)"),
    Reason(kind="threshold", agent="support-triage",
           text="support-triage: policy_compliance 96.0% misses >= 1.0"),
]  # fmt: skip


def typical(reviews_read: bool = False) -> PlanReport:
    agent = "support-triage"
    approvals = Approvals(required=[security_approval(), owners_approval()],
                          reviews_read=reviews_read, head_sha=HEAD if reviews_read else None,
                          not_counted=[NotCounted(reviewer="dave", why="approved an older commit")]
                          if reviews_read else [])  # fmt: skip
    from reconciler.plan.verdict import decide

    return PlanReport(
        schema_version=1,
        verdict=decide(TYPICAL_REASONS, approvals),
        pull_request=PullRequest(number=7, head_sha=HEAD, base_sha=BASE,
                                 repository="acme/agents", author="erin"),
        provenance=provenance([agent, "sales-research"]),
        changes=Changes(agents=[AgentChange(agent=agent, status="changed", changes=[
            ChangeLine(text="model gpt-4.1 → gpt-4.1-mini"),
            ChangeLine(text="prompt system.md changed", detail="-Be thorough.\n+Be brief."),
            ChangeLine(text="tool granted: billing.issue_refund (write, risk high)")],
            new_grants=[Grant(tool="billing.issue_refund", access="write", risk="high",
                              approvers=["@acme/security"])])],
            unchanged_agents=3),
        findings=[
            FindingEntry(severity="warning", code="tool.write_without_constraints",
                         message="billing.issue_refund is granted without constraints",
                         file="agents/support-triage/agent.yaml", line=24, column=5, new=True,
                         source="policy"),
            FindingEntry(severity="warning", code="prompt.long", message="prompt over 4k tokens",
                         file="agents/sales-research/prompts/system.md", line=1, column=1,
                         new=False, source="validate"),
        ],
        approvals=approvals,
        evals=Evals(ran=True, agents=[regressed_eval(agent, 5, not_run=1)],
                    trials={"run": 40, "cached": 0, "not_run": 1}, run_cost_usd=0.37),
        cost=_cost([cost_row(agent, 0.0042, 0.0018, 120_000)]),
        deploy=deploy([agent]),
        links=LINKS,
    )  # fmt: skip


def huge(agents: int = 200, changed: int = 16, cases: int = 12) -> PlanReport:
    """A fleet of `agents` where `changed` of them changed and each fails `cases` cases."""
    names = [f"agent-{n:03d}" for n in range(agents)]
    moved = names[:changed]
    evals = [regressed_eval(a, cases, not_run=2) if i % 2 == 0 else passed_eval(a)
             for i, a in enumerate(moved)]  # fmt: skip
    reasons = [Reason(kind="regression", agent=a, text=f"{a}: task_success_rate regressed")
               for a in moved[::2]]  # fmt: skip
    approvals = Approvals(required=[security_approval(), owners_approval()])
    from reconciler.plan.verdict import decide

    return PlanReport(
        schema_version=1,
        verdict=decide(reasons, approvals),
        provenance=provenance(names),
        changes=Changes(agents=[AgentChange(agent=a, status="changed", changes=[
            ChangeLine(text="model gpt-4.1 → gpt-4.1-mini"),
            ChangeLine(text="limits.max_steps 8 → 12")]) for a in moved],
            unchanged_agents=agents - changed),
        approvals=approvals,
        evals=Evals(ran=True, agents=evals, trials={"run": 1200, "cached": 4800}),
        cost=_cost([cost_row(a, 0.0042, 0.0018 + i / 100_000, 120_000)
                    for i, a in enumerate(moved)]),
        deploy=deploy(moved),
        links=LINKS,
    )  # fmt: skip


EVIL = [
    "@acme/security ping",
    "fixes #12 and acme/x#4",
    "![img](http://x/p.png)",
    "<script>alert(1)</script>",
    "a | b | c",
    "line\nbreak\r\n| --- |",
    "</details></td></table>",
    "```\n</details>\n```",
    "\u202eevil\u202c",
    "[link](javascript:alert(1)) <https://evil.example>",
]


def evil(n: int) -> str:
    return f"{EVIL[n % len(EVIL)]} {EVIL[(n + 3) % len(EVIL)]}"


def hostile() -> PlanReport:
    """The typical report with every repository text replaced by an attack."""
    r = typical(reviews_read=True)
    case = r.evals.agents[0].cases[0].model_copy(update={
        "case": evil(0), "reason": evil(1), "expected": evil(2), "got": evil(3), "rule": evil(4),
        "last_tool_calls": [ToolCallEntry(tool=evil(5), arguments=evil(6), succeeded=False,
                                          error=evil(7))],
    })  # fmt: skip
    agent = r.evals.agents[0].model_copy(update={
        "agent": evil(8), "headline": evil(9), "cases": [case],
        "metrics": [m.model_copy(update={"name": evil(1), "threshold": evil(2)})
                    for m in r.evals.agents[0].metrics],
    })  # fmt: skip
    approval = security_approval(["@alice"]).model_copy(
        update={"from_": [evil(0)], "reason": evil(3), "agents": [evil(4)]}
    )
    return r.model_copy(update={
        "verdict": Verdict(status="blocked", reasons=[Reason(kind="threshold", agent=evil(5),
                                                             text=evil(6))]),
        "changes": Changes(agents=[AgentChange(agent=evil(7), status="added",
            changes=[ChangeLine(text=evil(8), detail=evil(9))],
            new_grants=[Grant(tool=evil(0), access=evil(1), risk=evil(2),
                              approvers=[evil(3)])])],
            unchanged_agents=1, sections={evil(4): [ChangeLine(text=evil(5))]}),
        "findings": [FindingEntry(severity="error", code=evil(6), message=evil(7), file=evil(8),
                                  line=3, column=1, new=True, source="policy")],
        "approvals": r.approvals.model_copy(update={
            "required": [approval], "changes_requested": [evil(9)],
            "not_counted": [NotCounted(reviewer=evil(0), why=evil(1))]}),
        "evals": r.evals.model_copy(update={"agents": [agent], "not_evaluated": [
            Reason(kind="not_evaluated", agent=evil(2), text=evil(3))]}),
        "cost": r.cost.model_copy(update={
            "rows": [cost_row(evil(4), 0.01, 0.02, 1000).model_copy(
                update={"model_base": evil(5), "model_head": evil(6)})],
            "price_source": evil(7),
            "breaches": [CostBreach(agent=evil(8), policy=evil(9), text=evil(0))]}),
        "deploy": [EnvironmentStep(environment=evil(1), agents=[evil(2)], gates=[evil(3)])],
        "provenance": r.provenance.model_copy(update={"agents": [AgentHashes(
            agent=evil(4), spec=evil(5), prompt=evil(6), dataset=evil(7))]}),
        "links": Links(html_report="javascript:alert(1)", job_summary=evil(8),
                       run="https://github.com/acme/agents/actions/runs/42"),
    })  # fmt: skip
