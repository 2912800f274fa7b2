"""alm diff, through the CLI entry point, on a real git repository."""

from __future__ import annotations

import json

import pytest

from reconciler.cli import main
from tests.gitrepo import GitRepo

TRIAGE = "agents/support-triage/agent.yaml"
TRIAGE_PROMPT = "agents/support-triage/prompts/system.md"


def _run(repo: GitRepo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(repo.path), "diff", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _change_triage(repo: GitRepo) -> str:
    base = repo.git("rev-parse", "HEAD")
    repo.replace(TRIAGE, "name: gpt-4.1-mini", "name: gpt-4.1")
    repo.replace(TRIAGE, "  - billing.get_subscription\n", "")
    prompt = repo.read(TRIAGE_PROMPT)
    repo.write(TRIAGE_PROMPT, prompt.replace("# Role\n", "# Role\n\nAlways be brief.\n", 1))
    repo.commit("triage changes")
    return base


def test_text_groups_changes_under_an_agent_header(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _change_triage(fleet_repo)
    code, out, err = _run(fleet_repo, capsys, "--base", base)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"diff {base} ({base[:12]}) → {fleet_repo.path}"  # the working tree
    header = lines.index("agent support-triage (changed)")
    body = lines[header + 1 :]
    assert "  model gpt-4.1-mini → gpt-4.1" in body
    assert "  tool revoked: billing.get_subscription (read, medium risk)" in body
    prompt_line = next(line for line in body if line.startswith("  prompt changed: "))
    assert prompt_line.startswith(f"  prompt changed: {TRIAGE_PROMPT} (sha256:")
    assert "      +Always be brief." in body  # the unified diff, indented under its change
    assert f"      --- a/{TRIAGE_PROMPT}" in body
    assert lines[-1] == "3 changes, 1 agent affected"


def test_json_is_a_stable_versioned_document(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _change_triage(fleet_repo)
    code, out, _ = _run(fleet_repo, capsys, "--base", base, "--head", "HEAD", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema_version"] == 1
    assert list(data) == [
        "schema_version",
        "base",
        "head",
        "changes",
        "agents",
        "catalog",
        "environments",
        "policies",
        "pricing",
    ]
    assert data["base"]["label"].startswith(base) and data["base"]["errors"] == 0
    assert data["changes"] == 3
    (agent,) = data["agents"]
    assert (agent["name"], agent["status"]) == ("support-triage", "changed")
    by_kind = {c["kind"]: c for c in agent["changes"]}
    assert set(by_kind) == {"model.changed", "tool.revoked", "prompt.changed"}
    model = by_kind["model.changed"]
    assert (model["path"], model["before"], model["after"]) == (
        ["model", "name"],
        "gpt-4.1-mini",
        "gpt-4.1",
    )
    assert "+Always be brief." in by_kind["prompt.changed"]["detail"]
    assert set(model) == {"kind", "text", "path", "before", "after", "detail", "affects"}


def test_head_defaults_to_the_working_tree_as_policy_check_does(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _change_triage(fleet_repo)
    middle = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.replace(TRIAGE, "max_steps: 8", "max_steps: 9")
    fleet_repo.commit("later")
    _, out, _ = _run(fleet_repo, capsys, "--base", base, "--head", middle)
    assert "limits max_steps" not in out
    _, out, _ = _run(fleet_repo, capsys, "--base", base, "--head", "HEAD")
    assert "  limits max_steps 8 → 9" in out.splitlines()

    fleet_repo.replace(TRIAGE, "max_steps: 9", "max_steps: 10")  # not committed
    _, out, _ = _run(fleet_repo, capsys, "--base", "HEAD", "--head", "HEAD")
    assert out.splitlines()[-1] == "no changes in the desired state"
    code, out, _ = _run(fleet_repo, capsys, "--base", "HEAD")
    assert code == 0
    assert out.splitlines()[0].endswith(f"→ {fleet_repo.path}")
    assert "  limits max_steps 9 → 10" in out.splitlines()


def test_no_changes_says_so(fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(fleet_repo, capsys, "--base", "HEAD")
    assert code == 0 and err == ""
    assert out.splitlines()[-1] == "no changes in the desired state"
    assert len(out.splitlines()) == 2


@pytest.mark.parametrize("side", ["--base", "--head"])
def test_an_unknown_ref_is_a_one_line_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], side: str
) -> None:
    args = {"--base": "HEAD", "--head": "HEAD", side: "no-such-branch"}
    code, out, err = _run(fleet_repo, capsys, *(x for pair in args.items() for x in pair))
    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [
        "alm: unknown git ref 'no-such-branch'; expected a branch, tag or commit"
    ]


def test_a_ref_whose_spec_is_broken_still_diffs(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ref exists: a broken spec at it is a warning in the diff, not a usage error."""
    fleet_repo.write("agents/support-triage/agent.yaml", "apiVersion: alm/v1\nkind: [\n")
    broken = fleet_repo.commit("break triage")
    code, out, _ = _run(fleet_repo, capsys, "--base", broken, "--head", "HEAD~1")
    assert code == 0
    assert out.splitlines()[1].startswith(f"warning: base {broken} (")
    assert f"(alm validate --ref {broken} lists them)" in out
    assert "agent support-triage (invalid)" in out.splitlines()


def test_missing_base_is_a_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(fleet_repo, capsys)
    assert code == 2
    assert "--base" in err


def test_an_invalid_side_is_mentioned_at_the_top(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.replace(TRIAGE, "max_steps: 8", "max_stepz: 8")
    fleet_repo.replace("agents/invoice-processing/agent.yaml", "name: gpt-4.1\n", "name: o3\n")
    fleet_repo.commit("break triage")
    code, out, _ = _run(fleet_repo, capsys, "--base", base, "--head", "HEAD")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("warning: head HEAD (")
    assert lines[1].endswith("(alm validate --ref HEAD lists them)")
    assert "has 1 error in its spec; diffing what loaded" in lines[1]
    assert "agent support-triage (invalid)" in lines
    assert "  model gpt-4.1 → o3" in lines
    code, out, _ = _run(fleet_repo, capsys, "--base", base, "--format", "json")
    data = json.loads(out)
    assert data["head"]["errors"] == 1 and data["base"]["errors"] == 0

    fleet_repo.replace(TRIAGE, "max_stepz: 8", "max_stepz: 9")  # the working tree's error
    _, out, _ = _run(fleet_repo, capsys, "--base", base)
    assert out.splitlines()[1] == (
        f"warning: head {fleet_repo.path} has 1 error in its spec; diffing what loaded "
        "(alm validate lists them)"
    )


def test_catalog_section_names_affected_agents(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.replace(
        "policies/tools.yaml",
        "    access: write\n    risk: high\n    data_classes: [pii, financial]",
        "    access: write\n    risk: critical\n    data_classes: [pii, financial]",
    )
    fleet_repo.replace(
        TRIAGE, "  - crm.get_account\n", "  - crm.get_account\n  - crm.update_record\n"
    )
    fleet_repo.commit("riskier")
    _, out, _ = _run(fleet_repo, capsys, "--base", base)
    lines = out.splitlines()
    catalog = lines.index("catalog")
    assert lines[catalog + 1] == (
        "  catalog: crm.update_record risk high → critical (affects: support-triage)"
    )
    assert "  tool granted: crm.update_record (write, critical risk)" in lines
