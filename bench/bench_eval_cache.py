"""A second run of an unchanged fleet makes zero model calls.

The example fleet (every agent, every case and repeat) copied into a fresh git
repository, evaluated twice in ``live`` mode against a local OpenAI-compatible server
(python -m tests.openai_server, in another process) with the SQLite result cache:

- the first run calls the model for every trial;
- the second run must make 0 model calls, and its results must equal the first's;
- its wall time (load + plan + cache lookups + scoring) is reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import PROJECT_ROOT, Config, Result
from reconciler.evals.engine import EngineConfig
from reconciler.evals.run import EvalRun, plan_jobs, run_evals
from reconciler.spec.loader import load_worktree

FLEET = ("agents", "policies", "evals")
SERVER = [sys.executable, "-m", "tests.openai_server", "--steps", '[{"content": "Done."}]']


def _fleet(folder: Path) -> Path:
    for name in FLEET:
        shutil.copytree(PROJECT_ROOT / name, folder / name)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    return folder


def _run(root: Path, cache: Path) -> tuple[EvalRun, float]:
    started = time.perf_counter()
    state = load_worktree(root, {})
    jobs = plan_jobs(state)
    run = run_evals(root, state, jobs, "live", EngineConfig(concurrency=8), cache)
    return run, time.perf_counter() - started


def run(config: Config) -> list[Result]:
    del config  # one fixed fleet: the example's
    server = subprocess.Popen(SERVER, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    base_url = f"http://127.0.0.1:{server.stdout.readline().split()[1]}/v1"
    environment = {"OPENAI_API_KEY": "sk-bench", "ALM_OPENAI_BASE_URL": base_url}
    saved = {k: _setenv(k, v) for k, v in environment.items()}
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = _fleet(Path(folder) / "fleet")
            cache = Path(folder) / "evals.sqlite"
            first, first_s = _run(root, cache)
            second, second_s = _run(root, cache)
    finally:
        for key, value in saved.items():
            _setenv(key, value)
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


def _setenv(key: str, value: str | None) -> str | None:
    old = os.environ.get(key)
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value
    return old
