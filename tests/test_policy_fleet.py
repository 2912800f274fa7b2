"""The starter policies over the example fleet, and helpers the other policy tests share."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from reconciler.cli import main
from tests.gitrepo import PROJECT, GitRepo

DATA_CLASSES = "  data_classes: [pii, customer-content, financial]\n"


def declare_data_classes(repo: GitRepo) -> None:
    """Give every agent a contract.data_classes declaration if the fleet has none yet."""
    for path in sorted((repo.path / "agents").glob("*/agent.yaml")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^  data_classes:", text, re.MULTILINE):
            continue
        text = text.replace("\n  success_metrics:", "\n" + DATA_CLASSES + "  success_metrics:", 1)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def governed(fleet_repo: GitRepo) -> GitRepo:
    """The example fleet with data classes declared, committed: every starter policy holds."""
    declare_data_classes(fleet_repo)
    fleet_repo.commit("declare data classes")
    return fleet_repo


def run(repo: GitRepo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(repo.path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def check_json(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any]]:
    code, out, err = run(repo, capsys, "policy", "check", "--format", "json", *args)
    assert err == "", err
    data: dict[str, Any] = json.loads(out)
    return code, data


def fired(data: dict[str, Any]) -> set[tuple[str, str | None, str | None]]:
    """(rule, agent, environment) of every violation."""
    return {(v["rule"], v["agent"], v["environment"]) for v in data["violations"]}


def approvals(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in data["approvals"]}


def test_the_starter_set_holds_on_the_example_fleet(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = check_json(governed, capsys)
    assert (code, data["violations"]) == (0, [])
    assert data["summary"]["policies"] >= 6 and data["ok"] is True


def test_every_agent_of_the_example_fleet_is_checked(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(governed, capsys, "policy", "check")
    agents = len(list((PROJECT / "agents").glob("*/agent.yaml")))
    assert code == 0
    assert f"policy check passed: 0 errors, 0 warnings; {agents} agents" in out.splitlines()[-1]


def test_starter_policy_files_are_owned() -> None:
    """Every starter policy names its owners: they become its CODEOWNERS."""
    for path in sorted((PROJECT / "policies").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "kind: Policy" in text:
            assert re.search(r"^  owners: \[\"@", text, re.MULTILINE), path.name
