"""The results JSON of an eval run (schema_version 1, documented in docs/results-schema.md).

Build it from graded trials, write and read it (results_merge merges a run's shards).
Metrics and gates are always recomputed from the per-case records, so a merged file
scores exactly as a single run over the same trials would.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from reconciler.errors import AlmError
from reconciler.evals import results_rules as rules
from reconciler.evals import safejson
from reconciler.evals.gate import Gate, evaluate
from reconciler.evals.metrics import AgentMetrics, compute_agent
from reconciler.evals.records import CaseResult
from reconciler.fsutil import read_limited
from reconciler.spec.agent import Agent, Bound

SCHEMA_VERSION = 1
MAX_BYTES = 256 << 20  # a results file; 50k trials of a few KiB each fit
MAX_DEPTH = safejson.MAX_DEPTH + 16  # the results' own levels, then a tool call's arguments


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int


@dataclass(frozen=True)
class Selection:
    """``--case`` / ``--tag``: only the cases admitted ran."""

    cases: tuple[str, ...] = ()  # glob patterns on case ids; empty: any
    tags: tuple[str, ...] = ()  # a case with any of these tags; empty: any

    def admits(self, case_id: str, tags: Iterable[str]) -> bool:
        by_id = not self.cases or any(fnmatchcase(case_id, p) for p in self.cases)
        return by_id and (not self.tags or not set(self.tags).isdisjoint(tags))


@dataclass(frozen=True)
class NotEvaluated:
    """An agent the run was asked for but could not (wholly) evaluate, and why: its spec
    or a suite does not load, or it has no suite. Carried through merge: it fails the run."""

    agent: str
    reason: str


@dataclass(frozen=True)
class RunInfo:
    """What the run evaluated and how; shards of one run agree on all but `shard`."""

    ref: str | None = None
    commit: str | None = None
    mode: str | None = None  # replay | record | live
    shard: Shard | None = None
    selection: Selection | None = None
    not_evaluated: tuple[NotEvaluated, ...] = ()

    @property
    def whole(self) -> bool:
        """Every case of the selected agents: only then do gates mean anything."""
        return self.shard is None and self.selection is None


@dataclass(frozen=True)
class AgentResult:
    agent: str
    model: str  # "provider/name"
    bundle_hash: str | None
    bounds: dict[str, Bound]  # contract.success_metrics as declared
    metrics: AgentMetrics
    gate: Gate


@dataclass(frozen=True)
class Results:
    schema_version: int
    run: RunInfo
    agents: tuple[AgentResult, ...]  # sorted by agent
    cases: tuple[CaseResult, ...]  # sorted by (agent, suite, case id, trial)

    def agent(self, name: str) -> AgentResult | None:
        return next((a for a in self.agents if a.agent == name), None)

    def cases_of(self, agent: str) -> tuple[CaseResult, ...]:
        return self._by_agent.get(agent, ())

    @cached_property
    def _by_agent(self) -> dict[str, tuple[CaseResult, ...]]:
        """Cases grouped once, so that a pass over every agent stays linear in the cases."""
        groups: defaultdict[str, list[CaseResult]] = defaultdict(list)
        for case in self.cases:
            groups[case.agent].append(case)
        return {agent: tuple(cases) for agent, cases in groups.items()}


@cache
def _adapter() -> TypeAdapter[tuple[Results]]:
    """Wrapped in a 1-tuple so that the config (unknown fields are errors) reaches every
    nested dataclass, including those of reconciler.evals.types."""
    return TypeAdapter(tuple[Results], config=ConfigDict(extra="forbid"))


# --- building --------------------------------------------------------------------------


def score(
    agent: str,
    model: str,
    bounds: Mapping[str, Bound],
    cases: Iterable[CaseResult],
    bundle_hash: str | None = None,
) -> AgentResult:
    """An agent's metrics (overall and per tag) and its gate, from its trials."""
    metrics = compute_agent(c for c in cases if c.agent == agent)
    gate = evaluate(metrics.overall, bounds)
    return AgentResult(agent, model, bundle_hash, dict(bounds), metrics, gate)


def agent_result(
    agent: Agent, cases: Iterable[CaseResult], bundle_hash: str | None = None
) -> AgentResult:
    model = f"{agent.model.provider}/{agent.model.name}"
    bounds = agent.contract.success_metrics.declared()
    return score(agent.name, model, bounds, cases, bundle_hash)


