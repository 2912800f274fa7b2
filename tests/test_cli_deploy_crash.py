"""alm apply killed with SIGKILL at several points, then run again; two applies at once; a
lock held by someone else. Real processes, a real fleet in a real git repository, the
real directory target: the kill points are found by watching the files the apply writes
(the process is stopped with SIGSTOP the moment the point is seen, then killed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.fleet import commit_fleet, git
from reconciler.deploy import audit, journal, lock
from reconciler.deploy.targets.common import parse_bundle
from tests.cli import PYTHON_M_ALM, run_process
from tests.gitrepo import init_repo
from tests.holding_proxy import When, holding_proxy
from tests.registry_support import running_registry

AGENTS = 80
Seen = Callable[[Path], bool]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "fleet"
    commit_fleet(root, agents=AGENTS, grants=2, pack=False)
    # the synthetic fleet has no cassettes: with the evals gate every agent would be held
    # (tests/test_cli_deploy_gates.py tests that gate)
    settings = root / "policies" / "environments.yaml"
    settings.write_text(settings.read_text().replace("evals_pass: true", "evals_pass: false"))
    git(root, "commit", "-qam", "no evals gate")
    return root


@pytest.fixture
def repo(fleet: Path, tmp_path: Path) -> Path:
    """A fresh clone per test (the fleet is made once)."""
    root = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(fleet), str(root)], check=True)
    return root


def target_dir(root: Path) -> Path:
    return root / ".alm" / "deployments" / "dev"


def bundles(root: Path) -> list[Path]:
    folder = target_dir(root)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def audit_lines(root: Path) -> int:
    path = audit.audit_path(root, "dev")
    return path.read_bytes().count(b"\n") if path.exists() else 0


def lock_taken(root: Path) -> bool:
    path = lock.lock_path(root, "dev")
    return path.exists() and path.stat().st_size > 0


POINTS: dict[str, Seen] = {
    "lock taken, before any write": lock_taken,
    "intents recorded, first bundle": lambda r: audit_lines(r) >= AGENTS and len(bundles(r)) >= 1,
    "half the bundles written": lambda r: len(bundles(r)) >= AGENTS // 2,
    "all but a few bundles written": lambda r: len(bundles(r)) >= AGENTS - 5,
}


def start_apply(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*PYTHON_M_ALM, "-C", str(root), "apply", "--env", "dev", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(proc: subprocess.Popen[str], root: Path, seen: Seen) -> bool:
    """SIGSTOP the apply the moment `seen` holds, then SIGKILL it. False when it finished
    first (the point was not reached while it ran)."""
    deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
    while proc.poll() is None and time.monotonic() < deadline:
        if seen(root):
            proc.send_signal(signal.SIGSTOP)
            proc.kill()
            proc.communicate()
            return proc.returncode == -signal.SIGKILL
        time.sleep(0.0005)
    proc.communicate()
    return False


def assert_no_half_written_bundle(root: Path) -> None:
    for path in bundles(root):
        bundle = parse_bundle(path.read_bytes(), str(path))
        assert bundle.intact, path


def assert_applied_and_audited(root: Path) -> None:
    done = run_process(root, "status", "--env", "dev", "--format", "json")
    rows = json.loads(done.stdout)["agents"]
    assert len(rows) == AGENTS and {r["sync"] for r in rows} == {"Synced"}
    verified = run_process(root, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    entries = audit.entries(audit.audit_path(root, "dev").read_bytes())
    assert journal.dangling(entries, "dev") == []  # every started write has its result


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_9_during_apply_then_apply_again(repo: Path, point: str) -> None:
    for _attempt in range(3):
        if kill_when(start_apply(repo), repo, POINTS[point]):
            break
        subprocess.run(["rm", "-rf", str(repo / ".alm")], check=True)  # finished first: again
    else:
        pytest.fail(f"apply always finished before the point {point!r} was seen")
    assert_no_half_written_bundle(repo)
    written = len(bundles(repo))
    again = run_process(repo, "apply", "--env", "dev")
    assert again.returncode == 0, again.stderr
    assert f"{AGENTS - written} created" in again.stdout or written == AGENTS
    assert_applied_and_audited(repo)
    third = run_process(repo, "apply", "--env", "dev")
    assert third.returncode == 0 and "nothing to apply" in third.stdout
    assert not [p for p in target_dir(repo).iterdir() if p.name.endswith(".tmp")]


def test_two_applies_at_once_one_waits(repo: Path) -> None:
    first, second = start_apply(repo), start_apply(repo)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    created = [o for out, _ in outs for o in out.splitlines() if o.startswith("result:")]
    counts = [int(line.split()[1]) for line in created]
    assert sum(counts) == AGENTS  # each agent created once: the second planned after the first
    assert_applied_and_audited(repo)


def test_a_lock_not_taken_exits_1_naming_the_holder(repo: Path) -> None:
    with lock.environment_lock(lock.lock_path(repo, "dev"), "dev", command="alm apply (test)"):
        done = run_process(repo, "apply", "--env", "dev", "--lock-timeout", "0.2")
    assert done.returncode == 1
    assert f"locked by pid {os.getpid()}" in done.stderr and "alm apply (test)" in done.stderr
    assert bundles(repo) == []


HTTP_ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {{type: http, url: "{url}"}}
    gates: {{evals_pass: false}}
  - name: staging
    target: {{type: directory, path: .alm/deployments/staging}}
  - name: prod
    target: {{type: directory, path: .alm/deployments/prod}}
"""


