"""GitHub REST API response shapes and pagination, for tests/github_server.py.

Pure functions: each builds the JSON GitHub returns (the fields PyGithub reads) or the
``Link`` header GitHub sends with a page of a list.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

JSON = dict[str, Any]
PUBLIC_API = "https://api.github.com"
DOCS = "https://docs.github.com/rest"
COMMENT_LIMIT = 65_536  # GitHub's maximum length of a comment body, in characters
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def timestamp(tick: int) -> str:
    """A deterministic time: ``tick`` seconds after a fixed epoch, as GitHub writes it."""
    return (EPOCH + timedelta(seconds=tick)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rebase_urls(payload: JSON, api_url: str) -> JSON:
    """The payload with its api.github.com URLs pointing at the local server instead."""
    return dict(json.loads(json.dumps(payload).replace(PUBLIC_API, api_url)))


def user(api_url: str, login: str, user_id: int, kind: str = "User") -> JSON:
    return {
        "login": login,
        "id": user_id,
        "node_id": f"U_{user_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": f"{api_url}/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": kind,
        "site_admin": False,
    }


def issue_comment(
    api_url: str, repo: str, number: int, comment_id: int, body: str, author: JSON, tick: int
) -> JSON:
    return {
        "id": comment_id,
        "node_id": f"IC_{comment_id}",
        "url": f"{api_url}/repos/{repo}/issues/comments/{comment_id}",
        "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{comment_id}",
        "issue_url": f"{api_url}/repos/{repo}/issues/{number}",
        "body": body,
        "user": author,
        "created_at": timestamp(tick),
        "updated_at": timestamp(tick),
        "author_association": "NONE",
        "performed_via_github_app": None,
    }


def review(api_url: str, pull: JSON, review_id: int, author: JSON, state: str, sha: str) -> JSON:
    html = f"{pull['html_url']}#pullrequestreview-{review_id}"
    return {
        "id": review_id,
        "node_id": f"PRR_{review_id}",
        "user": author,
        "body": "",
        "state": state,
        "html_url": html,
        "pull_request_url": pull["url"],
        "author_association": "MEMBER",
        "_links": {"html": {"href": html}, "pull_request": {"href": pull["url"]}},
        "submitted_at": timestamp(review_id),
        "commit_id": sha,
    }


def commit(api_url: str, repo: str, sha: str) -> JSON:
    return {
        "sha": sha,
        "node_id": f"C_{sha}",
        "url": f"{api_url}/repos/{repo}/commits/{sha}",
        "html_url": f"https://github.com/{repo}/commit/{sha}",
        "commit": {"message": "", "url": f"{api_url}/repos/{repo}/git/commits/{sha}"},
        "author": None,
        "committer": None,
        "parents": [],
        "files": [],
    }


def commit_status(
    api_url: str, repo: str, status_id: int, body: JSON, author: JSON, tick: int
) -> JSON:
    return {
        "id": status_id,
        "node_id": f"SC_{status_id}",
        "url": f"{api_url}/repos/{repo}/statuses/{body['sha']}",
        "avatar_url": author["avatar_url"],
        "state": body.get("state"),
        "description": body.get("description"),
        "target_url": body.get("target_url"),
        "context": body.get("context", "default"),
        "created_at": timestamp(tick),
        "updated_at": timestamp(tick),
        "creator": author,
    }


def check_run(api_url: str, repo: str, run_id: int, body: JSON, tick: int) -> JSON:
    output = body.get("output") or {}
    completed = body.get("conclusion") is not None
    return {
        "id": run_id,
        "node_id": f"CR_{run_id}",
        "head_sha": body.get("head_sha"),
        "external_id": body.get("external_id", ""),
        "url": f"{api_url}/repos/{repo}/check-runs/{run_id}",
        "html_url": f"https://github.com/{repo}/runs/{run_id}",
        "details_url": body.get("details_url"),
        "status": "completed" if completed else body.get("status", "queued"),
        "conclusion": body.get("conclusion"),
        "started_at": body.get("started_at", timestamp(tick)),
        "completed_at": body.get("completed_at", timestamp(tick) if completed else None),
        "name": body.get("name"),
        "output": {
            "title": output.get("title"),
            "summary": output.get("summary"),
            "text": output.get("text"),
            "annotations_count": len(output.get("annotations") or []),
            "annotations_url": f"{api_url}/repos/{repo}/check-runs/{run_id}/annotations",
        },
        "check_suite": {"id": run_id},
        "app": None,
        "pull_requests": [],
    }


def error(status: int, message: str, errors: list[JSON] | None = None) -> JSON:
    shape: JSON = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors is not None:
        shape["errors"] = errors
    return shape


def too_long(resource: str) -> JSON:
    detail = f"Body is too long (maximum is {COMMENT_LIMIT} characters)"
    problem = {"resource": resource, "code": "custom", "field": "body", "message": detail}
    return error(422, "Validation Failed", [problem])


def page(items: list[JSON], url: str, query: str) -> tuple[list[JSON], str | None]:
    """One page of ``items`` as ``per_page``/``page`` in ``query`` select it (GitHub's
    defaults: 30 a page, at most 100), and the ``Link`` header GitHub sends with it:
    ``<url?...page=N>; rel="prev"``, ``rel="next"``, ``rel="last"``, ``rel="first"``."""
    params = dict(parse_qsl(query))
    per_page = min(max(_int(params.get("per_page"), 30), 1), 100)
    number = max(_int(params.get("page"), 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(number - 1) * per_page : number * per_page]
    rels: list[tuple[int, str]] = []
    if number > 1:
        rels.append((min(number - 1, last), "prev"))
    if number < last:
        rels += [(number + 1, "next"), (last, "last")]
    if number > 1:
        rels.append((1, "first"))
    links = [f'<{url}?{urlencode({**params, "page": str(n)})}>; rel="{rel}"' for n, rel in rels]
    return chunk, ", ".join(links) or None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def content_file(api_url: str, repo: str, path: str, ref: str, text: str) -> JSON:
    """``GET /repos/{o}/{r}/contents/{path}``: a file, base64 in lines of 60 as GitHub sends."""
    raw = text.encode("utf-8")
    encoded = base64.b64encode(raw).decode()
    sha = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()
    url = f"{api_url}/repos/{repo}/contents/{path}?ref={ref}"
    html = f"https://github.com/{repo}/blob/{ref}/{path}"
    git = f"{api_url}/repos/{repo}/git/blobs/{sha}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(raw),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
        "sha": sha,
        "url": url,
        "git_url": git,
        "html_url": html,
        "download_url": f"https://raw.githubusercontent.com/{repo}/{ref}/{path}",
        "_links": {"self": url, "git": git, "html": html},
    }


def pull_file(api_url: str, repo: str, path: str, previous: str | None = None) -> JSON:
    """An entry of ``GET /repos/{o}/{r}/pulls/{n}/files``."""
    sha = hashlib.sha1(path.encode()).hexdigest()
    shape: JSON = {
        "sha": sha,
        "filename": path,
        "status": "renamed" if previous else "modified",
        "additions": 1,
        "deletions": 1,
        "changes": 2,
        "blob_url": f"https://github.com/{repo}/blob/{sha}/{path}",
        "raw_url": f"https://github.com/{repo}/raw/{sha}/{path}",
        "contents_url": f"{api_url}/repos/{repo}/contents/{path}?ref={sha}",
        "patch": "@@ -1 +1 @@\n-old\n+new",
    }
    if previous:
        shape["previous_filename"] = previous
    return shape


def annotation_listed(note: JSON) -> JSON:
    """An entry of ``GET /repos/{o}/{r}/check-runs/{id}/annotations``."""
    return {
        "path": note.get("path"),
        "start_line": note.get("start_line"),
        "end_line": note.get("end_line"),
        "start_column": note.get("start_column"),
        "end_column": note.get("end_column"),
        "annotation_level": note.get("annotation_level"),
        "title": note.get("title"),
        "message": note.get("message"),
        "raw_details": note.get("raw_details"),
        "blob_href": "",
    }


def label(api_url: str, repo: str, name: str) -> JSON:
    label_id = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
    return {
        "id": label_id,
        "node_id": f"LA_{label_id}",
        "url": f"{api_url}/repos/{repo}/labels/{name}",
        "name": name,
        "color": "ededed",
        "default": False,
        "description": None,
    }


def issue(api_url: str, repo: str, number: int, fields: JSON, author: JSON, tick: int) -> JSON:
    """``POST /repos/{o}/{r}/issues``'s answer (and an entry of the issues list)."""
    url = f"{api_url}/repos/{repo}/issues/{number}"
    return {
        "id": 3_000_000 + number,
        "node_id": f"I_{number}",
        "url": url,
        "repository_url": f"{api_url}/repos/{repo}",
        "labels_url": url + "/labels{/name}",
        "comments_url": url + "/comments",
        "events_url": url + "/events",
        "html_url": f"https://github.com/{repo}/issues/{number}",
        "number": number,
        "state": "open",
        "state_reason": None,
        "title": fields["title"],
        "body": fields.get("body"),
        "user": author,
        "labels": [label(api_url, repo, n) for n in fields.get("labels") or []],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": 0,
        "closed_at": None,
        "closed_by": None,
        "created_at": timestamp(tick),
        "updated_at": timestamp(tick),
        "author_association": "NONE",
    }


