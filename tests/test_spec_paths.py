"""File names other tools would misread are refused when the state loads."""

from __future__ import annotations

import os

import pytest

from reconciler.spec import paths
from reconciler.spec.loader import load_ref, load_worktree
from reconciler.spec.paths import path_problem, shown
from tests.gitrepo import GitRepo


@pytest.mark.parametrize(
    "path",
    [
        "policies/a\nb.yaml",
        "evals/x/a\rb.yaml",
        "agents/x/prompts/a\u200bb.md",  # zero-width: a format character
        "agents/x/prompts/a\u00a0b.md",  # no-break space
        "agents/x/prompts/a b.md",
        "agents/x/prompts/a\\b.md",
        "agents/x/\udcff.md",  # a name that is not UTF-8, as git and os.walk give it
        "policies/#x.yaml",
        "policies/x*.yaml",
    ],
)
def test_unsafe_names_are_refused(path: str) -> None:
    assert path_problem(path) is not None


@pytest.mark.parametrize(
    "path", ["policies/cost.yaml", "agents/x/prompts/système.md", "evals/x/case_1.yml"]
)
def test_ordinary_names_pass(path: str) -> None:
    assert path_problem(path) is None


def test_shown_escapes_what_it_refuses() -> None:
    assert shown("policies/a\nb c\\.yaml") == "policies/a\\u000ab\\u0020c\\u005c.yaml"


def test_a_non_utf8_name_in_git_and_in_the_worktree_is_a_finding(mini: GitRepo) -> None:
    raw = os.fsdecode(b"evals/helper/\xff.yaml")
    mini.write(raw, "apiVersion: alm/v1\n")
    mini.commit("a name that is not UTF-8")
    for state in (load_worktree(mini.path), load_ref(mini.path, "HEAD")):
        (finding,) = [f for f in state.findings if f.code == "bad-path"]
        assert str(finding.location) == "evals/helper/\\udcff.yaml:1:1"
        assert "U+DCFF" in finding.message


@pytest.mark.parametrize("code", range(128))
def test_the_ascii_shortcut_agrees_with_each_characters_category(code: int) -> None:
    """A plain ASCII path skips the per-character look; every ASCII character is judged
    as the full look judges it."""
    path = f"agents/a{chr(code)}b/agent.yaml"
    expected = next((c for c in path if paths._unsafe(c)), None)
    assert paths._first_unsafe(path) == expected
