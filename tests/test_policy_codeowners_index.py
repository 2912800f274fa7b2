"""CODEOWNERS patterns match as on GitHub, and lookup through the prefix index answers as
the reversed scan of every rule."""

from __future__ import annotations

import itertools
import random

import pytest

from reconciler.policy.codeowners import Codeowners, Rule, parse
from reconciler.policy.codeowners_index import literal_prefix, pattern_regex

# (pattern, path, matches) -- the examples of GitHub's CODEOWNERS documentation and more
MATCHES = [
    ("*", "anything/at/all.md", True),
    ("*.js", "app.js", True),
    ("*.js", "src/deep/app.js", True),
    ("*.js", "app.jsx", False),
    ("/build/logs/", "build/logs/x.log", True),
    ("/build/logs/", "build/logs/deeper/x.log", True),
    ("/build/logs/", "src/build/logs/x.log", False),
    ("docs/*", "docs/getting-started.md", True),
    ("docs/*", "docs/build-app/troubleshooting.md", False),
    ("apps/", "apps/web/index.js", True),
    ("apps/", "src/apps/web/index.js", True),
    ("/docs/", "docs/a/b.md", True),
    ("/docs/", "src/docs/a.md", False),
    ("**/logs", "build/logs/x.log", True),
    ("**/logs", "deeply/nested/logs/x", True),
    ("**/logs", "logs/x", True),
    ("/apps/github", "apps/github/x.rb", True),
    ("/apps/github", "apps/github", True),
    ("/apps/github", "apps/githubber/x", False),
    ("agents/*/agent.yaml", "agents/a/agent.yaml", True),
    ("agents/*/agent.yaml", "agents/a/b/agent.yaml", False),
    ("agents/**/agent.yaml", "agents/a/b/agent.yaml", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("docs/**", "docs/x/y.md", True),
    ("README.md", "sub/README.md", True),
    ("/README.md", "sub/README.md", False),
    ("file?.txt", "file1.txt", True),
    ("file?.txt", "file/.txt", False),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCHES)
def test_patterns_match_as_on_github(pattern: str, path: str, expected: bool) -> None:
    assert bool(pattern_regex(pattern).search(path)) is expected


# anchored and not, wildcards in and after the first segment, globstars, escapes,
# trailing slashes, `/*`, empty segments, and look-alike prefixes (agents-x, agentsx)
PATTERNS = [
    "*",
    "*.yaml",
    "agents/",
    "/agents/",
    "/agents/a/",
    "/agents/a",
    "agents/a/*",
    "/agents/a*/",
    "/agents/?/",
    "/agents/**/prompt.md",
    "**/evals",
    "/**/x.yaml",
    "/agents-x/",
    "/agentsx",
    "a/b",
    "/a//b",
    "/ev\\als/",
    "/evals/a/suite.yaml",
    "/evals/a/",
    "prompt.md",
    "/policies/*",
    "docs/**",
]
PATHS = [
    "agents/a/agent.yaml",
    "agents/a",
    "agents/ab/agent.yaml",
    "agents/b/prompt.md",
    "agents/a/deep/prompt.md",
    "agents-x/a.yaml",
    "agentsx",
    "agentsx/y",
    "evals/a/suite.yaml",
    "evals/b/cases.jsonl",
    "src/evals/x",
    "x.yaml",
    "deep/x.yaml",
    "a/b",
    "a//b",
    "a/b/c",
    "x/a/b",
    "policies/p.yaml",
    "policies/sub/p.yaml",
    "docs/a/b",
    "README.md",
    "",
]


def scanned(owners: Codeowners, path: str) -> Rule | None:
    """The reference: every rule, last first, compiled afresh."""
    return next((r for r in reversed(owners.rules) if pattern_regex(r.pattern).search(path)), None)


def text_of(patterns: list[str]) -> str:
    return "".join(f"{p} @o{i}\n" for i, p in enumerate(patterns))


@pytest.mark.parametrize("seed", range(20))
def test_indexed_lookup_equals_the_reversed_scan(seed: int) -> None:
    patterns = random.Random(seed).sample(PATTERNS, k=len(PATTERNS))
    owners = parse(text_of(patterns))
    assert len(owners.rules) == len(patterns)  # none skipped: every pattern is compared
    for path in PATHS:
        assert owners.rule_for(path) == scanned(owners, path), path


def test_every_pair_in_both_orders_gives_the_last_match() -> None:
    for first, second in itertools.permutations(PATTERNS, 2):
        owners = parse(text_of([first, second]))
        for path in PATHS:
            assert owners.rule_for(path) == scanned(owners, path), (first, second, path)


def test_a_later_unanchored_rule_beats_an_earlier_exact_folder() -> None:
    owners = parse("/agents/a/ @team-a\n*.yaml @yaml\n/agents/a/prompt.md @p\n")
    assert owners.owners_of("agents/a/agent.yaml") == ("@yaml",)
    assert owners.owners_of("agents/a/prompt.md") == ("@p",)
    assert owners.owners_of("agents/a/notes.txt") == ("@team-a",)


def test_generated_style_file_finds_each_agent_folder() -> None:
    lines = ["* @gov", "/agents/ @gov"]
    for n in range(300):
        lines += [f"/agents/agent-{n}/ @team-{n}", f"/evals/agent-{n}/ @team-{n}"]
    owners = parse("\n".join(lines))
    assert owners.owners_of("agents/agent-7/agent.yaml") == ("@team-7",)
    assert owners.owners_of("evals/agent-299/suite.yaml") == ("@team-299",)
    assert owners.owners_of("agents/agent-7x/agent.yaml") == ("@gov",)
    assert owners.owners_of("Makefile") == ("@gov",)


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("*.js", None),
        ("apps/", None),
        ("/apps/", ("apps",)),
        ("apps/web", ("apps", "web")),
        ("/agents/a*/x", ("agents",)),
        ("/agents/**/x", ("agents",)),
        ("docs/*", ("docs",)),
        ("/my\\ dir/x", ()),
        ("/a//b/", ("a", "", "b")),
    ],
)
def test_literal_prefix(pattern: str, prefix: tuple[str, ...] | None) -> None:
    assert literal_prefix(pattern) == prefix
