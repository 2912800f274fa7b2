"""A tool's own approvers (catalog `approvers`) are required for every new grant of it."""

from __future__ import annotations

import shutil

import pytest

from reconciler.policy.tool_approvers import new_grants, requirements
from reconciler.spec.loader import load_snapshot
from reconciler.spec.state import DesiredState
from tests.gitrepo import GitRepo
from tests.test_policy_fleet import approvals, check_json, run
from tests.test_spec_minifleet import AGENT, AGENT_YAML, CATALOG, CATALOG_YAML, mini_snapshot

CLOSE_TOOL = """\
  - name: desk.close
    system: desk
    description: Close a ticket.
    access: write
    risk: medium
    approvers: ["@acme/desk-leads", "@carol"]
    parameters: {type: object, properties: {ticket_id: {type: string}}}
"""
WITH_CLOSE = CATALOG_YAML.replace("  - name: desk.refund\n", CLOSE_TOOL + "  - name: desk.refund\n")
WILDCARD = AGENT_YAML.replace("  - desk.get_ticket\n", "  - desk.*\n")


def state(agent: str = AGENT_YAML, catalog: str = CATALOG_YAML, **extra: str) -> DesiredState:
    files = {AGENT: agent.encode(), CATALOG: catalog.encode()}
    files |= {rel: text.encode() for rel, text in extra.items()}
    return load_snapshot(mini_snapshot(dict(files)))


def test_an_unchanged_agent_has_no_new_grants() -> None:
    assert new_grants(state(), state()) == {}
    assert requirements(state(), state()) == []


def test_every_grant_of_a_new_agent_is_new() -> None:
    copy = AGENT_YAML.replace("name: helper", "name: helper2")
    head = state(**{"agents/helper2/agent.yaml": copy, "agents/helper2/prompts/system.md": "x"})
    grants = new_grants(head, state())
    assert grants == {
        "desk.get_ticket": ["helper2"],
        "desk.route": ["helper2"],
        "human.escalate": ["helper2"],
    }
    (needed,) = requirements(head, state())  # only desk.get_ticket names approvers
    assert needed.id == "tool:@acme/desk"
    assert needed.owners == ("@acme/desk",)
    assert needed.reason == "new grant of desk.get_ticket: the tool's approvers"
    assert (needed.source, needed.agents) == ("tool", ("helper2",))


def test_a_wildcard_grant_counts_for_each_tool_it_newly_reaches() -> None:
    base = state(catalog=WITH_CLOSE)
    head = state(WILDCARD, WITH_CLOSE)
    # get_ticket stays granted (by name at base, through desk.* at head); route was granted
    assert new_grants(head, base) == {"desk.close": ["helper"], "desk.refund": ["helper"]}
    (needed,) = requirements(head, base)  # desk.refund names no approvers
    assert needed.owners == ("@acme/desk-leads", "@carol")
    assert needed.reason == "new grant of desk.close: the tool's approvers"


def test_a_tool_added_to_the_catalog_under_a_wildcard_is_a_new_grant() -> None:
    base = state(WILDCARD)
    head = state(WILDCARD, WITH_CLOSE)
    assert new_grants(head, base) == {"desk.close": ["helper"]}


def test_a_tool_no_longer_granted_needs_nobody() -> None:
    head = state(AGENT_YAML.replace("  - desk.get_ticket\n", ""))
    assert new_grants(head, state()) == {}


# --- through the CLI, on real git repositories --------------------------------------------


def test_policy_check_asks_the_tools_approvers_for_a_new_grant(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    mini.write(CATALOG, WITH_CLOSE)
    base = mini.commit("catalog: desk.close")
    mini.replace(AGENT, "  - human.escalate\n", "  - human.escalate\n  - desk.close\n")
    mini.commit("helper: close tickets")
    code, data = check_json(mini, capsys, "--base", base, "--head", "HEAD")
    assert code == 0
    assert approvals(data)["tool:@acme/desk-leads @carol"] == {
        "id": "tool:@acme/desk-leads @carol",
        "from": ["@acme/desk-leads", "@carol"],
        "reason": "new grant of desk.close: the tool's approvers",
        "source": "tool",
        "files": [],
        "agents": ["helper"],
        "policy": None,
    }
    code, out, _ = run(mini, capsys, "policy", "check", "--base", base, "--head", "HEAD")
    assert (
        "  - @acme/desk-leads or @carol: new grant of desk.close: the tool's approvers [tool]\n"
        in out
    )
    assert "      agents: helper" in out


def test_a_change_that_grants_nothing_new_asks_no_tool_approvers(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = mini.git("rev-parse", "HEAD")
    mini.replace(AGENT, "Help customers with their tickets.", "Help customers with tickets.")
    _, data = check_json(mini, capsys, "--base", base)  # the working tree against base
    assert [a for a in data["approvals"] if a["source"] == "tool"] == []
    assert data["changed_files"] == [AGENT]


def test_a_new_agent_copied_from_another_asks_each_tools_approvers_once(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example fleet: a copy of sales-research; tools with the same approvers share one
    requirement, since one approval of theirs covers them all."""
    base = fleet_repo.git("rev-parse", "HEAD")
    for top in ("agents", "evals"):
        shutil.copytree(fleet_repo.path / top / "sales-research", fleet_repo.path / top / "lead-qa")
    fleet_repo.replace("agents/lead-qa/agent.yaml", "name: sales-research", "name: lead-qa")
    fleet_repo.commit("lead-qa")
    _, data = check_json(fleet_repo, capsys, "--base", base, "--head", "HEAD")
    tools = [
        (a["from"], a["reason"], a["agents"]) for a in data["approvals"] if a["source"] == "tool"
    ]
    assert tools == [
        (
            ["@acme/sales-ops"],
            "new grant of crm.get_account, crm.search_contacts, research.get_company_news, "
            "research.search_companies: the tools' approvers",
            ["lead-qa"],
        ),
        (["@acme/platform"], "new grant of human.escalate: the tool's approvers", ["lead-qa"]),
    ]


def test_granting_a_destructive_tool_asks_its_own_approvers_not_only_security(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.replace(
        "agents/sales-research/agent.yaml",
        "  - crm.search_contacts\n",
        "  - crm.search_contacts\n  - {name: crm.delete_record, requires_approval: true}\n",
    )
    fleet_repo.commit("sales-research: delete records")
    _, out, _ = run(fleet_repo, capsys, "policy", "check", "--base", base, "--head", "HEAD")
    assert (
        "  - @acme/sales-ops or @acme/security or @acme/legal: new grant of crm.delete_record: "
        "the tool's approvers [tool]\n      agents: sales-research\n"
    ) in out
    assert "@acme/security: a newly granted high-risk write or destructive tool" in out
