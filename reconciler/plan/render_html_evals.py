"""The HTML page's evals and cost sections, and the small pieces every section uses.

Every text from the report goes through esc (html.escape); only alm's own words,
numbers and icons are written as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.plan.model import AgentEval, CaseEntry, CostRow, PlanReport
from reconciler.plan.render_common import (
    AGENT_STATUS,
    METRIC_STATUS,
    PROBLEM_AGENT_STATUSES,
    SECTION_TITLES,
    case_facts,
    check_icon,
    check_summary,
    cost_change,
    esc,
    metric_delta,
    metric_value,
    money,
    plural,
    signed_money,
    tasks,
    trial_counts,
)
from reconciler.plan.render_md_evals import COST_HEADER, METRIC_HEADER, case_summary


def section(key: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{SECTION_TITLES[key]}</h2>\n{body}\n</section>'


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table; cells are HTML already."""
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def items(lines: Sequence[str], tag: str = "ul") -> str:
    if not lines:
        return ""
    return f"<{tag}>\n" + "\n".join(f"<li>{x}</li>" for x in lines) + f"\n</{tag}>"


def case_details(case: CaseEntry) -> str:
    rows = [
        f"<dt>{label}</dt><dd>{f'<pre>{esc(text)}</pre>' if verbatim else esc(text)}</dd>"
        for label, text, verbatim in case_facts(case)
    ]
    if case.last_tool_calls:
        calls = [
            f"<code>{esc(c.tool)}({esc(c.arguments)})</code> "
            + ("ok" if c.succeeded else f'<span class="bad">error: {esc(c.error or "failed")}'
               "</span>")
            for c in case.last_tool_calls
        ]  # fmt: skip
        rows.append(f"<dt>Last tool calls</dt><dd>{items(calls, 'ol')}</dd>")
    return (
        f'<details class="case"><summary>{esc(case_summary(case))}</summary>\n'
        f"<dl>{''.join(rows)}</dl>\n</details>"
    )


def _metrics(agent: AgentEval) -> str:
    rows = [
        [esc(m.name), metric_value(m.name, m.base), metric_value(m.name, m.head),
         metric_delta(m.name, m.base, m.head), esc(m.threshold or "—"), METRIC_STATUS[m.status]]
        for m in agent.metrics
    ]  # fmt: skip
    return table(METRIC_HEADER, rows)


def _checks(agent: AgentEval) -> str:
    return items([
        f"{check_icon(c.regressed, c.base, c.head)} {esc(check_summary(c))}"
        for c in agent.checks
    ])  # fmt: skip


def agent_eval(agent: AgentEval) -> str:
    failing = [c for c in agent.cases if c.state != "not_run"]
    failing.sort(key=lambda c: not c.newly_failing)
    not_run = [c for c in agent.cases if c.state == "not_run"]
    count = max(agent.not_run, len(not_run))
    parts = [
        f"<h3>{esc(agent.agent)}: {AGENT_STATUS[agent.status]}</h3>",
        f"<p>{esc(agent.headline)} ({plural(len(failing), 'failing case', 'failing cases')})</p>",
        _metrics(agent),
        _checks(agent),
        *(case_details(c) for c in failing),
    ]
    if count:
        parts.append(f"<p>⚠️ {plural(count, 'case', 'cases')} could not run.</p>")
        parts.append(items([f"{esc(c.case)}: {esc(c.reason)}" for c in not_run]))
    return "\n".join(p for p in parts if p)


def evals(report: PlanReport) -> str:
    e = report.evals
    parts = [] if e.ran else ["<p>Evals did not run: no agent's behaviour is affected.</p>"]
    if e.trials:
        parts.append(f"<p>{esc(trial_counts(e))}</p>")
    # The reason's text already starts with the agent's name and says why.
    parts.append(items([f"⚠️ {esc(r.text)}" for r in e.not_evaluated]))
    order = sorted(e.agents, key=lambda a: a.status not in PROBLEM_AGENT_STATUSES)
    parts += [agent_eval(a) for a in order]
    return section("evals", "\n".join(p for p in parts if p))


def _cost_row(r: CostRow) -> list[str]:
    model = esc(r.model_head or "—")
    if r.model_base != r.model_head:
        model = f"{esc(r.model_base or '—')} → {model}"
    volume = "" if r.tasks_per_month is None else f" ({tasks(r.tasks_per_month)})"
    return [esc(r.agent), model, f"{money(r.per_task_base)} → {money(r.per_task_head)}",
            f"{money(r.monthly_base)} → {money(r.monthly_head)}{volume}",
            signed_money(r.delta_monthly)]  # fmt: skip


def cost(report: PlanReport) -> str:
    c = report.cost
    rows = sorted(c.rows, key=lambda r: -abs(r.delta_monthly or 0))
    parts = [
        f"<p><strong>Total monthly</strong>: {esc(cost_change(c, monthly=True))}</p>",
        items([f"⛔ {esc(x.agent)}: {esc(x.text)} (policy {esc(x.policy)})" for x in c.breaches]),
        table(COST_HEADER, [_cost_row(r) for r in rows]),
        f"<p>This eval run cost {money(c.eval_run_cost_usd)}. Prices: {esc(c.price_source)}.</p>",
    ]
    return section("cost", "\n".join(p for p in parts if p))
