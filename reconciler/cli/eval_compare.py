"""alm eval compare: base against head on paired cases, one verdict per agent.

The headline names every check that regressed and nothing else; below it each check
gives its figures and why it did or did not regress, so the two never disagree. Cases
that changed outcome are "changed"; they are called "regressed" only when the pass rate
regressed. Exit 1 when a check regressed, when a case could not run on either side, or
when an agent has no paired case: an incomplete comparison is never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click

from reconciler.cli.eval_cmd import _IN, eval_group
from reconciler.errors import ExitCode
from reconciler.evals.regression_checks import CasePair, Check, Side, Tolerances
from reconciler.evals.results import read
from reconciler.evals.stats import Comparison, RunComparison, compare_runs

FIRST = 5  # cases named per list; the rest are counted
MINUS = "\N{MINUS SIGN}"
NAMES = {"pass_rate": "pass rate", "cost": "cost per case", "latency": "latency per case"}


def _cases(count: int) -> str:
    return f"{count} case{'s' * (count != 1)}"


def _signed(value: float, text: str) -> str:
    """A change with its sign: a drop reads with a minus sign, never as +-10.0."""
    return f"{MINUS if value < 0 else '+'}{text}"


def _change(check: Check, absolute: str, relative: bool) -> str:
    """``(-10.0 points, p=0.001)`` with a minus sign; ``(no change)`` for equal means."""
    assert check.base is not None and check.head is not None
    base, head = check.base, check.head
    if base == head:
        return "(no change)"
    parts = [_signed(head - base, absolute)]
    if relative and base:
        parts.append(_signed(head - base, f"{abs(head - base) / base:.1%}"))
    if check.p_value is not None:
        parts.append(f"p={check.p_value:.3g}")
    return f"({', '.join(parts)})"


def _pass_rate(check: Check, tol: Tolerances) -> str:
    assert check.base is not None and check.head is not None
    points = abs(check.head - check.base) * 100
    change = _change(check, f"{points:.1f} points", relative=False)
    bound = f"{tol.success_drop * 100:.1f}-point tolerance"
    why = {
        "regressed": f"REGRESSED: a significant drop beyond the {bound}",
        "within tolerance": f"ok: within the {bound}",
        "not significant": f"ok: not significant (p ≥ {tol.alpha:g}), could be noise",
    }
    return f"{check.base:.1%} → {check.head:.1%} {change}: {why[check.why]}"


def _rise(check: Check, bound: str, alpha: float, money: bool) -> str:
    assert check.base is not None and check.head is not None
    delta = abs(check.head - check.base)
    if money:
        figures = f"${check.base:.5f} → ${check.head:.5f}"
        change = _change(check, f"${delta:.5f}", relative=True)
    else:
        figures = f"{check.base:.2f} s → {check.head:.2f} s"
        change = _change(check, f"{delta:.2f} s", relative=True)
    why = {
        "regressed": f"REGRESSED: a rise beyond {bound}",
        "within tolerance": f"ok: within {bound}",
        "not significant": f"ok: beyond {bound} but not significant (p ≥ {alpha:g})",
    }
    return f"{figures} {change}: {why[check.why]}"


def check_line(check: Check, c: Comparison) -> str:
    name = NAMES[check.metric]
    if check.why == "not measured":
        return f"  {name}: not measured"
    tol = c.tolerances
    latency_bound = f"+{tol.latency_increase:.0%} and +{tol.latency_min_s:g} s"
    formats: dict[str, Callable[[], str]] = {
        "pass_rate": lambda: _pass_rate(check, tol),
        "cost": lambda: _rise(check, f"+{tol.cost_increase:.0%}", tol.alpha, money=True),
        "latency": lambda: _rise(check, latency_bound, tol.alpha, money=False),
    }
    return f"  {name} {formats[check.metric]()}"


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
    return f"{s.graded} of {s.trials} trials ran"


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


def headline(c: Comparison) -> str:
    parts = []
    if c.regressed:
        parts.append(f"REGRESSION in {', '.join(NAMES[k.metric] for k in c.regressed)}")
    if not c.pairs:
        parts.append("NOT COMPARED: no case was graded on both sides")
    elif c.not_run:
        parts.append(f"INCOMPLETE: {_cases(len(c.not_run))} could not run")
    if not c.regressed and c.pairs:
        parts.append("no regression flagged")
    paired = len(c.pairs)
    return f"{c.agent}: {'; '.join(parts)}: {paired} paired case{'s' * (paired != 1)}"


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
        click.echo(line)
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
