"""alm eval, alm eval merge through the CLI entry point, on a real git repository, with the
openai client against a local OpenAI-compatible server (compare: test_cli_eval_compare.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
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
    code, out, _ = _eval(fleet_repo, capsys, "--agent", AGENT, "--out", str(out_file))
    assert code == 1
    assert "5 trials not run: not recorded x5" in out
    assert "  e.g. not recorded: no cassette for request " in out
    assert "FAILED" in out
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
    merged = tmp_path / "all.json"
    code = main(
        ["-C", str(fleet_repo.path), "eval", "merge", *map(str, outs), "--out", str(merged)]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "eval: passed (4 agents)" in out
    assert len(json.loads(merged.read_text("utf-8"))["cases"]) == 34


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
    started = time.perf_counter()
    _eval(fleet_repo, capsys, *args, "--rate-limit", "openai=600/min")  # 10 per second
    limited = time.perf_counter() - started
    assert len(server.requests) == 5
    assert limited >= 0.4  # five calls, 0.1 s apart; unlimited they all leave at once


@pytest.mark.parametrize("value", ["openai=0", "openai", "openai=5/hour", "=5"])
def test_a_bad_rate_limit_is_a_usage_error(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, _, err = _eval(fleet_repo, capsys, "--rate-limit", value)
    assert code == 2 and "expected PROVIDER=N, N/s or N/min" in err
