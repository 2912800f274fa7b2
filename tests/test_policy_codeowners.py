"""CODEOWNERS: parsing and the last-match rule, generation from owners, and the base-branch
rule."""

from __future__ import annotations

import unicodedata

import pytest

from reconciler.errors import AlmError
from reconciler.policy.codeowners import _control, compare, generate, parse
from reconciler.spec.loader import load_worktree
from tests.gitrepo import GitRepo
from tests.test_policy_fleet import approvals, check_json, governed, run

__all__ = ["governed"]

CONTROLS = ("Cc", "Cf", "Zl", "Zp")


def test_the_last_matching_pattern_wins() -> None:
    owners = parse("*  @acme/everyone\n/agents/  @acme/agents\n/agents/x/  @acme/x\n")
    assert owners.owners_of("agents/x/agent.yaml") == ("@acme/x",)
    assert owners.owners_of("agents/y/agent.yaml") == ("@acme/agents",)
    assert owners.owners_of("README.md") == ("@acme/everyone",)


def test_a_pattern_with_no_owners_clears_ownership() -> None:
    owners = parse("/agents/  @acme/agents\n/agents/scratch/\n")
    assert owners.owners_of("agents/scratch/agent.yaml") == ()
    assert owners.owners_of("agents/real/agent.yaml") == ("@acme/agents",)


def test_comments_blank_lines_and_escaped_spaces() -> None:
    text = "# owners\n\n/my\\ docs/  @acme/docs  # the docs team\n*.md @u user@example.com\n"
    owners = parse(text)
    assert owners.owners_of("my docs/a.txt") == ("@acme/docs",)
    assert owners.owners_of("x.md") == ("@u", "user@example.com")
    assert owners.errors == ()


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("!/agents/  @acme/x", "negated patterns"),
        ("/agents/[ab]/  @acme/x", "character ranges"),
        ("/agents/  acme-team", "is not @user, @org/team or an email"),
    ],
)
def test_lines_github_does_not_support_are_skipped_with_a_finding(line: str, why: str) -> None:
    owners = parse(f"*  @acme/all\n{line}\n", "CODEOWNERS")
    assert owners.owners_of("agents/a/agent.yaml") == ("@acme/all",)
    (finding,) = owners.errors
    assert why in finding.message and str(finding.location) == "CODEOWNERS:2:1"


def test_generation_round_trips_the_owners(governed: GitRepo) -> None:
    state = load_worktree(governed.path)
    text = generate(state)
    assert text == generate(load_worktree(governed.path))  # stable, byte for byte
    owners = parse(text)
    assert owners.errors == ()
    for spec in state.agents:
        expected = tuple(spec.agent.metadata.owners)
        assert owners.owners_of(f"agents/{spec.folder}/agent.yaml") == expected
        assert owners.owners_of(f"agents/{spec.folder}/prompts/system.md") == expected
        assert owners.owners_of(f"evals/{spec.folder}/cases.yaml") == expected
    for policy in state.policies:
        if policy.model.metadata.owners:
            assert set(policy.model.metadata.owners) <= set(owners.owners_of(policy.file))
    governance = ("@acme/platform",)
    assert owners.owners_of("policies/tools.yaml") == governance
    assert owners.owners_of("policies/environments.yaml") == governance
    assert owners.owners_of(".github/CODEOWNERS") == governance
    assert owners.owners_of("agents/brand-new/agent.yaml") == governance
    assert owners.owners_of("evals/brand-new/cases.yaml") == governance


