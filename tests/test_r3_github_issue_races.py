"""The breach and drift issues when something happens between alm's listing and its write,
against the local GitHub server: two runs at once (both list before either opens) converge
on one issue, and an issue a person closes meanwhile is neither edited nor reopened: the
finding goes to a new issue, as when it was closed before the listing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.github import api_deploy, issues, ops_issues
from reconciler.github.api import Api
from tests import github_shapes
from tests.github_http import Recorded, Reply
from tests.github_server import GitHubServer
from tests.github_support import REPO, env_for, server
from tests.test_github_ops_issues import breach

_ = server
Hook = Callable[[Recorded], Reply | None]
AGENT = "support-triage"


def _api(gh: GitHubServer, tmp: Path) -> Api:
    _, api = api_deploy.session(env_for(gh, tmp, "schedule", {}))
    api.retry.sleep = lambda _: None
    return api


def _twice_at_once(gh: GitHubServer, tmp: Path, write: Callable[[Api], str]) -> list[str]:
    """Two runs that both see no issue open, then both open one, made deterministic: the
    other run does all its work the moment this run's first write arrives (after this run
    listed and found nothing), so no thread timing is involved. What each run said, the
    other run's first."""
    said: list[str] = []

    def hook(r: Recorded) -> Reply | None:
        if r.method == "POST" and r.path == f"/repos/{REPO}/issues":
            gh.hooks.remove(hook)
            (tmp / "other").mkdir()
            said.append(write(_api(gh, tmp / "other")))  # its own requests: another thread
        return None

    gh.hooks.append(hook)
    (tmp / "this").mkdir()
    said.append(write(_api(gh, tmp / "this")))
    return said


def _open(gh: GitHubServer) -> list[dict[str, object]]:
    return [i for i in gh.issues(REPO) if i["state"] == "open"]


def _converged(gh: GitHubServer, said: list[str], body: str) -> None:
    [kept, duplicate] = gh.issues(REPO)  # oldest first: the oldest is the one kept
    assert _open(gh) == [kept] and kept["body"] == body
    assert duplicate["state"] == "closed" and duplicate["state_reason"] == "not_planned"
    [note] = [c["body"] for c in gh.comments(REPO, duplicate["number"])]
    assert f"#{kept['number']}" in note and "duplicate" in note.lower()
    assert len(said) == 2 and all(s.endswith(f"#{kept['number']} opened") for s in said), said


def test_two_breach_runs_at_once_leave_one_issue(server: GitHubServer, tmp_path: Path) -> None:
    body = ops_issues.breach_body("prod", AGENT, [breach()])
    said = _twice_at_once(
        server, tmp_path, lambda api: ops_issues.sync_breach_issue(api, "prod", AGENT, body, None)
    )
    assert len(server.requests_to("POST", r"/issues$")) == 2  # both opened one
    _converged(server, said, body)
    again = ops_issues.sync_breach_issue(_api(server, tmp_path), "prod", AGENT, body, None)
    assert again.endswith("unchanged") and len(_open(server)) == 1


def test_two_drift_runs_at_once_leave_one_issue(server: GitHubServer, tmp_path: Path) -> None:
    said = _twice_at_once(server, tmp_path, lambda api: issues.sync(api, "prod", ["x"], None))
    _converged(server, said, issues.body("prod", ["x"]))


def test_a_duplicate_left_behind_is_closed_and_a_persons_copy_kept(
    server: GitHubServer, tmp_path: Path
) -> None:
    api = _api(server, tmp_path)
    body = ops_issues.breach_body("prod", AGENT, [breach()])
    ops_issues.sync_breach_issue(api, "prod", AGENT, body, None)
    title = ops_issues.title("prod", AGENT)
    persons = server.add_issue(REPO, title, body, [ops_issues.LABEL], "octocat")
    with server.lock:  # what a run killed before it converged leaves: a second one of ours
        number = max(n for (_, n) in server.state.issues) + 1
        fields = {"title": title, "body": body, "labels": [ops_issues.LABEL]}
        extra = github_shapes.issue(
            server.api_url, REPO, number, fields, server.bot, server.next_id()
        )
        server.state.issues[(REPO.lower(), number)] = extra
        server.state.comments[(REPO.lower(), number)] = []
    said = ops_issues.sync_breach_issue(api, "prod", AGENT, body, None)
    [kept] = [i for i in _open(server) if i["user"]["type"] == "Bot"]
    assert said == f"prod/{AGENT}: breach issue #{kept['number']} unchanged"
    assert kept["number"] < persons["number"] < number
    assert [i["number"] for i in _open(server)] == [kept["number"], persons["number"]]


def _closed_by_a_person_at_the_edit(gh: GitHubServer, number: int) -> Hook:
    """A person closes the issue the moment alm's first request for it arrives (a read or
    the edit): after alm listed it open, before its write lands."""

    def hook(r: Recorded) -> Reply | None:
        if r.path == f"/repos/{REPO}/issues/{number}":  # its read or its edit
            with gh.lock:
                found = gh.state.issues[(REPO.lower(), number)]
                found.update(state="closed", state_reason="not_planned")
            gh.hooks.remove(hook)
        return None

    return hook


def _one_open_breach_issue(server: GitHubServer, tmp_path: Path) -> tuple[Api, str, dict[str, Any]]:
    """The API, the body alm wrote, and the one breach issue it opened with it."""
    api = _api(server, tmp_path)
    first = ops_issues.breach_body("prod", AGENT, [breach()])
    ops_issues.sync_breach_issue(api, "prod", AGENT, first, None)
    [old] = server.issues(REPO)
    return api, first, old


def test_an_issue_closed_before_the_edit_is_left_closed_and_a_new_one_opened(
    server: GitHubServer, tmp_path: Path
) -> None:
    api, first, old = _one_open_breach_issue(server, tmp_path)
    server.hooks.append(_closed_by_a_person_at_the_edit(server, old["number"]))
    worse = ops_issues.breach_body("prod", AGENT, [breach(value=0.4)])
    said = ops_issues.sync_breach_issue(api, "prod", AGENT, worse, None)
    [closed, made] = server.issues(REPO)
    assert closed["state"] == "closed" and closed["state_reason"] == "not_planned"
    assert closed["body"] == first  # what it said when the person closed it
    assert made["state"] == "open" and made["body"] == worse
    assert said == f"prod/{AGENT}: breach issue #{made['number']} opened"


def test_closed_before_the_listing_the_same(server: GitHubServer, tmp_path: Path) -> None:
    """What the race case is made consistent with: a closed issue is not reopened."""
    api, first, old = _one_open_breach_issue(server, tmp_path)
    with server.lock:
        server.state.issues[(REPO.lower(), old["number"])].update(state="closed")
    worse = ops_issues.breach_body("prod", AGENT, [breach(value=0.4)])
    said = ops_issues.sync_breach_issue(api, "prod", AGENT, worse, None)
    [closed, made] = server.issues(REPO)
    assert closed["body"] == first and made["body"] == worse
    assert said.endswith(f"#{made['number']} opened")


def test_a_recovery_after_a_person_closed_it_adds_no_comment(
    server: GitHubServer, tmp_path: Path
) -> None:
    api, _, old = _one_open_breach_issue(server, tmp_path)
    server.hooks.append(_closed_by_a_person_at_the_edit(server, old["number"]))
    said = ops_issues.sync_breach_issue(api, "prod", AGENT, None, None)
    [closed] = server.issues(REPO)
    assert closed["state_reason"] == "not_planned"  # the person's reason stays
    assert server.comments(REPO, old["number"]) == []
    assert said == f"prod/{AGENT}: breach issue #{old['number']} closed already"
