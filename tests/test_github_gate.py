"""The status alm/gate and the check run alm from a verdict (pure)."""

from __future__ import annotations

from reconciler.github import gate
from reconciler.plan.model import Reason, Verdict
from tests import planfixtures


def test_description_fits_140_and_says_why() -> None:
    long = Verdict(
        status="blocked",
        reasons=[Reason(kind="regression", text="x" * 500), Reason(kind="threshold", text="y")],
    )
    text = gate.description(long)
    assert len(text) == 140 and text.startswith("blocked: xxx") and text.endswith("(+1 more)")
    assert gate.description(Verdict(status="ready")) == "ready: every gate passes"


def test_states_and_merge_queue() -> None:
    report = planfixtures.typical()
    assert gate.STATE[report.verdict.status] == "failure"
    pending = Verdict(status="pending", reasons=[Reason(kind="approval", text="needs @a")])
    assert gate.merge_queue_verdict(pending) == Verdict(status="ready", reasons=[])
    assert gate.check_run(report, pending, None).conclusion == "neutral"


def test_check_run_batches_annotations() -> None:
    report = planfixtures.typical()
    finding = report.findings[0]
    many = report.model_copy(update={"findings": [finding] * 101})
    check = gate.check_run(many, many.verdict, "https://example.test/run")
    assert len(check.output["annotations"]) == 50
    assert [len(b) for b in check.more] == [50, 1]
    assert "Full report: https://example.test/run" in check.output["summary"]


def test_check_run_texts_fit_githubs_byte_limits_in_any_script() -> None:
    """GitHub measures an annotation's message (64 KB) and the summary in bytes: 40,000
    'é' are 80,000 bytes, which a cut at 64,000 characters let through (a 422)."""
    report = planfixtures.typical()
    long = report.findings[0].model_copy(update={"message": "é" * 40_000})
    reasons = [Reason(kind="error_finding", text="ü" * 20_000)] * 4
    many = report.model_copy(update={"findings": [long]})
    check = gate.check_run(many, Verdict(status="blocked", reasons=reasons), None)
    message = check.output["annotations"][0]["message"]
    assert len(message.encode()) <= 64_000 and message.endswith("é…")
    summary = check.output["summary"]
    assert len(summary.encode()) <= gate.SUMMARY_LIMIT and summary.endswith("…")
    assert gate.check_run(report, report.verdict, None).output["annotations"][0]["message"] == (
        " ".join(report.findings[0].message.split())
    )  # a short message is untouched
