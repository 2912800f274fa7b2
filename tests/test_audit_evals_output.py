"""What alm eval and alm eval compare print when an agent or a results file is hostile:
the text they quote cannot drive the terminal or forge a line of its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo

AGENT = "support-triage"
# an agent that answers every case with an error message full of terminal tricks
HOSTILE = "boom\n::error title=pwn::injected\r\x1b[2J\u202eevil\u009b31m\neval: passed (4 agents)"
EVIL_AGENT = f"""
import json, sys
json.loads(sys.stdin.readline())
print(json.dumps({{"type": "error", "message": {HOSTILE!r}}}), flush=True)
"""
RAW = re.compile(r"[\x1b\r\u202e\u009b]")


def _command_agent(repo: GitRepo) -> None:
    repo.write(f"agents/{AGENT}/evil.py", EVIL_AGENT)
    text = repo.read(f"agents/{AGENT}/agent.yaml")
    runtime = "runtime: {type: command, command: [python3, evil.py]}"
    text = re.sub(r"(?m)^runtime:.*$", runtime, text)
    repo.write(f"agents/{AGENT}/agent.yaml", text)


def _assert_inert(out: str) -> None:
    assert not RAW.search(out), out
    lines = out.splitlines()
    assert not any(line.lstrip().startswith("::") for line in lines), out
    assert "eval: passed (4 agents)" not in lines  # the forged verdict stays inside its line


def test_an_agent_error_message_is_printed_inert(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _command_agent(fleet_repo)
    code, out, _ = run(capsys, "-C", str(fleet_repo.path), "eval", "--agent", AGENT)
    assert code == 1
    assert "the agent reported an error: boom\\u000a::error" in out
    assert "\\u001b[2J\\u202eevil\\u009b31m" in out
    _assert_inert(out)
    assert out.splitlines()[-1].startswith("eval: FAILED")


def test_compare_prints_case_ids_from_a_results_file_inert(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results = tmp_path / "r.json"
    code, _, _ = run(
        capsys, "-C", str(fleet_repo.path), "eval", "--agent", AGENT, "--out", str(results)
    )
    assert code == 0
    data = json.loads(results.read_text("utf-8"))
    for case in data["cases"]:  # a results file is another job's artifact: anything
        case["case_id"] += "\n::warning::forged\x1b[2J"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data), "utf-8")
    code, out, _ = run(capsys, "eval", "compare", str(results), str(forged))
    assert code == 1  # no case pairs: every id differs
    assert "only on head: routing/invoice-download-to-billing\\u000a::warning::forged\\u001b" in out
    _assert_inert(out)
