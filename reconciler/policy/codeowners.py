"""CODEOWNERS with GitHub's semantics: parse, match, and generate from owners.

- the last matching pattern wins; a pattern with no owners clears ownership;
- patterns follow gitignore rules, less what GitHub does not support (`!`
  negation, `[ ]` ranges, `\\#` escapes): such lines are skipped, as GitHub does;
- a line with an owner that is not @user, @org/team or an email is skipped;
- lines end at "\n" only (a trailing "\r" is dropped), as GitHub reads them; a line that
  holds any other control or format character is reported and skipped.

`generate` writes the file from the agents' and the policies' `metadata.owners`,
so ownership lives in one place; it refuses a name or owner that would write more than
its own line. `compare` says how a committed file differs, rule by rule.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from reconciler.errors import AlmError, Finding, Location
from reconciler.policy.codeowners_index import RuleIndex, pattern_regex
from reconciler.spec.base import NAME_PATTERN, OWNER_RE
from reconciler.spec.paths import path_problem
from reconciler.spec.state import DesiredState

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
PATH = LOCATIONS[0]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SPECIAL = re.compile(r"([\\ *?\[\]#!])")
_AGENT_FOLDER = re.compile(NAME_PATTERN)
_PRINTABLE_ASCII = re.compile(r"[\t\x20-\x7e]*")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int

    @cached_property
    def regex(self) -> re.Pattern[str]:
        # compiled when first matched: of a generated file's thousands of rules, a change
        # is matched against the few the index names
        return pattern_regex(self.pattern)


@dataclass(frozen=True)
class Codeowners:
    rules: tuple[Rule, ...]
    errors: tuple[Finding, ...] = ()
    source: str = PATH

    def rule_for(self, path: str) -> Rule | None:
        """The last rule that matches, as GitHub decides; only the rules the index says
        could match are tried (a reversed scan of every rule for every changed path grew
        with paths x rules)."""
        return next(
            (
                self.rules[i]
                for i in self._index.candidates(path)
                if self.rules[i].regex.search(path)
            ),
            None,
        )

    @cached_property
    def _index(self) -> RuleIndex:
        return RuleIndex.of(rule.pattern for rule in self.rules)

    def owners_of(self, path: str) -> tuple[str, ...]:
        rule = self.rule_for(path)
        return rule.owners if rule else ()


def _owner_ok(owner: str) -> bool:
    return bool(OWNER_RE.fullmatch(owner) or _EMAIL.fullmatch(owner))


def _control(line: str) -> str | None:
    """The first control, format or line-separator character of a line (tab is a
    separator in CODEOWNERS, so it is allowed)."""
    if _PRINTABLE_ASCII.fullmatch(line):  # the usual line: no character to look up
        return None
    return next(
        (c for c in line if c != "\t" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")),
        None,
    )


def lines(text: str) -> list[str]:
    """The lines of a CODEOWNERS file as GitHub splits them."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _split(line: str) -> list[str]:
    """Whitespace-separated words; `\\ ` keeps a space in a pattern; # starts a comment."""
    words = re.findall(r"(?:\\.|\S)+", line)
    for i, word in enumerate(words):
        if word.startswith("#"):
            return words[:i]
    return words


def parse(text: str, source: str = PATH) -> Codeowners:
    rules: list[Rule] = []
    errors: list[Finding] = []
    for number, raw in enumerate(lines(text), start=1):
        words = _split(raw.strip())
        if not words:
            continue
        pattern, owners = words[0], tuple(words[1:])
        bad = _control(raw)
        problem = (
            f"line holds U+{ord(bad):04X}, a control character; expected a pattern and "
            "owners only (line skipped)"
            if bad is not None
            else _problem(pattern, owners)
        )
        if problem:
            errors.append(Finding("codeowners", problem, Location(source, number, 1)))
            continue
        rules.append(Rule(pattern, owners, number))
    return Codeowners(tuple(rules), tuple(errors), source)


def _problem(pattern: str, owners: tuple[str, ...]) -> str | None:
    if pattern.startswith("!"):
        return "negated patterns (!) are not supported by CODEOWNERS; line skipped"
    if re.search(r"(?<!\\)[\[\]]", pattern):
        return "character ranges ([ ]) are not supported by CODEOWNERS; line skipped"
    bad = [o for o in owners if not _owner_ok(o)]
    if bad:
        return (
            f"owner {bad[0]!r} is not @user, @org/team or an email; expected valid owners "
            "(line skipped)"
        )
    return None


