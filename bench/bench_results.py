"""Reading and merging large results files takes time linear in their size.

Two shards of one run, written by ``to_json`` as ``alm eval --shard i/2 --out`` writes
them, together about 50 MB (many agents with few cases each: the shape that made
per-agent filtering quadratic), read with ``results.read`` and merged, as ``alm eval
merge`` does. A file of half the size is timed too: the ratio of the two times shows
whether the work grows linearly (about 2) or faster.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import Config, Result, below
from reconciler.evals.records import CaseResult
from reconciler.evals.results import RunInfo, Shard, build, read, score, to_json
from reconciler.evals.results_merge import merge
from tests.evalrecords import trial

TARGET_MB = 50
TRIAL_BYTES = 2_000  # one trial in a shard file (indent 2), with its share of its agent


def _write_shards(folder: Path, trials: int) -> list[Path]:
    paths = []
    for index in (1, 2):
        cases = [
            trial(f"case-{i}", agent=f"agent-{i // 4:06d}", calls=(True, False), cost=0.001)
            for i in range(trials)
            if i % 2 == index - 1
        ]
        groups: dict[str, list[CaseResult]] = {}
        for case in cases:
            groups.setdefault(case.agent, []).append(case)
        scored = [score(a, "openai/gpt-4.1-mini", {}, group) for a, group in groups.items()]
        run = RunInfo(ref="HEAD", commit="c0ffee", mode="replay", shard=Shard(index, 2))
        path = folder / f"shard-{index}.json"
        path.write_text(to_json(build(run, scored, cases)), "utf-8")
        paths.append(path)
    return paths


def _time_merge(paths: list[Path]) -> float:
    started = time.perf_counter()
    merge(*(read(p) for p in paths))
    return time.perf_counter() - started


def run(config: Config) -> list[Result]:
    del config
    trials = TARGET_MB * 1_000_000 // TRIAL_BYTES
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "half").mkdir()
        full = _write_shards(folder, trials)
        half = _write_shards(folder / "half", trials // 2)
        size_mb = sum(p.stat().st_size for p in full) / 1e6
        full_s = _time_merge(full)
        half_s = _time_merge(half)
    ratio = full_s / half_s
    note = f"{trials} trials, {trials // 4} agents, {size_mb:.0f} MB in two shards"
    return [
        below("results merge of ~50 MB", full_s, "s", 60.0, note),
        Result(
            "results merge growth (size x2)",
            ratio,
            "x",
            "< 3 x (linear: ~2)",
            ratio < 3,
            f"{half_s:.1f} s for half the size",
        ),
    ]
