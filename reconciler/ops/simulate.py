"""A day of production traffic for a fleet, through the real OpenTelemetry SDK: what
`alm ops simulate` writes, so that ingest, check, report and promote have something true
to their shape to work on (the demo, benchmarks, trying alm out).

Each agent gets tasks at its declared volume (contract.volume, per hour) along a daily
curve (busier in working hours, UTC), each task a plausible run of its granted tools
with tokens and times around its model step, and a small rate of what goes wrong in
production (tool timeouts and rate limits retried, escalations, the odd negative
feedback, a few reviewers' labels) that stays inside the agent's contract: models'
tokens and times are scaled so cost per task and p95 latency sit well under its bounds.
`breach` makes one agent leak what its own must-never patterns forbid and fail tasks in
the window's last quarter, on its live revision (the canary's, during a canary).

Deterministic for a seed and an end time: each agent draws from its own generator, and
trace and span ids come from a seeded generator too. The Recorder is flushed to the file
every CHUNK tasks, so memory stays flat however long the window.
"""

from __future__ import annotations

import gzip
import heapq
import io
import math
import os
import random
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import zstandard
from opentelemetry.sdk.trace.id_generator import IdGenerator

from reconciler.fsutil import ordinary_mode
from reconciler.ops import simtask
from reconciler.ops.model import NS_PER_S
from reconciler.ops.simprofile import BREACH_SHARE, AgentProfile
from reconciler.ops.simtask import TaskDraw
from reconciler.ops.tracegen import Recorder
from reconciler.pricing import PriceBook

CHUNK = 2000  # tasks recorded between two flushes to the file
DAYS_PER_MONTH = 30.4375
# weight of each UTC hour of the day (mean 1): quiet nights, a working-day peak
_RAW = [0.25 + 1.5 * math.exp(-((((h + 0.5) - 13.5) / 4.0) ** 2)) for h in range(24)]
HOURLY = [w * 24 / sum(_RAW) for w in _RAW]


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded generator: the same seed, the same file."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1


@dataclass(frozen=True)
class Settings:
    end_ns: int
    hours: float = 24.0
    seed: int = 0
    environment: str = "prod"
    breach: str | None = None
    tasks_per_hour: float | None = None  # each agent's mean, instead of its volume

    @property
    def start_ns(self) -> int:
        return self.end_ns - int(self.hours * 3600 * NS_PER_S)

    @property
    def breach_start_ns(self) -> int:
        """The breach fills the window's last quarter (at least its last hour)."""
        span = min(self.hours, max(self.hours / 4, 1.0))
        return self.end_ns - int(span * 3600 * NS_PER_S)


@dataclass
class Report:
    """What was written: tasks and spans per (agent, revision), and breaching tasks."""

    path: Path
    tasks: Counter[tuple[str, str]] = field(default_factory=Counter)
    spans: Counter[tuple[str, str]] = field(default_factory=Counter)
    breaching: Counter[tuple[str, str]] = field(default_factory=Counter)
    canaries: dict[str, str] = field(default_factory=dict)  # agent -> canary revision


def poisson(mean: float, rng: random.Random) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # the normal approximation; exact sampling would loop `mean` times
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def start_times(per_hour: float, settings: Settings, rng: random.Random) -> list[int]:
    """Task start times over the window, hour by hour along the daily curve."""
    hour_ns = 3600 * NS_PER_S
    times: list[int] = []
    at = settings.start_ns
    while at < settings.end_ns:
        stop = min((at // hour_ns + 1) * hour_ns, settings.end_ns)
        weight = HOURLY[(at // hour_ns) % 24]
        count = poisson(per_hour * weight * (stop - at) / hour_ns, rng)
        times.extend(rng.randrange(at, stop) for _ in range(count))
        at = stop
    return sorted(times)


def per_hour(profile: AgentProfile, settings: Settings) -> float:
    if settings.tasks_per_hour is not None:
        return settings.tasks_per_hour
    return profile.tasks_per_month / (DAYS_PER_MONTH * 24)


def breach_begin(times: Sequence[int], settings: Settings) -> int:
    """When a breach starts: the window's last quarter, and at least the last quarter of
    the agent's tasks (simprofile.BREACH_SHARE). At a quiet hour of the daily curve the
    last quarter of the time holds few tasks, a canary's share of them fewer: a leak or
    a floor broken by three tasks, or none, is a breach no check could be shown to see."""
    if not times:
        return settings.breach_start_ns
    return min(settings.breach_start_ns, times[int(len(times) * (1 - BREACH_SHARE))])


def _agent_tasks(
    profile: AgentProfile, settings: Settings, prices: PriceBook | None
) -> Iterator[TaskDraw]:
    rng = random.Random(f"{settings.seed}:{profile.name}")
    scale = simtask.calibrate(profile, prices)
    breaching = settings.breach == profile.name
    times = start_times(per_hour(profile, settings), settings, rng)
    begin = breach_begin(times, settings)
    for start in times:
        arm = simtask.choose_arm(profile.arms, rng)
        loud = breaching and start >= begin and arm is profile.arms[0]
        yield simtask.draw(profile, arm, start, rng, scale, loud)


def simulate(
    profiles: Sequence[AgentProfile],
    settings: Settings,
    out: Path,
    prices: PriceBook | None = None,
) -> Report:
    """Write the window's traffic to `out` (gzip when it ends in .gz, zstd in .zst or
    .zstd), atomically."""
    report = Report(out, canaries={p.name: p.canary for p in profiles if p.canary})
    recorder = Recorder(settings.environment, id_generator=SeededIds(f"{settings.seed}:ids"))
    streams = [_agent_tasks(p, settings, prices) for p in profiles]
    with _atomic_text(out) as handle:
        pending = 0
        for task in heapq.merge(*streams, key=lambda t: t.spec.start_ns):
            recorder.record(task.spec)
            _count(report, task)
            pending += 1
            if pending >= CHUNK:
                _flush(recorder, handle)
                pending = 0
        _flush(recorder, handle)
    recorder.provider.shutdown()
    return report


def _count(report: Report, task: TaskDraw) -> None:
    key = (task.spec.agent, task.spec.revision)
    report.tasks[key] += 1
    report.spans[key] += 2 + 2 * len(task.spec.tools)  # root, a chat per tool and one more
    report.breaching[key] += task.breaching


def _flush(recorder: Recorder, handle: IO[str]) -> None:
    for line in recorder.lines():
        handle.write(line)
        handle.write("\n")
    recorder.clear()


def _gzip(raw: IO[bytes]) -> IO[str]:
    # level 1: a tenth of the plain size at a fraction of level 6's time
    return gzip.open(raw, "wt", encoding="utf-8", compresslevel=1)


def _zstd(raw: IO[bytes]) -> IO[str]:
    packed = zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
    return io.TextIOWrapper(packed, encoding="utf-8")


def _plain(raw: IO[bytes]) -> IO[str]:
    return open(raw.fileno(), "w", encoding="utf-8", closefd=False)


# the file's compression by its suffix, as the Collector's file exporter names them
_ENCODERS = {".gz": _gzip, ".zst": _zstd, ".zstd": _zstd}


@contextmanager
def _atomic_text(path: Path) -> Iterator[IO[str]]:
    """A text stream to a temporary file beside `path`, renamed over it when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            with _ENCODERS.get(path.suffix, _plain)(raw) as text:
                yield text
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, ordinary_mode())  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
