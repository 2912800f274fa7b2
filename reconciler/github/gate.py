"""The merge gate as GitHub shows it (pure): the commit status `alm/gate` and the check
run `alm` with file:line annotations, from a plan report's verdict and findings.

ready -> success; blocked -> failure; pending approvals -> pending (the status) and
neutral (the check run, which must be completed to carry annotations). Branch protection
requires the status `alm/gate`; the check run is for reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.plan.markdown import md_text
from reconciler.plan.model import FindingEntry, PlanReport, Verdict

CONTEXT = "alm/gate"
CHECK_NAME = "alm"
DESCRIPTION_LIMIT = 140
BATCH = 50  # GitHub takes at most 50 annotations a request
MAX_ANNOTATIONS = 1_000  # beyond that the check run says how many more
SUMMARY_LIMIT = 65_535

STATE = {"ready": "success", "blocked": "failure", "pending": "pending"}
CONCLUSION = {"ready": "success", "blocked": "failure", "pending": "neutral"}
HEADLINE = {
    "ready": "ready: every gate passes",
    "blocked": "blocked",
    "pending": "pending approvals",
}


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _clip_bytes(text: str, limit: int) -> str:
    """At most ``limit`` bytes of UTF-8, as GitHub measures a check run's texts: a limit
    in characters lets non-ASCII text through at up to four times the size (a 422)."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - len("…".encode())].decode("utf-8", "ignore") + "…"


def description(verdict: Verdict) -> str:
    """Why, in at most 140 characters: the headline, the first reason, how many more."""
    if not verdict.reasons:
        return _clip(HEADLINE[verdict.status], DESCRIPTION_LIMIT)
    more = len(verdict.reasons) - 1
    tail = f" (+{more} more)" if more else ""
    head = f"{HEADLINE[verdict.status]}: "
    room = DESCRIPTION_LIMIT - len(head) - len(tail)
    return head + _clip(verdict.reasons[0].text, max(room, 1)) + tail


def merge_queue_verdict(verdict: Verdict) -> Verdict:
    """In a merge queue GitHub has already enforced the required reviews, and a merge
    group's plan has none counted: only blocking reasons decide there."""
    hard = [r for r in verdict.reasons if r.kind not in ("approval", "changes_requested")]
    return Verdict(status="blocked" if hard else "ready", reasons=hard)


def annotation(f: FindingEntry) -> dict[str, Any]:
    line = max(f.line, 1)
    return {
        "path": f.file,
        "start_line": line,
        "end_line": line,
        "annotation_level": "failure" if f.severity == "error" else "warning",
        "title": _clip(f.code, 255),
        "message": _clip_bytes(" ".join(f.message.split()), 64_000),
    }


@dataclass(frozen=True)
class CheckRun:
    conclusion: str
    output: dict[str, Any]  # title, summary and the first batch of annotations
    more: list[list[dict[str, Any]]]  # further batches, one update each


def check_run(report: PlanReport, verdict: Verdict, link: str | None) -> CheckRun:
    found = [f for f in report.findings if f.file]
    notes = [annotation(f) for f in found[:MAX_ANNOTATIONS]]
    batches = [notes[i : i + BATCH] for i in range(0, len(notes), BATCH)] or [[]]
    # the summary is markdown GitHub renders, and the reasons are the report's text
    lines = [f"**{HEADLINE[verdict.status]}**", *(f"- {md_text(r.text)}" for r in verdict.reasons)]
    if len(found) > MAX_ANNOTATIONS:
        lines.append(f"{len(found) - MAX_ANNOTATIONS} more findings are in the full report.")
    if link:
        lines.append(f"Full report: {link}")
    output = {
        "title": f"alm: {HEADLINE[verdict.status]}",
        "summary": _clip_bytes("\n".join(lines), SUMMARY_LIMIT),
        "annotations": batches[0],
    }
    return CheckRun(CONCLUSION[verdict.status], output, batches[1:])
