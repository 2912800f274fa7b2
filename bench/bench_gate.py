"""The base-vs-head gate on a simulated noisy agent, end to end through `alm eval compare`.

Each comparison draws a fresh suite of 200 cases, each with its own success probability
from a Beta mixture (55% easy Beta(10, 0.5), 12% hard Beta(0.5, 6), 33% uncertain
Beta(1, 1)): about 17% of cases flip between two identical runs with one trial, and the
mean pass rate is about 70%, as in real agent evals. Base and head are run (drawn) with
k trials per case, written as results JSON with the real record types, and compared by
calling the CLI in-process; the exit code is the verdict. Runs are "live": latency and
cost are noisy per trial (lognormal), so their paired checks are exercised too.

- false positive rate: head is the same agent; the share of comparisons that exit 1
  (target <= 5%).
- power: head has a true 10-point drop; 30% of cases (a random 60) lose a share of their
  success probability chosen so that the expected pass rate falls by exactly 10 points;
  the share of comparisons that exit 1 (target >= 80%).

Each at k = 1 and k = 3, over 200 seeded comparisons; rerunning gives the same figures.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import Config, Result
from reconciler.cli import main
from reconciler.evals.metrics import wilson
from reconciler.evals.records import CaseResult
from reconciler.evals.results import RunInfo, build, score, to_json
from tests.evalrecords import trial

CASES = 200
COMPARISONS = 200
DROP = 0.10  # the true drop of the expected pass rate
AFFECTED = 0.30  # the share of cases the drop falls on
AGENT = "sim-agent"
MIXTURE = ((0.55, 10.0, 0.5), (0.12, 0.5, 6.0), (0.33, 1.0, 1.0))  # (weight, alpha, beta)


class Case:
    def __init__(self, rng: random.Random) -> None:
        self.p = _success_probability(rng)
        self.latency_s = rng.lognormvariate(math.log(2.0), 0.5)
        self.cost_usd = rng.lognormvariate(math.log(0.002), 0.4)


def _success_probability(rng: random.Random) -> float:
    u = rng.random()
    for weight, a, b in MIXTURE:
        if u < weight:
            return rng.betavariate(a, b)
        u -= weight
    return rng.betavariate(MIXTURE[-1][1], MIXTURE[-1][2])


def dropped(cases: Sequence[Case], rng: random.Random) -> list[float]:
    """Success probabilities with the expected pass rate DROP lower, on AFFECTED cases."""
    affected = rng.sample(range(len(cases)), round(AFFECTED * len(cases)))
    mass = math.fsum(cases[i].p for i in affected)
    share = min(1.0, DROP * len(cases) / mass)
    chosen = set(affected)
    return [c.p * (1 - share) if i in chosen else c.p for i, c in enumerate(cases)]


def run_side(
    cases: Sequence[Case], probabilities: Sequence[float], k: int, rng: random.Random
) -> list[CaseResult]:
    """k trials of every case, as the records an eval run writes."""
    records = []
    for i, (case, p) in enumerate(zip(cases, probabilities, strict=True)):
        for t in range(k):
            records.append(
                trial(
                    f"case-{i:03}",
                    "passed" if rng.random() < p else "failed",
                    agent=AGENT,
                    trial_no=t,
                    repeats=k,
                    cost=case.cost_usd * rng.lognormvariate(0, 0.1),
                    latency=case.latency_s * rng.lognormvariate(0, 0.3),
                    case_hash=f"h{i}",
                )
            )
    return records


def write(path: Path, records: list[CaseResult]) -> str:
    scored = score(AGENT, "openai/gpt-4.1-mini", {}, records)
    results = build(RunInfo(mode="live"), [scored], records)
    path.write_text(to_json(results, indent=None), "utf-8")  # compact: the C encoder
    return str(path)


def exit_code(folder: Path, base: list[CaseResult], head: list[CaseResult]) -> int:
    """`alm eval compare base.json head.json`, in-process, its output discarded."""
    paths = write(folder / "base.json", base), write(folder / "head.json", head)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["eval", "compare", *paths])


def flagged_share(k: int, drop: bool, seed: int, folder: Path) -> tuple[int, float]:
    """How many of COMPARISONS exit 1; and the flip rate of identical single runs."""
    rng = random.Random(seed)
    flagged, flips = 0, 0
    for _ in range(COMPARISONS):
        cases = [Case(rng) for _ in range(CASES)]
        base_p = [c.p for c in cases]
        head_p = dropped(cases, rng) if drop else base_p
        base, head = run_side(cases, base_p, k, rng), run_side(cases, head_p, k, rng)
        flips += sum(b.status != h.status for b, h in zip(base, head, strict=True) if b.trial == 0)
        flagged += exit_code(folder, base, head) == 1
    return flagged, flips / (COMPARISONS * CASES)


def _rate(name: str, hits: int, target: str, ok: bool, flips: float) -> Result:
    low, high = wilson(hits, COMPARISONS)
    note = (
        f"{hits}/{COMPARISONS} comparisons exit 1 (95% CI {low:.1%}-{high:.1%}); "
        f"cases flipping between single trials: {flips:.1%}"
    )
    return Result(name, round(100 * hits / COMPARISONS, 1), "%", target, ok, note)


def run(config: Config) -> list[Result]:
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alm-bench-gate-") as tmp:
        for k in (1, 3):
            hits, flips = flagged_share(k, drop=False, seed=1000 + k, folder=Path(tmp))
            fp = hits / COMPARISONS
            results.append(_rate(f"gate.false_positive.k{k}", hits, "<= 5 %", fp <= 0.05, flips))
            hits, flips = flagged_share(k, drop=True, seed=2000 + k, folder=Path(tmp))
            power = hits / COMPARISONS
            results.append(_rate(f"gate.power_10pt.k{k}", hits, ">= 80 %", power >= 0.8, flips))
    elapsed = time.perf_counter() - started
    note = f"{4 * COMPARISONS} comparisons of {CASES} cases through alm eval compare"
    results.append(
        Result("gate.seconds_per_compare", round(elapsed / (4 * COMPARISONS), 4), "s", note=note)
    )
    return results
