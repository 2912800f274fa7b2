"""A target entry that is not its agent's alm/v1 AgentBundle (a truncated bundle, a
foreign JSON file) on each kind of target, for real: a directory, a git branch, the
reference registry over HTTP. status shows it OutOfSync with the reason and goes on,
drift reports it (exit 3), apply repairs it (audited), and a name the fleet does not have
is deleted only with --prune."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.deploy import audit, drift
from reconciler.deploy import plan as planner
from reconciler.deploy.model import Unreadable
from reconciler.deploy.targets.common import bundle_bytes, entry_of
from tests.cli import run
from tests.gitrepo import GitRepo, deploy_repo
from tests.registry_support import make_bundle, running_registry

AGENT = "support-triage"
TRUNCATED = "not an alm/v1 AgentBundle"
FOREIGN = b'{"hello": "world"}\n'

ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {target}
    gates: {{previous_environment: false, evals_pass: false}}
"""

# where a kind of target keeps dev's entries, and how a test changes one of them there
Corrupt = Callable[[dict[str, bytes | None]], None]


@contextmanager
def directory_target(tmp_path: Path) -> Iterator[tuple[GitRepo, Corrupt, str]]:
    repo = deploy_repo(
        tmp_path / "repo",
        ENVIRONMENTS.format(target="{type: directory, path: .alm/deployments/dev}"),
        "dev in a folder",
    )
    folder = repo.path / ".alm" / "deployments" / "dev"

    def corrupt(files: dict[str, bytes | None]) -> None:
        for name, data in files.items():
            if data is None:
                (folder / name).unlink()
            else:
                (folder / name).write_bytes(data)

    yield repo, corrupt, str(folder) + "/"


@contextmanager
def git_target(tmp_path: Path) -> Iterator[tuple[GitRepo, Corrupt, str]]:
    repo = deploy_repo(tmp_path / "repo", ENVIRONMENTS.format(target="{type: git}"), "on a branch")
    tree = tmp_path / "branch"

    def corrupt(files: dict[str, bytes | None]) -> None:
        # a real commit on the deployments branch, as someone with push rights makes one
        repo.git("worktree", "add", "--quiet", str(tree), "alm/deployments")
        for name, data in files.items():
            if data is None:
                (tree / "dev" / name).unlink()
            else:
                (tree / "dev" / name).write_bytes(data)
        git = ["git", "-C", str(tree)]
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "--quiet", "-m", "by hand"], check=True)
        repo.git("worktree", "remove", "--force", str(tree))

    yield repo, corrupt, "branch alm/deployments: dev/"


@contextmanager
def http_target(tmp_path: Path) -> Iterator[tuple[GitRepo, Corrupt, str]]:
    with running_registry(tmp_path / "registry") as url:
        repo = deploy_repo(
            tmp_path / "repo", ENVIRONMENTS.format(target=f'{{type: http, url: "{url}"}}'), "http"
        )
        folder = tmp_path / "registry" / "dev"  # the registry's own storage

        def corrupt(files: dict[str, bytes | None]) -> None:
            for name, data in files.items():
                if data is None:
                    (folder / name).unlink()
                else:
                    (folder / name).write_bytes(data)

        yield repo, corrupt, f"{url}/v1/environments/dev/agents/"


TARGETS = {"directory": directory_target, "git": git_target, "http": http_target}


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


