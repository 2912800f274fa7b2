"""alm eval compare: base against head on paired cases, one verdict per agent.

The headline names every check that regressed and nothing else; below it each check
gives its figures and why it did or did not regress, so the two never disagree. Cases
that changed outcome are "changed"; they are called "regressed" only when the pass rate
regressed. Exit 1 when a check regressed, when a case could not run on either side, or
when an agent has no paired case: an incomplete comparison is never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from reconciler.cli.eval_cmd import _IN, eval_group
from reconciler.cli.eval_report import say
from reconciler.errors import ExitCode
from reconciler.evals.compare_text import cases as _cases
from reconciler.evals.compare_text import check_line, headline
from reconciler.evals.regression_checks import CasePair, Side
from reconciler.evals.results import read
from reconciler.evals.stats import Comparison, RunComparison, compare_runs
from reconciler.wording import plural

FIRST = 5  # cases named per list; the rest are counted


def _score(s: Side) -> str:
    return f"{s.passed}/{s.graded}"


def _listed(label: str, names: Sequence[str]) -> str:
    more = len(names) - FIRST
    tail = f" and {more} more" if more > 0 else ""
    return f"  {label}: {', '.join(names[:FIRST])}{tail}"


def _outcomes(pairs: Sequence[CasePair]) -> list[str]:
    return [f"{p.case} ({_score(p.base)} → {_score(p.head)})" for p in pairs]


def case_lines(c: Comparison) -> list[str]:
    lines = []
    worse = [p for p in c.changed if p.worse]
    better = [p for p in c.changed if not p.worse]
    if c.pass_rate.regressed and worse:
        lines.append(_listed(f"regressed: {_cases(len(worse))} worse on head", _outcomes(worse)))
        if better:
            lines.append(_listed(f"changed: {len(better)} better on head", _outcomes(better)))
    elif c.changed:
        counts = (
            f"{_cases(len(c.changed))} changed outcome ({len(worse)} worse, {len(better)} better)"
        )
        lines.append(_listed(f"changed: {counts}", _outcomes([*worse, *better])))
    if c.flaky:
        flaky = [f"{p.case} (base {_score(p.base)}, head {_score(p.head)})" for p in c.flaky]
        lines.append(_listed(f"flaky: {_cases(len(flaky))} whose repeats disagree", flaky))
    return lines


def _ran(s: Side) -> str:
    return f"{s.graded} of {plural(s.trials, 'trial')} ran"


def unpaired_lines(c: Comparison) -> list[str]:
    lines = []
    if c.not_run:
        details = [f"{p.case} (base {_ran(p.base)}, head {_ran(p.head)})" for p in c.not_run]
        lines.append(_listed(f"not run: {_cases(len(details))} could not run", details))
    if c.edited:
        lines.append(_listed(f"edited: {_cases(len(c.edited))} differ, not paired", c.edited))
    if c.only_head:
        lines.append(_listed(f"new: {_cases(len(c.only_head))} only on head", c.only_head))
    if c.only_base:
        lines.append(_listed(f"removed: {_cases(len(c.only_base))} only on base", c.only_base))
    return lines


def comparison_lines(c: Comparison) -> list[str]:
    checks = [check_line(k, c) for k in c.checks] if c.pairs else []
    return [headline(c), *checks, *case_lines(c), *unpaired_lines(c)]


@eval_group.command("compare")
@click.argument("base", type=_IN)
@click.argument("head", type=_IN)
def compare_cmd(base: Path, head: Path) -> int:
    """Compare two results files on paired cases; exit 1 when a regression is flagged or
    the comparison is incomplete (cases not run, or no paired case)."""
    before = read(base)
    after = read(head)
    result = compare_runs(before, after)
    for line in run_lines(result):
        say(line)  # case ids and agent names come from files another job wrote
    return ExitCode.INVALID if result.failed else ExitCode.OK


def run_lines(result: RunComparison) -> list[str]:
    lines = [line for c in result.comparisons for line in comparison_lines(c)]
    lines += [f"{name}: new at head, nothing to compare" for name in result.only_head]
    lines += [f"{name}: only at base, not evaluated at head" for name in result.only_base]
    if not lines:
        lines.append("no agent was evaluated on either side: nothing to compare")
    if result.failed:
        lines.append(f"compare: FAILED ({', '.join(c.agent for c in result.failed)})")
    else:
        count = len(result.comparisons)
        lines.append(f"compare: no regression flagged ({count} agent{'s' * (count != 1)} compared)")
    return lines
