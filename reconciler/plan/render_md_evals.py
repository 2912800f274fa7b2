"""The plan report's markdown sections for evals (base vs head per changed agent, failing
cases folded in `<details>`) and cost (the Infracost-style table)."""

from __future__ import annotations

from reconciler.plan.markdown import md_code, md_details
from reconciler.plan.model import AgentEval, CaseEntry, CostRow, PlanReport
from reconciler.plan.render_common import (
    AGENT_STATUS,
    CASE_STATE,
    METRIC_STATUS,
    PROBLEM_AGENT_STATUSES,
    case_facts,
    check_icon,
    check_summary,
    cost_change,
    metric_delta,
    metric_value,
    money,
    plural,
    signed_money,
    tasks,
    trial_counts,
)
from reconciler.plan.render_fit import Builder
from reconciler.plan.render_md_parts import (
    P_COST,
    P_NEW_FAILING,
    P_OTHER_CASES,
    P_PASSING,
    P_REGRESSIONS,
    bullets,
    inline,
    table,
)
from reconciler.plan.render_md_sections import heading

METRIC_HEADER = ["metric", "base", "head", "Δ", "threshold", "status"]
COST_HEADER = ["agent", "model", "cost/task base → head", "monthly at declared volume base → head",
               "Δ monthly"]  # fmt: skip


def case_summary(case: CaseEntry) -> str:
    """The one line a folded case shows: plain text (escaped by md_details)."""
    new = "newly failing" if case.newly_failing else CASE_STATE[case.state]
    if case.state == "flaky":
        new += ", flaky"
    return f"{'❌' if case.state != 'not_run' else '⚠️'} {case.case} ({new}): {case.reason}"


def tool_calls_text(case: CaseEntry) -> str:
    lines = []
    for call in case.last_tool_calls:
        outcome = "ok" if call.succeeded else f"error: {call.error or 'failed'}"
        lines.append(f"{call.tool}({call.arguments}) -> {outcome}")
    return "\n".join(lines)


def case_body(case: CaseEntry) -> str:
    parts = [
        f"**{label}**:\n\n{md_code(text)}" if verbatim else f"**{label}**: {inline(text)}"
        for label, text, verbatim in case_facts(case)
    ]
    if case.last_tool_calls:
        parts.append(f"**Last tool calls**:\n\n{md_code(tool_calls_text(case))}")
    return "\n\n".join(parts)


def _case_priority(agent: AgentEval, case: CaseEntry) -> int:
    problem = agent.status in PROBLEM_AGENT_STATUSES
    return P_NEW_FAILING if problem and case.newly_failing else P_OTHER_CASES


def _cases(b: Builder, agent: AgentEval, head: int) -> None:
    failing = [c for c in agent.cases if c.state != "not_run"]
    failing.sort(key=lambda c: not c.newly_failing)  # newly failing first
    for case in failing:
        text = md_details(case_summary(case), case_body(case))
        b.add(text, _case_priority(agent, case), "case", head)
    not_run = [c for c in agent.cases if c.state == "not_run"]
    count = max(agent.not_run, len(not_run))
    if count:
        b.add(f"⚠️ {plural(count, 'case', 'cases')} could not run.", P_REGRESSIONS, "note", head)
        items = [(f"{inline(c.case)}: {inline(c.reason)}", P_OTHER_CASES) for c in not_run]
        bullets(b, items, "not run", head, b.new_group())


def _agent_eval(b: Builder, agent: AgentEval) -> None:
    priority = P_REGRESSIONS if agent.status in PROBLEM_AGENT_STATUSES else P_PASSING
    failing = sum(1 for c in agent.cases if c.state != "not_run")
    head = b.add(
        f"#### {inline(agent.agent)}: {AGENT_STATUS[agent.status]}\n\n"
        f"{inline(agent.headline)} ({plural(failing, 'failing case', 'failing cases')})",
        priority,
        "agent eval",
    )
    rows = [
        ([inline(m.name), metric_value(m.name, m.base), metric_value(m.name, m.head),
          metric_delta(m.name, m.base, m.head), inline(m.threshold or "—"),
          METRIC_STATUS[m.status]], priority)
        for m in agent.metrics
    ]  # fmt: skip
    table(b, METRIC_HEADER, rows, "metric", head, priority)
    checks = [
        (f"{check_icon(c.regressed, c.base, c.head)} {inline(check_summary(c))}", priority)
        for c in agent.checks
    ]  # fmt: skip
    bullets(b, checks, "metric", head, b.new_group())
    _cases(b, agent, head)


def evals(b: Builder, report: PlanReport) -> None:
    e = report.evals
    b.section("evals", P_REGRESSIONS, heading("evals"))
    if not e.ran:
        b.add("Evals did not run: no agent's behaviour is affected.", P_REGRESSIONS, "note")
    if e.trials:
        b.add(
            inline(trial_counts(e)),
            P_PASSING,
            "note",
        )
    # The reason's text already starts with the agent's name and says why.
    reasons = [(f"⚠️ {inline(r.text)}", P_REGRESSIONS) for r in e.not_evaluated]
    bullets(b, reasons, "reason", None, b.new_group())
    order = sorted(e.agents, key=lambda a: a.status not in PROBLEM_AGENT_STATUSES)
    for agent in order:
        _agent_eval(b, agent)


def _model(row: CostRow) -> str:
    base, head = row.model_base, row.model_head
    if base == head:
        return inline(head or "—")
    return f"{inline(base or '—')} → {inline(head or '—')}"


def _monthly(row: CostRow) -> str:
    volume = "" if row.tasks_per_month is None else f" ({tasks(row.tasks_per_month)})"
    return f"{money(row.monthly_base)} → {money(row.monthly_head)}{volume}"


def cost(b: Builder, report: PlanReport) -> None:
    c = report.cost
    b.section("cost", P_COST, heading("cost"))
    b.add(f"**Total monthly**: {cost_change(c, monthly=True)}", P_COST, "note")
    breaches = [(f"⛔ {inline(x.agent)}: {inline(x.text)} (policy {inline(x.policy)})", P_COST)
                for x in c.breaches]  # fmt: skip
    bullets(b, breaches, "reason", None, b.new_group())
    rows = sorted(c.rows, key=lambda r: -abs(r.delta_monthly or 0))  # the biggest first
    cells = [
        ([inline(r.agent), _model(r), f"{money(r.per_task_base)} → {money(r.per_task_head)}",
          _monthly(r), signed_money(r.delta_monthly)],
         P_COST)
        for r in rows
    ]  # fmt: skip
    table(b, COST_HEADER, cells, "cost", None, P_COST)
    b.add(
        f"This eval run cost {money(c.eval_run_cost_usd)}. Prices: {inline(c.price_source)}.",
        P_COST,
        "note",
    )