def rows(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> dict[str, dict[str, Any]]:
    code, out, err = alm(capsys, repo, "status", "--env", "dev", "--format", "json")
    assert code == 0, err
    return {row["name"]: row for row in json.loads(out)["agents"]}


def named(where: str, agent: str) -> str:
    """How messages name an agent's entry on each kind of target."""
    return f"{where}{agent}" + ("" if "/agents/" in where else ".json")


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_unreadable_entries_are_drift_that_apply_repairs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    with TARGETS[kind](tmp_path) as (repo, corrupt, where):
        code, out, err = alm(capsys, repo, "apply", "--env", "dev")
        assert code == 0, err
        good = rows(capsys, repo)[AGENT]
        truncated = json.dumps({"apiVersion": "alm/v1", "kind": "AgentBundle"})[:30].encode()
        corrupt({f"{AGENT}.json": truncated, "foreign.json": FOREIGN})

        # status: both shown OutOfSync with the reason; the other agents still listed
        found = rows(capsys, repo)
        assert found[AGENT]["sync"] == "OutOfSync" and found[AGENT]["live"] is None
        assert named(where, AGENT) in found[AGENT]["unreadable"]
        assert TRUNCATED in found[AGENT]["unreadable"]
        assert found["foreign"]["sync"] == "OutOfSync"
        assert "agent: Field required" in found["foreign"]["unreadable"]
        assert sum(r["sync"] == "Synced" for r in found.values()) == 3

        # drift: exit 3 naming each entry and why
        code, out, _ = alm(capsys, repo, "drift", "--env", "dev")
        assert code == 3
        said = {line.split(":")[0].strip(): line for line in out.splitlines()[1:]}
        assert said.keys() == {AGENT, "foreign"}
        assert "unreadable on the target: " in said[AGENT]
        assert f"{named(where, AGENT)}: {TRUNCATED}" in said[AGENT]
        assert f"{named(where, 'foreign')}: {TRUNCATED}" in said["foreign"]

        # apply repairs the fleet's agent, audited; leaves the foreign name alone
        code, out, err = alm(capsys, repo, "apply", "--env", "dev")
        assert code == 0, err
        assert f"repaired  {AGENT}" in out
        assert "foreign" in out and "--prune deletes it" in out
        after = rows(capsys, repo)
        assert after[AGENT]["sync"] == "Synced" and after[AGENT]["live"] == good["live"]
        assert after["foreign"]["sync"] == "OutOfSync"
        records = audit.entries(audit.audit_path(repo.path, "dev").read_bytes(), AGENT)
        assert [(r["action"], r["result"]) for r in records[-2:]] == [
            ("repair", "started"),
            ("repair", "ok"),
        ]

        # --prune: the foreign entry is deleted (planned, said, audited)
        code, out, _ = alm(capsys, repo, "apply", "--env", "dev", "--prune", "--dry-run")
        assert code == 0 and "delete    foreign" in out and "(--prune)" in out
        code, out, err = alm(capsys, repo, "apply", "--env", "dev", "--prune")
        assert code == 0, err
        assert "deleted   foreign" in out
        assert set(rows(capsys, repo)) == {
            AGENT,
            "email-drafting",
            "invoice-processing",
            "sales-research",
        }
        assert alm(capsys, repo, "drift", "--env", "dev")[0] == 0
        assert alm(capsys, repo, "audit", "verify")[0] == 0


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_another_agents_bundle_under_a_name_is_unreadable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    with TARGETS[kind](tmp_path) as (repo, corrupt, where):
        assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
        assert rows(capsys, repo)[AGENT]["sync"] == "Synced"
        # a real bundle of another agent, copied under support-triage's name
        other = _bundle_bytes(repo, kind, where, "email-drafting")
        corrupt({f"{AGENT}.json": other})
        found = rows(capsys, repo)[AGENT]
        assert found["sync"] == "OutOfSync"
        assert "holds agent 'email-drafting'; expected 'support-triage'" in found["unreadable"]
        code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
        assert code == 0 and f"repaired  {AGENT}" in out
        assert rows(capsys, repo)[AGENT]["sync"] == "Synced"


def _bundle_bytes(repo: GitRepo, kind: str, where: str, agent: str) -> bytes:
    if kind == "git":
        return subprocess.run(
            ["git", "-C", str(repo.path), "show", f"alm/deployments:dev/{agent}.json"],
            capture_output=True,
            check=True,
        ).stdout
    if kind == "http":
        import urllib.request

        with urllib.request.urlopen(f"{where}{agent}") as answer:
            data: bytes = answer.read()
        return data
    return (Path(where) / f"{agent}.json").read_bytes()


def test_rollback_restores_an_unreadable_agent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with directory_target(tmp_path) as (repo, corrupt, _where):
        assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
        good = rows(capsys, repo)[AGENT]["live"]
        corrupt({f"{AGENT}.json": b"{"})
        code, out, err = alm(capsys, repo, "rollback", AGENT, "--env", "dev")
        assert code == 0, err
        assert "pinned" in out
        row = rows(capsys, repo)[AGENT]
        assert row["sync"] == "Pinned" and row["live"] == good


# --- the pure parts: reading one entry, planning and drift over an unreadable one -------


def test_a_bundle_of_another_environment_is_unreadable_here() -> None:

    staging = bundle_bytes(make_bundle("one", "staging"))
    found = entry_of("one", "prod", staging, "v1", "prod/one.json")
    assert isinstance(found, Unreadable) and found.version == "v1"
    assert found.words() == (
        "prod/one.json: holds a bundle for environment 'staging'; expected 'prod'"
    )


def test_an_unreadable_agent_held_by_promotion_order_is_not_repaired() -> None:

    bad = Unreadable("one", "v1", "prod/one.json", "not an alm/v1 AgentBundle (x)")
    desired = {"one": make_bundle("one", "prod")}
    made = planner.plan("prod", desired, {}, previous={}, unreadable={"one": bad})
    (action,) = made.actions
    assert action.kind == "held" and action.before is None
    assert made.warnings == (
        "one: unreadable on the target: prod/one.json: not an alm/v1 AgentBundle (x); "
        "it is held, so not repaired",
    )
    free = planner.plan("prod", desired, {}, unreadable={"one": bad})
    assert [(a.kind, a.bundle is not None) for a in free.actions] == [("repair", True)]


def test_ignore_rules_never_hide_an_unreadable_entry() -> None:

    bad = Unreadable("one", "v1", "dev/one.json", "not an alm/v1 AgentBundle (x)")
    report = drift.detect(
        "dev", {"one": make_bundle("one", "dev")}, {}, ["*"], unreadable={"one": bad}
    )
    (item,) = report.items
    assert item.kind == "unreadable" and "dev/one.json: not an alm/v1" in item.summary()
