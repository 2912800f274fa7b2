"""The results JSON of an eval run (schema_version 1, documented in docs/results-schema.md).

Build it from graded trials, write and read it, and merge the shards of one run.
Metrics and gates are always recomputed from the per-case records, so a merged file
scores exactly as a single run over the same trials would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from reconciler.errors import AlmError
from reconciler.evals.gate import Gate, evaluate
from reconciler.evals.metrics import AgentMetrics, compute_agent
from reconciler.evals.records import CaseKey, CaseResult
from reconciler.spec.agent import Agent, Bound

SCHEMA_VERSION = 1


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
class RunInfo:
    """What the run evaluated and how; shards of one run agree on all but `shard`."""

    ref: str | None = None
    commit: str | None = None
    mode: str | None = None  # replay | record | live
    shard: Shard | None = None
    selection: Selection | None = None

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
        return tuple(c for c in self.cases if c.agent == agent)


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
        raise AlmError(f"results: an agent appears twice: {_repeated(names)}")
    keys = [c.key for c in case_list]
    if len(set(keys)) != len(keys):
        raise AlmError(f"results: a trial appears twice: {_repeated(keys)}")
    unknown = sorted({c.agent for c in case_list} - set(names))
    if unknown:
        raise AlmError(f"results: cases of agents with no agent entry: {', '.join(unknown)}")
    return Results(SCHEMA_VERSION, run, tuple(agent_list), tuple(case_list))


def rescore(results: Results) -> Results:
    """The same results with every agent's metrics and gate recomputed from its cases."""
    agents = [
        score(a.agent, a.model, a.bounds, results.cases_of(a.agent), a.bundle_hash)
        for a in results.agents
    ]
    return replace(results, agents=tuple(agents))


def _repeated(items: Sequence[Any]) -> str:
    seen: set[Any] = set()
    for item in items:
        if item in seen:
            return _label(item)
        seen.add(item)
    return ""


def _label(key: Any) -> str:
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
    if not isinstance(data, dict):
        raise AlmError(f"{source}: expected a JSON object with schema_version {SCHEMA_VERSION}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise AlmError(
            f"{source}: schema_version {version!r} is not supported; "
            f"this alm reads schema_version {SCHEMA_VERSION}"
        )
    try:
        (results,) = _adapter().validate_python((data,))
    except ValidationError as exc:
        raise AlmError(f"{source}: not a valid results file: {_first_errors(exc)}") from exc
    try:
        return build(results.run, results.agents, results.cases)
    except AlmError as exc:
        raise AlmError(f"{source}: {exc.message}") from exc


def from_json(text: str, source: str = "results") -> Results:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlmError(f"{source}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
    return from_dict(data, source)


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"][1:]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


# --- merging shards --------------------------------------------------------------------


def merge(*shards: Results) -> Results:
    """One run's shards as one results file, rescored.

    Refuses shards of different runs (ref, commit or mode differ), a missing or repeated
    shard, an agent described differently, a case described differently, and any trial
    present in two shards.
    """
    if not shards:
        raise AlmError("merge: expected at least one results file")
    run = _merged_run(shards)
    agents = _merged_agents(shards)
    cases = _merged_cases(shards)
    return rescore(build(run, agents, cases))


def _name(index: int, results: Results) -> str:
    shard = results.run.shard
    label = f"input {index + 1}"
    return f"{label} (shard {shard.index}/{shard.count})" if shard else label


def _merged_run(shards: Sequence[Results]) -> RunInfo:
    first = shards[0].run
    for i, results in enumerate(shards[1:], start=1):
        for field in ("ref", "commit", "mode", "selection"):
            mine, theirs = getattr(results.run, field), getattr(first, field)
            if mine != theirs:
                raise AlmError(
                    f"merge: {_name(i, results)} is from another run: "
                    f"{field} {mine!r}, expected {theirs!r} as in {_name(0, shards[0])}"
                )
    _check_shard_set([r.run.shard for r in shards])
    return replace(first, shard=None)


def _check_shard_set(shards: Sequence[Shard | None]) -> None:
    present = [s for s in shards if s is not None]
    if not present:
        return
    if len(present) != len(shards):
        raise AlmError("merge: some inputs are shards and some are not")
    counts = {s.count for s in present}
    if len(counts) != 1:
        raise AlmError(f"merge: shards of different splits: counts {sorted(counts)}")
    count = counts.pop()
    indexes = [s.index for s in present]
    if len(set(indexes)) != len(indexes):
        raise AlmError(f"merge: shard {_repeated(indexes)}/{count} appears twice")
    missing = sorted(set(range(1, count + 1)) - set(indexes))
    if missing:
        listed = ", ".join(f"{i}/{count}" for i in missing)
        raise AlmError(f"merge: missing shard(s) {listed}")


def _merged_agents(shards: Sequence[Results]) -> list[AgentResult]:
    seen: dict[str, tuple[int, AgentResult]] = {}
    for i, results in enumerate(shards):
        for agent in results.agents:
            if agent.agent not in seen:
                seen[agent.agent] = (i, agent)
                continue
            j, other = seen[agent.agent]
            for field in ("model", "bundle_hash", "bounds"):
                if getattr(agent, field) != getattr(other, field):
                    raise AlmError(
                        f"merge: agent {agent.agent} differs in {field} between "
                        f"{_name(j, shards[j])} and {_name(i, results)}"
                    )
    return [agent for _, agent in seen.values()]


_CASE_FIELDS = ("repeats", "tags", "expected_outcome", "case_hash")


def _merged_cases(shards: Sequence[Results]) -> list[CaseResult]:
    trials: dict[tuple[str, str, str, int], int] = {}
    cases: dict[CaseKey, tuple[int, CaseResult]] = {}
    merged: list[CaseResult] = []
    for i, results in enumerate(shards):
        for case in results.cases:
            if case.key in trials:
                j = trials[case.key]
                raise AlmError(
                    f"merge: overlapping shards: {_label(case.key)} is in "
                    f"{_name(j, shards[j])} and {_name(i, results)}"
                )
            trials[case.key] = i
            j, other = cases.setdefault(case.case_key, (i, case))
            for field in _CASE_FIELDS:
                if getattr(case, field) != getattr(other, field):
                    raise AlmError(
                        f"merge: case {_label(case.case_key)} differs in {field} between "
                        f"{_name(j, shards[j])} and {_name(i, results)}"
                    )
            merged.append(case)
    return merged
