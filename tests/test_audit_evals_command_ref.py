"""A command agent whose code lives outside agents/<name>/ (as the README's example does,
`../../examples/command-agent/agent.py`) runs at a git ref too: `alm eval --ref` and
`alm plan` export its code with it, and the result cache hashes the same folders."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from reconciler.evals.inputs import code_paths, run_inputs
from reconciler.spec.loader import load_worktree
from tests.cli import run
from tests.gitrepo import GitRepo

AGENT = "support-triage"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "command-agent" / "agent.py"
# the example agent, split in two: the script imports a sibling module, as real agents do
MAIN = "import rules\nrules.main()\n"


def _use_shared_agent(repo: GitRepo) -> None:
    folder = repo.path / "shared" / "triage"
    folder.mkdir(parents=True)
    shutil.copy(EXAMPLE, folder / "rules.py")
    (folder / "main.py").write_text(MAIN, "utf-8")
    text = repo.read(f"agents/{AGENT}/agent.yaml")
    runtime = "runtime: {type: command, command: [python3, ../../shared/triage/main.py]}"
    repo.write(f"agents/{AGENT}/agent.yaml", re.sub(r"(?m)^runtime:.*$", runtime, text))
    repo.commit("support-triage: a command agent kept in shared/")


def _statuses(path: Path) -> set[str]:
    return {c["status"] for c in json.loads(path.read_text("utf-8"))["cases"]}


def test_eval_at_a_ref_runs_a_command_agent_kept_outside_its_folder(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _use_shared_agent(fleet_repo)
    here, at_ref = tmp_path / "here.json", tmp_path / "ref.json"
    args = ("-C", str(fleet_repo.path), "eval", "--agent", AGENT, "--no-cache")
    run(capsys, *args, "--out", str(here))
    code, out, err = run(capsys, *args, "--ref", "HEAD", "--out", str(at_ref))
    assert "not_run" not in _statuses(at_ref), out  # was: every trial "can't open file"
    assert _statuses(at_ref) == _statuses(here) and "failed" in _statuses(here)
    assert code == 1 and "12 run, 0 from the cache, 0 not run" in err


def test_plan_evaluates_a_command_agent_kept_outside_its_folder(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_shared_agent(fleet_repo)
    code, out, err = run(
        capsys, "-C", str(fleet_repo.path), "plan", "--base", "HEAD~1", "--head", "HEAD"
    )
    assert "head: 12 trials: 12 run, 0 from the cache, 0 not run" in err
    assert "could not run" not in out and code == 1  # blocked by its gates, not by a miss


def test_code_paths_name_the_folders_of_what_the_command_names_inside_the_repo(
    fleet_repo: GitRepo,
) -> None:
    _use_shared_agent(fleet_repo)
    spec = next(s for s in load_worktree(fleet_repo.path, {}).agents if s.name == AGENT)
    assert code_paths(spec.agent) == [f"agents/{AGENT}", "shared/triage"]
    for outside in (["/usr/bin/python3", "-u", "../../.."], ["python3", "x.py", "--flag=../y"]):
        runtime = spec.agent.runtime.model_copy(update={"command": outside})
        agent = spec.agent.model_copy(update={"runtime": runtime})
        assert code_paths(agent) == [f"agents/{AGENT}"]
    before = run_inputs(fleet_repo.path, [spec.agent], "replay")
    (fleet_repo.path / "shared" / "triage" / "rules.py").write_text("changed\n", "utf-8")
    assert run_inputs(fleet_repo.path, [spec.agent], "replay") != before  # a sibling counts
