"""The README's "Add an agent", step by step, on a real git repository through the CLI.

Copy a folder, set metadata.name and owners, point the copied suite at the new agent,
`alm codeowners --write`, `alm validate`, `alm policy check --base origin/main`, `alm eval`
(not recorded until recorded), record against a local OpenAI-compatible server (the
scripted reference responder of scripts/record_cassettes.py, no real model), replay, and
the pull-request workflow's own steps on the result.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.cli import run
from tests.gitrepo import PROJECT, GitRepo, init_repo
from tests.openai_server import OpenAIServer, Step
from tests.test_workflow_evals import jobs, link_venv, pull_request, run_job, run_workflow

AGENT = "agents/my-agent/agent.yaml"
SUITE = "evals/my-agent/briefs.yaml"


def _record_cassettes() -> ModuleType:
    path = PROJECT / "scripts" / "record_cassettes.py"
    spec = importlib.util.spec_from_file_location("record_cassettes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_model(root: Path, agent: str) -> Any:
    """The scripted reference responder, as steps for tests/openai_server.py."""
    responder = _record_cassettes().Responder(root, agent, False)

    def step(body: dict[str, Any]) -> Step:
        message = responder.answer(body)["choices"][0]["message"]
        calls = [
            {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
            for c in message.get("tool_calls", [])
        ]
        return {"content": message["content"], "tool_calls": calls}

    return step


@pytest.fixture
def clone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> GitRepo:
    """The example fleet on main (schemas and CODEOWNERS current), as origin/main, and a
    branch for the change checked out."""
    repo = init_repo(tmp_path / "repo")
    shutil.copy(PROJECT / ".gitignore", repo.path / ".gitignore")  # .alm/ is local state
    assert alm(repo, capsys, "schema")[0] == 0
    assert alm(repo, capsys, "codeowners", "--write")[0] == 0
    repo.commit("schemas and CODEOWNERS")
    pull_request(repo)
    return repo


def alm(repo: GitRepo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, err = run(capsys, "-C", str(repo.path), *args)
    return code, out + err


def copy_agent(repo: GitRepo) -> None:
    """Step 1: copy a folder and its suite; the copied cassettes are for the other prompt."""
    for top in ("agents", "evals"):
        shutil.copytree(repo.path / top / "sales-research", repo.path / top / "my-agent")
    shutil.rmtree(repo.path / "evals" / "my-agent" / "cassettes")
    repo.replace(AGENT, "  name: sales-research\n", "  name: my-agent\n")
    repo.replace(AGENT, '  owners: ["@acme/sales-eng"]\n', '  owners: ["@acme/my-team"]\n')
    prompt = repo.path / "agents" / "my-agent" / "prompts" / "system.md"
    prompt.write_text("You are my-agent.\n" + prompt.read_text(encoding="utf-8"), "utf-8")


def test_add_an_agent_as_the_readme_says(
    clone: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_agent(clone)
    code, out = alm(clone, capsys, "validate")
    assert code == 1
    assert "metadata.agent is 'sales-research'; expected the folder name 'my-agent'" in out

    clone.replace(SUITE, "  agent: sales-research\n", "  agent: my-agent\n")
    code, out = alm(clone, capsys, "validate")
    assert (code, "valid: 5 agents" in out) == (0, True), out

    assert alm(clone, capsys, "codeowners", "--check")[0] == 1  # the new folders are missing
    assert alm(clone, capsys, "codeowners", "--write")[0] == 0
    owners = clone.read(".github/CODEOWNERS")
    assert "/agents/my-agent/" in owners and "/evals/my-agent/" in owners
    assert alm(clone, capsys, "codeowners", "--check")[0] == 0

    code, out = alm(clone, capsys, "policy", "check", "--base", "origin/main")
    assert code == 0, out
    assert "new grant of crm.get_account, crm.search_contacts" in out
    assert "agents: my-agent" in out

    code, out = alm(clone, capsys, "eval", "--agent", "my-agent")
    assert code == 1
    assert "not recorded x5" in out
    assert "alm eval --agent my-agent --mode record" in out  # says how to record them

    with OpenAIServer(reference_model(clone.path, "my-agent")) as server:
        monkeypatch.setenv("ALM_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local-no-real-model")
        record = ("eval", "--agent", "my-agent", "--mode", "record", "--no-cache")
        code, out = alm(clone, capsys, *record)
        assert server.requests  # recorded from the server, not from a cache
    monkeypatch.delenv("ALM_OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert code == 0, out
    assert list((clone.path / "evals" / "my-agent" / "cassettes").glob("*.json"))

    code, out = alm(clone, capsys, "eval", "--agent", "my-agent", "--no-cache")
    assert code == 0, out
    assert "eval: passed (1 agent)" in out

    clone.git("add", "agents/my-agent", "evals/my-agent", ".github/CODEOWNERS")
    clone.git("commit", "-q", "-m", "my-agent: research briefs for my team")
    assert clone.git("status", "--porcelain") == ""  # the README's git add names everything
    link_venv(clone)
    validate = run_job(jobs()["validate"], clone.path, {"github.base_ref": "main"})
    assert [(r.name, r.code) for r in validate if r.code] == [], [r.output for r in validate]
    shards, verdict = run_workflow(clone)
    assert all(r.code in (0, 1) for r in shards), [(r.name, r.code, r.output) for r in shards]
    by_name = {r.name: r for r in verdict}
    assert by_name.get("Verdict") and by_name["Verdict"].code == 0, [
        (r.name, r.code, r.output) for r in verdict
    ]
    assert "my-agent" in by_name["Gates at head, over every shard"].output
