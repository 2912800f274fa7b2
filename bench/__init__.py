"""Benchmarks for alm, run with `make bench` (`python -m bench [NAME...]`).

Benchmarks inform, they do not gate: a result that misses its target is printed
as MISS, and the run still exits 0. Results go to bench/results/latest.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

# name -> module with `run(config: Config) -> list[Result]`
REGISTRY: dict[str, str] = {
    "load": "bench.bench_load",
    "evals": "bench.bench_evals",
    "eval_cache": "bench.bench_eval_cache",
    "eval_side_by_side": "bench.eval_side_by_side",
    "policy": "bench.bench_policy",
    "gate": "bench.bench_gate",
    "results": "bench.bench_results",
    "plan": "bench.plan",
    "github_pr": "bench.github_pr",
    "hostile": "bench.bench_hostile",
    "deploy": "bench.deploy",
    "ops": "bench.ops",
    "ops_engines": "bench.ops_engines",
    "validate_fleet": "bench.validate_fleet",
    "scale": "bench.scale",
}


@dataclass(frozen=True)
class Config:
    agents: int = 1000
    grants: int = 20
    runs: int = 3
    cache: Path = RESULTS_DIR


@dataclass(frozen=True)
class Result:
    """One measured figure. `limit` is the target's bound; `ok` is None for figures without one."""

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.ok is None:
            return "INFO"
        return "PASS" if self.ok else "MISS"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data


def below(name: str, value: float, unit: str, limit: float, note: str = "") -> Result:
    """A figure whose target is `value < limit`."""
    return Result(name, value, unit, f"< {limit:g} {unit}", value < limit, note)
