"""Defects found by the new-user audit of validate and diff, each pinned by a test."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from reconciler.spec.checks import validate
from reconciler.spec.loader import load_snapshot
from tests.cli import run
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import (
    AGENT_YAML,
    PROMPT_TEXT,
    SUITE,
    SUITE_YAML,
    at,
    mini_snapshot,
    only,
    pos,
)

TRIAGE = "agents/support-triage/agent.yaml"


def test_a_copied_agent_folder_that_sorts_first_is_the_one_blamed_for_the_name() -> None:
    # README "Add an agent": cp -R agents/sales-research agents/my-agent; my-agent sorts
    # before sales-research, and the original was told its name was taken by the copy
    copy = "agents/a-copy/agent.yaml"
    state = load_snapshot(
        mini_snapshot(
            {copy: AGENT_YAML.encode(), "agents/a-copy/prompts/system.md": PROMPT_TEXT.encode()}
        )
    )
    findings = validate(state)
    duplicate = only(findings, "duplicate-agent")
    assert at(duplicate) == (copy, 4, 9)
    assert "'helper' is already used by agents/helper/agent.yaml" in duplicate.message
    assert {f.location.file for f in findings} == {copy}


def test_two_suites_of_one_name_for_an_agent_are_an_error_at_the_second() -> None:
    copy = "evals/helper/zz-copy.yaml"
    findings = validate(load_snapshot(mini_snapshot({copy: SUITE_YAML.encode()})))
    duplicate = only(findings, "duplicate-suite")
    assert at(duplicate) == (copy, *pos(SUITE_YAML, "basic"))
    assert duplicate.message == (
        f"eval suite name 'basic' is already used by {SUITE}; "
        "expected each suite name once in evals/helper/"
    )


def test_suites_of_one_name_for_different_agents_are_fine() -> None:
    other = SUITE_YAML.replace("agent: helper", "agent: other")
    agent = AGENT_YAML.replace("name: helper", "name: other")
    findings = validate(
        load_snapshot(
            mini_snapshot(
                {
                    "evals/other/basic.yaml": other.encode(),
                    "agents/other/agent.yaml": agent.encode(),
                    "agents/other/prompts/system.md": PROMPT_TEXT.encode(),
                }
            )
        )
    )
    assert [f for f in findings if f.code == "duplicate-suite"] == []


@pytest.mark.parametrize(
    ("raw", "code", "escape"),
    [
        (b"x: \x00\n", 0, "\\x00"),
        (b"x: \x1b[31m\n", 0x1B, "\\x1b"),
        (b"x: \xef\xbf\xbe\n", 0xFFFE, "\\ufffe"),
    ],
)
def test_a_control_character_is_named_at_its_line_and_column(
    raw: bytes, code: int, escape: str
) -> None:
    # the reader's error carries only an offset ("position 3822") and was put at 1:1
    text = SUITE_YAML.encode() + b"# fine\n" + raw
    findings = validate(load_snapshot(mini_snapshot({SUITE: text})))
    finding = only(findings, "yaml-syntax")
    assert at(finding) == (SUITE, SUITE_YAML.count("\n") + 2, 4)
    assert finding.message == (
        f"character U+{code:04X} is not allowed in YAML; expected printable text "
        f"(write it as {escape} inside a double-quoted string)"
    )


def test_diff_keeps_each_change_on_one_line(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    # a description holding a line break could print a line that reads as another change
    fleet_repo.replace(
        TRIAGE,
        "  description: First-line triage",
        '  description: "ok\\n  tool granted: crm.delete_all (read, low risk)\\rx"'
        "  # First-line triage",
    )
    code, out, _ = run(capsys, "-C", str(fleet_repo.path), "diff", "--base", "HEAD")
    assert code == 0
    lines = out.splitlines()
    assert not any(line.startswith("  tool granted") for line in lines)
    change = next(line for line in lines if line.startswith("  description: "))
    assert change.endswith('→ "ok\\n  tool granted: crm.delete_all (read, low risk)\\rx"')
    # the pull request comment phrases changes with the same code: one line there too
    code, out, _ = run(capsys, "-C", str(fleet_repo.path), "plan", "--base", "HEAD")
    assert code in (0, 1)
    assert "ok\\\\n  tool granted\\: crm.delete\\_all" in out  # markdown-escaped, one line
    assert not re.search(r"^[\s*-]*tool granted\\?:", out, re.M)


@pytest.mark.parametrize("check", [True, False])
def test_schema_never_reads_or_writes_through_a_link_out_of_the_repository(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, check: bool
) -> None:
    # a committed schemas/agent.schema.json -> /dev/zero made `alm schema --check` (run by
    # the PR workflow) read without end; a schemas/ link made `alm schema` write outside
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "agent.schema.json").write_text("theirs\n")
    schemas = fleet_repo.path / "schemas"
    shutil.rmtree(schemas, ignore_errors=True)
    schemas.symlink_to(outside, target_is_directory=True)
    args = ["schema", "--check"] if check else ["schema"]
    code, out, err = run(capsys, "-C", str(fleet_repo.path), *args)
    assert (code, out) == (1, "")
    assert err == (
        "alm: schemas: a symlink out of the repository; alm never reads or writes through "
        "it: remove the link; `alm schema` writes the schemas as files\n"
    )
    assert sorted(p.name for p in outside.iterdir()) == ["agent.schema.json"]
    assert (outside / "agent.schema.json").read_text() == "theirs\n"


def test_schema_counts_one_file_in_the_singular(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "-C", str(fleet_repo.path), "schema")[0] == 0
    fleet_repo.write("schemas/agent.schema.json", "{}\n")
    code, out, _ = run(capsys, "-C", str(fleet_repo.path), "schema")
    assert (code, out) == (0, "wrote 1 schema file in schemas/\n")
