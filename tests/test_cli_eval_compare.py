"""alm eval compare through the CLI entry point: one verdict per agent, exit 1 on a
regression and on an incomplete comparison."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.evals.records import CaseResult
from reconciler.evals.results import RunInfo, build, score, to_json
from tests.cli import run
from tests.evalrecords import trial, trials
from tests.gitrepo import GitRepo
from tests.openai_server import OpenAIServer

AGENT = "support-triage"
MODEL = "openai/gpt-4.1-mini"
MINUS = "\N{MINUS SIGN}"  # a drop reads with a real minus sign


def results_file(path: Path, cases: list[CaseResult], mode: str = "replay") -> Path:
    agents = sorted({c.agent for c in cases})
    scored = [score(a, MODEL, {}, cases) for a in agents]
    path.write_text(to_json(build(RunInfo(mode=mode), scored, cases)), "utf-8")
    return path


@pytest.fixture
def compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """Write base and head results files of these trials and compare them."""

    def run_compare(
        base: list[CaseResult], head: list[CaseResult], mode: str = "replay"
    ) -> tuple[int, str]:
        before = results_file(tmp_path / "base.json", base, mode)
        after = results_file(tmp_path / "head.json", head, mode)
        code, out, _ = run(capsys, "eval", "compare", str(before), str(after))
        return code, out

    return run_compare


Compare = Callable[..., tuple[int, str]]


def test_compare_flags_nothing_on_identical_runs(
    fleet_repo: GitRepo, server: OpenAIServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results, repo = tmp_path / "r.json", str(fleet_repo.path)
    record = ("--agent", "email-drafting", "--mode", "record", "--out", str(results))
    run(capsys, "-C", repo, "eval", *record)
    code, out, _ = run(capsys, "-C", repo, "eval", "compare", str(results), str(results))
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "email-drafting: no regression flagged: 5 paired cases"
    assert [line.split(" (")[1][:10] for line in lines[1:4]] == ["no change)"] * 3
    assert out.endswith("compare: no regression flagged (1 agent compared)\n")


def test_compare_flags_a_real_drop_and_exits_1(compare: Compare) -> None:
    base = [trial(f"c{i}", "passed", case_hash=f"h{i}", cost=0.01) for i in range(10)]
    head = [trial(f"c{i}", "failed", case_hash=f"h{i}", cost=0.01) for i in range(10)]
    code, out = compare(base, head)
    assert code == 1
    assert out.splitlines() == [
        "support-triage: REGRESSION in pass rate: 10 paired cases",
        f"  pass rate 100.0% → 0.0% ({MINUS}100.0 points, p=0.000977): "
        "REGRESSED: a significant drop beyond the 5.0-point tolerance",
        "  cost per case $0.01000 → $0.01000 (no change): ok: within +10%",
        "  latency per case 1.00 s → 1.00 s (no change): ok: within +20% and +0.5 s",
        "  regressed: 10 cases worse on head: routing/c0 (1/1 → 0/1), routing/c1 (1/1 → 0/1), "
        "routing/c2 (1/1 → 0/1), routing/c3 (1/1 → 0/1), routing/c4 (1/1 → 0/1) and 5 more",
        "compare: FAILED (support-triage)",
    ]


def test_a_ten_point_drop_reads_as_ten_points_and_noise_is_only_changed(compare: Compare) -> None:
    # 60 of 200 cases go 3/3 -> 2/3 (a 10-point drop); elsewhere 2 cases swap outcome
    base: list[CaseResult] = []
    head: list[CaseResult] = []
    for i in range(200):
        b, h = ("PPP", "PFP") if i < 60 else ("PPP", "PPP")
        base += trials(f"c{i:03}", b)
        head += trials(f"c{i:03}", h)
    code, out = compare(base, head)
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == "support-triage: REGRESSION in pass rate: 200 paired cases"
    assert lines[1].startswith(
        f"  pass rate 100.0% → 90.0% ({MINUS}10.0 points, p=8.67e-19): REGRESSED"
    )
    assert lines[4].startswith("  regressed: 60 cases worse on head: routing/c000 (3/3 → 2/3), ")
    assert lines[5].startswith("  flaky: 60 cases whose repeats disagree: routing/c000 (base 3/3")

    noise_base = [trial(f"c{i:03}", "failed" if i == 0 else "passed") for i in range(50)]
    noise_head = [trial(f"c{i:03}", "failed" if i == 1 else "passed") for i in range(50)]
    code, out = compare(noise_base, noise_head)
    assert code == 0
    assert out.splitlines()[0] == "support-triage: no regression flagged: 50 paired cases"
    assert "  pass rate 98.0% → 98.0% (no change): ok: within the 5.0-point tolerance" in out
    assert (
        "  changed: 2 cases changed outcome (1 worse, 1 better): routing/c001 (1/1 → 0/1), " in out
    )
    assert "regressed" not in out


def test_a_drop_that_is_not_significant_says_so_and_passes(compare: Compare) -> None:
    base = [trial(f"c{i}", "passed") for i in range(10)]
    head = [trial(f"c{i}", "failed" if i < 4 else "passed") for i in range(10)]
    code, out = compare(base, head)
    assert code == 0
    assert out.splitlines()[:2] == [
        "support-triage: no regression flagged: 10 paired cases",
        f"  pass rate 100.0% → 60.0% ({MINUS}40.0 points, p=0.0625): "
        "ok: not significant (p ≥ 0.05), could be noise",
    ]


def test_cost_and_latency_regressions_are_named_in_the_headline(compare: Compare) -> None:
    base = [trial(f"c{i}", cost=0.01, latency=1.0) for i in range(10)]
    head = [trial(f"c{i}", cost=0.02, latency=2.0) for i in range(10)]
    code, out = compare(base, head)
    assert code == 1
    assert out.splitlines()[:4] == [
        "support-triage: REGRESSION in cost per case, latency per case: 10 paired cases",
        "  pass rate 100.0% → 100.0% (no change): ok: within the 5.0-point tolerance",
        "  cost per case $0.01000 → $0.02000 (+$0.01000, +100.0%): REGRESSED: a rise beyond +10%",
        "  latency per case 1.00 s → 2.00 s (+1.00 s, +100.0%): "
        "REGRESSED: a rise beyond +20% and +0.5 s",
    ]
    # live runs: the same rise on 4 cases is not significant (p = 1/16)
    code, out = compare(base[:4], head[:4], mode="live")
    assert code == 0
    assert "  latency per case 1.00 s → 2.00 s (+1.00 s, +100.0%, p=0.0625): ok: beyond " in out


def test_cases_not_run_are_reported_and_exit_1(compare: Compare) -> None:
    base = [trial(f"c{i}") for i in range(4)]
    head = [trial("c0", "not_run"), *(trial(f"c{i}") for i in range(1, 4))]
    code, out = compare(base, head)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "support-triage: INCOMPLETE: 1 case could not run; no regression flagged: 3 paired cases"
    )
    assert lines[4] == (
        "  not run: 1 case could not run: routing/c0 (base 1 of 1 trial ran, head 0 of 1 trial ran)"
    )
    assert lines[-1] == "compare: FAILED (support-triage)"


def test_zero_paired_cases_is_never_a_pass(compare: Compare) -> None:
    code, out = compare([trial("c0", "not_run")], [trial("c0", "not_run")])
    assert code == 1
    assert out.splitlines()[0] == (
        "support-triage: NOT COMPARED: no case was graded on both sides: 0 paired cases"
    )
    assert "pass rate" not in out


def test_new_and_removed_cases_and_agents_are_reported(compare: Compare) -> None:
    base = [trial("kept"), trial("gone"), trial("x", agent="old-agent")]
    head = [trial("kept"), trial("added"), trial("x", agent="new-agent")]
    code, out = compare(base, head)
    assert code == 0
    assert "  new: 1 case only on head: routing/added" in out
    assert "  removed: 1 case only on base: routing/gone" in out
    assert "new-agent: new at head, nothing to compare" in out
    assert "old-agent: only at base, not evaluated at head" in out


def test_nothing_evaluated_on_either_side(compare: Compare) -> None:
    code, out = compare([], [])
    assert code == 0
    assert out.splitlines()[0] == "no agent was evaluated on either side: nothing to compare"
