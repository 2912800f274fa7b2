"""`alm ops check --open-issues`: one GitHub issue per agent and environment while the
agent breaches its contract (or its eval baseline) in production.

Marker `<!-- alm:breach env=E agent=A -->` on the first line, label `alm:breach`; found,
opened, edited, left alone or closed by reconciler.github.marked_issue, as the drift
issue is. Metric names, revisions and trace ids come from the repository and from traces:
untrusted, so they are clipped, and shown as code only when they have the shape alm
expects (a trace id of 32 hex digits, a sha256 revision), else made inert by md_text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import requests
from github import GithubException

from reconciler.deploy.model import short_revision
from reconciler.errors import AlmError
from reconciler.github import api_deploy, marked_issue
from reconciler.github.api import Api
from reconciler.github.retry import describe
from reconciler.github.sticky import LIMIT, utf16_length
from reconciler.ops.model import NS_PER_S, Breach, Window
from reconciler.plan.markdown import md_code, md_text
from reconciler.spec.base import NAME_PATTERN

LABEL = "alm:breach"
MAX_EXAMPLES = 5  # trace ids shown per metric
_NAME = re.compile(NAME_PATTERN)
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_REVISION = re.compile(r"sha256:[0-9a-f]{64}")
_CLIP = 80  # characters of an untrusted name shown
MORE = "\n\n_…and {n} more breach(es), not shown (GitHub's limit on an issue)._"
NOTHING_DONE = (
    "Nothing was rolled back: this environment's `on_breach` is `issue` "
    "(`on_breach: rollback` in policies/environments.yaml rolls the agent back)."
)


def marker(environment: str, agent: str) -> str:
    for what, name in (("environment", environment), ("agent", agent)):
        if not _NAME.fullmatch(name):
            raise AlmError(f"{what} {name!r}: expected lowercase letters, digits, -")
    return f"<!-- alm:breach env={environment} agent={agent} -->"


def title(environment: str, agent: str) -> str:
    return f"alm: {agent} breaches its contract in {environment}"


def breach_body(
    environment: str,
    agent: str,
    breaches: Sequence[Breach],
    run_url: str | None = None,
    action: str | None = None,
) -> str:
    """The issue's text: a table of the breached metrics (bound, value with its interval,
    tasks, against what, example traces), then what alm did and how to reproduce.
    action: what alm did about it, in a sentence (None: nothing was rolled back)."""
    if not breaches:
        raise AlmError(f"{agent} in {environment}: a breach issue needs at least one breach")
    window = breaches[0].window
    head = "\n".join(
        [
            marker(environment, agent),
            f"### alm: **{md_text(agent)}** breaches its contract in **{md_text(environment)}**",
            "",
            f"Production traffic of {_revisions(breaches)} over {md_text(window.describe())}.",
            "",
            "| metric | bound | value (95% interval) | tasks | against | example traces |",
            "|---|---|---|---|---|---|",
        ]
    )
    tail = _tail(environment, agent, breaches, window, run_url, action)
    rows = [f"\n{_row(b)}" for b in breaches]
    limit = LIMIT - utf16_length(tail)
    return marked_issue.fit(head, rows, lambda n: MORE.format(n=n), limit) + tail


def _row(breach: Breach) -> str:
    bound = f"{breach.bound} {_number(breach.threshold)}"
    value = _number(breach.value)
    if breach.low is not None and breach.high is not None:
        value += f" ({_number(breach.low)} to {_number(breach.high)})"
    examples = ", ".join(_trace(t) for t in breach.example_traces[:MAX_EXAMPLES]) or "-"
    against = "eval baseline" if breach.against == "baseline" else "contract"
    cells = [_clip(breach.metric), bound, value, str(breach.samples), against, examples]
    return "| " + " | ".join(cells) + " |"


def _tail(
    environment: str,
    agent: str,
    breaches: Sequence[Breach],
    window: Window,
    run_url: str | None,
    action: str | None,
) -> str:
    example = next((t for b in breaches for t in b.example_traces if _TRACE_ID.fullmatch(t)), None)
    commands = [
        f"alm ops check --env {environment} --since {_iso(window.start_ns)} "
        f"--until {_iso(window.end_ns)}"
    ]
    commands.append(f"alm ops promote {example or 'TRACE_ID'} --agent {agent}")
    parts = [
        "",
        "",
        f"**What alm did:** {md_text(action) if action else NOTHING_DONE}",
        "",
        "**Reproduce** it, and turn an example trace into an eval case for a pull request:",
        "",
        md_code("\n".join(commands), "sh"),
    ]
    if run_url:
        parts += ["", f"Checked by [this run]({run_url})."]
    return "\n".join(parts)


def _revisions(breaches: Sequence[Breach]) -> str:
    seen = list(dict.fromkeys(b.revision for b in breaches))
    shown = [_revision(r) for r in seen]
    return ("revision " if len(shown) == 1 else "revisions ") + ", ".join(shown)


def _revision(revision: str | None) -> str:
    if revision is None:
        return "an unrecorded revision"
    if _REVISION.fullmatch(revision):
        return f"`{short_revision(revision)}`"
    return _clip(revision)


def _trace(trace_id: str) -> str:
    return f"`{trace_id}`" if _TRACE_ID.fullmatch(trace_id) else _clip(trace_id)


def _clip(text: str) -> str:
    return md_text(text if len(text) <= _CLIP else text[: _CLIP - 1] + "…")


def _number(value: float) -> str:
    return f"{value:.4g}"


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / NS_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sync_breach_issue(
    api: Api, environment: str, agent: str, body: str | None, run_url: str | None
) -> str:
    """Open, update or close the breach issue of one agent in one environment (body None:
    the agent does not breach any more: close it); says what it did."""
    mark = marker(environment, agent)
    if body is not None and body.split("\n", 1)[0] != mark:
        raise AlmError(f"the breach issue body of {environment}/{agent} must start with {mark}")
    checked = f" ([run]({run_url}))" if run_url else ""
    note = (
        f"{md_text(agent)} no longer breaches its contract in {md_text(environment)}: "
        f"closing.{checked}"
    )
    subject = marked_issue.Subject(
        LABEL,
        mark,
        title(environment, agent),
        f"{environment}/{agent}",
        "breach issue",
        "no breach, no issue open",
    )
    return marked_issue.sync(api, subject, body, note)


def sync_from_env(
    environment: str,
    agent: str,
    breaches: Sequence[Breach],
    action: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """The breach issue written with the client GitHub Actions' variables name
    (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL; the run's address goes in the body):
    opened or updated when there are breaches, closed when there are none. Errors as one
    AlmError."""
    try:
        ctx, api = api_deploy.session(os.environ if env is None else env)
        body = breach_body(environment, agent, breaches, ctx.run_url, action) if breaches else None
        return sync_breach_issue(api, environment, agent, body, ctx.run_url)
    except (GithubException, requests.RequestException) as exc:
        raise AlmError(f"GitHub API: {describe(exc)}") from None
