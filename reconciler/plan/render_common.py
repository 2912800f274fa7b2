"""What the markdown and the HTML renderers of the plan report share: the words for each
status, number formats, the order of findings, safe link targets, UTF-16 lengths.

Pure formatting of numbers and fixed labels; the repository's text is escaped by each
renderer (reconciler.plan.markdown for markdown, html.escape for HTML), never here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlsplit

from reconciler.evals.compare_text import NAMES as CHECK_NAMES
from reconciler.plan.markdown import INVISIBLE  # one list of what must never show
from reconciler.plan.model import (
    Approval,
    CaseEntry,
    CheckEntry,
    Cost,
    EnvironmentStep,
    Evals,
    FindingEntry,
    Links,
    PlanReport,
)
from reconciler.wording import noun as noun  # re-exported for the renderers
from reconciler.wording import plural as plural

VERDICT_WORDS = {
    "ready": ("✅", "Ready to merge"),
    "blocked": ("⛔", "Blocked"),
    "pending": ("⏳", "Pending approvals"),
}
METRIC_STATUS = {"ok": "✅ ok", "missed": "❌ missed", "not measured": "⚪ not measured",
                 "no threshold": "no threshold"}  # fmt: skip
AGENT_STATUS = {"passed": "✅ passed", "failed": "❌ failed", "regressed": "📉 regressed",
                "not run": "⚠️ not run", "new": "🆕 new", "removed": "🗑️ removed"}  # fmt: skip
CASE_STATE = {"failed": "failed", "flaky": "flaky", "not_run": "could not run"}
CHANGE_STATUS = {"added": "added", "removed": "removed", "changed": "changed",
                 "invalid": "invalid"}  # fmt: skip
PROBLEM_AGENT_STATUSES = frozenset({"failed", "regressed", "not run"})
NONE = "—"
ALL_CLEAR = "Every gate passed and no approval is missing."
REVIEWS_NOT_READ = "Reviews not read yet: each approval is waiting for review."

SECTION_TITLES = {
    "verdict": "Verdict",
    "changes": "Changed agents",
    "findings": "Findings",
    "approvals": "Approvals",
    "evals": "Evals: base vs head",
    "cost": "Cost",
    "deploy": "On merge",
    "provenance": "Provenance",
}
FULL_ORDER = ("verdict", "changes", "findings", "approvals", "evals", "cost", "deploy",
              "provenance")  # fmt: skip


def utf16_len(text: str) -> int:
    """Length as GitHub counts a comment: UTF-16 code units (a non-BMP character is 2)."""
    return len(text.encode("utf-16-le")) // 2


def esc(text: str) -> str:
    """Repository text inside HTML: escaped (quotes too), controls and bidi overrides gone."""
    return html.escape(INVISIBLE.sub("", text), quote=True)


def title(report: PlanReport) -> str:
    icon, words = VERDICT_WORDS[report.verdict.status]
    return f"{icon} alm plan: {words}"


# --- numbers ---------------------------------------------------------------------------


def money(value: float | None) -> str:
    if value is None:
        return NONE
    sign = "-" if value < 0 else ""
    size = abs(value)
    if size == 0:
        return "$0"
    digits = ".4f" if size < 0.1 else ",.2f" if size < 1000 else ",.0f"
    return f"{sign}${size:{digits}}"


def signed_money(value: float | None) -> str:
    if value is None:
        return NONE
    return ("+" if value > 0 else "") + money(value)


def percent_change(base: float, head: float) -> str:
    if base == 0:
        return "new cost" if head else "no change"
    return f"{(head - base) / base * 100:+.1f}%"


def uncosted(cost: Cost) -> str | None:
    """How many changed agents the totals leave out (not evaluated on a side, or no declared
    volume), so that a missing figure never reads as "no change"; None when none is."""
    missing = sum(r.delta_monthly is None for r in cost.rows)
    return f"{plural(missing, 'agent', 'agents')} not costed" if missing else None


def cost_change(cost: Cost, monthly: bool = False) -> str:
    """The totals' change: "+$12.50/month (+3.1%)", or with the base and head
    ("$400 → $412.50 (Δ +$12.50, +3.1%)"); "not known" when no changed agent is costed."""
    base, head = cost.total_monthly_base, cost.total_monthly_head
    gap = uncosted(cost)
    if gap and all(r.delta_monthly is None for r in cost.rows):
        return f"not known ({gap})"
    change = percent_change(base, head) + (f"; {gap}" if gap else "")
    if monthly:
        return f"{money(base)} → {money(head)} (Δ {signed_money(head - base)}, {change})"
    return f"{signed_money(head - base)}/month ({change})"


def _rate(v: float) -> str:
    return f"{v * 100:.1f}%"


def _seconds(v: float) -> str:
    return f"{v:.2f} s"


def _plain(v: float) -> str:
    return f"{v:.4g}"


_RATE_WORDS = ("rate", "precision", "recall", "compliance", "pass_hat")
# (recognises the metric's unit from its name, shows the value, shows a difference)
_UNITS: list[tuple[Callable[[str], bool], Callable[[float], str], Callable[[float], str]]] = [
    (lambda n: any(w in n for w in _RATE_WORDS), _rate, lambda d: f"{d * 100:+.1f} pp"),
    (lambda n: n.endswith("_usd") or n == "cost", money, signed_money),
    (lambda n: n.endswith("_s") or n == "latency", _seconds, lambda d: f"{d:+.2f} s"),
]


def _unit(name: str) -> tuple[Callable[[float], str], Callable[[float], str]]:
    for matches, value, difference in _UNITS:
        if matches(name):
            return value, difference
    return _plain, lambda d: f"{d:+.4g}"


def metric_value(name: str, value: float | None) -> str:
    return NONE if value is None else _unit(name)[0](value)


def metric_delta(name: str, base: float | None, head: float | None) -> str:
    if base is None or head is None:
        return NONE
    return _unit(name)[1](head - base)


def p_value(value: float | None) -> str:
    return NONE if value is None else f"{value:.3g}"


# --- order and labels ------------------------------------------------------------------

_NEWNESS = {True: 0, None: 1, False: 2}


def findings_in_order(findings: Sequence[FindingEntry]) -> list[FindingEntry]:
    """New ones first, then unknown, then old; errors before warnings; then by place."""
    return sorted(
        findings,
        key=lambda f: (_NEWNESS[f.new], f.severity != "error", f.file, f.line, f.column),
    )


def finding_place(finding: FindingEntry) -> str:
    return f"{finding.file}:{finding.line}:{finding.column}"


def newness(finding: FindingEntry) -> str:
    return {True: "new", None: "", False: "already on base"}[finding.new]


def short_sha(sha: str | None) -> str:
    return sha[:12] if sha else "working tree"


def side(ref: str | None, commit: str | None, full: bool = False) -> str:
    """ "origin/main @ 1a2b3c4d5e6f", or "working tree" (not committed)."""
    if not commit:
        return ref or "working tree"
    return f"{ref or 'commit'} @ {commit if full else short_sha(commit)}"


def check_icon(regressed: bool, base: float | None, head: float | None) -> str:
    return "📉" if regressed else "⚪" if base is None or head is None else "✅"


# --- links -----------------------------------------------------------------------------

_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")


def case_facts(case: CaseEntry) -> list[tuple[str, str, bool]]:
    """What went wrong in a case, as (label, text, verbatim) for either renderer: why, the
    violated rule, then expected and got (shown verbatim); the last tool calls are each
    renderer's own."""
    facts = [("Why", case.reason, False)]
    if case.rule:
        facts.append(("Violated rule", case.rule, False))
    facts += [(label, v, True) for label, v in (("Expected", case.expected), ("Got", case.got))
              if v is not None]  # fmt: skip
    return facts


