"""Class 8, alm's local state under .alm/: a committed symlink out of the repository (at
.alm, at a folder under it, or at the file) never makes alm read or write outside it.

Each attack commits the link in a real git repository and runs the real commands: apply,
rollback, status and audit verify (the lock, the local audit log, the holds, the plan memo,
the git target's cache), ops ingest, check and report (the default trace store and the
default report folder). The state alm must have is refused with an error naming the link
(exit 1); the plan memo, a cache, is skipped. A link inside the repository is fine, and so
is a path the user names on the command line (--db, --out).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo, deploy_repo
from tests.hostile.state_repo import state_repo
from tests.test_cli_ops_check import traces

AGENT = "support-triage"
REFUSED = "a symlink out of the repository; alm never reads or writes through it: remove it"
GIT_ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: git, branch: deploys, repository: "REMOTE"}
    gates: {previous_environment: false, evals_pass: false}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return state_repo(tmp_path / "repo")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "planted").write_bytes(b"planted\n")
    return folder


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str]:
    code, out, err = run(capsys, "-C", str(repo.path), *args)
    assert "Traceback" not in err and "unexpected error" not in err
    return code, out + err


def plant(repo: GitRepo, link: str, elsewhere: Path) -> None:
    """Commit `link` as a symlink out: to `elsewhere` for a folder, to a file there for a
    file (a name with a dot past its first character)."""
    path = repo.path / link
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(elsewhere / "planted" if "." in path.name[1:] else elsewhere)
    repo.git("add", "-f", link)
    repo.git("commit", "-q", "-m", f"attack: {link} leads out of the repository")


def contents(folder: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def revisions(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> dict[str, str]:
    code, out = alm(capsys, repo, "status", "--env", "dev", "--format", "json")
    assert code == 0, out
    return {row["name"]: row["desired"] for row in json.loads(out)["agents"]}


DEPLOY_STATE = [
    ".alm", ".alm/locks", ".alm/locks/dev.lock",
    ".alm/audit", ".alm/audit/dev.jsonl", ".alm/audit/dev.jsonl.head",
]  # fmt: skip


def warmer(repo: GitRepo, temperature: str) -> None:
    repo.replace(f"agents/{AGENT}/agent.yaml", "temperature: 0,", f"temperature: {temperature},")
    repo.commit(f"support-triage: temperature {temperature}")


@pytest.mark.parametrize("link", [*DEPLOY_STATE, ".alm/holds", ".alm/holds/dev.json"])
def test_apply_refuses_a_link_out_and_deploys_nothing(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, elsewhere: Path, link: str
) -> None:
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    warmer(repo, "0.3")
    plant(repo, link, elsewhere)
    before, live = contents(elsewhere), contents(repo.path / "live")
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 1 and f"alm: {link}: {REFUSED}" in printed
    assert contents(repo.path / "live") == live  # the update was not made
    assert contents(elsewhere) == before  # nothing created, written or removed there


@pytest.mark.parametrize("link", DEPLOY_STATE)
def test_rollback_refuses_a_link_out_and_rolls_nothing_back(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, elsewhere: Path, link: str
) -> None:
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    first = revisions(capsys, repo)[AGENT]
    warmer(repo, "0.3")
    assert alm(capsys, repo, "apply", "--env", "dev")[0] == 0
    plant(repo, link, elsewhere)
    before, live = contents(elsewhere), contents(repo.path / "live")
    code, printed = alm(capsys, repo, "rollback", AGENT, "--env", "dev", "--to", first)
    assert code == 1 and f"alm: {link}: {REFUSED}" in printed
    assert contents(repo.path / "live") == live
    assert contents(elsewhere) == before


@pytest.mark.parametrize("link", [".alm", ".alm/audit", ".alm/audit/dev.jsonl"])
def test_audit_verify_never_reads_a_log_out_of_the_repository(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, elsewhere: Path, link: str
) -> None:
    plant(repo, link, elsewhere)
    code, printed = alm(capsys, repo, "audit", "verify", "--env", "dev")
    assert code == 1 and f"alm: {link}: {REFUSED}" in printed


@pytest.mark.parametrize("link", [".alm/holds", ".alm/holds/dev.json"])
def test_status_reads_no_holds_out_of_the_repository(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, elsewhere: Path, link: str
) -> None:
    """Holds are a note for status: one planted elsewhere is never shown."""
    desired = revisions(capsys, repo)[AGENT]
    forged = {AGENT: {"before": None, "after": desired, "reason": "FORGED", "at": "now"}}
    (elsewhere / "planted").write_text(json.dumps(forged))
    (elsewhere / "dev.json").write_text(json.dumps(forged))
    plant(repo, link, elsewhere)
    code, printed = alm(capsys, repo, "status", "--env", "dev")
    assert code == 0 and "Missing" in printed and "FORGED" not in printed


@pytest.mark.parametrize("link", [".alm/cache", ".alm/cache/deploy"])
def test_the_plan_memo_is_skipped_behind_a_link_out(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, elsewhere: Path, link: str
) -> None:
    """A cache: the apply plans in full. (The memo file itself committed as a link is a
    tracked memo, which alm already never uses: reconciler.cli.deploy_planning.)"""
    plant(repo, link, elsewhere)
    before = contents(elsewhere)
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "result: 4 created" in printed
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "nothing to apply" in printed and "not re-read" not in printed
    assert contents(elsewhere) == before


@pytest.fixture
def git_repo(tmp_path: Path) -> tuple[GitRepo, str]:
    """dev deployed to a branch of another repository, through .alm/cache/git-targets/."""
    remote = tmp_path / "remote.git"
    GitRepo(tmp_path).git("init", "-q", "--bare", str(remote))
    url = f"file://{remote}"
    made = deploy_repo(
        tmp_path / "repo", GIT_ENVIRONMENTS.replace("REMOTE", url), "dev on a branch", "Dev One"
    )
    return made, hashlib.sha256(url.encode()).hexdigest()[:16]


@pytest.mark.parametrize("link", [".alm/cache", ".alm/cache/git-targets", "KEY"])
def test_the_git_targets_cache_is_never_behind_a_link_out(
    capsys: pytest.CaptureFixture[str],
    git_repo: tuple[GitRepo, str],
    elsewhere: Path,
    link: str,
) -> None:
    repo, key = git_repo
    link = f".alm/cache/git-targets/{key}" if link == "KEY" else link
    plant(repo, link, elsewhere)
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 1 and f"alm: {link}: {REFUSED}" in printed
    assert contents(elsewhere) == {"planted": b"planted\n"}


def test_a_committed_git_targets_cache_is_refused_and_its_config_never_run(
    capsys: pytest.CaptureFixture[str], git_repo: tuple[GitRepo, str], tmp_path: Path
) -> None:
    """A committed bare clone is the pull request's git config: an upload-pack command
    there ran on the next apply's fetch."""
    repo, key = git_repo
    cache = repo.path / ".alm" / "cache" / "git-targets" / key
    repo.git("init", "-q", "--bare", str(cache))
    shutil.rmtree(cache / "hooks")
    (cache / "objects" / ".keep").touch()
    marker = tmp_path / "ran"
    url = f"file://{tmp_path / 'remote.git'}"
    repo.git("config", "-f", str(cache / "config"), f"remote.{url}.uploadpack",
             f"touch {marker}; git-upload-pack")  # fmt: skip
    repo.git("add", "-f", ".alm/cache")
    repo.git("commit", "-q", "-m", "attack: a committed git target cache")
    code, printed = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 1 and not marker.exists()
    assert f"alm: .alm/cache/git-targets/{key}/" in printed
    assert "the git target's cache is committed to the repository" in printed


