"""Canary analysis (pure): is the canary revision worse than the stable one on the same
traffic, interval by interval, as Flagger and Argo Rollouts analyse a canary?

The window is cut into buckets (an hour by default). In each bucket where both revisions
served at least one task, the difference of their task success rates (canary - stable)
is one paired observation: comparing within a bucket cancels what changes over the day
(load, the mix of requests) and affects both revisions alike. The mean difference over
the paired buckets is tested with the gate's paired one-sided sign-flip test
(reconciler.evals.signflip), on differences in millionths so every sum is exact.

Verdict, in this order:
- rollback: the canary broke a must-never rule in any task; or its success rate is lower
  by more than the tolerance and the test says so at `alpha` (a worse canary is rolled
  back however few tasks it saw: significance already weighs how few they are);
- hold: fewer than `min_samples` canary tasks, or no bucket with traffic on both sides,
  or a drop beyond the tolerance that is not (yet) significant;
- promote: enough canary tasks and no drop beyond the tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal, overload

from reconciler.evals.records import CaseResult
from reconciler.evals.regression_checks import Tolerances
from reconciler.evals.signflip import lower_tail
from reconciler.ops.model import NS_PER_S, Task, Window
from reconciler.wording import plural

Decision = Literal["promote", "hold", "rollback"]
HOUR_NS = 3600 * NS_PER_S
SCALE = 1_000_000  # differences of rates in millionths: integers for the exact test
_DEFAULTS = Tolerances()


@dataclass(frozen=True)
class Bucket:
    """One interval of the window: tasks and passes of each revision in it."""

    start_ns: int
    canary_tasks: int = 0
    canary_passed: int = 0
    stable_tasks: int = 0
    stable_passed: int = 0

    @property
    def paired(self) -> bool:
        return self.canary_tasks > 0 and self.stable_tasks > 0

    @property
    def difference(self) -> Fraction | None:
        """canary rate - stable rate, when both served tasks in the bucket."""
        if not self.paired:
            return None
        return Fraction(self.canary_passed, self.canary_tasks) - Fraction(
            self.stable_passed, self.stable_tasks
        )


@dataclass(frozen=True)
class Settings:
    min_samples: int = 50  # canary tasks before a promotion (operate.canary_min_samples)
    bucket_ns: int = HOUR_NS
    tolerance: float = _DEFAULTS.success_drop  # absolute drop of the success rate allowed
    alpha: float = _DEFAULTS.alpha  # one-sided significance level
    draws: int = _DEFAULTS.draws  # Monte Carlo draws when the exact test is too large
    seed: int = _DEFAULTS.seed


@dataclass(frozen=True)
class CanaryVerdict:
    decision: Decision
    reason: str  # one sentence with the numbers behind the decision
    canary_tasks: int
    canary_passed: int
    stable_tasks: int
    stable_passed: int
    buckets: Buckets  # every bucket of the window, oldest first (those with tasks held)
    paired: int  # buckets with tasks of both revisions
    drop: float | None  # mean over paired buckets of (stable - canary) success rate
    p_value: float | None  # the one-sided test that the canary is worse
    violations: tuple[str, ...]  # trace ids of canary tasks that broke a must-never rule
    settings: Settings

    @property
    def canary_rate(self) -> float | None:
        return self.canary_passed / self.canary_tasks if self.canary_tasks else None

    @property
    def stable_rate(self) -> float | None:
        return self.stable_passed / self.stable_tasks if self.stable_tasks else None


@dataclass(frozen=True)
class Samples:
    """Each revision's tasks as (start_ns, passed), and the canary's must-never breakers."""

    canary: tuple[tuple[int, bool], ...]
    stable: tuple[tuple[int, bool], ...]
    violations: tuple[str, ...]  # trace ids


def split(graded: Iterable[tuple[Task, CaseResult]], canary: str, stable: str) -> Samples:
    """The graded tasks of the two revisions (reconciler.ops.online: a task passes as an
    eval trial does); tasks of other revisions are left out."""
    sides: dict[str, list[tuple[int, bool]]] = {canary: [], stable: []}
    violations: list[str] = []
    for task, result in graded:
        side = sides.get(task.revision or "")
        if side is None:
            continue
        side.append((task.start_ns, result.status == "passed"))
        if task.revision == canary and any(v.kind == "must_never" for v in result.violations):
            violations.append(task.trace_id)
    return Samples(tuple(sides[canary]), tuple(sides[stable]), tuple(violations))


class Buckets(Sequence[Bucket]):
    """Every bucket of the window, oldest first, holding only those with tasks: a window
    from 1970 is ~500,000 hours, so its empty buckets are made when asked for, one by
    one, and the analysis reads `active` alone (its cost follows the tasks)."""

    def __init__(self, start_ns: int, bucket_ns: int, count: int, active: Iterable[Bucket]):
        self.start_ns, self.bucket_ns, self._count = start_ns, bucket_ns, count
        self.active: tuple[Bucket, ...] = tuple(sorted(active, key=lambda b: b.start_ns))
        self._held = {(b.start_ns - start_ns) // bucket_ns: b for b in self.active}

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Bucket: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Bucket]: ...
    def __getitem__(self, index: int | slice) -> Bucket | Sequence[Bucket]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if not -self._count <= index < self._count:
            raise IndexError(f"bucket {index} of {self._count}")
        index %= self._count
        return self._held.get(index) or Bucket(self.start_ns + index * self.bucket_ns)

    def __iter__(self) -> Iterator[Bucket]:
        return (self[i] for i in range(self._count))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Buckets):
            return NotImplemented
        mine = (self.start_ns, self.bucket_ns, self._count, self.active)
        return mine == (other.start_ns, other.bucket_ns, other._count, other.active)

    def __hash__(self) -> int:
        return hash((self.start_ns, self.bucket_ns, self._count, self.active))

    def __repr__(self) -> str:
        return f"Buckets({self._count} of {self.bucket_ns} ns, {len(self.active)} with tasks)"


def buckets(
    canary: Sequence[tuple[int, bool]],
    stable: Sequence[tuple[int, bool]],
    window: Window,
    bucket_ns: int = HOUR_NS,
) -> Buckets:
    """The window cut from its start into buckets of bucket_ns (the last may be shorter),
    each counting the tasks (start_ns, passed) of both revisions; tasks outside the window
    are left out. Only buckets with tasks are made (Buckets)."""
    if bucket_ns <= 0:
        raise ValueError(f"bucket_ns {bucket_ns}: expected a positive duration")
    count = max(1, -(-(window.end_ns - window.start_ns) // bucket_ns))
    tallies: dict[int, list[int]] = {}
    for offset, tasks in ((0, canary), (2, stable)):
        for start_ns, passed in tasks:
            if start_ns in window:
                index = (start_ns - window.start_ns) // bucket_ns
                tally = tallies.setdefault(index, [0, 0, 0, 0])
                tally[offset] += 1
                tally[offset + 1] += bool(passed)
    made = (Bucket(window.start_ns + i * bucket_ns, *tally) for i, tally in tallies.items())
    return Buckets(window.start_ns, bucket_ns, count, made)


def analyse(
    canary: Sequence[tuple[int, bool]],
    stable: Sequence[tuple[int, bool]],
    window: Window,
    settings: Settings | None = None,
    violations: Sequence[str] = (),
) -> CanaryVerdict:
    """Promote, hold or roll back the canary, with the numbers behind it."""
    chosen = settings or Settings()
    cut = buckets(canary, stable, window, chosen.bucket_ns)
    diffs = [d for b in cut.active if (d := b.difference) is not None]
    drop = -sum(diffs, Fraction(0)) / len(diffs) if diffs else None
    p_value = None
    if diffs:
        scaled = [round(d * SCALE) for d in diffs]
        p_value = lower_tail(scaled, draws=chosen.draws, seed=chosen.seed).p_value
    verdict = CanaryVerdict(
        decision="hold",
        reason="",
        canary_tasks=sum(b.canary_tasks for b in cut.active),
        canary_passed=sum(b.canary_passed for b in cut.active),
        stable_tasks=sum(b.stable_tasks for b in cut.active),
        stable_passed=sum(b.stable_passed for b in cut.active),
        buckets=cut,
        paired=len(diffs),
        drop=None if drop is None else float(drop),
        p_value=p_value,
        violations=tuple(violations),
        settings=chosen,
    )
    decision, reason = decide(verdict)
    return replace(verdict, decision=decision, reason=reason)


def decide(v: CanaryVerdict) -> tuple[Decision, str]:
    """The decision and its reason, from the verdict's numbers."""
    s = v.settings
    if v.violations:
        example = v.violations[0]
        return "rollback", (
            f"the canary broke a must-never rule in {len(v.violations)} task(s) "
            f"(e.g. trace {example})"
        )
    if v.drop is None or v.p_value is None:
        return "hold", (
            f"no {_interval(s.bucket_ns, plural=False)} of the window had tasks of both revisions "
            f"(canary {v.canary_tasks}, stable {v.stable_tasks} task(s)): nothing to compare"
        )
    beyond = v.drop > s.tolerance
    significant = v.p_value < s.alpha
    numbers = _numbers(v)
    if beyond and significant:
        return "rollback", f"the canary is worse: {numbers}"
    if v.canary_tasks < s.min_samples:
        return "hold", (
            f"{v.canary_tasks} canary task(s), {s.min_samples} needed before a promotion; "
            f"so far {numbers}"
        )
    if beyond:
        return "hold", f"inconclusive: the canary may be worse, not significantly: {numbers}"
    return "promote", f"the canary is not worse beyond the tolerance: {numbers}"


def _numbers(v: CanaryVerdict) -> str:
    s = v.settings
    assert v.drop is not None and v.p_value is not None
    change = "lower" if v.drop > 0 else "higher"
    return (
        f"success {_rate(v.canary_rate)} (canary, {plural(v.canary_tasks, 'task')}) vs "
        f"{_rate(v.stable_rate)} (stable, {v.stable_tasks}); over {v.paired} paired "
        f"{_interval(s.bucket_ns, v.paired != 1)} the canary is "
        f"{abs(v.drop) * 100:.1f} points {change} "
        f"(tolerance {s.tolerance * 100:.1f}), one-sided p = {v.p_value:.3g} (alpha {s.alpha:g})"
    )


def _rate(rate: float | None) -> str:
    return "-" if rate is None or math.isnan(rate) else f"{rate * 100:.1f}%"


def _interval(bucket_ns: int, plural: bool = True) -> str:
    minutes = bucket_ns / NS_PER_S / 60
    word = "hour" if minutes == 60 else f"{minutes:g}-minute interval"
    return word + ("s" if plural else "")