def approval_for(approval: Approval) -> str:
    """What an approval is for: ``support-triage; 3 files``, or ``the change``."""
    shown = approval.agents[:5]
    parts = [
        ", ".join(shown) + (f" and {len(approval.agents) - 5} more" if approval.agents[5:] else "")
    ]
    parts = parts if shown else []
    if approval.files:
        parts.append(plural(len(approval.files), "file", "files"))
    return "; ".join(parts) or "the change"


def tasks(count: int) -> str:
    """A monthly volume: ``120,000 tasks``, ``1 task``."""
    return f"{count:,} {noun(count, 'task')}"


_TRIAL_WORDS = (("run", "run here"), ("cached", "from the cache"), ("not_run", "not run"))


def trial_counts(evals: Evals) -> str:
    """``17 trials at base, 17 at head: 34 run here, 0 from the cache, 0 not run. This
    eval run cost $0.05.``"""
    trials = evals.trials
    base, head = trials.get("base_trials", 0), trials.get("head_trials", 0)
    sides = f"{plural(base, 'trial')} at base, {head} at head"
    counts = [f"{trials[key]} {words}" for key, words in _TRIAL_WORDS if key in trials]
    text = f"{sides}: {', '.join(counts)}" if counts else sides
    return f"{text}. This eval run cost {money(evals.run_cost_usd)}."


def check_summary(check: CheckEntry) -> str:
    """``pass rate (paired): <the check's figures and why>``, as alm eval compare says it."""
    return f"{CHECK_NAMES.get(check.metric, check.metric)} (paired): {check.why}"


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit to be a link target, percent-encoded so that no character of it
    can end the markdown link or the HTML attribute; None for anything else."""
    if not url or _URL_UNSAFE.search(url) or len(url) > 2000:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=":/?#@!$&*+,;=%~.-_")


LINK_LABELS = (("html_report", "full HTML report"), ("job_summary", "job summary"),
               ("run", "workflow run"))  # fmt: skip


def stays(step: EnvironmentStep, escape: Callable[[str], str]) -> str:
    """The agents removed here that apply leaves deployed, and the command that deletes them."""
    if not step.stays:
        return ""
    prune = f"alm apply --env {step.environment} --prune"
    return f" · stays deployed until {escape(prune)}: {escape(', '.join(step.stays))}"


def links(report_links: Links) -> list[tuple[str, str | None, str]]:
    """(label, the URL when it may be a link, the raw text) for each link the report has;
    links to one address are one link with the labels joined."""
    found: dict[str, tuple[list[str], str | None]] = {}
    for field, label in LINK_LABELS:
        raw = getattr(report_links, field)
        if raw:
            found.setdefault(raw, ([], safe_url(raw)))[0].append(label)
    return [(", ".join(labels), url, raw) for raw, (labels, url) in found.items()]
