"""What an eval covers: the agents selected, those that cannot be evaluated (and why), and
the cases that ``--case`` / ``--tag`` select.

Nothing is left out silently: an agent whose spec does not load, whose eval suites do not
load, or that has no suite at all is named with the reason, and a filter that selects
nothing is a usage error that lists what exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.errors import Finding, UsageError
from reconciler.evals.records import effective_tags
from reconciler.evals.results import Selection
from reconciler.spec.state import DesiredState

LISTED = 20  # names listed in a usage error before "and N more"


@dataclass(frozen=True)
class Unevaluated:
    """An agent of the selection that is not (wholly) evaluated, and why."""

    agent: str  # its folder under agents/
    reason: str
    runs: bool  # its loaded part still runs (a suite file is broken; no suite at all)


@dataclass(frozen=True)
class Scope:
    agents: tuple[str, ...]  # names of the agents to run, with or without cases
    unevaluated: tuple[Unevaluated, ...]


def fleet(state: DesiredState) -> list[str]:
    """Every agent folder: those that loaded and those whose agent.yaml did not."""
    return sorted(state.agent_folders | {spec.folder for spec in state.agents})


@dataclass(frozen=True)
class _Index:
    """Built once per question, so that asking for every folder of a large fleet is
    linear (a scan of every spec and finding per folder was quadratic)."""

    loaded: frozenset[str]  # folders whose agent spec loaded
    errors: dict[str, list[Finding]]  # by "agents/<folder>/" or "evals/<folder>/", sorted

    @classmethod
    def of(cls, state: DesiredState) -> _Index:
        errors: dict[str, list[Finding]] = {}
        for finding in sorted(state.errors, key=Finding.sort_key):
            top, _, rest = finding.location.file.partition("/")
            folder, slash, _ = rest.partition("/")
            if slash:
                errors.setdefault(f"{top}/{folder}/", []).append(finding)
        return cls(frozenset(spec.folder for spec in state.agents), errors)


def _first(findings: list[Finding]) -> str:
    more = f" (and {len(findings) - 1} more; alm validate lists them)" if len(findings) > 1 else ""
    return f"{findings[0].location}: {findings[0].message}{more}"


def broken(state: DesiredState) -> list[str]:
    """Agent folders whose spec does not load (an error in agents/<name>/)."""
    index = _Index.of(state)
    return [name for name in fleet(state) if _unloaded(index, name)]


def _unloaded(index: _Index, folder: str) -> str | None:
    errors = index.errors.get(f"agents/{folder}/")
    if errors:
        return f"not evaluated: its spec does not load: {_first(errors)}"
    if folder not in index.loaded:
        return f"not evaluated: agents/{folder}/agent.yaml does not load"
    return None


def _why(state: DesiredState, index: _Index, folder: str) -> Unevaluated | None:
    unloaded = _unloaded(index, folder)
    if unloaded is not None:
        return Unevaluated(folder, unloaded, runs=False)
    errors = index.errors.get(f"evals/{folder}/")
    if errors:
        return Unevaluated(folder, f"an eval suite does not load: {_first(errors)}", runs=True)
    if not state.suites.get(folder):
        reason = f"no eval suite; expected evals/{folder}/*.yaml of kind EvalSuite"
        return Unevaluated(folder, reason, runs=True)
    return None


def scope(state: DesiredState, names: Sequence[str] | None = None) -> Scope:
    """The agents named (the whole fleet when None). A name that is no agent is a usage
    error listing the agents there are."""
    known = fleet(state)
    by_name = {spec.name: spec.folder for spec in state.agents}
    folders = known if names is None else [by_name.get(n, n) for n in names]
    unknown = sorted(set(folders) - set(known))
    if unknown:
        raise UsageError(f"--agent: no agent named {', '.join(unknown)}; agents: {_list(known)}")
    index = _Index.of(state)
    asked = dict.fromkeys(folders)
    why = [w for folder in asked if (w := _why(state, index, folder)) is not None]
    skipped = {w.agent for w in why if not w.runs}
    run = tuple(
        spec.name for spec in sorted(state.agents, key=lambda s: s.name)
        if spec.folder in asked and spec.folder not in skipped
    )  # fmt: skip
    return Scope(run, tuple(why))


# --- cases -----------------------------------------------------------------------------


def case_matches(pattern: str, suite: str, case_id: str) -> bool:
    """A glob on the case id, or on ``suite/case-id`` (as results and compare print it)
    when the pattern holds a slash."""
    return fnmatchcase(f"{suite}/{case_id}" if "/" in pattern else case_id, pattern)


def admits(selection: Selection, suite: str, case_id: str, tags: Iterable[str]) -> bool:
    """Every --case (any of them) and --tag (any of them) condition holds."""
    by_id = not selection.cases or any(case_matches(p, suite, case_id) for p in selection.cases)
    return by_id and Selection(tags=selection.tags).admits(case_id, tags)


def _cases(state: DesiredState, agents: Sequence[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(suite, case id, tags) of every case of the agents."""
    folders = {spec.folder for spec in state.agents if spec.name in agents}
    return [
        (loaded.model.metadata.name, case.id, effective_tags(loaded.model, case))
        for folder in sorted(folders)
        for loaded in state.suites.get(folder, [])
        for case in loaded.model.cases
    ]


def check_selection(state: DesiredState, agents: Sequence[str], selection: Selection) -> None:
    """Each --case pattern and each --tag selects a case of the agents, and together they
    select one; else a usage error listing the case ids or tags there are."""
    cases = _cases(state, agents)
    if not agents:
        return  # nothing to select from (--affected-since found no agent): an empty run
    who = agents[0] if len(agents) == 1 else f"the {len(agents)} agents"
    ids = [f"{suite}/{case_id}" for suite, case_id, _ in cases]
    tags = sorted({tag for *_, case_tags in cases for tag in case_tags})
    unmatched = [p for p in selection.cases if not any(case_matches(p, s, c) for s, c, _ in cases)]
    if unmatched:
        raise UsageError(
            f"--case {', '.join(unmatched)} matches no case of {who}; cases: {_list(ids)}"
        )
    untagged = [t for t in selection.tags if t not in tags]
    if untagged:
        raise UsageError(f"--tag {', '.join(untagged)} is on no case of {who}; tags: {_list(tags)}")
    if not any(admits(selection, s, c, t) for s, c, t in cases):
        raise UsageError(
            f"--case and --tag together select no case of {who} (a case must match both); "
            f"cases: {_list(ids)}; tags: {_list(tags)}"
        )


def _list(names: Sequence[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:LISTED])
    return shown + (f", … and {len(names) - LISTED} more" if len(names) > LISTED else "")
