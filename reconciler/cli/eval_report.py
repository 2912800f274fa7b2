"""What alm eval and alm eval merge print: the results table (it fits a 100-column
terminal), what failed or did not run and why, what was not evaluated, and the verdict."""

from __future__ import annotations

from collections import Counter

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reconciler.cli.output import printable
from reconciler.errors import ExitCode
from reconciler.evals.gate import GateCheck
from reconciler.evals.metrics import Metrics, Rate
from reconciler.evals.providers.openai_provider import BASE_URL_VARIABLES, KEY_VARIABLE
from reconciler.evals.results import AgentResult, Results
from reconciler.wording import plural

WIDTH = 100  # the table's width when not on a terminal (CI logs, pipes)
SHOWN = 5  # failing trials named in full before "… and N more"
NOT_RECORDED = "not recorded"
# what a recording run needs in its environment, by model provider
RECORD_NEEDS: dict[str, str] = {
    "openai": f"{KEY_VARIABLE}, and {BASE_URL_VARIABLES[0]} for another compatible endpoint",
}


def say(line: str) -> None:
    """Print one line that may quote the repository or an agent (a reason, a case id, a
    model name): no escape sequence reaches the terminal, and no line break in it can
    start a line of its own (a forged verdict, a workflow command)."""
    click.echo(printable(line).replace("\n", "\\u000a"))


def number(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _rate(rate: Rate) -> str:
    return "—" if rate.value is None else f"{rate.value:.0%}"


def _row(m: Metrics) -> list[str]:
    return [
        f"{m.trials}/{m.trials + m.not_run_trials}",
        _rate(m.task_success_rate),
        _rate(m.tool_call_success_rate),
        f"{_rate(m.escalation_precision)}/{_rate(m.escalation_recall)}",
        _rate(m.policy_compliance),
        number(m.cost_per_task_usd, ".4f"),
        number(m.latency_p95_s, ".2f"),
        _rate(m.pass_hat_k),
    ]


def _gate(agent: AgentResult, judged: bool) -> str:
    return str(agent.gate.status).replace("_", " ") if judged else "not judged"


def metrics_table(results: Results) -> Table:
    """One row per agent, its model under its name; "ran" is graded / planned trials."""
    table = Table(
        title="eval results",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("agent / model", overflow="fold")
    for header in ("ran", "success", "tools", "esc P/R", "policy", "$/task", "p95 s", "pass^k"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("gate", no_wrap=True)
    for agent in results.agents:
        model = printable(agent.model)  # free text from the spec; Text: never read as markup
        name = Text.assemble(agent.agent, "\n", (model, "dim"))
        table.add_row(name, *_row(agent.metrics.overall), _gate(agent, results.run.whole))
    return table


def _kind(reason: str) -> str:
    return reason.split(":")[0]


def not_run_lines(results: Results) -> list[str]:
    """Per agent, how many trials did not run and why ("not recorded", "timed out", ...),
    the first full reason of each kind, and how to record what is not recorded."""
    lines = []
    for agent in results.agents:
        reasons = [c.reason for c in results.cases_of(agent.agent) if not c.graded]
        kinds = Counter(_kind(reason) for reason in reasons)
        if not kinds:
            continue
        why = ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items()))
        lines.append(f"{agent.agent}: {plural(len(reasons), 'trial')} not run: {why}")
        examples = {_kind(reason): reason for reason in reversed(reasons)}
        lines += [f"  e.g. {examples[kind]}" for kind in sorted(kinds)]
        if NOT_RECORDED in kinds:
            lines.append(_record_hint(agent))
    return lines


def _record_hint(agent: AgentResult) -> str:
    provider = agent.model.split("/")[0]
    needs = RECORD_NEEDS.get(provider, f"the {provider} provider's key")
    return (
        f"  to record them (in the working tree, against a live model): "
        f"alm eval --agent {agent.agent} --mode record, with {needs} in the environment"
    )


def failing_lines(results: Results) -> list[str]:
    """The first few failed trials, each with its reason, and how many more."""
    failed = [c for c in results.cases if c.status == "failed"]
    lines = []
    for c in failed[:SHOWN]:
        trial = f" trial {c.trial + 1}/{c.repeats}" if c.repeats > 1 else ""
        lines.append(f"failed: {c.agent} {c.suite}/{c.case_id}{trial}: {c.reason}")
    if len(failed) > SHOWN:
        lines.append(f"… and {plural(len(failed) - SHOWN, 'more failed trial')} (all are in --out)")
    return lines


def gate_lines(results: Results, skip: frozenset[str] = frozenset()) -> list[str]:
    """Each gate check that did not pass, when gates are judged; agents in skip (not
    evaluated, said once already) are left out."""
    if not results.run.whole:
        return []
    return [
        f"{agent.agent}: {check.metric} {_check_text(check)}"
        for agent in results.agents
        if agent.agent not in skip
        for check in agent.gate.checks
        if check.status != "passed"
    ]


def _check_text(check: GateCheck) -> str:
    status = check.status.replace("_", " ")
    return check.reason if check.reason.startswith(status) else f"{status}: {check.reason}"


def _part(results: Results) -> str:
    if results.run.shard:
        return "a shard: run alm eval merge over every shard"
    return "a selection of cases (--case, --tag)"


def print_table(results: Results) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=WIDTH)
    console.print(metrics_table(results))


def report(results: Results) -> int:
    """Print the table and the verdict; the exit code of an eval. A shard or a selection
    of cases does not judge gates: a part of a suite says nothing about the whole. An
    agent that could not be evaluated (results.run.not_evaluated) fails the run, whatever
    the others did."""
    unevaluated = results.run.not_evaluated
    if results.agents:
        print_table(results)
    for line in failing_lines(results):
        say(line)
    if not results.run.whole:
        say(f"gates not judged on {_part(results)}")
    skip = frozenset(u.agent for u in unevaluated)
    gates = gate_lines(results, skip)
    problems = [f"{u.agent}: {u.reason}" for u in unevaluated] + not_run_lines(results) + gates
    for line in problems:
        say(line)
    if not results.agents and not unevaluated:
        say("no agents to evaluate")
    if problems:
        say(f"eval: FAILED ({_summary(results, skip, len(gates))})")
        return ExitCode.INVALID
    verdict = "passed" if results.run.whole else "every selected trial ran"
    say(f"eval: {verdict} ({plural(len(results.agents), 'agent')})")
    return ExitCode.OK


def _summary(results: Results, unevaluated: frozenset[str], failed_checks: int) -> str:
    parts = []
    if unevaluated:
        fleet = len({a.agent for a in results.agents} | unevaluated)
        parts.append(f"{len(unevaluated)} of {plural(fleet, 'agent')} not evaluated in full")
    not_run = sum(not c.graded for c in results.cases)
    if not_run:
        parts.append(f"{not_run} of {plural(len(results.cases), 'trial')} not run")
    if failed_checks:
        parts.append(f"{plural(failed_checks, 'gate check')} did not pass")
    return "; ".join(parts)
