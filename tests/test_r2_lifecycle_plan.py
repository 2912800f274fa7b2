"""Changes the example fleet never shows, on a fleet written from scratch (minimal agents,
directory targets, cassettes recorded against the local OpenAI-compatible server), through
`alm diff` and `alm plan` as a user runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo, init_repo, made_once
from tests.openai_server import OpenAIServer

CATALOG = """\
apiVersion: alm/v1
kind: ToolCatalog
tools:
  - name: kb.search
    system: kb
    description: Search the knowledge base.
    access: read
    risk: low
    parameters:
      type: object
      properties:
        query: {type: string}
      required: [query]
"""

ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: directory, path: .deploy/dev}
  - name: prod
    target: {type: directory, path: .deploy/prod}
    gates: {previous_environment: true}
"""

AGENT = """\
apiVersion: alm/v1
kind: Agent
metadata:
  name: {name}
  owners: ["@me"]
contract:
  purpose: Answer questions from the knowledge base.
  success_metrics:
    task_success_rate: {{min: 0.5}}
  volume: {{tasks_per_month: 100000}}
model: {{provider: openai, name: gpt-4.1-mini}}
prompt: {{system: prompts/system.md}}
tools: [kb.search]
deploy: {{environments: [dev, prod]}}
"""

SUITE = """\
apiVersion: alm/v1
kind: EvalSuite
metadata: {{name: basic, agent: {name}}}
cases:
  - id: answers
    input: {{message: "What is the refund window?"}}
    fixtures:
      - {{tool: kb.search, returns: {{hits: ["30 days"]}}}}
    expect:
      tool_calls: [{{tool: kb.search}}]
      output: {{contains: ["30 days"]}}
"""

STEPS = [
    {"tool_calls": [{"name": "kb.search", "arguments": {"query": "refund"}}]},
    {"content": "The refund window is 30 days."},
]


def write_agent(repo: GitRepo, name: str, prompt: str = "Answer from the knowledge base.") -> None:
    repo.write(f"agents/{name}/agent.yaml", AGENT.format(name=name))
    repo.write(f"agents/{name}/prompts/system.md", prompt + "\n")
    repo.write(f"evals/{name}/basic.yaml", SUITE.format(name=name))