@pytest.mark.parametrize(
    ("hold_put", "when", "landed"),
    [(2, "before", 1), (3, "after", 3)],
    ids=["killed before the 2nd write reaches the registry", "killed after the 3rd landed"],
)
def test_kill_9_during_an_apply_to_the_http_registry(
    tmp_path: Path, hold_put: int, when: When, landed: int
) -> None:
    repo = init_repo(tmp_path / "repo")
    with (
        running_registry(tmp_path / "registry") as upstream,
        holding_proxy(upstream, hold_put, when) as proxy,
    ):
        repo.write("policies/environments.yaml", HTTP_ENVIRONMENTS.format(url=proxy.url))
        repo.write(".gitignore", ".alm/\n")
        repo.commit("dev on the registry, through the proxy")
        proc = start_apply(repo.path)
        assert proxy.holding.wait(timeout=120), "the held PUT never came"
        proc.kill()  # while its write is held: nothing in alm knows
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        on_registry = sorted((tmp_path / "registry" / "dev").glob("*.json"))
        assert len(on_registry) == landed
        for path in on_registry:
            assert parse_bundle(path.read_bytes(), str(path)).intact
        proxy.deliver_held = False  # the killed client's held request never arrives
        proxy.release.set()
        proxy.hold_put = 0  # no more holding
        again = run_process(repo.path, "apply", "--env", "dev")
        shown = run_process(repo.path, "status", "--env", "dev", "--format", "json")
    assert again.returncode == 0, again.stderr
    # every write the killed apply started is settled from what the registry holds
    assert again.stdout.count(": create to sha256:") == 4
    assert again.stdout.count(" was done") == landed
    assert again.stdout.count(" was not done") == 4 - landed
    assert f"{4 - landed} created" in again.stdout
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["agents"]
    assert len(rows) == 4 and {r["sync"] for r in rows} == {"Synced"}
    assert run_process(repo.path, "audit", "verify").returncode == 0
    entries = audit.entries(audit.audit_path(repo.path, "dev").read_bytes())
    assert journal.dangling(entries, "dev") == []


def test_rollback_on_failure_through_the_http_registry(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    with (
        running_registry(tmp_path / "registry") as upstream,
        holding_proxy(upstream, 0, "before") as proxy,
    ):
        settings = HTTP_ENVIRONMENTS.format(url=proxy.url)
        repo.write(
            "policies/environments.yaml",
            settings.replace(
                f'"{proxy.url}"}}\n', f'"{proxy.url}"}}\n    rollback_on_failure: true\n'
            ),
        )
        repo.write(".gitignore", ".alm/\n")
        repo.commit("dev on the registry, rolled back on failure")
        assert run_process(repo.path, "apply", "--env", "dev").returncode == 0
        before = json.loads(
            run_process(repo.path, "status", "--env", "dev", "--format", "json").stdout
        )["agents"]
        repo.replace("agents/support-triage/agent.yaml", "temperature: 0,", "temperature: 0.3,")
        repo.replace("agents/email-drafting/agent.yaml", "temperature: 0.3", "temperature: 0.4")
        repo.commit("two agents change")
        proxy.reject = b'"temperature": 0.3'  # the registry refuses support-triage's bundle
        failed = run_process(repo.path, "apply", "--env", "dev")
        rows = json.loads(
            run_process(repo.path, "status", "--env", "dev", "--format", "json").stdout
        )["agents"]
        again = run_process(repo.path, "apply", "--env", "dev")
    assert failed.returncode == 1
    assert "1 of 4 agents failed in dev: support-triage (rolled back" in failed.stderr
    assert "updated   email-drafting" in failed.stdout
    old = {r["name"]: r["live"] for r in before}
    now = {r["name"]: r for r in rows}
    assert now["support-triage"]["sync"] == "Pinned"
    assert now["support-triage"]["live"] == old["support-triage"]
    assert "automatic rollback" in now["support-triage"]["pin"]["reason"]
    assert now["email-drafting"]["sync"] == "Synced"
    assert again.returncode == 0 and "left alone (pinned): support-triage" in again.stdout