def pull_as_issue(pull: JSON) -> JSON:
    """A pull request as the issues list shows it: an issue with a `pull_request` key."""
    shown = {k: pull[k] for k in ("id", "node_id", "number", "state", "title", "body", "user")}
    links = {"url": pull["url"], "html_url": pull["html_url"], "merged_at": pull.get("merged_at")}
    return {
        **shown,
        "url": pull["issue_url"],
        "html_url": pull["html_url"],
        "labels": pull.get("labels", []),
        "pull_request": links,
        "created_at": pull["created_at"],
        "updated_at": pull["updated_at"],
    }


def new_pull(template: JSON, number: int, fields: JSON, shas: tuple[str, str], tick: int) -> JSON:
    """``POST /repos/{o}/{r}/pulls``'s answer, made from a stored pull request of the same
    repository (its URLs and repository objects), with the new number, branches and text."""
    made = json.loads(json.dumps(template))
    api, html = made["base"]["repo"]["url"], made["base"]["repo"]["html_url"]
    made.update(url=f"{api}/pulls/{number}", issue_url=f"{api}/issues/{number}",
                html_url=f"{html}/pull/{number}", diff_url=f"{html}/pull/{number}.diff",
                patch_url=f"{html}/pull/{number}.patch")  # fmt: skip
    owner = made["base"]["repo"]["owner"]["login"]
    made.update(
        number=number,
        id=4_000_000 + number,
        node_id=f"PR_{number}",
        state="open",
        title=fields["title"],
        body=fields.get("body"),
        draft=bool(fields.get("draft", False)),
        created_at=timestamp(tick),
        updated_at=timestamp(tick),
        closed_at=None,
        merged_at=None,
        merged=False,
        merged_by=None,
        merge_commit_sha=None,
        labels=[],
    )
    made["head"] = {**made["head"], "ref": fields["head"], "sha": shas[0],
                    "label": f"{owner}:{fields['head']}", "repo": made["base"]["repo"]}  # fmt: skip
    made["base"] = {**made["base"], "ref": fields["base"], "sha": shas[1],
                    "label": f"{owner}:{fields['base']}"}  # fmt: skip
    return dict(made)