def _record(path: Path) -> GitRepo:
    """Two agents, their cassettes recorded against a real local HTTP server, committed."""
    repo = init_repo(path, with_fleet=False)
    repo.write("policies/tools.yaml", CATALOG)
    repo.write("policies/environments.yaml", ENVIRONMENTS)
    repo.write(".gitignore", ".alm/\n.deploy/\n")
    for name in ("echo", "notes"):
        write_agent(repo, name)
    saved = dict(os.environ)
    with OpenAIServer(STEPS) as server:
        os.environ.update(ALM_OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test")
        try:
            from reconciler.cli import main

            assert main(["-C", str(repo.path), "eval", "--mode", "record"]) == 0
        finally:
            os.environ.clear()
            os.environ.update(saved)
    repo.commit("two agents, recorded")
    return repo


@pytest.fixture
def fleet(tmp_path: Path) -> GitRepo:
    return made_once("r2-lifecycle", _record, tmp_path / "repo")


def plan_json(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> tuple[int, dict[str, object]]:
    out = tmp_path / "plan.json"
    code, _, err = run(capsys, "-C", str(fleet.path), "plan", "--base", "main", "--json", str(out))
    assert code in (0, 1), err
    return code, json.loads(out.read_text(encoding="utf-8"))


def _agent_lines(report: dict[str, object], agent: str) -> list[dict[str, str | None]]:
    changes = report["changes"]
    assert isinstance(changes, dict)
    entry = next(a for a in changes["agents"] if a["agent"] == agent)
    lines: list[dict[str, str | None]] = entry["changes"]
    return lines


# --- a long description, a rewritten prompt -----------------------------------------


def test_plan_reports_a_rewritten_prompt_of_realistic_size(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A 60 kB system prompt rewritten made `alm plan` exit 4 (a report line holds 20,000
    characters); the diff is cut at a line and says how much more alm diff shows."""
    rules = "".join(f"Rule {i}: be kind and cite article {i}.\n" for i in range(1500))
    fleet.write("agents/echo/prompts/system.md", rules)
    code, report = plan_json(fleet, capsys, tmp_path)
    assert code == 1  # the prompt changed: its cassettes are not recorded, so blocked
    (line,) = _agent_lines(report, "echo")
    detail = line["detail"]
    assert detail is not None and detail.startswith("--- a/agents/echo/prompts/system.md")
    assert detail.endswith("more lines: alm diff shows them all")
    assert len(detail) <= 16_100
    code, out, _ = run(capsys, "-C", str(fleet.path), "diff", "--base", "main")
    assert code == 0 and "Rule 1499: be kind" in out  # alm diff still shows every line


def test_plan_reports_a_very_long_unicode_description(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    description = "Ünïcødé 🚀 " * 3000
    fleet.replace(
        "agents/notes/agent.yaml",
        '  owners: ["@me"]\n',
        f'  owners: ["@me"]\n  description: "{description}"\n',
    )
    code, report = plan_json(fleet, capsys, tmp_path)
    assert code == 0
    (line,) = _agent_lines(report, "notes")
    text = line["text"]
    assert text is not None and text.startswith('description: """" → "Ünïcødé 🚀')
    assert text.endswith("…") and len(text) == 2_000


# --- a grant replaced whole ---------------------------------------------------------


def test_diff_names_a_tool_renamed_in_the_catalog_and_in_the_grant(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent's only grant replaced was printed as a raw mapping (`tools: {kb.search:
    {constraints: {}, ...}} → {kb.lookup: ...}`); it is a grant and a revocation."""
    for path in ("policies/tools.yaml", "agents/echo/agent.yaml", "agents/notes/agent.yaml"):
        fleet.replace(path, "kb.search", "kb.lookup")
    code, out, err = run(capsys, "-C", str(fleet.path), "diff", "--base", "main")
    assert code == 0, err
    assert "tool granted: kb.lookup (read, low risk)" in out
    assert "tool revoked: kb.search (read, low risk)" in out
    assert "constraints" not in out


def test_diff_names_the_only_must_never_rule_replaced(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = "  success_metrics:"
    fleet.replace(
        "agents/echo/agent.yaml",
        rule,
        "  must_never:\n    - {id: no-guess, rule: Never guess.}\n" + rule,
    )
    fleet.commit("a rule")
    fleet.replace(
        "agents/echo/agent.yaml",
        "id: no-guess, rule: Never guess.",
        "id: no-lies, rule: Never lie.",
    )
    code, out, _ = run(capsys, "-C", str(fleet.path), "diff", "--base", "HEAD", "--format", "json")
    assert code == 0
    (changed,) = json.loads(out)["agents"]
    texts = [c["text"] for c in changed["changes"]]
    assert texts == [
        "must_never rule removed: no-guess",
        "must_never rule added: no-lies (Never lie.)",
    ]


# --- an agent deleted, an agent renamed -----------------------------------------------


def _cost_rows(report: dict[str, object]) -> dict[str, dict[str, object]]:
    cost = report["cost"]
    assert isinstance(cost, dict)
    return {row["agent"]: row for row in cost["rows"]}


def test_plan_of_a_deleted_agent_takes_its_cost_away(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Run here, the plan said "cost not known (1 agent not costed)" for a deletion, while
    the workflow's plan (base results from `alm eval --ref main --affected-since HEAD`)
    said what it saves: both evaluate the removed agent at base now."""
    fleet.git("rm", "-rq", "agents/notes", "evals/notes")
    code, report = plan_json(fleet, capsys, tmp_path)
    assert code == 0
    row = _cost_rows(report)["notes"]
    assert row["model_head"] is None and row["per_task_base"] is not None
    assert row["delta_monthly"] is not None and row["delta_monthly"] < 0
    assert row["delta_monthly"] == -row["monthly_base"]


def test_plan_of_a_renamed_agent_prices_both_names(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet.git("mv", "agents/notes", "agents/memo")
    fleet.git("mv", "evals/notes", "evals/memo")
    fleet.replace("agents/memo/agent.yaml", "name: notes", "name: memo")
    fleet.replace("evals/memo/basic.yaml", "agent: notes", "agent: memo")
    code, report = plan_json(fleet, capsys, tmp_path)
    assert code == 0
    rows = _cost_rows(report)
    assert rows["notes"]["delta_monthly"] == -rows["memo"]["delta_monthly"]  # same cassettes
    assert report["cost"]["total_monthly_base"] == report["cost"]["total_monthly_head"]  # type: ignore[index]


def test_plan_does_not_price_away_an_agent_that_fails_to_load_at_head(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet.replace("agents/notes/agent.yaml", "purpose:", "purpos:")
    code, report = plan_json(fleet, capsys, tmp_path)
    assert code == 1
    assert "notes" not in _cost_rows(report) or _cost_rows(report)["notes"]["delta_monthly"] is None


def _deploy(report: dict[str, object]) -> dict[str, dict[str, object]]:
    steps = report["deploy"]
    assert isinstance(steps, list)
    return {step["environment"]: step for step in steps}


def test_on_merge_names_the_deleted_agent_that_stays_deployed(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`alm apply` leaves a deleted agent deployed until --prune; the plan said "dev: no
    agent", as though the merge changed nothing there."""
    fleet.git("rm", "-rq", "agents/notes", "evals/notes")
    fleet.replace("agents/echo/agent.yaml", "[dev, prod]", "[dev]")  # echo leaves prod
    out = tmp_path / "plan.md"
    _, report = plan_json(fleet, capsys, tmp_path)
    steps = _deploy(report)
    assert steps["dev"]["stays"] == ["notes"]
    assert steps["prod"]["stays"] == ["echo", "notes"]
    run(capsys, "-C", str(fleet.path), "plan", "--base", "main", "--out", str(out))
    markdown = out.read_text(encoding="utf-8")
    assert "stays deployed until alm apply \\-\\-env prod \\-\\-prune: echo, notes" in markdown
    code, _, _ = run(capsys, "-C", str(fleet.path), "apply", "--env", "dev", "--dry-run")
    assert code == 0


def test_on_merge_is_silent_about_an_agent_that_fails_to_load_at_head(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet.replace("agents/notes/agent.yaml", "purpose:", "purpos:")
    _, report = plan_json(fleet, capsys, tmp_path)
    assert all(step["stays"] == [] for step in _deploy(report).values())


def test_a_catalog_with_one_bad_tool_name_is_not_called_missing(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tool name outside the pattern (here a non-ASCII letter) was reported twice: at its
    place, and as "no tool catalog; expected policies/tools.yaml" at 1:1, which it is not."""
    fleet.replace("policies/tools.yaml", "name: kb.search", "name: kb.sëarch")
    code, out, _ = run(capsys, "-C", str(fleet.path), "validate")
    assert code == 1
    assert "policies/tools.yaml:4:11: error: tools[0].name" in out
    assert "missing-catalog" not in out
    # nor is every grant, rule and case naming a tool called unknown: one error, its cause
    assert "[unknown-tool]" not in out and out.count(": error: ") == 1
    fleet.git("rm", "-qf", "policies/tools.yaml")
    code, out, _ = run(capsys, "-C", str(fleet.path), "validate")
    assert code == 1 and "no tool catalog; expected policies/tools.yaml" in out
    assert "[unknown-tool]" not in out and out.count(": error: ") == 1
