"""alm policy check through the CLI entry point: formats, exit codes, refs, the PR scenario."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.gitrepo import PROJECT, GitRepo
from tests.test_policy_fleet import approvals, check_json, fired, governed, run

__all__ = ["governed"]

TRIAGE = "agents/support-triage/agent.yaml"
JSON_KEYS = {
    "schema_version",
    "ok",
    "head",
    "base",
    "summary",
    "violations",
    "approvals",
    "changed_files",
    "unowned_files",
    "codeowners",
}
VIOLATION_KEYS = {
    "kind",
    "code",
    "rule",
    "severity",
    "message",
    "file",
    "line",
    "column",
    "policy",
    "agent",
    "environment",
    "policy_file",
    "policy_line",
    "new",
}


def test_policy_is_a_group_with_check(capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.cli import main

    assert main(["policy", "--help"]) == 0
    assert "check" in capsys.readouterr().out


def test_text_names_rule_severity_and_place(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "  name: gpt-4.1-mini\n", "  name: gpt-4o-mini\n")
    code, out, err = run(governed, capsys, "policy", "check")
    assert (code, err) == (1, "")
    first, last = out.splitlines()[0], out.splitlines()[-1]
    lines = governed.read(TRIAGE).splitlines()
    line = lines.index("  provider: openai", lines.index("model:")) + 1  # the first part it reads
    assert first == (
        f"{TRIAGE}:{line}:13: error: support-triage in prod: uses a model that is not on the "
        "allow-list of this environment (policies/models.yaml) [models/model-allowed]"
    )
    assert "policy check failed: 1 error, 0 warnings" in last
    assert "required approvals" not in out  # no change without a base


def test_json_is_versioned_and_complete(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 5")
    code, data = check_json(governed, capsys)
    assert code == 1
    assert set(data) == JSON_KEYS and data["schema_version"] == 1
    assert data["ok"] is False and data["base"] is None and data["changed_files"] is None
    assert set(data["summary"]) == {
        "errors",
        "warnings",
        "new_errors",
        "agents",
        "policies",
        "rules",
        "approvals",
    }
    (violation,) = data["violations"]
    assert set(violation) == VIOLATION_KEYS
    assert violation["rule"] == "cost/ceiling-per-task" and violation["new"] is None


def test_head_ref_is_checked_instead_of_the_working_tree(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 5")
    assert check_json(governed, capsys)[0] == 1
    code, data = check_json(governed, capsys, "--head", "HEAD")
    assert (code, data["violations"]) == (0, [])
    assert data["head"].startswith("HEAD (")


def test_working_tree_against_a_base_includes_uncommitted_and_new_files(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "max_steps: 8,", "max_steps: 9,")
    governed.write("policies/notes.yaml", "# not a document yet\n")
    code, data = check_json(governed, capsys, "--base", "HEAD")
    assert data["changed_files"] == ["agents/support-triage/agent.yaml", "policies/notes.yaml"]
    assert "policy:governance/approvals[0]" in approvals(data)
    assert code == 1  # the empty policies/notes.yaml does not load


def test_unknown_ref_is_a_one_line_error(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(governed, capsys, "policy", "check", "--base", "no-such-branch")
    assert code == 2 and out == ""  # a bad argument: a usage error
    assert err.strip() == "alm: unknown git ref 'no-such-branch'; expected a branch, tag or commit"


def test_bad_format_is_a_usage_error(governed: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(governed, capsys, "policy", "check", "--format", "xml")[0] == 2


def test_the_demo_change_shows_a_violation_and_the_approvals_it_needs(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    run(governed, capsys, "codeowners", "--write")
    base = governed.commit("CODEOWNERS")
    demo = subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / "demo_change.py"), str(governed.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    governed.commit("the demo's pull request")
    code, data = check_json(governed, capsys, "--base", base, "--head", "HEAD")
    assert code == 1
    assert ("models/model-allowed", "support-triage", "prod") in fired(data)
    assert all(v["new"] is True for v in data["violations"])
    needed = approvals(data)
    assert needed["policy:least-privilege/approvals[0]"]["agents"] == ["support-triage"]
    assert needed["codeowners:@acme/support-eng"]["files"] == [
        "agents/support-triage/agent.yaml",
        "agents/support-triage/prompts/system.md",
    ]
    assert needed["codeowners:@acme/sales-eng"]["files"] == ["agents/sales-research/agent.yaml"]
    code, out, _ = run(governed, capsys, "policy", "check", "--base", base)
    assert "required approvals (" in out and "@acme/security: a newly granted" in out


def test_alms_own_state_is_never_a_changed_file_even_when_git_does_not_ignore_it(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    # a fleet without a .gitignore: alm validate's parse pack is untracked, not a change
    # needing a code owner
    governed.write(".gitignore", "")
    governed.commit("no ignore rules")
    governed.write(".alm/cache/parse.json", "{}")
    governed.write("agents/support-triage/notes.md", "new\n")
    _, data = check_json(governed, capsys, "--base", "HEAD")
    assert data["changed_files"] == ["agents/support-triage/notes.md"]
