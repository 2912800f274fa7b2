"""`alm validate`: text, JSON and GitHub annotations; exit codes; refs and the example fleet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.output import render
from reconciler.errors import Finding, Location
from tests.cli import run
from tests.gitrepo import GitRepo, init_repo
from tests.test_spec_minifleet import AGENT, SUITE_YAML

MISMATCH_MESSAGE = "metadata.name is 'helpr'; expected the folder name 'helper'"


def _misname(repo: GitRepo) -> None:
    repo.replace(AGENT, "  name: helper", "  name: helpr")


def test_valid_state_exits_0_with_a_summary(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "-C", str(mini.path), "validate")
    assert code == 0
    assert err == ""
    assert out == (
        f"{mini.path}: valid: 1 agent, 4 tools, 2 environments, 1 eval suite; "
        "0 errors, 0 warnings\n"
    )


def test_text_format_names_file_line_column(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _misname(mini)
    code, out, _ = run(capsys, "-C", str(mini.path), "validate", "--format", "text")
    assert code == 1
    first, summary = out.splitlines()
    assert first == f"{AGENT}:4:9: error: {MISMATCH_MESSAGE} [name-mismatch]"
    assert summary.endswith(
        "invalid: 1 agent, 4 tools, 2 environments, 1 eval suite; 1 error, 0 warnings"
    )


def test_json_format(mini: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    _misname(mini)
    code, out, _ = run(capsys, "-C", str(mini.path), "validate", "--format", "json")
    assert code == 1
    payload = json.loads(out)
    assert payload["ok"] is False
    assert (payload["errors"], payload["warnings"]) == (1, 0)
    assert payload["findings"] == [
        {
            "code": "name-mismatch",
            "severity": "error",
            "message": MISMATCH_MESSAGE,
            "file": AGENT,
            "line": 4,
            "column": 9,
        }
    ]
    assert "invalid" in payload["summary"]


def test_json_format_when_valid(mini: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-C", str(mini.path), "validate", "--format", "json")
    assert code == 0
    payload = json.loads(out)
    assert payload["ok"] is True and payload["findings"] == []


def test_github_format_is_workflow_annotations(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _misname(mini)
    mini.write("evals/ghost/s.yaml", SUITE_YAML.replace("agent: helper", "agent: ghost"))
    code, out, _ = run(capsys, "-C", str(mini.path), "validate", "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        f"::error file={AGENT},line=4,col=9,title=alm name-mismatch::{MISMATCH_MESSAGE}"
    )
    assert lines[1].startswith(
        "::warning file=evals/ghost/s.yaml,line=3,col=18,title=alm orphan-suite::"
    )
    assert "1 error, 1 warning" in lines[2]


def test_warnings_alone_do_not_fail(mini: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    mini.write("evals/ghost/s.yaml", SUITE_YAML.replace("agent: helper", "agent: ghost"))
    code, out, _ = run(capsys, "-C", str(mini.path), "validate")
    assert code == 0
    assert "evals/ghost/s.yaml:3:18: warning: " in out
    assert "0 errors, 1 warning" in out


def test_github_escaping() -> None:
    finding = Finding("c", "100% sure\nsecond line", Location("a,b:c.yaml", 3, 4))
    out = render([finding], "summary", "github")
    assert out.splitlines() == [
        "::error file=a%2Cb%3Ac.yaml,line=3,col=4,title=alm c::100%25 sure%0Asecond line",
        "summary",
    ]


def test_github_annotation_of_a_whole_file_points_at_its_start() -> None:
    finding = Finding("file-too-large", "too big", Location("agents/a/agent.yaml"))
    line = render([finding], "s", "github").splitlines()[0]
    assert line == "::error file=agents/a/agent.yaml,line=1,col=1,title=alm file-too-large::too big"


def test_text_of_a_whole_file_finding_names_file_line_and_column() -> None:
    finding = Finding("symlink", "a link", Location("agents"), "warning")
    assert render([finding], "s", "text").splitlines()[0] == "agents:1:1: warning: a link [symlink]"


@pytest.mark.parametrize("fmt", ["xml", "TEXT", ""])
def test_unknown_format_is_a_usage_error(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, out, err = run(capsys, "-C", str(mini.path), "validate", "--format", fmt)
    assert code == 2
    assert out == ""
    assert "Invalid value for '--format'" in err


def test_ref_is_validated_instead_of_the_worktree(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _misname(mini)  # only in the working tree
    code, out, _ = run(capsys, "-C", str(mini.path), "validate", "--ref", "HEAD")
    assert code == 0
    commit = mini.git("rev-parse", "HEAD")
    assert out.startswith(f"HEAD ({commit[:12]}): valid: ")
    mini.commit("misnamed")
    code, out, _ = run(
        capsys, "-C", str(mini.path), "validate", "--ref", "HEAD", "--format", "json"
    )
    assert code == 1
    assert json.loads(out)["findings"][0]["line"] == 4
    code, _, _ = run(capsys, "-C", str(mini.path), "validate", "--ref", "HEAD~1")
    assert code == 0


def test_unknown_ref_is_one_line_and_exit_2(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "-C", str(mini.path), "validate", "--ref", "no-such-branch")
    assert code == 2  # a bad argument: a usage error
    assert out == ""
    assert err == "alm: unknown git ref 'no-such-branch'; expected a branch, tag or commit\n"


def test_validate_from_a_subfolder_of_the_repository(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "-C", str(mini.path / "agents" / "helper"), "validate")
    assert code == 0
    assert out.startswith(f"{mini.path}: valid: 1 agent")


def test_not_an_alm_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "-C", str(tmp_path), "validate")
    assert code == 2  # a usage error, as for every command (tests/test_cli_main.py)
    assert out == ""
    assert err.startswith("alm: not an alm repository: no agents/ folder in ")
    assert err.count("\n") == 1


def test_the_example_fleet_is_valid(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    for ref_args in ([], ["--ref", "HEAD"]):
        code, out, _ = run(
            capsys, "-C", str(fleet_repo.path), "validate", "--format", "json", *ref_args
        )
        payload = json.loads(out)
        assert code == 0, payload["findings"]
        assert payload["ok"] is True and payload["errors"] == 0
        assert ": valid: 4 agents, " in payload["summary"]


def test_a_broken_example_fleet_is_reported(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = "agents/support-triage/agent.yaml"
    text = fleet_repo.read(rel)
    line = text.splitlines().index("kind: Agent") + 1
    fleet_repo.replace(rel, "kind: Agent\n", "kind: Agent\nkind: Agent\n")
    code, out, _ = run(capsys, "-C", str(fleet_repo.path), "validate")
    assert code == 1
    assert f"{rel}:{line + 1}:1: error: duplicate key 'kind' (first at line {line})" in out


def test_a_fleet_below_the_git_top_level_is_refused_naming_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CODEOWNERS, changed files and refs are paths from the git top level: a fleet in a
    subfolder would require no code owner's approval for its prompts. Said, not half-run."""
    top = init_repo(tmp_path / "mono", with_fleet=False).path
    (top / "platform" / "agents").mkdir(parents=True)
    code, out, err = run(capsys, "-C", str(top / "platform"), "validate")
    assert (code, out) == (2, "")
    assert err == (
        f"alm: the fleet in platform/ is below the top level of its git repository "
        f"{top.resolve()}; expected agents/ at the top level (keep the fleet in a repository "
        "of its own)\n"
    )
