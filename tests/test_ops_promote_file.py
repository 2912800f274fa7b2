"""Writing a promoted case (reconciler.ops.promote_file): appended to
evals/<agent>/production.yaml as text, loadable, idempotent, atomic, never outside the
agent's eval folder; `alm validate` flags exactly the review marker until it is removed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.errors import AlmError
from reconciler.ops.mask import masker_for
from reconciler.ops.online import to_result
from reconciler.ops.promote import case_from_task, case_yaml
from reconciler.ops.promote_file import append_case, proposed_text, suite_file
from reconciler.pricing import PriceBook
from tests.cli import run
from tests.gitrepo import init_repo
from tests.test_ops_promote import CARD, call, task, triage

AGENT = "support-triage"
REL = f"evals/{AGENT}/production.yaml"


def case_text(span: str = "00f067aa0ba902b7") -> tuple[str, str]:
    agent = triage()
    the_task = task(
        (call("ticketing.get_ticket", {"ticket_id": "TCK-1"}, {"body": f"card {CARD}"}),),
        span=span,
        feedback="negative",
    )
    case = case_from_task(
        the_task, agent, to_result(the_task, agent, PriceBook()), masker_for(agent)
    )
    return case["id"], case_yaml(case, AGENT)


def findings(capsys: pytest.CaptureFixture[str], root: Path) -> list[tuple[str, str, int]]:
    code, out, _ = run(capsys, "-C", str(root), "validate", "--format", "json")
    assert code in (0, 1), out
    return [(f["code"], f["file"], f["line"]) for f in json.loads(out)["findings"]]


def test_a_new_suite_file_is_created_and_validate_flags_only_the_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = init_repo(tmp_path / "repo")
    before = findings(capsys, repo.path)
    identifier, text = case_text()
    assert append_case(repo.path, AGENT, identifier, text, set()).status == "written"
    written = (repo.path / REL).read_text()
    assert CARD not in written
    marker_line = written.splitlines().index("    needs_review: true") + 1
    after = findings(capsys, repo.path)
    assert [f for f in after if f not in before] == [("case-needs-review", REL, marker_line)]
    (repo.path / REL).write_text(written.replace("    needs_review: true\n", ""))
    assert findings(capsys, repo.path) == before


def test_promoting_the_same_case_again_changes_nothing(tmp_path: Path) -> None:
    identifier, text = case_text()
    assert append_case(tmp_path, AGENT, identifier, text, set()).status == "written"
    first = (tmp_path / REL).read_bytes()
    assert append_case(tmp_path, AGENT, identifier, text, set()).status == "present"
    assert (tmp_path / REL).read_bytes() == first
    other, other_text = case_text(span="abcdef0123456789")
    # a reviewer moved the case to another suite: still present, not written again
    assert append_case(tmp_path, AGENT, other, other_text, {other}).status == "present"
    assert (tmp_path / REL).read_bytes() == first


def test_a_persons_comments_and_indentation_are_kept(tmp_path: Path) -> None:
    existing = (
        "apiVersion: alm/v1\nkind: EvalSuite\nmetadata: {name: production, agent: support-triage}\n"
        "cases:\n# reviewed by @ana on Monday\n- id: reviewed-case\n  input: {message: hi}\n"
        "  expect: {outcome: resolved}"  # no final newline
    )
    path = tmp_path / REL
    path.parent.mkdir(parents=True)
    path.write_text(existing)
    identifier, text = case_text()
    assert proposed_text(tmp_path, AGENT, text).startswith("# prod-")
    assert append_case(tmp_path, AGENT, identifier, text, set()).status == "written"
    after = path.read_text()
    assert after.startswith(existing + "\n# prod-4bf92f3577b3-00f067: promoted")
    assert "\n- id: prod-4bf92f3577b3-00f067\n" in after


def test_a_suite_whose_cases_are_not_the_last_block_is_refused_untouched(tmp_path: Path) -> None:
    existing = (
        "apiVersion: alm/v1\nkind: EvalSuite\ncases:\n  - id: a\n    input: {message: hi}\n"
        "    expect: {}\nmetadata: {name: production}\n"
    )
    path = tmp_path / REL
    path.parent.mkdir(parents=True)
    path.write_text(existing)
    identifier, text = case_text()
    with pytest.raises(AlmError, match=r"cannot append the case .*`cases:` as the file's last key"):
        append_case(tmp_path, AGENT, identifier, text, set())
    assert path.read_text() == existing


def test_a_broken_suite_is_named_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / REL
    path.parent.mkdir(parents=True)
    path.write_text("apiVersion: alm/v1\nkind: EvalSuite\nmetadata: {name: production}\ncases: 3\n")
    identifier, text = case_text()
    with pytest.raises(AlmError, match=rf"^{REL}:4:8: .*fix the suite before promoting"):
        append_case(tmp_path, AGENT, identifier, text, set())


@pytest.mark.parametrize("linked", ["evals", f"evals/{AGENT}", REL])
def test_symlinks_on_the_way_are_refused(tmp_path: Path, linked: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    (root / linked).parent.mkdir(parents=True, exist_ok=True)
    target = outside / "production.yaml" if linked == REL else outside
    if linked == REL:
        target.write_text("apiVersion: alm/v1\n")
    os.symlink(target, root / linked)
    identifier, text = case_text()
    with pytest.raises(AlmError, match=f"^{linked} is a symlink"):
        append_case(root, AGENT, identifier, text, set())
    assert sorted(p.name for p in outside.iterdir()) == (
        ["production.yaml"] if linked == REL else []
    )


@pytest.mark.parametrize("name", ["../agents", "Support", "a/b", ""])
def test_an_agent_name_that_is_not_a_plain_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(AlmError, match="expected a name of lowercase letters"):
        suite_file(tmp_path, name)
