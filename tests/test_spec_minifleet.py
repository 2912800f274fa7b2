"""A small, self-contained fleet whose every line number the spec tests know.

The example fleet of the project changes as it grows; these files do not, so the
tests can assert exact file:line:col positions. Helpers here are imported by the
other tests/test_spec_*.py modules.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import Finding
from reconciler.spec.checks import validate
from reconciler.spec.loader import load_ref, load_worktree
from reconciler.spec.source import Blob, Snapshot
from reconciler.spec.state import DesiredState
from tests.gitrepo import GitRepo, init_repo, made_once

AGENT = "agents/helper/agent.yaml"
PROMPT = "agents/helper/prompts/system.md"
CATALOG = "policies/tools.yaml"
ENVIRONMENTS = "policies/environments.yaml"
SUITE = "evals/helper/basic.yaml"

AGENT_YAML = """\
apiVersion: alm/v1
kind: Agent
metadata:
  name: helper
  owners: ["@acme/desk", "@alice"]
  labels: {tier: customer-facing}
contract:
  purpose: Help customers with their tickets.
  must_never:
    - id: no-refunds
      rule: Never refund anything.
      forbid_tools: [desk.refund]
  escalation: {tool: human.escalate, when: [angry customer]}
  success_metrics:
    task_success_rate: {min: 0.9}
model: {provider: openai, name: gpt-4.1-mini}
prompt: {system: prompts/system.md}
tools:
  - desk.get_ticket
  - name: desk.route
    constraints:
      queue: {enum: [billing, tech]}
  - human.escalate
deploy: {environments: [staging, prod]}
"""

CATALOG_YAML = """\
apiVersion: alm/v1
kind: ToolCatalog
tools:
  - name: desk.get_ticket
    system: desk
    description: Read one ticket.
    access: read
    risk: low
    approvers: ["@acme/desk"]
    parameters:
      type: object
      properties:
        ticket_id: {type: string}
      required: [ticket_id]
  - name: desk.route
    system: desk
    description: Move a ticket to a queue.
    access: write
    risk: medium
    parameters:
      type: object
      properties:
        ticket_id: {type: string}
        queue: {type: string, enum: [billing, tech, general]}
  - name: desk.refund
    system: desk
    description: Refund a payment.
    access: destructive
    risk: critical
    parameters: {type: object, properties: {amount: {type: number}}}
  - name: human.escalate
    system: human
    description: Hand the conversation to a person.
    access: write
    risk: low
    parameters: {type: object, properties: {reason: {type: string}}}
"""

ENVIRONMENTS_YAML = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: staging
    target: {type: directory, path: .alm/staging}
  - name: prod
    target: {type: directory, path: .alm/prod}
"""

SUITE_YAML = """\
apiVersion: alm/v1
kind: EvalSuite
metadata: {name: basic, agent: helper}
cases:
  - id: routes-billing
    input: {message: "I was charged twice"}
    fixtures:
      - tool: desk.get_ticket
        args: {ticket_id: T-1}
        returns: {subject: charged twice}
    expect:
      outcome: resolved
      tool_calls: [{tool: desk.route, args: {queue: billing}}]
"""

PROMPT_TEXT = "You help customers with their tickets. Escalate angry customers.\n"

MINI_FILES: dict[str, str] = {
    AGENT: AGENT_YAML,
    PROMPT: PROMPT_TEXT,
    CATALOG: CATALOG_YAML,
    ENVIRONMENTS: ENVIRONMENTS_YAML,
    SUITE: SUITE_YAML,
}


def _new_mini(path: Path, commit: bool) -> GitRepo:
    repo = init_repo(path, with_fleet=False)
    for rel, text in MINI_FILES.items():
        repo.write(rel, text)
    if commit:
        repo.commit("mini fleet")
    return repo


def make_mini(path: Path, commit: bool = True) -> GitRepo:
    """A git repository holding the mini fleet (committed unless told otherwise)."""
    if commit and not (path.exists() and any(path.iterdir())):
        return made_once("mini", lambda at: _new_mini(at, True), path)
    return _new_mini(path, commit)


def mini_snapshot(overrides: dict[str, bytes | None] | None = None) -> Snapshot:
    """The mini fleet in memory; an override of None removes the file."""
    files = {rel: text.encode("utf-8") for rel, text in MINI_FILES.items()}
    for rel, raw in (overrides or {}).items():
        if raw is None:
            files.pop(rel, None)
        else:
            files[rel] = raw
    return Snapshot("memory", {rel: Blob(len(raw), raw) for rel, raw in files.items()})


def pos(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the n-th occurrence of needle in text."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def check_worktree(root: Path) -> tuple[DesiredState, list[Finding]]:
    state = load_worktree(root)
    return state, validate(state)


def check_ref(root: Path, ref: str) -> tuple[DesiredState, list[Finding]]:
    state = load_ref(root, ref)
    return state, validate(state)


def only(findings: list[Finding], code: str) -> Finding:
    """The one finding with this code (fails listing them all otherwise)."""
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, f"expected one {code!r} finding, got {findings}"
    return matching[0]


def at(finding: Finding) -> tuple[str, int, int]:
    return finding.location.file, finding.location.line, finding.location.column


def test_mini_fleet_is_valid_in_worktree_and_at_a_ref(tmp_path: Path) -> None:
    repo = make_mini(tmp_path / "repo")
    for state, findings in (check_worktree(repo.path), check_ref(repo.path, "HEAD")):
        assert findings == []
        assert [a.name for a in state.agents] == ["helper"]
        assert set(state.tools) == {
            "desk.get_ticket",
            "desk.route",
            "desk.refund",
            "human.escalate",
        }
        assert state.environment_order == ["staging", "prod"]
        assert [s.model.metadata.name for s in state.suites["helper"]] == ["basic"]


def test_pos_helper_counts_from_one() -> None:
    assert pos("ab\ncd\n", "a") == (1, 1)
    assert pos("ab\ncd\n", "d") == (2, 2)
    assert pos("x x x", "x", 3) == (1, 5)
