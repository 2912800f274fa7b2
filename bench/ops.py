"""`alm ops` over 1,000,000 spans: ingest (wall, peak memory), re-ingest (adds nothing) and
`alm ops check` over them.

The spans are SDK-made: ~10,000 spans of a small synthetic fleet (bench.fleet) are
recorded through the real OpenTelemetry SDK (reconciler.ops.tracegen) and written by its
OTLP encoder, then the lines are replicated with rewritten trace ids and times shifted
copy by copy, so every span keeps the shape the SDK gave it and the day is covered
evenly. The file is cached under bench/results/ (generating it takes a few seconds, but
it is ~600 MB). Each alm command runs in its own process, as a user runs it; peak memory
is the child's max RSS (resource.getrusage(RUSAGE_CHILDREN) measured in a fresh
subprocess per command). Targets: ingest < 60 s and < 500 MB; re-ingest adds 0 spans;
check < 5 s.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import PROJECT_ROOT, Config, Result, below
from bench.fleet import AgentPlan, commit_fleet, plan_agents
from reconciler.ops.tracegen import ModelStep, Recorder, TaskSpec, ToolStep

SPANS = 1_000_000
BASE_SPANS = 10_000
AGENTS = 12
COPIES = SPANS // BASE_SPANS
DAY_NS = 86_400 * 1_000_000_000
ANCHOR_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z: the day starts here
INGEST_S, INGEST_MB, CHECK_S = 60.0, 500.0, 5.0
GENERATOR_VERSION = 2
_IDS = re.compile(rb'"traceId":"([0-9a-f]{4})')
_TIMES = re.compile(rb'"(start|end)TimeUnixNano":"(\d+)"')


@dataclass(frozen=True)
class Corpus:
    path: Path  # OTLP JSON lines
    spans: int
    tasks: int
    agents: tuple[str, ...]
    start_ns: int
    end_ns: int


def _task(rng: random.Random, plan: AgentPlan, start_ns: int) -> TaskSpec:
    tools = tuple(
        ToolStep(
            rng.choice(plan.grants).tool,
            error="timeout" if rng.random() < 0.05 else None,
            # no arguments or results: content capture is opt-in (docs/traces.md), and the
            # fleet's tool schemas would refuse made-up ones (every call a violation)
        )
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3)))
    )
    return TaskSpec(
        agent=plan.name,
        revision=f"sha256:{plan.index:064x}",
        start_ns=start_ns,
        tools=tools,
        model=ModelStep(model=plan.model, input_tokens=rng.randrange(200, 2000)),
        input_text="where is my order?",
        output_text="it ships tomorrow",
        outcome=rng.choice(("resolved", "resolved", "resolved", "escalated")),
        feedback="negative" if rng.random() < 0.03 else None,
    )


def base_lines(plans: list[AgentPlan], seed: int = 12) -> tuple[list[bytes], int]:
    """~BASE_SPANS SDK-recorded spans over the first 1/COPIES of the day; (lines, tasks)."""
    rng = random.Random(seed)
    recorders = {env: Recorder(env) for env in ("prod", "staging")}
    spans = tasks = 0
    while spans < BASE_SPANS:
        env = "prod" if rng.random() < 0.8 else "staging"
        spec = _task(rng, rng.choice(plans), ANCHOR_NS + rng.randrange(DAY_NS // COPIES))
        recorders[env].record(spec)
        spans += 2 * len(spec.tools) + 2
        tasks += 1
    lines = [line.encode() for r in recorders.values() for line in r.lines(spans_per_line=256)]
    return lines, tasks


def copy_line(line: bytes, k: int) -> bytes:
    """`line` as copy k: trace ids' first 4 hex digits = k, times shifted k/COPIES of a day."""
    shift = k * (DAY_NS // COPIES)
    line = _IDS.sub(b'"traceId":"%04x' % k, line)
    return _TIMES.sub(lambda m: b'"%sTimeUnixNano":"%d"' % (m[1], int(m[2]) + shift), line)


def corpus(cache: Path) -> Corpus:
    """The 1M-span file, made once (keyed by the generator version) and reused."""
    folder = cache / f"ops-spans-{SPANS}-v{GENERATOR_VERSION}"
    meta_file = folder / "corpus.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        return Corpus(
            folder / "spans.jsonl",
            meta["spans"],
            meta["tasks"],
            tuple(meta["agents"]),
            meta["start_ns"],
            meta["end_ns"],
        )
    folder.mkdir(parents=True, exist_ok=True)
    _, plans = plan_agents(AGENTS, 8)
    lines, tasks = base_lines(plans)
    spans = sum(line.count(b'"spanId"') for line in lines)
    path = folder / "spans.jsonl"
    with open(path.with_suffix(".tmp"), "wb") as out:
        for k in range(COPIES):
            out.writelines(copy_line(line, k) + b"\n" for line in lines)
    path.with_suffix(".tmp").replace(path)
    made = Corpus(
        path,
        spans * COPIES,
        tasks * COPIES,
        tuple(p.name for p in plans),
        ANCHOR_NS,
        ANCHOR_NS + DAY_NS + DAY_NS // COPIES,
    )
    meta = {k: v for k, v in made.__dict__.items() if k != "path"}
    meta_file.write_text(json.dumps({**meta, "agents": list(made.agents)}))
    return made


def iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- running alm -----------------------------------------------------------------------


def measured(argv: list[str]) -> tuple[int, float, float, str, str]:
    """(exit code, wall s, peak RSS MB, stdout, stderr) of argv run by a fresh Python whose
    only child is argv, so its RUSAGE_CHILDREN max RSS is argv's own."""
    probe = (
        "import json,resource,subprocess,sys,time;t=time.perf_counter();"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "w=time.perf_counter()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "print(json.dumps([p.returncode,w,r/1024,p.stdout,p.stderr]))"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env, check=True
    )
    code, wall, rss, out, err = json.loads(done.stdout)
    return int(code), float(wall), float(rss), str(out), str(err)


def alm(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", "-C", str(root), *args]


def _added(out: str) -> int | None:
    found = re.search(r"(\d[\d,]*) spans? added", out)
    return int(found.group(1).replace(",", "")) if found else None


def ingest_results(root: Path, data: Corpus, db: Path) -> list[Result]:
    name = f"ops.ingest.{data.spans // 1000}k_spans"
    code, wall, rss, out, err = measured(
        alm(root, "ops", "ingest", str(data.path), "--db", str(db))
    )
    summary = (out.splitlines() or [""])[0]
    wrong = f"exit {code}: {err[-300:]}" if code else ""
    if not wrong and _added(out) != data.spans:
        wrong = f"expected {data.spans:,} spans added: {summary}"
    note = wrong or f"{summary}; db {db.stat().st_size / 1e6:.0f} MB"
    results = [
        below(f"{name}.wall", wall, "s", INGEST_S, note),
        below(f"{name}.rss", rss, "MB", INGEST_MB),
    ]
    if wrong:
        results = [Result(r.name, r.value, r.unit, r.target, False, r.note) for r in results]
    code, wall, rss, out, err = measured(
        alm(root, "ops", "ingest", str(data.path), "--db", str(db))
    )
    added = _added(out) if code == 0 else None
    again = f"exit {code}, {wall:.1f} s, {rss:.0f} MB: {(out.splitlines() or [err[-200:]])[0]}"
    value = float(added) if added is not None else -1.0
    results.append(Result(f"{name}.reingest.added", value, "spans", "= 0", added == 0, again))
    return results


def check_result(root: Path, data: Corpus, db: Path) -> Result:
    """`alm ops check --env prod` over the ingested day; "not run" (ok None) while the
    command does not exist yet, never a pass."""
    name = f"ops.check.{data.spans // 1000}k_spans.wall"
    window = ["--since", iso(data.start_ns), "--until", iso(data.end_ns)]
    code, wall, rss, _, err = measured(
        alm(root, "ops", "check", "--env", "prod", "--db", str(db), *window)
    )
    if code in (0, 3):
        note = f"exit {code} ({'breach' if code == 3 else 'ok'}), {rss:.0f} MB"
        return below(name, wall, "s", CHECK_S, note)
    return Result(
        name, 0.0, "s", f"< {CHECK_S:g} s", None, f"not run: exit {code}: {err.strip()[-200:]}"
    )


def run(config: Config) -> list[Result]:
    data = corpus(config.cache)
    work = config.cache / "ops-work"
    root = work / "fleet"
    if not (root / "agents").is_dir():
        commit_fleet(root, agents=AGENTS, grants=8)
    db = work / "traces.db"
    for leftover in work.glob("traces.db*"):
        leftover.unlink()
    return [*ingest_results(root, data, db), check_result(root, data, db)]


def _lines(path: Path) -> Iterator[bytes]:  # for bench.ops_engines
    with open(path, "rb") as handle:
        yield from handle
