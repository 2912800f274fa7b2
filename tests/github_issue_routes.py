"""Routes of tests/github_server.py for the deploy side: issues (list with GitHub's
`state`/`labels` filters and pagination, newest first, pull requests included as GitHub
lists them; create; edit, close) and pull requests (list with `state`/`head`/`base`,
create). Issues and pull requests share one number space, as on GitHub.

A pull request can be opened only from a branch that exists: with ``server.git_remote``
set (a real bare repository, the tests' `origin`) the head and base branches are read from
it with the git CLI, and a branch that was never pushed gets GitHub's 422."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from tests import github_shapes as shapes
from tests.github_http import Recorded, Reply

if TYPE_CHECKING:
    from tests.github_server import GitHubServer

JSON = dict[str, Any]
NOT_FOUND: Reply = (404, shapes.error(404, "Not Found"), {})
ISSUE_FIELDS = ("title", "body", "state", "state_reason", "labels")


def _params(r: Recorded) -> dict[str, str]:
    return dict(parse_qsl(r.query))


def _listed(gh: GitHubServer, r: Recorded, items: list[JSON]) -> Reply:
    chunk, link = shapes.page(items, gh.api_url + r.path, r.query)
    return 200, chunk, {"Link": link} if link else {}


def _payload(r: Recorded) -> JSON:
    return r.body if isinstance(r.body, dict) else {}


def _invalid(resource: str, field: str, code: str = "missing_field") -> Reply:
    problem = {"resource": resource, "code": code, "field": field}
    return 422, shapes.error(422, "Validation Failed", [problem]), {}


def next_number(gh: GitHubServer, repo: str) -> int:
    used = [n for (name, n) in [*gh.state.pulls, *gh.state.issues] if name == repo.lower()]
    return max(used, default=0) + 1


def list_issues(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    if name is None:
        return NOT_FOUND
    params = _params(r)
    state = params.get("state", "open")
    wanted = {x for x in params.get("labels", "").split(",") if x}
    pulls = [shapes.pull_as_issue(p) for (n, _), p in gh.state.pulls.items() if n == name.lower()]
    issues = [i for (n, _), i in gh.state.issues.items() if n == name.lower()]
    found = [
        i
        for i in [*issues, *pulls]
        if state in ("all", i["state"]) and wanted <= {lab["name"] for lab in i["labels"]}
    ]
    found.sort(key=lambda i: (i["created_at"], i["number"]), reverse=True)  # newest first
    return _listed(gh, r, found)


def get_issue(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    key = (f"{m['owner']}/{m['repo']}".lower(), int(m["number"]))
    found = gh.state.issues.get(key)
    return (200, found, {}) if found is not None else NOT_FOUND


def create_issue(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    if name is None:
        return NOT_FOUND
    fields = _payload(r)
    if not isinstance(fields.get("title"), str) or not fields["title"]:
        return _invalid("Issue", "title")
    if len(str(fields.get("body") or "")) > shapes.COMMENT_LIMIT:
        return 422, shapes.too_long("Issue"), {}
    number = next_number(gh, name)
    made = shapes.issue(gh.api_url, name, number, fields, gh.bot, gh.next_id())
    gh.state.issues[(name.lower(), number)] = made
    gh.state.comments.setdefault((name.lower(), number), [])
    return 201, made, {"Location": made["url"]}


def edit_issue(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    found = gh.state.issues.get((f"{m['owner']}/{m['repo']}".lower(), int(m["number"])))
    if name is None or found is None:
        return NOT_FOUND
    fields = {k: v for k, v in _payload(r).items() if k in ISSUE_FIELDS}
    if fields.get("state") not in (None, "open", "closed"):
        return _invalid("Issue", "state", "invalid")
    if len(str(fields.get("body") or "")) > shapes.COMMENT_LIMIT:
        return 422, shapes.too_long("Issue"), {}
    if "labels" in fields:
        fields["labels"] = [shapes.label(gh.api_url, name, n) for n in fields["labels"]]
    tick = shapes.timestamp(gh.next_id())
    found.update(fields, updated_at=tick)
    if fields.get("state") == "closed":
        found.update(closed_at=tick, closed_by=gh.bot)
        found.setdefault("state_reason", "completed")
    return 200, found, {}


def list_pulls(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    if name is None:
        return NOT_FOUND
    params = _params(r)
    state = params.get("state", "open")
    found = [
        p
        for (n, _), p in sorted(gh.state.pulls.items())
        if n == name.lower()
        and state in ("all", p["state"])
        and params.get("head") in (None, p["head"]["label"])
        and params.get("base") in (None, p["base"]["ref"])
    ]
    return _listed(gh, r, found)


def _branch_sha(gh: GitHubServer, branch: str) -> str | None:
    if gh.git_remote is None:
        return "0" * 40
    done = subprocess.run(
        ["git", "--git-dir", str(gh.git_remote), "rev-parse", "--verify", "-q",
         f"refs/heads/{branch}"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else None


def create_pull(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    templates = [p for (n, _), p in gh.state.pulls.items() if name and n == name.lower()]
    if name is None or not templates:
        return NOT_FOUND
    fields = _payload(r)
    for field in ("title", "head", "base"):
        if not isinstance(fields.get(field), str) or not fields[field]:
            return _invalid("PullRequest", field)
    head, base = _branch_sha(gh, fields["head"]), _branch_sha(gh, fields["base"])
    if head is None or base is None:
        return _invalid("PullRequest", "head" if head is None else "base", "invalid")
    owner = name.split("/")[0]
    for p in templates:
        if p["state"] == "open" and p["head"]["label"] == f"{owner}:{fields['head']}":
            text = f"A pull request already exists for {owner}:{fields['head']}."
            problem = {"resource": "PullRequest", "code": "custom", "message": text}
            return 422, shapes.error(422, "Validation Failed", [problem]), {}
    number = next_number(gh, name)
    made = shapes.new_pull(templates[0], number, fields, (head, base), gh.next_id())
    made["user"] = gh.bot
    gh.state.pulls[(name.lower(), number)] = made
    gh.state.reviews[(name.lower(), number)] = []
    gh.state.comments[(name.lower(), number)] = []
    return 201, made, {"Location": made["url"]}


_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ROUTES = [
    ("GET", re.compile(_REPO + r"/issues"), list_issues),
    ("POST", re.compile(_REPO + r"/issues"), create_issue),
    ("GET", re.compile(_REPO + r"/issues/(?P<number>\d+)"), get_issue),
    ("PATCH", re.compile(_REPO + r"/issues/(?P<number>\d+)"), edit_issue),
    ("GET", re.compile(_REPO + r"/pulls"), list_pulls),
    ("POST", re.compile(_REPO + r"/pulls"), create_pull),
]
