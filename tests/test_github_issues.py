"""The drift issue, one per environment, against the local GitHub server: opened, left
alone when the drift is the same, updated when it changes, closed when it is gone; a
person's issue with the marker is never touched; repository text is inert."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import AlmError
from reconciler.github import api_deploy, issues
from reconciler.github.api_deploy import Issue
from reconciler.github.sticky import LIMIT, utf16_length
from tests.github_server import GitHubServer
from tests.github_support import REPO, env_for, server, writes

_ = server


def _api(gh: GitHubServer, tmp: Path) -> api_deploy.Api:
    _, api = api_deploy.session(env_for(gh, tmp, "schedule", {}))
    api.retry.sleep = lambda _: None
    return api


def test_open_unchanged_update_close(server: GitHubServer, tmp_path: Path) -> None:
    api = _api(server, tmp_path)
    first = ["support-triage: live revision sha256:aa, the repository deploys sha256:bb"]
    assert issues.sync(api, "prod", first, None) == "prod: drift issue #3 opened"
    [made] = server.issues(REPO)
    assert made["title"] == "alm: prod drifts from the repository"
    assert [label["name"] for label in made["labels"]] == [issues.LABEL]
    assert made["body"].startswith("<!-- alm:drift env=prod -->\n")

    before = len(writes(server))
    assert issues.sync(api, "prod", first, "https://x/run/1") == "prod: drift issue #3 unchanged"
    assert len(writes(server)) == before  # the same drift writes nothing

    second = [*first, "faq-bot: missing from prod"]
    assert issues.sync(api, "prod", second, None) == "prod: drift issue #3 updated"
    assert "faq\\-bot\\: missing" in server.issues(REPO)[0]["body"]

    assert issues.sync(api, "staging", ["x: edited in place"], None).endswith("#4 opened")
    assert issues.sync(api, "prod", [], "https://x/run/2") == "prod: drift issue #3 closed"
    prod, staging = server.issues(REPO)
    assert (prod["state"], prod["state_reason"]) == ("closed", "completed")
    assert staging["state"] == "open"
    [note] = server.comments(REPO, 3)
    assert "No drift in prod any more" in note["body"] and "https://x/run/2" in note["body"]
    assert issues.sync(api, "prod", [], None) == "prod: no drift, no issue open"


def test_a_persons_issue_with_the_marker_is_not_alms(server: GitHubServer, tmp_path: Path) -> None:
    server.add_issue(REPO, "fake", issues.marker("prod") + "\nhi", [issues.LABEL], "mallory")
    api = _api(server, tmp_path)
    assert issues.sync(api, "prod", ["a: missing"], None) == "prod: drift issue #4 opened"
    assert issues.sync(api, "prod", [], None) == "prod: drift issue #4 closed"
    assert [i["state"] for i in server.issues(REPO)] == ["open", "closed"]


def test_found_over_several_pages_among_pull_requests_and_other_labels(
    server: GitHubServer, tmp_path: Path
) -> None:
    api = _api(server, tmp_path)
    issues.sync(api, "dev", ["a: missing"], None)
    for i in range(120):  # newer issues: alm's is on the last page
        server.add_issue(REPO, f"other {i}", "", [issues.LABEL], "someone")
    server.add_issue(REPO, "unlabelled", issues.marker("dev"), [], "someone")
    assert issues.sync(api, "dev", ["a: missing"], None) == "dev: drift issue #3 unchanged"
    pages = server.requests_to("GET", rf"/repos/{REPO}/issues$")
    assert len(pages) >= 3 and all("labels=alm%3Adrift" in p.query for p in pages)


def test_a_failed_write_is_retried_without_a_second_issue(
    server: GitHubServer, tmp_path: Path
) -> None:
    server.fail_next(502, method="POST", path=r"/issues$")
    api = _api(server, tmp_path)
    assert issues.sync(api, "prod", ["a: missing"], None) == "prod: drift issue #3 opened"
    assert len(server.issues(REPO)) == 1 and len(api.retry.log) == 1


def test_a_refused_write_is_a_clear_error(server: GitHubServer, tmp_path: Path) -> None:
    server.fail_next(403, message="Resource not accessible by integration", method="POST")
    with pytest.raises(AlmError, match="could not write the drift issue of prod: HTTP 403"):
        issues.sync(_api(server, tmp_path), "prod", ["a: missing"], None)


def test_repository_text_is_inert_and_the_body_fits() -> None:
    text = issues.body("prod", ["@acme/security see #12 <img src=x> [x](http://e)"])
    assert "@acme" not in text and "#12" not in text and "<img" not in text
    assert "](http" not in text
    many = issues.body("prod", [f"agent-{i}: " + "x" * 200 for i in range(1000)])
    assert utf16_length(many) <= LIMIT and "more finding(s), not shown" in many
    shown = many.count("\n- ")
    assert f"…and {1000 - shown} more" in many


def test_decide_and_the_marker() -> None:
    mine = Issue(7, "t", issues.marker("dev") + "\nold", True, "u")
    assert issues.decide(None, "b") == issues.Write("open")
    assert issues.decide(mine, mine.body) == issues.Write("none", 7)
    assert issues.decide(mine, "new") == issues.Write("edit", 7)
    assert issues.decide(mine, None) == issues.Write("close", 7)
    assert issues.decide(None, None) == issues.Write("nothing")
    assert issues.find([mine], "prod") is None and issues.find([mine], "dev") == mine
    with pytest.raises(AlmError, match="lowercase letters"):
        issues.marker("prod --> <b>")
