"""`alm ops promote` end to end: traces recorded through the OpenTelemetry SDK, written as
OTLP JSON, `alm ops ingest`ed into a real SQLite store, promoted into the example fleet's
evals/ and checked by `alm validate`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.ops.model import NS_PER_S
from reconciler.ops.tracegen import Recorder, TaskSpec, ToolStep
from tests.cli import run
from tests.gitrepo import GitRepo, init_repo
from tests.test_ops_promote import CARD, IBAN, SSN

AGENT = "support-triage"
REL = f"evals/{AGENT}/production.yaml"
REVISION = "sha256:" + "2" * 64
NOW = time.time_ns()


def leaking(recorder: Recorder, minutes_ago: int, ticket: str) -> str:
    """A task that copies the customer's card number into its answer (no-pii-in-comments)."""
    return recorder.record(
        TaskSpec(
            agent=AGENT,
            revision=REVISION,
            start_ns=NOW - minutes_ago * 60 * NS_PER_S,
            input_text=f"Triage ticket {ticket}. My card is {CARD}, SSN {SSN}.",
            tools=(
                ToolStep(
                    "ticketing.get_ticket",
                    arguments={"ticket_id": ticket},
                    result={"body": f"Refund to IBAN {IBAN} please", "card": CARD},
                ),
                ToolStep("ticketing.add_comment", arguments={"ticket_id": ticket, "body": CARD}),
            ),
            output_text=f"Noted the card {CARD} on {ticket}.",
        )
    )


def erroring(recorder: Recorder, minutes_ago: int) -> str:
    return recorder.record(
        TaskSpec(
            agent=AGENT,
            revision=REVISION,
            start_ns=NOW - minutes_ago * 60 * NS_PER_S,
            input_text="Triage ticket TCK-9.",
            tools=(ToolStep("crm.get_account", error="RateLimited"),),
            error="TimeoutError",
        )
    )


def fine(recorder: Recorder, minutes_ago: int, agent: str = AGENT) -> str:
    return recorder.record(
        TaskSpec(
            agent=agent,
            revision=REVISION,
            start_ns=NOW - minutes_ago * 60 * NS_PER_S,
            input_text="Triage ticket TCK-1.",
            tools=(ToolStep("ticketing.get_ticket", arguments={"ticket_id": "TCK-1"}),),
            output_text="Routed to tech.",
        )
    )


def ingested(tmp_path: Path, capsys: pytest.CaptureFixture[str], recorder: Recorder) -> GitRepo:
    repo = init_repo(tmp_path / "repo")
    traces = recorder.write(tmp_path / "traces.jsonl")
    code, out, err = alm(capsys, repo, "ops", "ingest", str(traces))
    assert code == 0, out + err
    return repo


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


