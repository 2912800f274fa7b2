"""A second run of an unchanged fleet makes zero model calls.

The example fleet (every agent, every case and repeat) in a fresh git repository,
evaluated twice in ``live`` mode against the local OpenAI-compatible server (in another
process) with the SQLite result cache:

- the first run calls the model for every trial;
- the second run must make 0 model calls, and its results must equal the first's;
- its wall time (load + plan + cache lookups + scoring) is reported.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from unittest import mock

from bench import Config, Result
from bench.bench_evals import start_server
from reconciler.evals.engine import EngineConfig
from reconciler.evals.run import EvalRun, plan_jobs, run_evals
from reconciler.spec.loader import load_worktree
from tests.gitrepo import init_repo


def _run(root: Path, cache: Path) -> tuple[EvalRun, float]:
    started = time.perf_counter()
    state = load_worktree(root, {})
    run = run_evals(root, state, plan_jobs(state), "live", EngineConfig(concurrency=8), cache)
    return run, time.perf_counter() - started


def run(config: Config) -> list[Result]:
    del config  # one fixed fleet: the example's
    server, base_url = start_server(0.0, [{"content": "Done."}])
    environment = {"OPENAI_API_KEY": "sk-bench", "ALM_OPENAI_BASE_URL": base_url}
    try:
        with tempfile.TemporaryDirectory() as folder, mock.patch.dict(os.environ, environment):
            root = init_repo(Path(folder) / "fleet").path
            cache = Path(folder) / "evals.sqlite"
            first, first_s = _run(root, cache)
            second, second_s = _run(root, cache)
    finally:
        server.terminate()
        server.wait()
    same = second.results.cases == first.results.cases
    trials = f"{len(first.results.cases)} trials"
    return [
        Result("evals.cache.first_run.model_calls", first.model_calls, "calls", note=trials),
        Result(
            "evals.cache.second_run.model_calls",
            second.model_calls,
            "calls",
            "== 0",
            second.model_calls == 0 and second.cached == len(first.results.cases) and same,
            f"{second.cached} trials from the cache; results identical: {same}",
        ),
        Result("evals.cache.second_run.wall", second_s, "s", note=f"first run {first_s:.2f} s"),
    ]
