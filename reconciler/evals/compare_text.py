"""A base-vs-head comparison in words: the headline and each check's figures and why.

Shared by `alm eval compare` (reconciler.cli.eval_compare) and the plan report
(reconciler.plan), so the terminal and the PR comment say the same thing. The headline
names every check that regressed and nothing else; each check line gives its figures
and why it did or did not regress, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.evals.regression_checks import Check, Tolerances
from reconciler.evals.stats import Comparison

MINUS = "\N{MINUS SIGN}"
NAMES = {"pass_rate": "pass rate", "cost": "cost per case", "latency": "latency per case"}


def cases(count: int) -> str:
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


def check_text(check: Check, c: Comparison) -> str:
    """The check's figures and why, without its name: ``100.0% → 0.0% (...): REGRESSED: ...``."""
    if check.why == "not measured":
        return "not measured"
    tol = c.tolerances
    latency_bound = f"+{tol.latency_increase:.0%} and +{tol.latency_min_s:g} s"
    formats: dict[str, Callable[[], str]] = {
        "pass_rate": lambda: _pass_rate(check, tol),
        "cost": lambda: _rise(check, f"+{tol.cost_increase:.0%}", tol.alpha, money=True),
        "latency": lambda: _rise(check, latency_bound, tol.alpha, money=False),
    }
    return formats[check.metric]()


def check_line(check: Check, c: Comparison) -> str:
    name = NAMES[check.metric]
    if check.why == "not measured":
        return f"  {name}: not measured"
    return f"  {name} {check_text(check, c)}"


def headline(c: Comparison) -> str:
    parts = []
    if c.regressed:
        parts.append(f"REGRESSION in {', '.join(NAMES[k.metric] for k in c.regressed)}")
    if not c.pairs:
        parts.append("NOT COMPARED: no case was graded on both sides")
    elif c.not_run:
        parts.append(f"INCOMPLETE: {cases(len(c.not_run))} could not run")
    if not c.regressed and c.pairs:
        parts.append("no regression flagged")
    paired = len(c.pairs)
    return f"{c.agent}: {'; '.join(parts)}: {paired} paired case{'s' * (paired != 1)}"
