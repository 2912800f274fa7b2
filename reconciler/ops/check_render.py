"""What `alm ops check` prints: one line per agent and revision with its status and key
metrics, then each breach with its numbers (text), or one JSON document whose shape is
documented in docs/ops.md (`SCHEMA`: bump it on any incompatible change)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.deploy.model import short_revision
from reconciler.ops.check import AgentCheck, MetricCheck, breached
from reconciler.ops.model import NS_PER_S, Breach, Window
from reconciler.wording import plural

SCHEMA = 1
STATUS_WORD = {"ok": "ok", "breach": "BREACH", "insufficient": "quiet"}


@dataclass(frozen=True)
class Action:
    """What the check did about a breach: a rollback, an issue, or why it did not."""

    agent: str
    kind: str  # rollback | issue | none
    detail: str
    before: str | None = None  # rollback: the revision rolled back from
    after: str | None = None  # and the one restored


@dataclass(frozen=True)
class Report:
    environment: str
    window: Window
    min_samples: int
    checks: Sequence[AgentCheck]
    actions: Sequence[Action] = ()
    notes: Sequence[str] = ()

    @property
    def status(self) -> str:
        if breached(self.checks):
            return "breach"
        current = [c for c in self.checks if c.current]
        return "ok" if any(c.status == "ok" for c in current) else "insufficient"


def iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / NS_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _figures(check: AgentCheck) -> str:
    m = check.metrics
    parts = [
        f"success {_num(m.task_success_rate.value, 2)}",
        f"tool calls {_num(m.tool_call_success_rate.value, 2)}",
        f"policy {_num(m.policy_compliance.value, 2)}",
        f"escalated {_num(check.escalation_rate, 2)}",
        f"cost/task ${_num(m.cost_per_task_usd, 4)}",
        f"p50 {_num(m.latency_p50_s, 1)} s",
        f"p95 {_num(m.latency_p95_s, 1)} s",
    ]
    if check.unpriced:
        parts.append(f"{check.unpriced} unpriced")
    return ", ".join(parts)


def agent_line(check: AgentCheck, min_samples: int) -> str:
    word = STATUS_WORD[check.status]
    live = "" if check.current else " (not live)"
    tasks = plural(check.tasks, "task")
    head = f"{word:<7}{check.agent} {short_revision(check.revision)}{live}: {tasks}"
    if check.tasks < min_samples:
        return f"{head} (fewer than {min_samples}: not judged)"
    return f"{head}; {_figures(check)}"


def breach_line(breach: Breach) -> str:
    sign = "<" if breach.bound == "min" else ">"
    what = "baseline" if breach.against == "baseline" else breach.bound
    ci = ""
    if breach.low is not None and breach.high is not None:
        ci = f" (95% CI {breach.low:.3f}-{breach.high:.3f})"
    examples = ", ".join(breach.example_traces) or "none"
    return (
        f"  {breach.metric} {breach.value:.4g}{ci} {sign} {what} {breach.threshold:.4g}, "
        f"n={breach.samples}; example traces: {examples}"
    )


def text(report: Report) -> str:
    lines = [
        f"alm ops check {report.environment}: {report.window.describe()}, "
        f"at least {plural(report.min_samples, 'task')} to judge"
    ]
    for check in report.checks:
        lines.append(agent_line(check, report.min_samples))
        lines.extend(breach_line(b) for b in check.breaches)
    lines.extend(f"{a.agent}: {a.detail}" for a in report.actions)
    lines.extend(f"note: {n}" for n in report.notes)
    bad = breached(report.checks)
    names = ", ".join(dict.fromkeys(c.agent for c in bad))
    lines.append(f"result: {len(bad)} in breach ({names})" if bad else f"result: {report.status}")
    return "\n".join(lines)


# --- json ------------------------------------------------------------------------------


def _check_json(check: MetricCheck) -> dict[str, Any]:
    return {
        "metric": check.metric,
        "against": check.against,
        "bound": check.bound,
        "threshold": check.threshold,
        "value": check.value,
        "low": check.low,
        "high": check.high,
        "samples": check.samples,
        "status": check.status,
        "p_value": check.p_value,
    }


def _breach_json(breach: Breach) -> dict[str, Any]:
    return {
        "metric": breach.metric,
        "against": breach.against,
        "bound": breach.bound,
        "threshold": breach.threshold,
        "value": breach.value,
        "low": breach.low,
        "high": breach.high,
        "samples": breach.samples,
        "example_traces": list(breach.example_traces),
    }


def _agent_json(check: AgentCheck) -> dict[str, Any]:
    m = check.metrics
    figures = {
        "task_success_rate": m.task_success_rate.value,
        "tool_call_success_rate": m.tool_call_success_rate.value,
        "escalation_rate": check.escalation_rate,
        "escalation_precision": m.escalation_precision.value,
        "escalation_recall": m.escalation_recall.value,
        "policy_compliance": m.policy_compliance.value,
        "cost_per_task_usd": m.cost_per_task_usd,
        "latency_p50_s": m.latency_p50_s,
        "latency_p95_s": m.latency_p95_s,
    }
    return {
        "agent": check.agent,
        "revision": check.revision,
        "live": check.current,
        "status": check.status,
        "tasks": check.tasks,
        "unpriced_tasks": check.unpriced,
        "metrics": figures,
        "checks": [_check_json(c) for c in check.checks],
        "breaches": [_breach_json(b) for b in check.breaches],
    }


def to_json(report: Report) -> str:
    data = {
        "schema": SCHEMA,
        "environment": report.environment,
        "window": {"start": iso(report.window.start_ns), "end": iso(report.window.end_ns)},
        "min_samples": report.min_samples,
        "status": report.status,
        "agents": [_agent_json(c) for c in report.checks],
        "actions": [vars(a) for a in report.actions],
        "notes": list(report.notes),
    }
    return json.dumps(data, indent=2)
