"""The cost report over 200,000 tasks: `python -m bench.ops_report [--tasks N]`.

Tasks are built in memory (tests.ops_report_tasks: 12 agents, two revisions each, 0-5
tool calls, some re-asks, a week), so this times the report alone, not the store: the
economics (one pass, every model call priced), the four charts, and the markdown and
HTML. Target: a few seconds for the whole.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from reconciler.ops import report_html, report_md
from reconciler.ops.charts import draw_all
from reconciler.ops.economics import AgentPlan, economics
from reconciler.ops.model import NS_PER_S, Task, Window
from reconciler.ops.rates import RatedPriceBook
from tests.ops_report_tasks import DAY0_NS, make_task

AGENTS = [f"agent-{n:02d}" for n in range(12)]
TOOLS = ["crm.search", "ticketing.get_ticket", "kb.search", "escalate_to_human"]


def tasks(count: int, seed: int = 1) -> list[Task]:
    rng = random.Random(seed)
    made = [
        make_task(i, rng.choice(AGENTS), "sha256:" + rng.choice("ab") * 64,
                  start_s=rng.uniform(0, 7 * 86400),
                  tools=[rng.choice(TOOLS) for _ in range(rng.randint(0, 5))],
                  tokens=(rng.randint(300, 3000), rng.randint(50, 500)),
                  extra_calls=int(rng.random() < 0.1))
        for i in range(count)
    ]  # fmt: skip
    return sorted(made, key=lambda t: t.start_ns)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200_000)
    count = parser.parse_args().tasks
    made = tasks(count)
    plans = {a: AgentPlan(a, 100_000, 0.002, 0.05, 8) for a in AGENTS}
    window = Window(DAY0_NS, DAY0_NS + 7 * 86400 * NS_PER_S)
    started = time.perf_counter()
    result = economics(iter(made), plans, RatedPriceBook(), window, "memory")
    costed = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        charts = draw_all(result, Path(scratch))
        drawn = time.perf_counter()
        report_md.render(result, {n: p.name for n, p in charts.items()})
        report_html.render(result, {n: p.read_bytes() for n, p in charts.items()})
    done = time.perf_counter()
    calls = sum(len(t.model_calls) for t in made)
    print(f"{count:,} tasks, {calls:,} model calls")
    print(f"economics {costed - started:.2f} s, charts {drawn - costed:.2f} s, "
          f"md+html {done - drawn:.2f} s, total {done - started:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