@pytest.mark.parametrize(
    "link", [".alm", ".alm/ops", ".alm/ops/traces.db", ".alm/ops/traces.db-wal"]
)
def test_ops_never_use_a_default_store_out_of_the_repository(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, elsewhere: Path, tmp_path: Path, link: str
) -> None:
    trace_file = traces(tmp_path / "t.jsonl", "sha256:" + "a" * 64, tasks=5, failing=0, env="dev")
    plant(repo, link, elsewhere)
    before = contents(elsewhere)
    for command in (["ingest", str(trace_file)], ["check", "--env", "dev"], ["report"]):
        code, printed = alm(capsys, repo, "ops", *command)
        assert code == 1 and f"alm: {link}: {REFUSED}" in printed, command
        assert "or name a store with --db PATH" in printed
    assert contents(elsewhere) == before
    mine = str(tmp_path / "mine.db")  # a store the user names is the user's choice
    assert alm(capsys, repo, "ops", "ingest", str(trace_file), "--db", mine)[0] == 0
    assert alm(capsys, repo, "ops", "check", "--env", "dev", "--db", mine)[0] == 0


@pytest.mark.parametrize("link", [".alm/ops/report", ".alm/ops/report/report.md"])
def test_ops_report_never_writes_its_default_folder_out_of_the_repository(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, elsewhere: Path, tmp_path: Path, link: str
) -> None:
    trace_file = traces(tmp_path / "t.jsonl", "sha256:" + "a" * 64, tasks=5, failing=0, env="dev")
    db = str(tmp_path / "traces.db")
    assert alm(capsys, repo, "ops", "ingest", str(trace_file), "--db", db)[0] == 0
    plant(repo, link, elsewhere)
    code, printed = alm(capsys, repo, "ops", "report", "--db", db, "--hours", "3")
    assert code == 1 and f"alm: {link}: {REFUSED}" in printed
    assert "or write it with --out DIR" in printed
    assert contents(elsewhere) == {"planted": b"planted\n"}
    out = tmp_path / "chosen"  # a folder the user names is the user's choice
    assert alm(capsys, repo, "ops", "report", "--db", db, "--hours", "3", "--out", str(out))[0] == 0
    assert (out / "report.md").is_file()


def test_a_link_inside_the_repository_is_fine(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path
) -> None:
    (repo.path / "local-state").mkdir()
    (repo.path / ".alm").symlink_to("local-state")
    trace_file = traces(tmp_path / "t.jsonl", "sha256:" + "a" * 64, tasks=5, failing=0, env="dev")
    for args in (
        ["apply", "--env", "dev"],
        ["apply", "--env", "dev"],
        ["status", "--env", "dev"],
        ["audit", "verify", "--env", "dev"],
        ["ops", "ingest", str(trace_file)],
        ["ops", "report", "--hours", "3"],
    ):
        code, printed = alm(capsys, repo, *args)
        assert code == 0, (args, printed)
    kept = set(contents(repo.path / "local-state"))
    assert {"locks/dev.lock", "audit/dev.jsonl", "cache/deploy/dev.json"} <= kept
    assert {"ops/traces.db", "ops/report/report.md"} <= kept
