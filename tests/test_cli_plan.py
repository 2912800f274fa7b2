"""alm plan end to end through the CLI, on real git repositories with two commits: the
evals run here (replaying the example fleet's cassettes) or read from results files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reconciler.evals.records import CaseResult
from reconciler.evals.results import RunInfo, agent_result, build, to_json
from reconciler.plan import model
from reconciler.spec.loader import load_ref
from tests.cli import run
from tests.evalrecords import trial
from tests.gitrepo import GitRepo
from tests.test_plan_build import NEW_TOOL
from tests.test_spec_minifleet import AGENT, CATALOG, PROMPT

FIXTURES = Path(__file__).parent / "fixtures" / "github"
TRIAGE = "agents/support-triage/agent.yaml"


def results_file(repo: GitRepo, ref: str, statuses: str, path: Path) -> Path:
    """The helper agent's results at a ref: one case per letter (P passed, F failed)."""
    state = load_ref(repo.path, ref)
    spec = state.agent("helper")
    assert spec is not None
    names = {"P": "passed", "F": "failed", "N": "not_run"}
    cases: list[CaseResult] = [
        trial(f"c{i}", names[s], agent="helper", suite="basic", case_hash=f"h{i}")  # type: ignore[arg-type]
        for i, s in enumerate(statuses)
    ]
    scored = agent_result(spec.agent, cases)
    path.write_text(to_json(build(RunInfo(mode="replay"), [scored], cases)), "utf-8")
    return path


def plan(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path, *args: str
) -> tuple[int, str, str, model.PlanReport | None]:
    """alm plan --base HEAD~1 --head HEAD --json; the report it wrote, if any."""
    out = tmp_path / "plan.json"
    out.unlink(missing_ok=True)
    code, stdout, stderr = run(
        capsys, "-C", str(repo.path), "plan", "--base", "HEAD~1", "--head", "HEAD",
        "--json", str(out), *args,
    )  # fmt: skip
    return code, stdout, stderr, model.read(out) if out.exists() else None


def given_evals(repo: GitRepo, tmp_path: Path, base: str, head: str) -> tuple[str, ...]:
    before = results_file(repo, "HEAD~1", base, tmp_path / "base.json")
    after = results_file(repo, "HEAD", head, tmp_path / "head.json")
    return ("--evals-base", str(before), "--evals-head", str(after))


def edit_prompt(repo: GitRepo) -> None:
    repo.replace(PROMPT, "Escalate angry customers.", "Escalate angry customers at once.")
    repo.commit("prompt")


