"""A local GitHub REST API server for tests: real HTTP on 127.0.0.1, state in memory.

Speaks enough of the API for PyGithub (``base_url=server.api_url``): a repository, its pull
requests and their reviews (seeded from webhook payloads in tests/fixtures/github/), issue
comments with GitHub's pagination (``per_page``/``page``, ``Link`` header) and its
65,536-character body limit (422), commit statuses and check runs (50 annotations a
request, more in updates), and (tests/github_routes.py) a pull request's files, file
contents at a ref, team members (or a refusal: ``team_refusals``) and a commit's pull
requests, and (tests/github_issue_routes.py) issues (list by state and label, create, edit,
close, comment) and pull requests (list by head, create from a branch pushed to
``git_remote``, a real bare repository). Every request is recorded
(``server.requests``) and must carry ``Authorization: token X`` or ``Bearer X`` (401 otherwise).
``fail_next`` injects failures (5xx, secondary rate limits with Retry-After); each of
``hooks`` sees every request first, outside the lock (it may wait for another request, or
change the state under ``server.lock``) and may answer it instead (a reply, not None).

    with GitHubServer(token="t") as server:
        server.add_payload(load_payload("pull_request.opened.json"))
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests import github_issue_routes as issue_routes
from tests import github_routes as routes
from tests import github_shapes as shapes
from tests.github_http import Recorded, Reply, handler_class

JSON = dict[str, Any]
FIXTURES = Path(__file__).parent / "fixtures" / "github"
SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
NOT_ACCESSIBLE = "Resource not accessible by integration"


def load_payload(name: str) -> JSON:
    """A webhook payload from tests/fixtures/github/ (e.g. ``pull_request.opened.json``)."""
    return dict(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


@dataclass
class State:
    repos: dict[str, JSON] = field(default_factory=dict)
    pulls: dict[tuple[str, int], JSON] = field(default_factory=dict)
    reviews: dict[tuple[str, int], list[JSON]] = field(default_factory=dict)
    comments: dict[tuple[str, int], list[JSON]] = field(default_factory=dict)
    statuses: list[JSON] = field(default_factory=list)
    check_runs: list[JSON] = field(default_factory=list)
    files: dict[tuple[str, int], list[JSON]] = field(default_factory=dict)
    contents: dict[tuple[str, str, str], str] = field(default_factory=dict)  # repo, ref, path
    teams: dict[str, list[str]] = field(default_factory=dict)  # "org/slug" -> logins
    issues: dict[tuple[str, int], JSON] = field(default_factory=dict)  # not pull requests


@dataclass
class Failure:
    status: int
    body: JSON
    headers: dict[str, str]
    method: str | None  # None: any request
    path: re.Pattern[str] | None


class GitHubServer:
    """``ThreadingHTTPServer`` in a daemon thread; a context manager."""

    def __init__(self, token: str = "test-token", login: str = "github-actions[bot]"):
        self.token = token
        self.state = State()
        self.requests: list[Recorded] = []
        self.check_runs_allowed = True  # False: 403 as for a token without checks:write
        self.team_refusals: dict[str, int] = {}  # "org/slug" -> 403 or 404
        self.git_remote: Path | None = None  # a bare repository: the branches pulls open from
        self._failures: list[Failure] = []
        self.hooks: list[Callable[[Recorded], Reply | None]] = []
        self._ids = 1_000_000
        self._lock = threading.RLock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler_class(self.serve))
        self._http.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.bot = shapes.user(self.api_url, login, 41898282, "Bot")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> GitHubServer:
        # a short poll interval: shutdown() waits for the loop to notice, 0.5 s by default
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # Seeding and inspection (the test's side).

    def add_payload(self, payload: JSON) -> None:
        """The repository, pull request and review a webhook payload carries."""
        data = shapes.rebase_urls(payload, self.api_url)
        with self._lock:
            repo = data["repository"]
            self.state.repos[repo["full_name"].lower()] = repo
            pull = data.get("pull_request")
            if pull is not None:
                key = (repo["full_name"].lower(), int(pull["number"]))
                self.state.pulls[key] = pull
                self.state.reviews.setdefault(key, [])
                self.state.comments.setdefault(key, [])
                if "review" in data:  # webhooks write the state in lower case, the API upper
                    review = {**data["review"], "state": data["review"]["state"].upper()}
                    self.state.reviews[key].append(review)

    def add_review(self, repo: str, number: int, login: str, state: str, commit_id: str) -> JSON:
        """A submitted review (``APPROVED``, ``CHANGES_REQUESTED``, ``COMMENTED``,
        ``DISMISSED``) by ``login`` on ``commit_id``, as the reviews API lists it."""
        with self._lock:
            key = (repo.lower(), number)
            new_id = self.next_id()
            author = shapes.user(self.api_url, login, new_id)
            pull = self.state.pulls[key]
            review = shapes.review(self.api_url, pull, new_id, author, state, commit_id)
            self.state.reviews[key].append(review)
            return review

    def add_comment(self, repo: str, number: int, body: str, login: str = "octocat") -> JSON:
        """A comment a person (``type: User``) wrote on the pull request."""
        with self._lock:
            key = (repo.lower(), number)
            new_id = self.next_id()
            author = shapes.user(self.api_url, login, new_id)
            name = self.state.pulls[key]["base"]["repo"]["full_name"]
            made = shapes.issue_comment(self.api_url, name, number, new_id, body, author, new_id)
            self.state.comments[key].append(made)
            return made

    def comments(self, repo: str, number: int) -> list[JSON]:
        with self._lock:
            return list(self.state.comments.get((repo.lower(), number), []))

    def requests_to(self, method: str, pattern: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: str | None = None,
        message: str = "",
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``times`` authorised requests (those with ``method`` and a path
        matching the regex ``path``, when given) get ``status``; a 403 or 429 with
        ``retry_after`` is a secondary rate limit, as GitHub words it."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        text = message or (SECONDARY_LIMIT if retry_after is not None else "Server Error")
        pattern = re.compile(path) if path is not None else None
        failure = Failure(status, shapes.error(status, text), headers, method, pattern)
        with self._lock:
            self._failures.extend([failure] * times)

    def set_files(self, repo: str, number: int, paths: list[str]) -> None:
        """The files a pull request changes (``GET .../pulls/{n}/files``: the first 3,000
        only, as GitHub lists them; the pull request's ``changed_files`` counts them all)."""
        with self._lock:
            listed = [shapes.pull_file(self.api_url, repo, p) for p in paths[:3000]]
            self.state.files[(repo.lower(), number)] = listed
            self.state.pulls[(repo.lower(), number)]["changed_files"] = len(paths)

    def set_content(self, repo: str, ref: str, path: str, text: str) -> None:
        with self._lock:
            self.state.contents[(repo.lower(), ref, path)] = text

    def set_team(self, team: str, logins: list[str]) -> None:
        """``team`` is "org/slug"; its members as ``GET /orgs/{org}/teams/{slug}/members``."""
        with self._lock:
            self.state.teams[team.lower()] = logins

    def add_issue(self, repo: str, title: str, body: str, labels: list[str], login: str) -> JSON:
        """An open issue a person (``type: User``) opened."""
        with self._lock:
            number = issue_routes.next_number(self, repo)
            author = shapes.user(self.api_url, login, self.next_id())
            fields = {"title": title, "body": body, "labels": labels}
            made = shapes.issue(self.api_url, repo, number, fields, author, self.next_id())
            self.state.issues[(repo.lower(), number)] = made
            self.state.comments[(repo.lower(), number)] = []
            return made

    def issues(self, repo: str) -> list[JSON]:
        """The issues (not pull requests), oldest first."""
        with self._lock:
            return [i for (n, _), i in sorted(self.state.issues.items()) if n == repo.lower()]

    def pull(self, repo: str, number: int) -> JSON:
        """The stored pull request, to change in place (a new head, merged, closed...)."""
        with self._lock:
            return self.state.pulls[(repo.lower(), number)]

    def _failure_for(self, record: Recorded) -> Reply | None:
        for i, f in enumerate(self._failures):
            if f.method not in (None, record.method):
                continue
            if f.path is not None and not f.path.search(record.path):
                continue
            del self._failures[i]
            return f.status, f.body, f.headers
        return None

    # Serving (the handler thread's side).

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def serve(self, record: Recorded) -> Reply:
        for hook in list(self.hooks):
            answer = hook(record)
            if answer is not None:
                with self._lock:
                    self.requests.append(record)
                return answer
        with self._lock:
            self.requests.append(record)
            if not self._authorised(record.headers):
                return 401, shapes.error(401, "Bad credentials"), {}
            failure = self._failure_for(record)
            if failure is not None:
                return failure
            for method, pattern, route in ROUTES:
                match = pattern.fullmatch(record.path)
                if match and method == record.method:
                    return route(self, match, record)
            return 404, shapes.error(404, "Not Found"), {}

    def _authorised(self, headers: dict[str, str]) -> bool:
        value = headers.get("authorization", "")
        scheme, _, credential = value.partition(" ")
        return scheme.lower() in ("token", "bearer") and credential == self.token

    def pull_key(self, match: re.Match[str]) -> tuple[str, int] | None:
        key = (f"{match['owner']}/{match['repo']}".lower(), int(match["number"]))
        return key if key in self.state.pulls else None

    def issue_key(self, match: re.Match[str]) -> tuple[str, int] | None:
        """A pull request's or an issue's: both have comments."""
        key = (f"{match['owner']}/{match['repo']}".lower(), int(match["number"]))
        return key if key in self.state.pulls or key in self.state.issues else None

    def repo_name(self, match: re.Match[str]) -> str | None:
        repo = self.state.repos.get(f"{match['owner']}/{match['repo']}".lower())
        return str(repo["full_name"]) if repo is not None else None


# Routes: each takes the server (its lock held), the path match and the request.

Route = Callable[[GitHubServer, re.Match[str], Recorded], Reply]
NOT_FOUND: Reply = (404, shapes.error(404, "Not Found"), {})


def get_repo(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    return (200, gh.state.repos[name.lower()], {}) if name else NOT_FOUND


def get_pull(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    key = gh.pull_key(m)
    return (200, gh.state.pulls[key], {}) if key else NOT_FOUND


def list_reviews(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    key = gh.pull_key(m)
    return _listed(gh, r, gh.state.reviews[key]) if key else NOT_FOUND


def list_comments(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    key = gh.issue_key(m)
    return _listed(gh, r, gh.state.comments[key]) if key else NOT_FOUND


def _listed(gh: GitHubServer, r: Recorded, items: list[JSON]) -> Reply:
    chunk, link = shapes.page(items, gh.api_url + r.path, r.query)
    return 200, chunk, {"Link": link} if link else {}


def _comment_body(r: Recorded) -> tuple[str, Reply | None]:
    """The comment's body, or GitHub's 422 when it is missing or over the limit."""
    body = _body_text(r)
    if body is None:
        return "", (422, shapes.error(422, 'Invalid request.\n\n"body" wasn\'t supplied.'), {})
    if len(body) > shapes.COMMENT_LIMIT:
        return "", (422, shapes.too_long("IssueComment"), {})
    return body, None


def create_comment(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    key, repo = gh.issue_key(m), gh.repo_name(m)
    if key is None or repo is None:
        return NOT_FOUND
    body, refused = _comment_body(r)
    if refused is not None:
        return refused
    new_id = gh.next_id()
    comment = shapes.issue_comment(gh.api_url, repo, key[1], new_id, body, gh.bot, new_id)
    gh.state.comments[key].append(comment)
    return 201, comment, {"Location": comment["url"]}


def edit_comment(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    repo, wanted = f"{m['owner']}/{m['repo']}".lower(), int(m["id"])
    found = [
        c
        for (name, _), cs in gh.state.comments.items()
        if name == repo
        for c in cs
        if c["id"] == wanted
    ]
    if not found:
        return NOT_FOUND
    body, refused = _comment_body(r)
    if refused is not None:
        return refused
    found[0].update(body=body, updated_at=shapes.timestamp(gh.next_id()))
    return 200, found[0], {}


def delete_comment(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    repo, wanted = f"{m['owner']}/{m['repo']}".lower(), int(m["id"])
    for (name, _), cs in gh.state.comments.items():
        kept = [c for c in cs if not (name == repo and c["id"] == wanted)]
        if len(kept) < len(cs):
            cs[:] = kept
            return 204, None, {}
    return NOT_FOUND


def get_commit(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    """Only the head and base commits of the seeded pull requests exist."""
    name = gh.repo_name(m)
    known = {
        p[side]["sha"]
        for (repo, _), p in gh.state.pulls.items()
        for side in ("head", "base")
        if name is not None and repo == name.lower()
    }
    if name is None or m["sha"] not in known:
        return 422, shapes.error(422, f"No commit found for SHA: {m['sha']}"), {}
    return 200, shapes.commit(gh.api_url, name, m["sha"]), {}


def create_status(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    payload = r.body if isinstance(r.body, dict) else {}
    if name is None:
        return NOT_FOUND
    if payload.get("state") not in ("error", "failure", "pending", "success"):
        return 422, shapes.error(422, "Validation Failed"), {}
    new_id = gh.next_id()
    status = shapes.commit_status(
        gh.api_url, name, new_id, {**payload, "sha": m["sha"]}, gh.bot, new_id
    )
    gh.state.statuses.append({**status, "sha": m["sha"]})
    return 201, status, {}


def create_check_run(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    payload = r.body if isinstance(r.body, dict) else {}
    if name is None:
        return NOT_FOUND
    if not gh.check_runs_allowed:
        return 403, shapes.error(403, NOT_ACCESSIBLE), {}
    if not payload.get("name") or not payload.get("head_sha"):
        return 422, shapes.error(422, "Invalid request."), {}
    if len((payload.get("output") or {}).get("annotations") or []) > 50:
        return 422, shapes.error(422, "Only 50 annotations are allowed per request"), {}
    new_id = gh.next_id()
    run = shapes.check_run(gh.api_url, name, new_id, payload, new_id)
    gh.state.check_runs.append(
        {**run, "annotations": (payload.get("output") or {}).get("annotations", [])}
    )
    return 201, run, {}


def _body_text(r: Recorded) -> str | None:
    body = r.body.get("body") if isinstance(r.body, dict) else None
    return body if isinstance(body, str) else None


_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    ("GET", re.compile(_REPO), get_repo),
    ("GET", re.compile(_REPO + r"/pulls/(?P<number>\d+)"), get_pull),
    ("GET", re.compile(_REPO + r"/pulls/(?P<number>\d+)/reviews"), list_reviews),
    ("GET", re.compile(_REPO + r"/issues/(?P<number>\d+)/comments"), list_comments),
    ("POST", re.compile(_REPO + r"/issues/(?P<number>\d+)/comments"), create_comment),
    ("PATCH", re.compile(_REPO + r"/issues/comments/(?P<id>\d+)"), edit_comment),
    ("DELETE", re.compile(_REPO + r"/issues/comments/(?P<id>\d+)"), delete_comment),
    ("GET", re.compile(_REPO + r"/commits/(?P<sha>[0-9a-fA-F]{4,40})"), get_commit),
    ("POST", re.compile(_REPO + r"/statuses/(?P<sha>[0-9a-fA-F]{4,40})"), create_status),
    ("POST", re.compile(_REPO + r"/check-runs"), create_check_run),
    ("GET", re.compile(_REPO + r"/pulls/(?P<number>\d+)/files"), routes.list_files),
    ("GET", re.compile(_REPO + r"/contents/(?P<path>.+)"), routes.get_contents),
    ("GET", re.compile(r"/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/members"), routes.team_members),
    ("GET", re.compile(_REPO + r"/commits/(?P<sha>[0-9a-fA-F]{40})/pulls"), routes.commit_pulls),
    ("PATCH", re.compile(_REPO + r"/check-runs/(?P<id>\d+)"), routes.update_check_run),
    ("GET", re.compile(_REPO + r"/check-runs/(?P<id>\d+)/annotations"), routes.list_annotations),
    *issue_routes.ROUTES,
]
