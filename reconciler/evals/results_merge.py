"""Merge the results JSON of one run's shards into one results file, rescored.

Metrics and gates are recomputed from the per-case records, so a merged file scores
exactly as a single run over the same trials would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import islice

from reconciler.errors import AlmError
from reconciler.evals.records import CaseKey, CaseResult
from reconciler.evals.results import (
    AgentResult,
    Results,
    RunInfo,
    Shard,
    build,
    label,
    repeated,
    rescore,
)


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
        for field in ("ref", "commit", "mode", "selection", "not_evaluated"):
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
    given = set(indexes)
    if len(given) != len(indexes):
        raise AlmError(f"merge: shard {repeated(indexes)}/{count} appears twice")
    if not all(1 <= i <= count for i in given):
        raise AlmError(f"merge: a shard index is outside 1..{count}")
    if len(given) < count:  # never build range(count): a forged count may be huge
        missing = list(islice((i for i in range(1, count + 1) if i not in given), 10))
        listed = ", ".join(f"{i}/{count}" for i in missing)
        more = count - len(given) - len(missing)
        raise AlmError(f"merge: missing shard(s) {listed}" + (f" and {more} more" if more else ""))


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
                    f"merge: overlapping shards: {label(case.key)} is in "
                    f"{_name(j, shards[j])} and {_name(i, results)}"
                )
            trials[case.key] = i
            j, other = cases.setdefault(case.case_key, (i, case))
            for field in _CASE_FIELDS:
                if getattr(case, field) != getattr(other, field):
                    raise AlmError(
                        f"merge: case {label(case.case_key)} differs in {field} between "
                        f"{_name(j, shards[j])} and {_name(i, results)}"
                    )
            merged.append(case)
    return merged
