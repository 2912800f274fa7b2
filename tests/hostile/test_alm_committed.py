"""Class 8, alm's local state under .alm/ committed to the repository: a file there that
git tracks is what a pull request wrote, never state a run of alm made.

Each attack commits the state in a real git repository (`git add -f`: the repository
ignores .alm/, as a fleet's should) and runs the real command: the audit log (apply,
audit verify, audit log, github deployed against the local GitHub server), the trace
store (ops check, which would roll an agent back; ops ingest; ops report), the lock
(apply), the holds (apply refuses, status ignores them) and the plan memo (a cache:
skipped). Each asserts the exit code, the message and that nothing acted on the forged
content. The same state, untracked, still works; so does a fleet outside git.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from reconciler.deploy import audit
from reconciler.plan import model
from tests import planfixtures
from tests.cli import run
from tests.github_server import GitHubServer
from tests.github_support import REPO, env_for, server, write_json
from tests.gitrepo import PROJECT, GitRepo
from tests.hostile.state_repo import state_repo
from tests.test_cli_ops_check import traces
from tests.test_github_deployed import MERGE, _closed, _push

_ = server
AGENT = "support-triage"
AGENT_FILE = f"agents/{AGENT}/agent.yaml"
REMEDY = (
    "committed to the repository; alm's local state under .alm/ is never committed: "
    "remove it from git (git rm --cached {path}) and add .alm/ to .gitignore"
)
LOG, HOLDS, LOCK, STORE = (
    ".alm/audit/dev.jsonl",
    ".alm/holds/dev.json",
    ".alm/locks/dev.lock",
    ".alm/ops/traces.db",
)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return state_repo(tmp_path / "repo")


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str]:
    code, out, err = run(capsys, "-C", str(repo.path), *args)
    assert "Traceback" not in err and "unexpected error" not in err
    return code, out + err


def refused(path: str, what: str) -> str:
    return f"alm: {path}: {what} is {REMEDY.format(path=path)}"


def commit_state(repo: GitRepo, *paths: str) -> None:
    repo.git("add", "-f", *paths)
    repo.git("commit", "-q", "-m", f"attack: commit {', '.join(paths)}")


def contents(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def live_revisions(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> dict[str, str | None]:
    code, out = alm(capsys, repo, "status", "--env", "dev", "--format", "json")
    assert code == 0, out
    return {row["name"]: row["live"] for row in json.loads(out)["agents"]}


def forge_log(repo: GitRepo, **fields: str) -> bytes:
    """A well-chained log with its head, written by alm's own code: audit verify passes it."""
    store = audit.FileAuditStore(repo.path / LOG)
    audit.record(store, action="update", agent=AGENT, environment="dev", result="ok", **fields)
    return (repo.path / LOG).read_bytes()


# --- the audit log ---------------------------------------------------------------------


@pytest.mark.parametrize("committed", [LOG, f"{LOG}.head", f"{LOG}.torn"])
def test_audit_verify_refuses_a_committed_log(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, committed: str
) -> None:
    forge_log(repo, detail="FORGED")
    (repo.path / f"{LOG}.torn").write_bytes(b"torn\n")
    commit_state(repo, committed)
    code, printed = alm(capsys, repo, "audit", "verify", "--env", "dev")
    assert code == 1 and refused(committed, "the audit log") in printed
    assert "the chain holds" not in printed
    code, printed = alm(capsys, repo, "audit", "verify")  # every log: the same refusal
    assert code == 1 and refused(committed, "the audit log") in printed