def test_codeowners_write_then_check(governed: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(governed, capsys, "codeowners", "--check")
    assert code == 1 and "out of date" in err
    code, out, _ = run(governed, capsys, "codeowners", "--write")
    assert code == 0 and out.strip() == "wrote .github/CODEOWNERS"
    assert run(governed, capsys, "codeowners", "--check")[:2] == (
        0,
        ".github/CODEOWNERS is current\n",
    )
    assert (
        run(governed, capsys, "codeowners", "--write")[1].strip() == ".github/CODEOWNERS is current"
    )


def test_codeowners_check_fails_when_an_owner_changes(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    run(governed, capsys, "codeowners", "--write")
    governed.replace(
        "agents/sales-research/agent.yaml", '["@acme/sales-eng"]', '["@acme/sales-eng", "@bob"]'
    )
    code, _, err = run(governed, capsys, "codeowners", "--check")
    assert code == 1 and "alm codeowners --write" in err


def test_codeowners_without_a_flag_prints_the_file(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(governed, capsys, "codeowners")
    assert code == 0 and out == generate(load_worktree(governed.path))
    assert not (governed.path / ".github" / "CODEOWNERS").exists()


def test_codeowners_write_and_check_exclude_each_other(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(governed, capsys, "codeowners", "--write", "--check")[0] == 2


def test_codeowners_refuses_an_invalid_state(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace("agents/sales-research/agent.yaml", "owners:", "ownerz:")
    code, _, err = run(governed, capsys, "codeowners", "--write")
    assert code == 1 and "errors" in err
    assert not (governed.path / ".github" / "CODEOWNERS").exists()


def test_required_owners_come_from_the_base_codeowners(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.write(".github/CODEOWNERS", "/agents/sales-research/  @acme/base-owners\n")
    base = governed.commit("CODEOWNERS on the base")
    governed.write(".github/CODEOWNERS", "/agents/sales-research/  @mallory\n")
    governed.replace("agents/sales-research/agent.yaml", "max_steps: 10,", "max_steps: 11,")
    governed.commit("change an agent and give it to myself")
    _, data = check_json(governed, capsys, "--base", base)
    owners = {a["id"]: a for a in data["approvals"] if a["source"] == "codeowners"}
    assert owners["codeowners:@acme/base-owners"]["files"] == ["agents/sales-research/agent.yaml"]
    assert "codeowners:@mallory" not in owners
    assert data["codeowners"] == f".github/CODEOWNERS at {base}"
    assert ".github/CODEOWNERS" in data["unowned_files"]
    assert "policy:governance/approvals[1]" in approvals(data)  # .github/ changed


def test_without_a_base_codeowners_ownership_is_generated_from_base_owners(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    governed.replace("agents/sales-research/agent.yaml", "max_steps: 10,", "max_steps: 11,")
    governed.commit("change")
    _, data = check_json(governed, capsys, "--base", base)
    assert approvals(data)["codeowners:@acme/sales-eng"]["source"] == "codeowners"
    assert data["codeowners"].startswith("generated from the owners at")


def test_lines_end_at_newline_only_and_other_controls_are_refused() -> None:
    text = "/a/  @acme/a\r\n/b/  @acme/b\u2028* @attacker\n/c/\x0b@acme/c\n"
    owners = parse(text, "CODEOWNERS")
    assert [(r.pattern, r.owners) for r in owners.rules] == [("/a/", ("@acme/a",))]
    assert [str(f.location) for f in owners.errors] == ["CODEOWNERS:2:1", "CODEOWNERS:3:1"]
    assert "U+2028, a control character" in owners.errors[0].message


def test_compare_names_each_differing_line_and_ignores_comments() -> None:
    expected = "# generated\n/a/  @acme/a\n/b/  @acme/b\n"
    assert compare("/a/ @acme/a\n\n# mine\n/b/\t@acme/b  # team b\n", expected) == []
    assert compare("/a/  @acme/a\n* @attacker\n/b/  @acme/b\n", expected, "CO") == [
        "CO:2: rule `* @attacker` is not generated from the owners"
    ]
    assert compare("/a/  @acme/a\n", expected, "CO") == ["CO: rule `/b/ @acme/b` is missing"]
    assert compare("/b/  @acme/b\n/a/  @acme/a\n", expected, "CO") != []  # order matters


def test_generate_refuses_an_owner_that_would_add_a_line(mini: GitRepo) -> None:
    mini.replace("agents/helper/agent.yaml", '"@alice"', '"@alice\\n* @attacker"')
    with pytest.raises(AlmError, match=r"owner '@alice\\n\* @attacker' of agents/helper"):
        generate(load_worktree(mini.path))


def test_control_characters_are_found_with_or_without_the_ascii_shortcut() -> None:
    for code in [*range(0x300), 0x85, 0x200B, 0x200E, 0x2028, 0x2029, 0xFEFF]:
        char = chr(code)
        line = f"/agents/a{char}b/ @o"
        expected = char if char != "\t" and unicodedata.category(char) in CONTROLS else None
        assert _control(line) == expected, hex(code)