def _escape(path: str) -> str:
    return _SPECIAL.sub(r"\\\1", path)


HEADER = """\
# Generated by `alm codeowners --write` from metadata.owners in agents/*/agent.yaml
# and policies/*.yaml. Do not edit by hand: change the owners there and run it again.
# The last matching pattern wins.
"""


def governance_owners(state: DesiredState) -> list[str]:
    """Owners of the policies that govern changes (match kind Change). They own policies/,
    .github/, and whatever under agents/ and evals/ no agent owns yet: a new agent."""
    owners = [
        o
        for p in state.policies
        if "Change" in p.model.match.kinds
        for o in p.model.metadata.owners
    ]
    return list(dict.fromkeys(owners))


def generate(state: DesiredState) -> str:
    sections: list[tuple[str, list[tuple[str, list[str]]]]] = []
    governance = governance_owners(state)
    if governance:
        # `*` first: a change to anything else (the bot's code, its workflows, the
        # Makefile) needs governance's review too, since the PR's own run computes its report
        folders = ("*", "/policies/", "/.github/", "/agents/", "/evals/")
        lines = [(folder, governance) for folder in folders]
        title = "governance (owners of the Change policies): all else, the bot's code too"
        sections.append((title, lines))
    by_file: dict[str, list[str]] = {}
    for policy in state.policies:
        by_file.setdefault(policy.file, []).extend(policy.model.metadata.owners)
    policy_lines = [(f"/{_escape(f)}", list(dict.fromkeys(o))) for f, o in sorted(by_file.items())]
    sections.append(("policies: their metadata.owners", [x for x in policy_lines if x[1]]))
    agent_lines: list[tuple[str, list[str]]] = []
    for spec in sorted(state.agents, key=lambda s: s.folder):
        owners = list(spec.agent.metadata.owners)
        agent_lines.append((f"/agents/{_escape(spec.folder)}/", owners))
        agent_lines.append((f"/evals/{_escape(spec.folder)}/", owners))
    sections.append(("agents and their eval suites: metadata.owners", agent_lines))
    _refuse_unsafe(state)
    out = [HEADER]
    for title, lines in sections:
        if not lines:
            continue
        width = max(len(pattern) for pattern, _ in lines)
        out.append(f"\n# {title}\n")
        out.extend(f"{p.ljust(width)}  {' '.join(o)}\n" for p, o in lines)
    return "".join(out)


def _unsafe_entries(state: DesiredState) -> list[str]:
    """Names and owners that would write more than their own CODEOWNERS line."""
    problems = [
        f"owner {o!r} of {p.file}; expected @user or @org/team"
        for p in state.policies
        for o in p.model.metadata.owners
        if not OWNER_RE.fullmatch(o)
    ]
    problems += [
        f"policy file {p.file!r}: {problem}"
        for p in state.policies
        if (problem := path_problem(p.file)) is not None
    ]
    for spec in state.agents:
        if not _AGENT_FOLDER.fullmatch(spec.folder):
            problems.append(f"agent folder {spec.folder!r}; expected a lowercase DNS label")
        problems += [
            f"owner {o!r} of {spec.loaded.file}; expected @user or @org/team"
            for o in spec.agent.metadata.owners
            if not OWNER_RE.fullmatch(o)
        ]
    return problems


def _refuse_unsafe(state: DesiredState) -> None:
    problems = _unsafe_entries(state)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise AlmError(f"cannot generate CODEOWNERS from {problems[0]}{more}")


def _rule_text(rule: Rule) -> str:
    return " ".join([rule.pattern, *rule.owners])


def compare(committed: str, expected: str, source: str = PATH) -> list[str]:
    """How the committed file's rules differ from the expected ones, each naming its line;
    empty when GitHub would read the same rules from both (comments and spacing aside)."""
    have, want = parse(committed, source), parse(expected)
    out = [f"{f.location}: {f.message}" for f in have.errors]
    matcher = difflib.SequenceMatcher(
        a=[(r.pattern, r.owners) for r in have.rules],
        b=[(r.pattern, r.owners) for r in want.rules],
        autojunk=False,
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        out += [
            f"{source}:{r.line}: rule `{_rule_text(r)}` is not generated from the owners"
            for r in have.rules[i1:i2]
        ]
        out += [f"{source}: rule `{_rule_text(r)}` is missing" for r in want.rules[j1:j2]]
    return out