def test_audit_log_never_prints_a_committed_history(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    forge_log(repo, detail="FORGED")
    commit_state(repo, LOG)
    code, printed = alm(capsys, repo, "audit", "log", "--env", "dev")
    assert code == 1 and refused(LOG, "the audit log") in printed and "FORGED" not in printed


def test_apply_refuses_a_committed_log_and_deploys_nothing(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    forged = forge_log(repo, detail="FORGED")
    commit_state(repo, LOG, f"{LOG}.head")
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 1 and refused(LOG, "the audit log") in printed
    assert not (repo.path / "live").exists()  # nothing deployed
    assert (repo.path / LOG).read_bytes() == forged  # nothing appended to it


def test_github_deployed_never_reports_a_committed_history(
    server: GitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    repo: GitRepo,
) -> None:
    """A log claiming the merge deployed everywhere would become the PR's deploy comment."""
    forge_log(repo, commit=MERGE, from_="sha256:" + "a" * 64, to="sha256:" + "b" * 64)
    commit_state(repo, LOG)
    _closed(server, merged=True)
    for name, value in env_for(server, tmp_path, "push", _push(MERGE)).items():
        monkeypatch.setenv(name, value)
    plan = write_json(tmp_path / "plan.json", model.to_json(planfixtures.typical()))
    code, printed = alm(capsys, repo, "github", "deployed", "--report", str(plan))
    assert code == 1 and refused(LOG, "the audit log") in printed
    assert server.comments(REPO, 2) == []  # no comment made from it


# --- the trace store -------------------------------------------------------------------


def deploy_twice(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> tuple[str, str]:
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    first = live_revisions(capsys, repo)[AGENT]
    repo.replace(AGENT_FILE, "temperature: 0,", "temperature: 0.2,")
    repo.commit("support-triage: warmer")
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    second = live_revisions(capsys, repo)[AGENT]
    assert first is not None and second is not None and first != second
    return first, second


def forge_store(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path, revision: str
) -> bytes:
    """Traces of the live revision failing a third of its tasks, ingested (--db, the user's
    choice: never checked) into the default store's place and committed."""
    trace_file = traces(tmp_path / "forged.jsonl", revision, tasks=60, failing=20, env="dev")
    code, printed = alm(capsys, repo, "ops", "ingest", str(trace_file), "--db", STORE)
    assert code == 0, printed
    assert not (repo.path / f"{STORE}-wal").exists()  # closed: all in the database
    commit_state(repo, STORE)
    return (repo.path / STORE).read_bytes()


def test_ops_check_never_rolls_back_on_committed_traces(
    capsys: pytest.CaptureFixture[str],
    repo: GitRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, second = deploy_twice(capsys, repo)
    monkeypatch.chdir(repo.path)  # --db STORE relative to the current directory
    forged = forge_store(capsys, repo, tmp_path, second)
    log = (repo.path / LOG).read_bytes()
    code, printed = alm(capsys, repo, "ops", "check", "--env", "dev")
    assert code == 1 and refused(STORE, "the trace store") in printed
    assert "or name a store with --db PATH" in printed and "BREACH" not in printed
    assert live_revisions(capsys, repo)[AGENT] == second  # no rollback
    assert (repo.path / LOG).read_bytes() == log  # nothing audited
    assert (repo.path / STORE).read_bytes() == forged


def test_ops_ingest_and_report_refuse_a_committed_store(
    capsys: pytest.CaptureFixture[str],
    repo: GitRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(repo.path)
    forged = forge_store(capsys, repo, tmp_path, "sha256:" + "a" * 64)
    more = traces(tmp_path / "more.jsonl", "sha256:" + "a" * 64, tasks=5, failing=0, env="dev")
    for command in (["ingest", str(more)], ["report", "--hours", "3"]):
        code, printed = alm(capsys, repo, "ops", *command)
        assert code == 1 and refused(STORE, "the trace store") in printed, command
    assert (repo.path / STORE).read_bytes() == forged  # nothing ingested into it
    assert not (repo.path / ".alm/ops/report").exists()  # no report made from it
    mine = str(tmp_path / "mine.db")  # a store the user names is the user's choice
    assert alm(capsys, repo, "ops", "ingest", str(more), "--db", mine)[0] == 0


# --- the lock and the holds ------------------------------------------------------------


def test_apply_refuses_a_committed_lock_naming_a_fake_holder(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    """The flock is the kernel's, so a committed file never locks anyone out; but alm said
    it took over the lock from whoever the file names, then emptied a tracked file."""
    holder = {"pid": 999_999_999, "host": socket.gethostname(), "user": "FORGED",
              "command": "alm apply --env dev", "since": "2026-01-01T00:00:00Z"}  # fmt: skip
    repo.write(LOCK, json.dumps(holder))
    commit_state(repo, LOCK)
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 1 and refused(LOCK, "the lock file") in printed
    assert "FORGED" not in printed and "took over the lock" not in printed
    assert json.loads(repo.read(LOCK)) == holder  # left as committed
    assert not (repo.path / "live").exists()


def forged_holds(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> str:
    code, out = alm(capsys, repo, "status", "--env", "dev", "--format", "json")
    assert code == 0, out
    desired = {row["name"]: row["desired"] for row in json.loads(out)["agents"]}[AGENT]
    held = {AGENT: {"before": None, "after": desired, "reason": "FORGED", "at": "now"}}
    repo.write(HOLDS, json.dumps(held))
    commit_state(repo, HOLDS)
    return repo.read(HOLDS)


def test_status_ignores_committed_holds(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    forged_holds(capsys, repo)
    code, printed = alm(capsys, repo, "status", "--env", "dev")
    assert code == 0 and "Missing" in printed and "FORGED" not in printed


def test_apply_refuses_committed_holds_and_leaves_them(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    """An apply holding nothing deleted the committed file; one holding agents replaced it."""
    forged = forged_holds(capsys, repo)
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 1 and refused(HOLDS, "the holds file") in printed
    assert repo.read(HOLDS) == forged
    assert not (repo.path / "live").exists()


# --- the plan memo: a cache, skipped ---------------------------------------------------


def test_a_committed_plan_memo_is_never_recalled(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    memo = ".alm/cache/deploy/dev.json"
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and (repo.path / memo).is_file()
    commit_state(repo, memo)
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "nothing to apply" in printed and "not re-read" not in printed


# --- what still works ------------------------------------------------------------------


def test_untracked_state_is_used_as_before(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path
) -> None:
    _, second = deploy_twice(capsys, repo)
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0  # memo written
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "not re-read" in printed  # the memo is recalled
    assert alm(capsys, repo, "audit", "verify", "--env", "dev")[0] == 0
    trace_file = traces(tmp_path / "t.jsonl", second, tasks=60, failing=20, env="dev")
    assert alm(capsys, repo, "ops", "ingest", str(trace_file))[0] == 0
    code, printed = alm(capsys, repo, "ops", "check", "--env", "dev")
    assert code == 3 and "rolled back in dev" in printed  # traces from the store act
    assert alm(capsys, repo, "ops", "report", "--hours", "3")[0] == 0
    assert repo.git("status", "--porcelain") == ""  # and none of it is in git


def test_a_fleet_outside_git_keeps_its_ops_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Outside git nothing can be committed: the default store is used."""
    folder = tmp_path / "fleet"
    for name in ("agents", "policies", "evals"):
        shutil.copytree(PROJECT / name, folder / name)
    trace_file = traces(tmp_path / "t.jsonl", "sha256:" + "a" * 64, tasks=5, failing=0, env="dev")
    plain = GitRepo(folder)
    assert alm(capsys, plain, "ops", "ingest", str(trace_file))[0] == 0
    assert alm(capsys, plain, "ops", "report", "--hours", "3")[0] == 0
    assert (folder / STORE).is_file() and (folder / ".alm/ops/report/report.md").is_file()