def findings(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> list[tuple[str, str, int]]:
    _, out, _ = alm(capsys, repo, "validate", "--format", "json")
    return [(f["code"], f["file"], f["line"]) for f in json.loads(out)["findings"]]


def no_pii(text: str) -> None:
    for secret in (CARD, IBAN, SSN):
        assert secret not in text, secret


def test_a_trace_becomes_a_reviewed_case_that_validate_flags_until_reviewed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder("prod")
    trace = leaking(recorder, 30, "TCK-7")
    repo = ingested(tmp_path, capsys, recorder)
    before = findings(capsys, repo)
    code, out, err = alm(capsys, repo, "ops", "promote", trace, "--agent", AGENT)
    assert code == 0, out + err
    identifier = f"prod-{trace[:12]}-"
    assert f"added to {REL}, masked with no-pii-in-comments" in out
    assert "violated no-pii-in-comments" not in out  # a single trace: its status, not a group
    assert "not run until its model responses are recorded" in out
    no_pii(out + err)
    written = (repo.path / REL).read_text()
    no_pii(written)
    assert f"- id: {identifier}" in written
    assert "Violation (must_never no-pii-in-comments)" in written
    marker = written.splitlines().index("    needs_review: true") + 1
    assert [f for f in findings(capsys, repo) if f not in before] == [
        ("case-needs-review", REL, marker)
    ]
    # alm eval takes the case; in replay it is not run (no cassette yet), never passed
    code, out, err = alm(capsys, repo, "eval", "--agent", AGENT, "--case", f"{identifier}*")
    assert code == 1 and "1 trial not run: not recorded" in out + err
    # again: nothing added
    code, out, _ = alm(capsys, repo, "ops", "promote", trace.upper(), "--agent", AGENT)
    assert code == 0 and f"already in {REL}" in out
    assert (repo.path / REL).read_text() == written
    # a person reviews it and deletes the marker: validate is as it was
    (repo.path / REL).write_text(written.replace("    needs_review: true\n", ""))
    assert findings(capsys, repo) == before


def test_an_unknown_trace_and_a_trace_of_another_agent_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder("prod")
    trace = fine(recorder, 10)
    repo = ingested(tmp_path, capsys, recorder)
    missing = "0123456789abcdef0123456789abcdef"
    code, _, err = alm(capsys, repo, "ops", "promote", missing, "--agent", AGENT)
    assert code == 1
    assert f"trace {missing} not found in" in err and "traces.db" in err
    code, _, err = alm(capsys, repo, "ops", "promote", trace, "--agent", "email-drafting")
    assert code == 1
    assert f"trace {trace} has no task of agent email-drafting; it has tasks of: {AGENT}" in err
    code, _, err = alm(capsys, repo, "ops", "promote", "not-a-trace", "--agent", AGENT)
    assert code == 2 and "expected 32 hex digits" in err
    assert not (repo.path / REL).exists()


@pytest.mark.parametrize(
    "args",
    [(), ("0123456789abcdef0123456789abcdef", "--failures"), ("--limit", "2", "0" * 32)],
)
def test_a_trace_or_failures_one_of_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    repo = init_repo(tmp_path / "repo")
    code, _, err = alm(capsys, repo, "ops", "promote", *args)
    assert code == 2, err


def test_each_distinct_failure_of_the_window_becomes_one_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder("prod")
    leaking(recorder, 300, "TCK-1")
    latest_leak = leaking(recorder, 20, "TCK-2")  # the same failure, later: the one promoted
    crash = erroring(recorder, 60)
    fine(recorder, 40)
    leaking(recorder, 60 * 30, "TCK-3")  # outside the window
    repo = ingested(tmp_path, capsys, recorder)

    failures = ("ops", "promote", "--failures")
    code, out, err = alm(capsys, repo, *failures, "--since", "24h", "--dry-run")
    assert code == 0, out + err
    assert not (repo.path / REL).exists()
    no_pii(out)
    heads = [line for line in out.splitlines() if line.startswith("# would append to")]
    assert len(heads) == 2
    assert f"prod-{latest_leak[:12]}" in heads[0] and "2 tasks" in heads[0]
    assert f"prod-{crash[:12]}" in heads[1] and "error TimeoutError" in heads[1]

    code, out, _ = alm(capsys, repo, *failures, "--hours", "24", "--limit", "1")
    assert code == 0
    assert f"prod-{latest_leak[:12]}" in out and f"prod-{crash[:12]}" not in out
    code, out, _ = alm(capsys, repo, "ops", "promote", "--failures", "--since", "24h")
    assert f"already in {REL}" in out and f"prod-{crash[:12]}" in out
    written = (repo.path / REL).read_text()
    assert written.splitlines().count("    needs_review: true") == 2
    no_pii(written)


def test_a_window_without_failures_promotes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder("prod")
    fine(recorder, 5)
    repo = ingested(tmp_path, capsys, recorder)
    code, out, _ = alm(capsys, repo, "ops", "promote", "--failures", "--agent", AGENT)
    assert code == 0 and out.startswith(f"no failed task of {AGENT} in ")
    assert not (repo.path / REL).exists()
