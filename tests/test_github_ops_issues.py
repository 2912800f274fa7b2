"""The breach issue, one per agent and environment, against the local GitHub server:
opened on a breach, left alone when the body is the same, updated when it changes, closed
with a comment on recovery, never a second one per run; a person's issue with the marker
is never touched; text from the repository and from traces is inert."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.errors import AlmError
from reconciler.github import api_deploy, issues, marked_issue, ops_issues
from reconciler.github.api import Api
from reconciler.github.sticky import LIMIT, utf16_length
from reconciler.ops.model import NS_PER_S, Breach, Window
from tests.github_server import GitHubServer
from tests.github_support import REPO, env_for, server, writes

_ = server
WINDOW = Window(1_760_000_000 * NS_PER_S, 1_760_086_400 * NS_PER_S)
REV = "sha256:" + "ab" * 32
TRACE = "0af7651916cd43dd8448eb211c80319c"


def breach(metric: str = "task_success_rate", value: float = 0.62, **more: object) -> Breach:
    fields: dict[str, object] = {
        "agent": "support-triage",
        "environment": "prod",
        "revision": REV,
        "metric": metric,
        "bound": "min",
        "threshold": 0.9,
        "value": value,
        "low": 0.55,
        "high": 0.69,
        "samples": 120,
        "window": WINDOW,
        "example_traces": (TRACE,),
    }
    fields.update(more)
    return Breach(**fields)  # type: ignore[arg-type]


def _api(gh: GitHubServer, tmp: Path) -> Api:
    _, api = api_deploy.session(env_for(gh, tmp, "schedule", {}))
    api.retry.sleep = lambda _: None
    return api


def test_open_unchanged_update_close(server: GitHubServer, tmp_path: Path) -> None:
    api = _api(server, tmp_path)
    first = ops_issues.breach_body("prod", "support-triage", [breach()])
    sync = ops_issues.sync_breach_issue
    assert sync(api, "prod", "support-triage", first, None) == (
        "prod/support-triage: breach issue #3 opened"
    )
    [made] = server.issues(REPO)
    assert made["title"] == "alm: support-triage breaches its contract in prod"
    assert [label["name"] for label in made["labels"]] == ["alm:breach"]
    assert made["body"].startswith("<!-- alm:breach env=prod agent=support-triage -->\n")

    before = len(writes(server))
    assert sync(api, "prod", "support-triage", first, "https://x/run/1").endswith("#3 unchanged")
    assert len(writes(server)) == before  # the same breach writes nothing

    second = ops_issues.breach_body("prod", "support-triage", [breach(value=0.5)])
    assert sync(api, "prod", "support-triage", second, None).endswith("#3 updated")
    assert "| 0.5 (0.55 to 0.69) |" in server.issues(REPO)[0]["body"]

    # another agent of the same environment has an issue of its own
    faq = ops_issues.breach_body("prod", "faq-bot", [breach()])
    assert sync(api, "prod", "faq-bot", faq, None) == "prod/faq-bot: breach issue #4 opened"
    with pytest.raises(AlmError, match="must start with <!-- alm:breach env=prod agent=x -->"):
        sync(api, "prod", "x", faq, None)  # another agent's body would carry its marker
    assert sync(api, "prod", "support-triage", None, "https://x/run/2").endswith("#3 closed")
    mine, other = server.issues(REPO)
    assert (mine["state"], mine["state_reason"]) == ("closed", "completed")
    assert other["state"] == "open"
    [note] = server.comments(REPO, 3)
    assert "no longer breaches its contract in prod" in note["body"]
    assert "https://x/run/2" in note["body"]
    assert sync(api, "prod", "support-triage", None, None) == (
        "prod/support-triage: no breach, no issue open"
    )


def test_a_persons_issue_with_the_marker_is_not_alms(server: GitHubServer, tmp_path: Path) -> None:
    fake = ops_issues.marker("prod", "support-triage") + "\nhi"
    server.add_issue(REPO, "fake", fake, [ops_issues.LABEL], "mallory")
    api = _api(server, tmp_path)
    body = ops_issues.breach_body("prod", "support-triage", [breach()])
    assert ops_issues.sync_breach_issue(api, "prod", "support-triage", body, None).endswith(
        "#4 opened"
    )
    assert ops_issues.sync_breach_issue(api, "prod", "support-triage", None, None).endswith(
        "#4 closed"
    )
    assert [i["state"] for i in server.issues(REPO)] == ["open", "closed"]
    assert server.issues(REPO)[0]["body"] == fake


def test_the_drift_issue_and_the_breach_issue_do_not_mix(
    server: GitHubServer, tmp_path: Path
) -> None:
    api = _api(server, tmp_path)
    issues.sync(api, "prod", ["a: missing"], None)
    body = ops_issues.breach_body("prod", "support-triage", [breach()])
    assert ops_issues.sync_breach_issue(api, "prod", "support-triage", body, None).endswith(
        "#4 opened"
    )
    assert issues.sync(api, "prod", [], None) == "prod: drift issue #3 closed"
    assert [i["state"] for i in server.issues(REPO)] == ["closed", "open"]


def test_sync_from_env_puts_the_run_in_the_body(server: GitHubServer, tmp_path: Path) -> None:
    env = env_for(server, tmp_path, "schedule", {})
    said = ops_issues.sync_from_env("prod", "support-triage", [breach()], "rolled back", env)
    assert said == "prod/support-triage: breach issue #3 opened"
    body = server.issues(REPO)[0]["body"]
    assert "actions/runs/42" in body and "**What alm did:** rolled back" in body
    assert ops_issues.sync_from_env("prod", "support-triage", [], None, env).endswith("closed")


def test_a_refused_write_is_a_clear_error(server: GitHubServer, tmp_path: Path) -> None:
    server.fail_next(403, message="Resource not accessible by integration", method="POST")
    body = ops_issues.breach_body("prod", "support-triage", [breach()])
    with pytest.raises(AlmError, match="could not write the breach issue of prod/support-triage"):
        ops_issues.sync_breach_issue(_api(server, tmp_path), "prod", "support-triage", body, None)


def test_the_body_says_what_how_much_and_how_to_reproduce() -> None:
    latency = breach("latency_p95_s", 7.93, bound="max", threshold=6, low=None, high=None)
    text = ops_issues.breach_body(
        "prod", "support-triage", [breach(), latency], "https://x/run/9", None
    )
    lines = text.splitlines()
    assert lines[0] == "<!-- alm:breach env=prod agent=support-triage -->"
    assert "| task\\_success\\_rate | min 0.9 | 0.62 (0.55 to 0.69) | 120 | contract |" in text
    assert "| latency\\_p95\\_s | max 6 | 7.93 | 120 | contract | `" + TRACE + "` |" in text
    assert "revision `sha256:abababababab`" in text and "24 h" in text
    assert ops_issues.NOTHING_DONE in text
    assert "alm ops check --env prod --since 2025-10-09T08:53:20Z --until " in text
    assert f"alm ops promote {TRACE} --agent support-triage" in text
    assert "[this run](https://x/run/9)" in text
    baseline = ops_issues.breach_body("prod", "a", [breach(against="baseline")], None, "x")
    assert "| eval baseline |" in baseline and "**What alm did:** x" in baseline


def test_trace_and_repository_text_is_inert() -> None:
    hostile = "@acme/security see #12 <img src=x> [x](http://e) `code`"
    text = ops_issues.breach_body(
        "prod",
        "support-triage",
        [breach(hostile, revision=hostile, example_traces=(hostile, TRACE))],
        None,
        hostile,
    )
    assert "@acme" not in text and "#12" not in text and "<img" not in text
    assert "](http" not in text and "`code`" not in text
    assert f"`{TRACE}`" in text  # a real trace id is code: copied, never linked
    with pytest.raises(AlmError, match="lowercase letters"):
        ops_issues.marker("prod", "x --> <b>@team</b>")
    with pytest.raises(AlmError, match="at least one breach"):
        ops_issues.breach_body("prod", "a", [])


def test_a_body_of_many_breaches_fits_githubs_limit() -> None:
    long = "x" * 5000
    many = [breach(f"m{i}{long}", example_traces=(long,) * 9) for i in range(2000)]
    text = ops_issues.breach_body("prod", "support-triage", many)
    assert utf16_length(text) <= LIMIT and "more breach(es), not shown" in text
    shown = len(re.findall(r"^\| m\d+", text, re.MULTILINE))
    assert f"…and {2000 - shown} more" in text and text.endswith("```")


def test_fit_counts_what_does_not_fit() -> None:
    more = "+{n}".format
    assert marked_issue.fit("h", ["a", "b"], lambda n: more(n=n)) == "hab"
    assert marked_issue.fit("h", ["aa", "bb", "cc"], lambda n: more(n=n), limit=6) == "haa+2"
