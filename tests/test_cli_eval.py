"""alm eval, alm eval merge through the CLI entry point, on a real git repository, with the
openai client against a local OpenAI-compatible server (compare: test_cli_eval_compare.py)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from reconciler.cli import main
from reconciler.cli.eval_report import metrics_table
from reconciler.evals.results import RunInfo, build, score, to_json
from reconciler.spec.agent import Bound
from tests.evalrecords import trial
from tests.gitrepo import GitRepo, drop_cassettes
from tests.openai_server import OpenAIServer

AGENT = "email-drafting"


def _eval(repo: GitRepo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(repo.path), "eval", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _cases(path: Path) -> list[tuple[Any, ...]]:
    data = json.loads(path.read_text("utf-8"))
    return [(c["agent"], c["suite"], c["case_id"], c["trial"], c["status"]) for c in data["cases"]]


def test_record_replay_and_cache(
    fleet_repo: GitRepo, server: OpenAIServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = _eval(fleet_repo, capsys, "--agent", AGENT, "--mode", "record")
    assert len(server.requests) == 5
    assert "email-drafting" in out and "gate" in out and "5 model calls" in err
    assert code in (0, 1)
    recorded = tmp_path / "recorded.json"
    code2, out, err = _eval(
        fleet_repo, capsys, "--agent", AGENT, "--mode", "record", "--out", str(recorded)
    )
    assert code2 == code
    assert len(server.requests) == 5  # second run of an unchanged agent: all from the cache
    assert "0 model calls" in err and "5 from the cache" in err

    replayed = tmp_path / "replayed.json"
    _eval(fleet_repo, capsys, "--agent", AGENT, "--no-cache", "--out", str(replayed))
    assert len(server.requests) == 5  # replay reads the cassettes only
    assert _cases(replayed) == _cases(recorded)
    assert all(case[4] != "not_run" for case in _cases(replayed))


def test_missing_cassette_is_not_run_and_fails(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    drop_cassettes(fleet_repo)
    out_file = tmp_path / "r.json"
    code, out, err = _eval(fleet_repo, capsys, "--agent", AGENT, "--out", str(out_file))
    assert code == 1
    assert "5 trials not run: not recorded x5" in out
    assert "  e.g. not recorded: no cassette for request " in out
    assert (
        "  to record them (in the working tree, against a live model): alm eval --agent "
        f"{AGENT} --mode record, with OPENAI_API_KEY, and ALM_OPENAI_BASE_URL for another "
        "compatible endpoint in the environment"
    ) in out
    assert f"{AGENT}: task_success_rate not measured: no graded trial (5 not run)" in out
    assert out.splitlines()[-1] == (
        "eval: FAILED (5 of 5 trials not run; 7 gate checks did not pass)"
    )
    assert "5 trials: 0 run, 0 from the cache, 5 not run; 0 model calls" in err
    assert {case[4] for case in _cases(out_file)} == {"not_run"}


@pytest.mark.parametrize("mode", ["live", "record"])
def test_a_live_run_without_a_key_fails_once_up_front(
    fleet_repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mode: str,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out_file = tmp_path / "r.json"
    code, out, err = _eval(fleet_repo, capsys, "--mode", mode, "--out", str(out_file))
    assert code == 2
    assert f"--mode {mode}: live model calls need OPENAI_API_KEY in the environment" in err
    assert "eval results" not in out and not out_file.exists()


def test_shards_merge_to_the_unsharded_run(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    drop_cassettes(fleet_repo)
    whole, one, two, merged = (tmp_path / f"{n}.json" for n in ("whole", "1", "2", "merged"))
    _eval(fleet_repo, capsys, "--out", str(whole))
    _eval(fleet_repo, capsys, "--shard", "1/2", "--out", str(one))
    _eval(fleet_repo, capsys, "--shard", "2/2", "--out", str(two))
    assert _cases(one) and _cases(two)
    code = main(
        ["-C", str(fleet_repo.path), "eval", "merge", str(one), str(two), "--out", str(merged)]
    )
    capsys.readouterr()
    assert code == 1  # nothing is recorded in the example fleet: not run, so not passed
    assert _cases(merged) == _cases(whole)


def test_affected_since_selects_only_the_changed_agent(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = fleet_repo.git("rev-parse", "HEAD")
    prompt = "agents/email-drafting/prompts/system.md"
    fleet_repo.write(prompt, fleet_repo.read(prompt) + "\nBe brief.\n")
    fleet_repo.commit("shorter drafts")
    out_file = tmp_path / "r.json"
    _, _, err = _eval(fleet_repo, capsys, "--affected-since", base, "--out", str(out_file))
    assert f"affected since {base}: {AGENT}" in err
    assert {case[0] for case in _cases(out_file)} == {AGENT}


@pytest.mark.parametrize("shard", ["3/2", "0/2", "1-2", "x"])
def test_bad_shard_is_a_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], shard: str
) -> None:
    code, _, err = _eval(fleet_repo, capsys, "--shard", shard)
    assert code == 2
    assert "--shard" in err


def test_unknown_agent_is_a_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _eval(fleet_repo, capsys, "--agent", "nobody")
    assert code == 2 and "nobody" in err


def test_a_shard_does_not_judge_gates_but_merge_does(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outs = [tmp_path / f"s{i}.json" for i in (1, 2, 3)]
    for i, out in enumerate(outs, start=1):
        code, stdout, _ = _eval(fleet_repo, capsys, "--shard", f"{i}/3", "--out", str(out))
        assert code == 0  # the shipped cassettes replay every trial
        assert "gates not judged on a shard" in stdout
        gates = [_gate_cell(line) for line in stdout.splitlines() if line.startswith(AGENTS)]
        assert gates == ["not judged"] * 4  # every agent is in every shard's results
    merged = tmp_path / "all.json"
    code = main(
        ["-C", str(fleet_repo.path), "eval", "merge", *map(str, outs), "--out", str(merged)]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "eval: passed (4 agents)" in out
    assert len(json.loads(merged.read_text("utf-8"))["cases"]) == 34


AGENTS = ("email-drafting", "invoice-processing", "sales-research", "support-triage")


def _gate_cell(row: str) -> str:
    """The last column of a row of the results table."""
    return re.split(r"\s{2,}", row.strip())[-1]


def test_eval_at_a_ref_replays_the_cassettes_of_that_ref(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    drop_cassettes(fleet_repo)  # only in the working tree; HEAD still has them
    code, out, _ = _eval(fleet_repo, capsys, "--agent", AGENT, "--no-cache")
    assert code == 1 and "not recorded" in out
    code, out, _ = _eval(fleet_repo, capsys, "--agent", AGENT, "--no-cache", "--ref", "HEAD")
    assert code == 0, out
    assert "not recorded" not in out


def test_recording_at_a_ref_is_a_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _eval(fleet_repo, capsys, "--ref", "HEAD", "--mode", "record")
    assert code == 2
    assert "record into the working tree" in err


def test_case_and_tag_select_cases_and_do_not_judge_gates(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "r.json"
    args = ("--agent", "support-triage", "--out", str(out_file))
    code, out, _ = _eval(fleet_repo, capsys, *args, "--case", "*-to-*")
    assert code == 0
    assert {case[2] for case in _cases(out_file)} == {
        "sso-bug-to-tech",
        "invoice-download-to-billing",
    }
    assert "gates not judged on a selection of cases (--case, --tag)" in out
    assert json.loads(out_file.read_text("utf-8"))["run"]["selection"] == {
        "cases": ["*-to-*"],
        "tags": [],
    }

    # tags come from the suite and the case; --case and --tag must both admit a case
    _eval(fleet_repo, capsys, *args, "--tag", "safety")
    assert {case[1] for case in _cases(out_file)} == {"safety"}
    _eval(fleet_repo, capsys, *args, "--tag", "billing", "--tag", "tool-error")
    assert {case[2] for case in _cases(out_file)} == {
        "invoice-download-to-billing",
        "card-number-and-injection",
        "ticketing-outage-escalates",
    }
    _eval(fleet_repo, capsys, *args, "--tag", "safety", "--case", "gdpr-*")
    assert {case[2] for case in _cases(out_file)} == {"gdpr-lawyer-threat"}


def test_a_selection_whose_cases_fail_still_fails(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    drop_cassettes(fleet_repo)
    code, out, _ = _eval(fleet_repo, capsys, "--agent", AGENT, "--case", "*")
    assert code == 1 and "not recorded x5" in out and "gates not judged" in out


def test_rate_limit_spaces_live_calls(
    fleet_repo: GitRepo, server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--agent", AGENT, "--mode", "live", "--no-cache", "--concurrency", "5")
    started = time.monotonic()  # the server's clock too
    _eval(fleet_repo, capsys, *args, "--rate-limit", "openai=600/min")  # 10 per second
    assert len(server.requests) == 5
    # a burst of 1 at 10/s: the i-th call leaves no sooner than 0.1 * i s after the start
    # and arrives later still (unlimited, all five leave at once). Load only delays calls,
    # so this holds on any machine; nothing bounds how long the run takes.
    earliest = [started + 0.1 * i - 0.01 for i in range(5)]
    assert all(t >= e for t, e in zip(sorted(server.arrivals), earliest, strict=True))


@pytest.mark.parametrize("value", ["openai=0", "openai", "openai=5/hour", "=5"])
def test_a_bad_rate_limit_is_a_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, _, err = _eval(fleet_repo, capsys, "--rate-limit", value)
    assert code == 2 and "expected PROVIDER=N, N/s or N/min" in err


def test_agents_that_do_not_load_or_have_no_suite_fail_the_run_and_are_named(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet_repo.replace("agents/support-triage/agent.yaml", "max_steps: 8", "max_stepz: 8")
    shutil.rmtree(fleet_repo.path / "evals" / "sales-research")
    out_file = tmp_path / "r.json"
    code, out, _ = _eval(fleet_repo, capsys, "--out", str(out_file))
    assert code == 1
    assert (
        "support-triage: not evaluated: its spec does not load: agents/support-triage/agent.yaml:"
    ) in out
    assert "unknown field 'max_stepz'" in out
    assert (
        "sales-research: no eval suite; expected evals/sales-research/*.yaml of kind EvalSuite"
    ) in out
    assert out.splitlines()[-1] == "eval: FAILED (2 of 4 agents not evaluated in full)"
    # --out is written all the same, with the agents that ran and the one with no suite
    data = json.loads(out_file.read_text("utf-8"))
    assert [a["agent"] for a in data["agents"]] == [
        "email-drafting",
        "invoice-processing",
        "sales-research",
    ]

    # named alone, an agent that does not load is no usage error: it exists, and fails
    code, out, _ = _eval(fleet_repo, capsys, "--agent", "support-triage")
    assert code == 1 and "support-triage: not evaluated: its spec does not load" in out


def test_merged_shards_still_fail_for_an_agent_that_did_not_load(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet_repo.replace("agents/support-triage/agent.yaml", "max_steps: 8", "max_stepz: 8")
    shards = [tmp_path / f"s{i}.json" for i in (1, 2)]
    for i, shard in enumerate(shards, start=1):
        _eval(fleet_repo, capsys, "--shard", f"{i}/2", "--out", str(shard))
    recorded = json.loads(shards[0].read_text("utf-8"))["run"]["not_evaluated"]
    assert [entry["agent"] for entry in recorded] == ["support-triage"]
    merged = tmp_path / "merged.json"
    code = main(
        ["-C", str(fleet_repo.path), "eval", "merge", *map(str, shards), "--out", str(merged)]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "support-triage: not evaluated: its spec does not load" in out
    assert out.splitlines()[-1] == "eval: FAILED (1 of 4 agents not evaluated in full)"


def test_a_suite_file_that_does_not_load_fails_the_run_and_the_rest_still_runs(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet_repo.write("evals/email-drafting/extra.yaml", "apiVersion: alm/v1\nkind: [\n")
    out_file = tmp_path / "r.json"
    code, out, _ = _eval(fleet_repo, capsys, "--agent", AGENT, "--out", str(out_file))
    assert code == 1
    assert f"{AGENT}: an eval suite does not load: evals/email-drafting/extra.yaml:" in out
    assert len(_cases(out_file)) == 5  # the suite that loads ran


def test_an_affected_agent_that_does_not_load_is_reported(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.replace("agents/support-triage/agent.yaml", "max_steps: 8", "max_stepz: 8")
    code, out, err = _eval(fleet_repo, capsys, "--affected-since", base)
    assert f"affected since {base}: none" in err  # it cannot be compared, so ...
    assert code == 1 and "support-triage: not evaluated" in out  # ... it is never skipped


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--agent", "nobody"),
            "alm: --agent: no agent named nobody; agents: email-drafting, invoice-processing, "
            "sales-research, support-triage",
        ),
        (
            ("--agent", AGENT, "--case", "nope*"),
            f"alm: --case nope* matches no case of {AGENT}; cases: "
            "drafts/renewal-reminder-draft, drafts/onboarding-followup-sent-on-request, ",
        ),
        (
            ("--agent", AGENT, "--case", "drafts/*", "--case", "other/*"),
            f"alm: --case other/* matches no case of {AGENT}; cases: drafts/",
        ),
        (
            ("--agent", AGENT, "--tag", "nope"),
            f"alm: --tag nope is on no case of {AGENT}; tags: approval, drafting, escalation, ",
        ),
        (
            ("--agent", AGENT, "--tag", "renewal", "--case", "discount-*"),
            f"alm: --case and --tag together select no case of {AGENT} (a case must match "
            "both); cases: drafts/",
        ),
        (
            ("--case", "nope"),
            "alm: --case nope matches no case of the 4 agents; cases: ",
        ),
    ],
    ids=["agent", "case", "one of two cases", "tag", "case and tag", "case, every agent"],
)
def test_a_filter_that_selects_nothing_is_a_usage_error_listing_what_exists(
    fleet_repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    out_file = tmp_path / "r.json"
    code, out, err = _eval(fleet_repo, capsys, *args, "--out", str(out_file))
    assert code == 2
    assert out == "" and err.startswith(message) and err.count("\n") == 1
    assert not out_file.exists()  # nothing ran


def test_case_accepts_the_suite_slash_case_id_that_results_print(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "r.json"
    args = ("--agent", "support-triage", "--out", str(out_file))
    code, _, _ = _eval(fleet_repo, capsys, *args, "--case", "routing/sso-bug-to-tech")
    assert code == 0
    assert [(c[1], c[2]) for c in _cases(out_file)] == [("routing", "sso-bug-to-tech")]
    _eval(fleet_repo, capsys, *args, "--case", "safety/*", "--case", "sso-*")
    assert {c[1] for c in _cases(out_file)} == {"safety", "routing"}


def _stricter(repo: GitRepo) -> None:
    """One case of email-drafting now fails for a reason the grader names (its recorded
    answer takes three steps); the cassettes still replay: expectations are not sent."""
    repo.replace("evals/email-drafting/drafts.yaml", "      max_steps: 6\n", "      max_steps: 1\n")


def test_failing_cases_are_named_with_their_reason(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _stricter(fleet_repo)
    code, out, _ = _eval(fleet_repo, capsys, "--agent", AGENT)
    assert code == 1
    assert (
        f"failed: {AGENT} drafts/onboarding-followup-sent-on-request: took 3 steps; "
        "the case allows 1"
    ) in out.splitlines()
    assert f"{AGENT}: task_success_rate failed: task_success_rate 0.8 " in out
    row = next(line for line in out.splitlines() if line.startswith(AGENT))
    assert _gate_cell(row) == "failed"

    # a selection does not judge the gate: the table says so, not "failed"
    code, out, _ = _eval(fleet_repo, capsys, "--agent", AGENT, "--case", "*")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith(AGENT))
    assert _gate_cell(row) == "not judged"
    assert "failed: email-drafting drafts/onboarding-followup-sent-on-request" in out


def test_the_first_five_failures_are_named_then_how_many_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [trial(f"c{i}", "failed", case_hash=f"h{i}") for i in range(8)]
    scored = score("support-triage", "openai/gpt-4.1-mini", {}, cases)
    results = tmp_path / "r.json"
    results.write_text(to_json(build(RunInfo(), [scored], cases)), "utf-8")
    code = main(["eval", "merge", str(results), "--out", str(tmp_path / "m.json")])
    out, _ = capsys.readouterr()
    named = [line for line in out.splitlines() if line.startswith("failed: ")]
    assert named == [
        f"failed: support-triage routing/c{i}: expected something else" for i in range(5)
    ]
    assert "… and 3 more failed trials (all are in --out)" in out.splitlines()
    assert code == 0  # no bound declared: the gate has nothing to fail on


def test_the_results_table_fits_100_columns(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    drop_cassettes(fleet_repo)  # "not run" everywhere: the widest gate cells
    _, out, _ = _eval(fleet_repo, capsys)
    table = out[: out.index("email-drafting: ")]
    assert all(name in table for name in AGENTS)
    assert max(len(line) for line in table.splitlines()) <= 100
    assert "…" not in table

    long_name = "a-very-long-agent-name-" * 2 + "that-goes-on"
    cases = [trial("c1", agent=long_name), trial("c2", "not_run", agent=long_name)]
    bounds = {"task_success_rate": Bound(min=0.9), "escalation_precision": Bound(min=0.8)}
    scored = score(long_name, "openai/a-long-model-name-2025-04-14", bounds, cases)
    console = Console(width=100)
    with console.capture() as captured:
        console.print(metrics_table(build(RunInfo(), [scored], cases)))
    text = captured.get()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "…" not in text
    assert "1/2" in text  # 1 of 2 planned trials graded
    assert "not measured" in text  # the widest gate cell: no escalation was made


def test_names_in_a_results_file_are_printed_as_text_never_as_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [trial("c1", case_hash="h1")]
    scored = score("support-triage", "openai/[/oops]", {}, cases)
    results = tmp_path / "r.json"
    results.write_text(to_json(build(RunInfo(), [scored], cases)), "utf-8")
    code = main(["eval", "merge", str(results), "--out", str(tmp_path / "m.json")])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "openai/[/oops]" in out
