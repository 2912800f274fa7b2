"""More routes of tests/github_server.py: what `alm github pr` and `alm github deployed`
read besides pull requests and comments (files, contents at a ref, team members, the pull
requests of a commit) and the check-run updates that carry annotations past 50."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from tests import github_shapes as shapes
from tests.github_http import Recorded, Reply

if TYPE_CHECKING:
    from tests.github_server import GitHubServer

JSON = dict[str, Any]
NOT_FOUND: Reply = (404, shapes.error(404, "Not Found"), {})
ANNOTATIONS_PER_REQUEST = 50


def list_files(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    key = gh.pull_key(m)
    if key is None:
        return NOT_FOUND
    chunk, link = shapes.page(gh.state.files.get(key, []), gh.api_url + r.path, r.query)
    return 200, chunk, {"Link": link} if link else {}


def get_contents(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    name = gh.repo_name(m)
    if name is None:
        return NOT_FOUND
    repo = gh.state.repos[name.lower()]
    ref = dict(parse_qsl(r.query)).get("ref") or repo.get("default_branch", "main")
    path = unquote(m["path"])
    text = gh.state.contents.get((name.lower(), ref, path))
    if text is None:
        return NOT_FOUND
    return 200, shapes.content_file(gh.api_url, name, path, ref, text), {}


def team_members(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    team = f"{m['org']}/{m['slug']}".lower()
    refused = gh.team_refusals.get(team)
    if refused is not None:
        message = "Must have admin rights to Repository." if refused == 403 else "Not Found"
        return refused, shapes.error(refused, message), {}
    logins = gh.state.teams.get(team)
    if logins is None:
        return NOT_FOUND
    users = [shapes.user(gh.api_url, login, 5000 + i) for i, login in enumerate(logins)]
    chunk, link = shapes.page(users, gh.api_url + r.path, r.query)
    return 200, chunk, {"Link": link} if link else {}


def commit_pulls(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    """The pull requests a commit belongs to: its head commit or its merge commit."""
    name = gh.repo_name(m)
    if name is None:
        return NOT_FOUND
    sha = m["sha"]
    found = [
        p
        for (repo, _), p in sorted(gh.state.pulls.items())
        if repo == name.lower() and sha in (p["head"]["sha"], p.get("merge_commit_sha"))
    ]
    chunk, link = shapes.page(found, gh.api_url + r.path, r.query)
    return 200, chunk, {"Link": link} if link else {}


def _check_run(gh: GitHubServer, m: re.Match[str]) -> JSON | None:
    wanted = int(m["id"])
    return next((c for c in gh.state.check_runs if c["id"] == wanted), None)


def update_check_run(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    """Annotations of an update are added to the run's, at most 50 a request (422 beyond)."""
    run = _check_run(gh, m)
    payload = r.body if isinstance(r.body, dict) else {}
    if run is None:
        return NOT_FOUND
    notes = (payload.get("output") or {}).get("annotations") or []
    if len(notes) > ANNOTATIONS_PER_REQUEST:
        return 422, shapes.error(422, "Only 50 annotations are allowed per request"), {}
    run["annotations"] = [*run["annotations"], *notes]
    for field in ("status", "conclusion"):
        if field in payload:
            run[field] = payload[field]
    shown = {k: v for k, v in run.items() if k != "annotations"}
    output = {**shown["output"], "annotations_count": len(run["annotations"])}
    return 200, {**shown, "output": output}, {}


def list_annotations(gh: GitHubServer, m: re.Match[str], r: Recorded) -> Reply:
    run = _check_run(gh, m)
    if run is None:
        return NOT_FOUND
    listed = [shapes.annotation_listed(n) for n in run["annotations"]]
    chunk, link = shapes.page(listed, gh.api_url + r.path, r.query)
    return 200, chunk, {"Link": link} if link else {}