def build(run: RunInfo, agents: Iterable[AgentResult], cases: Iterable[CaseResult]) -> Results:
    """Results, sorted; refuses repeated trials, repeated agents and cases of unknown agents."""
    agent_list = sorted(agents, key=lambda a: a.agent)
    case_list = sorted(cases, key=lambda c: c.key)
    names = [a.agent for a in agent_list]
    if len(set(names)) != len(names):
        raise AlmError(f"results: an agent appears twice: {repeated(names)}")
    keys = [c.key for c in case_list]
    if len(set(keys)) != len(keys):
        raise AlmError(f"results: a trial appears twice: {repeated(keys)}")
    unknown = sorted({c.agent for c in case_list} - set(names))
    if unknown:
        raise AlmError(f"results: cases of agents with no agent entry: {', '.join(unknown)}")
    return Results(SCHEMA_VERSION, run, tuple(agent_list), tuple(case_list))


def check(results: Results) -> None:
    """What the shape of the schema cannot say: a possible shard, and trials whose status
    agrees with their failures. A results file is data from elsewhere (an artifact, a
    shard of another job): a contradiction is refused, never half-believed."""
    shard = results.run.shard
    if shard is not None and (problem := rules.shard_problem(shard.index, shard.count)):
        raise AlmError(f"run.shard: {problem}")
    for case in results.cases:
        if problem := rules.case_problem(case):
            raise AlmError(f"case {label(case.key)}: {problem}")


def rescore(results: Results) -> Results:
    """The same results with every agent's metrics and gate recomputed from its cases."""
    agents = [
        score(a.agent, a.model, a.bounds, results.cases_of(a.agent), a.bundle_hash)
        for a in results.agents
    ]
    return replace(results, agents=tuple(agents))


def repeated(items: Sequence[Any]) -> str:
    seen: set[Any] = set()
    for item in items:
        if item in seen:
            return label(item)
        seen.add(item)
    return ""


def label(key: Any) -> str:
    if isinstance(key, tuple):
        *path, last = key
        tail = f" trial {last}" if isinstance(last, int) else f"/{last}"
        return "/".join(str(p) for p in path) + tail
    return str(key)


# --- JSON ------------------------------------------------------------------------------


def to_dict(results: Results) -> dict[str, Any]:
    data: dict[str, Any] = _adapter().dump_python((results,), mode="json")[0]
    return data


def to_json(results: Results, indent: int | None = 2) -> str:
    return json.dumps(to_dict(results), indent=indent, ensure_ascii=False) + "\n"


def from_dict(data: Any, source: str = "results") -> Results:
    """Results from parsed JSON, validated against docs/results-schema.md: the shape
    (unknown fields are errors), then what the shape cannot say (``check``)."""
    if not isinstance(data, dict):
        raise AlmError(f"{source}: expected a JSON object with schema_version {SCHEMA_VERSION}")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # not 1.0, "1" or true
        raise AlmError(
            f"{source}: schema_version {rules.short(version)} is not supported; "
            f"this alm reads schema_version {SCHEMA_VERSION} (the integer)"
        )
    try:
        (results,) = _adapter().validate_python((data,))
    except ValidationError as exc:
        raise AlmError(f"{source}: not a valid results file: {_first_errors(exc)}") from None
    try:
        check(results)
        return build(results.run, results.agents, results.cases)
    except AlmError as exc:
        raise AlmError(f"{source}: {exc.message}") from None


def from_json(text: str | bytes, source: str = "results") -> Results:
    """Results from JSON text: UTF-8, finite numbers, bounded nesting, else a clear error."""
    try:
        data = safejson.loads(text, max_depth=MAX_DEPTH)
    except safejson.JsonRefused as exc:
        raise AlmError(exc.at(source)) from None
    return from_dict(data, source)


def read(path: Path) -> Results:
    """A results file, as ``alm eval merge`` and ``alm eval compare`` read it: a regular
    file of at most MAX_BYTES (never read past it), then ``from_json``."""
    data = read_limited(path, MAX_BYTES, "a results JSON file")
    return from_json(data, str(path))


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    errors = exc.errors(include_input=False)
    parts = [safejson.describe(error, skip=1) for error in errors[:limit]]
    more = len(errors) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