def test_a_regression_blocks_with_exit_1(
    mini: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_prompt(mini)
    code, stdout, _, report = plan(
        capsys, mini, tmp_path, *given_evals(mini, tmp_path, "PPPPPP", "FFFFFF")
    )
    assert code == 1
    assert report is not None and report.verdict.status == "blocked"
    regression = [r for r in report.verdict.reasons if r.kind == "regression"]
    assert [r.agent for r in regression] == ["helper"]
    assert report.evals.trials == {"base_trials": 6, "head_trials": 6, "not_run": 0}
    assert "helper" in stdout and "Blocked" in stdout  # the full report, printed


def test_a_new_write_tool_needing_approval_is_pending_with_exit_0(
    mini: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mini.write(CATALOG, mini.read(CATALOG) + NEW_TOOL)
    mini.replace(AGENT, "  - human.escalate\n", "  - human.escalate\n  - desk.close\n")
    mini.commit("grant desk.close")
    md, html = tmp_path / "report.md", tmp_path / "report.html"
    evals = given_evals(mini, tmp_path, "PPPPP", "PPPPP")
    code, stdout, _, report = plan(
        capsys, mini, tmp_path, *evals, "--out", str(md), "--html", str(html)
    )
    assert code == 0
    assert report is not None and report.verdict.status == "pending"
    assert {r.kind for r in report.verdict.reasons} == {"approval"}
    assert [g.tool for g in report.changes.agents[0].new_grants] == ["desk.close"]
    assert any(a.from_ == ["@acme/security"] for a in report.approvals.required)
    assert md.read_text("utf-8").strip() == stdout.strip()  # --out is the full report
    page = html.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "desk.close" in page


def test_a_missed_threshold_blocks_and_only_the_affected_agent_is_evaluated(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the shipped cassettes hold gpt-4.1-nano's degraded answers for support-triage
    fleet_repo.replace(TRIAGE, "  name: gpt-4.1-mini\n", "  name: gpt-4.1-nano\n")
    fleet_repo.commit("a cheaper model")
    code, _, stderr, report = plan(capsys, fleet_repo, tmp_path)
    assert code == 1
    assert "affected: support-triage" in stderr
    assert report is not None
    assert [a.agent for a in report.evals.agents] == ["support-triage"]
    # support-triage has 12 cases of one trial each; the other agents' 22 are not run
    assert report.evals.trials["base_trials"] == report.evals.trials["head_trials"] == 12
    assert report.evals.trials["run"] + report.evals.trials["cached"] == 24
    threshold = [r for r in report.verdict.reasons if r.kind == "threshold"]
    assert threshold and {r.agent for r in threshold} == {"support-triage"}
    assert any(r.text.startswith("support-triage: task_success_rate ") for r in threshold)
    missed = [m.name for m in report.evals.agents[0].metrics if m.status == "missed"]
    assert "task_success_rate" in missed
    assert report.evals.agents[0].cases  # the failing cases, with what went wrong
    again = plan(capsys, fleet_repo, tmp_path)[3]
    assert again is not None and again.evals.trials["cached"] == 24  # warm cache
    assert again.evals.trials["run"] == 0


def test_cases_that_could_not_run_block(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a new prompt changes every model request: no cassette answers it under replay
    prompt = "agents/email-drafting/prompts/system.md"
    fleet_repo.write(prompt, fleet_repo.read(prompt) + "\nBe brief.\n")
    fleet_repo.commit("email-drafting prompt")
    code, _, _, report = plan(capsys, fleet_repo, tmp_path)
    assert code == 1
    assert report is not None
    not_run = [r for r in report.verdict.reasons if r.kind == "not_run"]
    assert [r.agent for r in not_run] == ["email-drafting"]
    (agent,) = report.evals.agents
    assert agent.status == "not run" and agent.not_run == 5
    assert all("not recorded" in c.reason for c in agent.cases if c.state == "not_run")
    assert report.evals.trials["not_run"] == 5


def test_evals_files_go_together_and_bad_refs_are_usage_errors(
    mini: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_prompt(mini)
    alone = results_file(mini, "HEAD", "P", tmp_path / "head.json")
    code, _, stderr, report = plan(capsys, mini, tmp_path, "--evals-head", str(alone))
    assert code == 2 and report is None
    assert "--evals-base and --evals-head go together" in stderr
    code, _, stderr = run(capsys, "-C", str(mini.path), "plan", "--base", "no-such-ref")
    assert code == 2
    assert "unknown git ref 'no-such-ref'" in stderr


def test_under_a_pull_request_event_the_pull_request_is_recorded(
    mini: GitRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edit_prompt(mini)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", "utf-8")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(FIXTURES / "pull_request.opened.json"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/agents")
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    evals = given_evals(mini, tmp_path, "PPPPP", "PPPPP")
    code, _, _, report = plan(capsys, mini, tmp_path, *evals)
    assert code == 0 and report is not None
    event = json.loads((FIXTURES / "pull_request.opened.json").read_text("utf-8"))
    pull = report.pull_request
    assert pull is not None
    assert (pull.number, pull.head_sha) == (2, event["pull_request"]["head"]["sha"])
    assert (pull.base_sha, pull.repository, pull.author) == (
        event["pull_request"]["base"]["sha"], "Codertocat/Hello-World", "Codertocat",
    )  # fmt: skip
    run_page = "https://github.example/acme/agents/actions/runs/77"
    assert (report.links.run, report.links.html_report) == (run_page, run_page)
    written = summary.read_text("utf-8")
    assert written.startswith("earlier step\n")  # appended, as GitHub expects
    assert "helper" in written[len("earlier step\n") :]


def test_a_malformed_event_file_is_a_clear_error(
    mini: GitRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edit_prompt(mini)
    event = tmp_path / "event.json"
    shutil.copy(FIXTURES / "pull_request.opened.json", event)
    data = json.loads(event.read_text("utf-8"))
    data["pull_request"]["head"]["sha"] = "not-a-sha"
    event.write_text(json.dumps(data), "utf-8")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    evals = given_evals(mini, tmp_path, "PPPPP", "PPPPP")
    code, _, stderr, report = plan(capsys, mini, tmp_path, *evals)
    assert code == 1 and report is None
    assert f"{event}: pull_request.head.sha is missing or malformed; expected 40 hex" in stderr
    assert "Traceback" not in stderr
    event.write_text("[1, 2", "utf-8")
    code, _, stderr, _ = plan(capsys, mini, tmp_path, *evals)
    assert code == 1 and str(event) in stderr and "Traceback" not in stderr
