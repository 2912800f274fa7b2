"""alm eval compare: base against head on paired cases."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.eval_cmd import _IN, _number, eval_group
from reconciler.errors import ExitCode
from reconciler.evals.results import from_json
from reconciler.evals.stats import Comparison, compare


def comparison_lines(c: Comparison) -> list[str]:
    rates = f"{_number(c.base_pass_rate, '.0%')} → {_number(c.head_pass_rate, '.0%')}"
    verdict = "REGRESSION" if c.any_regression else "no regression flagged"
    lines = [f"{c.agent}: {verdict}: {c.pairs} paired cases, pass rate {rates}, p={c.p_value:.3g}"]
    lines += [f"  regressed: {ch.case}" for ch in c.regressed_cases]
    lines += [f"  flaky: {ch.case} (base {ch.base}, head {ch.head})" for ch in c.flaky_cases]
    lines += [f"  {r.metric}: {r.reason}" for r in (c.cost, c.latency_p95) if r.regressed]
    lines.append(f"  {c.reason}")  # also why a drop was not flagged: tolerance or noise
    return lines


@eval_group.command("compare")
@click.argument("base", type=_IN)
@click.argument("head", type=_IN)
def compare_cmd(base: Path, head: Path) -> int:
    """Compare two results files on paired cases; exit 1 when a regression is flagged."""
    before = from_json(base.read_text("utf-8"), str(base))
    after = from_json(head.read_text("utf-8"), str(head))
    comparisons = compare(before.cases, after.cases)
    for comparison in comparisons:
        for line in comparison_lines(comparison):
            click.echo(line)
    if not comparisons:
        click.echo("no agent has results on both sides")
    return ExitCode.INVALID if any(c.any_regression for c in comparisons) else ExitCode.OK
