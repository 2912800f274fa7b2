"""The local GitHub API server, driven by the real PyGithub client over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import github
import pytest
from github import Auth, Github, GithubException

from tests.github_server import GitHubServer, load_payload

TOKEN = "ghs_test_token"
REPO = "Codertocat/Hello-World"


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with GitHubServer(token=TOKEN) as gh:
        gh.add_payload(load_payload("pull_request.opened.json"))
        gh.add_payload(load_payload("pull_request_review.submitted.json"))
        yield gh


def client(server: GitHubServer, token: str = TOKEN) -> Github:
    # retry=None: a refused request must surface at once, not after PyGithub's back-off;
    # no pacing: PyGithub waits 1 s between writes by default (GitHub's advice for its API)
    return Github(
        auth=Auth.Token(token),
        base_url=server.api_url,
        retry=None,
        timeout=5,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_pull_request_and_reviews_come_from_the_webhook_payloads(server: GitHubServer) -> None:
    pull = client(server).get_repo(REPO).get_pull(2)
    assert (pull.number, pull.head.sha) == (2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
    for i in range(40):
        server.add_review(REPO, 2, f"reviewer{i}", "APPROVED", "0" * 40)
    reviews = list(pull.get_reviews())  # 41 reviews: two pages
    assert [(r.user.login, r.state) for r in reviews[:2]] == [
        ("Codertocat", "COMMENTED"),
        ("reviewer0", "APPROVED"),
    ]
    assert len(reviews) == 41 and reviews[-1].commit_id == "0" * 40
    assert len(server.requests_to("GET", r"/pulls/2/reviews$")) == 2


def test_130_comments_come_back_over_several_pages_and_one_is_edited(
    server: GitHubServer,
) -> None:
    pull = client(server).get_repo(REPO).get_pull(2)
    created = [pull.create_issue_comment(f"comment {i}") for i in range(130)]
    listed = list(pull.get_issue_comments())
    assert [c.body for c in listed] == [f"comment {i}" for i in range(130)]
    pages = server.requests_to("GET", r"/issues/2/comments$")
    assert len(pages) == 5  # 30 a page, GitHub's default, followed by the Link header
    assert pages[-1].query == "page=5"

    created[77].edit("<!-- alm:report --> edited")
    bodies = [c["body"] for c in server.comments(REPO, 2)]
    assert bodies[77] == "<!-- alm:report --> edited" and len(bodies) == 130
    assert list(pull.get_issue_comments())[77].body == "<!-- alm:report --> edited"


def test_link_header_is_formatted_as_github_does(server: GitHubServer) -> None:
    pull = client(server).get_repo(REPO).get_pull(2)
    for i in range(45):
        pull.create_issue_comment(f"c{i}")
    gh = client(server)
    status, headers, _ = gh.requester.requestJson(
        "GET", f"/repos/{REPO}/issues/2/comments", parameters={"per_page": 20, "page": 2}
    )
    url = f"{server.api_url}/repos/{REPO}/issues/2/comments"  # query order kept, page replaced
    assert status == 200
    assert headers["link"] == (
        f'<{url}?page=1&per_page=20>; rel="prev", <{url}?page=3&per_page=20>; rel="next", '
        f'<{url}?page=3&per_page=20>; rel="last", <{url}?page=1&per_page=20>; rel="first"'
    )
    assert pull.get_issue_comments().totalCount == 45


def test_a_body_over_65536_characters_is_refused_with_422(server: GitHubServer) -> None:
    pull = client(server).get_repo(REPO).get_pull(2)
    with pytest.raises(GithubException) as refused:
        pull.create_issue_comment("x" * 70_000)
    assert refused.value.status == 422
    assert refused.value.data["errors"][0]["field"] == "body"
    assert server.comments(REPO, 2) == []
    comment = pull.create_issue_comment("x" * 65_536)  # exactly the limit is accepted
    with pytest.raises(GithubException) as edit:
        comment.edit("y" * 65_537)
    assert edit.value.status == 422
    assert server.comments(REPO, 2)[0]["body"] == "x" * 65_536


def test_a_wrong_token_is_401_and_every_request_is_recorded(server: GitHubServer) -> None:
    with pytest.raises(github.BadCredentialsException) as refused:
        client(server, token="wrong").get_repo(REPO)
    assert refused.value.status == 401
    assert server.requests[-1].headers["authorization"] == "token wrong"
    assert server.comments(REPO, 2) == []


def test_bearer_scheme_is_accepted(server: GitHubServer) -> None:
    gh = client(server)
    status, _, _ = gh.requester.requestJson(
        "GET", f"/repos/{REPO}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200


def test_status_and_check_run_are_recorded(server: GitHubServer) -> None:
    repo = client(server).get_repo(REPO)
    sha = repo.get_pull(2).head.sha
    status = repo.get_commit(sha).create_status(
        "failure",
        target_url="https://example.test/run",
        description="1 regression",
        context="alm/gate",
    )
    assert (status.state, status.context) == ("failure", "alm/gate")
    annotation: dict[str, str | int] = {
        "path": "agents/a.yaml",
        "start_line": 3,
        "end_line": 3,
        "annotation_level": "failure",
        "message": "threshold missed",
    }
    run = repo.create_check_run(
        "alm",
        sha,
        status="completed",
        conclusion="failure",
        output={"title": "blocked", "summary": "1 regression", "annotations": [annotation]},
    )
    assert (run.name, run.conclusion, run.output.annotations_count) == ("alm", "failure", 1)
    assert [(s["sha"], s["context"], s["state"]) for s in server.state.statuses] == [
        (sha, "alm/gate", "failure")
    ]
    assert server.state.check_runs[0]["annotations"] == [annotation]


def test_check_runs_refused_when_the_token_may_not_write_them(server: GitHubServer) -> None:
    server.check_runs_allowed = False
    repo = client(server).get_repo(REPO)
    with pytest.raises(GithubException) as refused:
        repo.create_check_run("alm", "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
    assert refused.value.status == 403
    assert server.state.check_runs == []


def test_injected_failures_then_success(server: GitHubServer) -> None:
    server.fail_next(502, times=2)
    server.fail_next(403, retry_after="1")
    gh = client(server)
    for expected in (502, 502, 403):
        with pytest.raises(GithubException) as failed:
            gh.get_repo(REPO)
        assert failed.value.status == expected
    assert failed.value.headers is not None and failed.value.headers["retry-after"] == "1"
    assert "secondary rate limit" in failed.value.data["message"]
    assert gh.get_repo(REPO).full_name == REPO


def test_unknown_pull_request_is_404(server: GitHubServer) -> None:
    with pytest.raises(github.UnknownObjectException):
        client(server).get_repo(REPO).get_pull(99)
