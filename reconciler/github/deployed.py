"""`alm github deployed`: on a push to main, comment on the merged pull request what the
merge deployed where, in one sticky comment.

Once `alm apply` has run for the pushed commit, the comment says what went where: per
environment in promotion order, each agent's from and to revision and result, each row
naming its audit record (`<env>.jsonl` line N, linked to the run that holds the logs).
Environments not applied yet (a later job, a GitHub Environment waiting for its
reviewers) are listed as pending. Before any apply it says what the merge would deploy.

What to say is pure (`message`, `applied_message`, `rows_from_audit`); the deploy steps
come from a plan report's `deploy` section when one is given, else from the repository:
the agents whose spec changed between the push's `before` and `after`, in promotion order
(plan.deploy_order).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.errors import AlmError
from reconciler.github import comment, sticky
from reconciler.github.api import Api, Pull
from reconciler.plan import deploy_order
from reconciler.plan.markdown import md_text
from reconciler.plan.model import EnvironmentStep
from reconciler.plan.state_views import agent_view
from reconciler.spec.state import DesiredState

MARKER = "<!-- alm:deployed -->"


@dataclass(frozen=True)
class Merged:
    pull: Pull | None
    why: str  # when there is no merged pull request to comment on


def merged_pull(pulls: Sequence[Pull], sha: str) -> Merged:
    for pull in pulls:
        if pull.merged and pull.merge_commit_sha == sha:
            return Merged(pull, "")
    closed = [p for p in pulls if p.state == "closed" and not p.merged]
    if closed:
        numbers = ", ".join(f"#{p.number}" for p in closed)
        return Merged(None, f"pull request {numbers} was closed without merging: nothing deploys")
    return Merged(None, f"no merged pull request has {sha[:12]} as its merge commit: no comment")


def changed_agents(before: DesiredState | None, after: DesiredState) -> list[str]:
    """Agents added or whose spec changed (every agent when there is no `before`)."""
    old = {a.name: agent_view(a) for a in before.agents} if before else {}
    return sorted(a.name for a in after.agents if old.get(a.name) != agent_view(a))


def steps_from_state(before: DesiredState | None, after: DesiredState) -> list[EnvironmentStep]:
    return deploy_order.deploy_steps(after, changed_agents(before, after))


def message(sha: str, steps: Sequence[EnvironmentStep]) -> str:
    """What merging would deploy, within GitHub's budget: when every agent's name does not
    fit (a change to the catalog of a large fleet), each environment names fewer of its
    agents and counts the others, never split into another comment."""
    shown = max((len(s.agents) for s in steps), default=0)
    while True:
        text = _would_deploy(sha, steps, shown)
        if sticky.utf16_length(text) <= sticky.LIMIT or shown == 0:
            return text
        shown //= 2


def _would_deploy(sha: str, steps: Sequence[EnvironmentStep], shown: int) -> str:
    lines = [MARKER, f"### alm: what merging {sha[:12]} would deploy", ""]
    busy = [s for s in steps if s.agents]
    if not busy:
        lines.append("No agent changed: nothing to deploy.")
    for number, step in enumerate(busy, start=1):
        agents = ", ".join(md_text(a) for a in step.agents[:shown])
        more = len(step.agents) - shown
        if more > 0:
            agents += f"{', ' if shown else ''}…and {more} more agent(s)"
        gates = f" (gates: {md_text(', '.join(step.gates))})" if step.gates else ""
        lines.append(f"{number}. **{md_text(step.environment)}**: {agents}{gates}")
    lines += ["", "_Deploys are not applied yet: this is what would deploy, in promotion order._"]
    return "\n".join(lines)


def post(api: Api, pull: Pull, text: str) -> str:
    if sticky.utf16_length(text) > sticky.LIMIT:
        raise AlmError(f"the deploy comment is over {sticky.LIMIT} characters; nothing posted")
    return comment.upsert(api, pull.number, text, MARKER)


_REVISION = re.compile(r"sha256:([0-9a-f]{64})")
AuditLink = Callable[[str, int], str | None]  # (environment, line) -> a URL, or None


@dataclass(frozen=True)
class Applied:
    """One audited action of an apply: what `alm apply` recorded for one agent."""

    environment: str
    agent: str
    before: str | None  # the revision it replaced
    after: str | None  # the revision it put (None: deleted)
    result: str  # ok | failed | ...
    line: int  # 1-based line of the record in <environment>.jsonl
    action: str = ""


def rows_from_audit(
    records: Iterable[Mapping[str, Any]], environment: str, sha: str
) -> list[Applied]:
    """The records of `environment`'s log (oldest first, line = position) made for the
    pushed commit `sha`: per agent its last one (the engine records `started` before a
    write and the result after it; a `started` alone is an apply that never finished)."""
    rows: dict[str, Applied] = {}
    for line, rec in enumerate(records, start=1):
        if rec.get("commit") != sha:
            continue
        agent = str(rec.get("agent", ""))
        rows.pop(agent, None)  # re-inserted: the order is that of the last records
        rows[agent] = Applied(
            environment=str(rec.get("environment") or environment),
            agent=agent,
            before=_text_or_none(rec.get("from")),
            after=_text_or_none(rec.get("to")),
            result=str(rec.get("result", "")),
            line=line,
            action=str(rec.get("action", "")),
        )
    return list(rows.values())


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def short(revision: str | None) -> str:
    """A revision as the comment shows it: `sha256:` and 12 hex digits, or `none`."""
    if revision is None:
        return "`none`"
    found = _REVISION.fullmatch(revision)
    return f"`sha256:{found.group(1)[:12]}`" if found else md_text(revision)


def _row(row: Applied, link: AuditLink) -> str:
    where = f"{md_text(row.environment)}.jsonl line {row.line}"
    url = link(row.environment, row.line)
    audit = f"[{where}]({url})" if url else where
    what = md_text(row.action or "apply")
    return (
        f"| {md_text(row.agent)} | {what} | {short(row.before)} | {short(row.after)} "
        f"| {md_text(row.result)} | {audit} |"
    )


def applied_message(
    sha: str, rows: Sequence[Applied], steps: Sequence[EnvironmentStep], link: AuditLink
) -> str:
    """What went where: a table per environment (promotion order: `steps`' order, then
    any other environment the records name), and the environments still pending. Within
    GitHub's budget: rows that do not fit are counted, never split into another comment."""
    shown = len(rows)
    while True:
        text = _applied(sha, rows, shown, steps, link)
        if sticky.utf16_length(text) <= sticky.LIMIT or shown == 0:
            return text
        shown //= 2


def _applied(
    sha: str, rows: Sequence[Applied], shown: int, steps: Sequence[EnvironmentStep],
    link: AuditLink,
) -> str:  # fmt: skip
    order = [s.environment for s in steps]
    order += sorted({r.environment for r in rows} - set(order))
    lines = [MARKER, f"### alm: what merging {sha[:12]} deployed", ""]
    for environment in order:
        mine = [r for r in rows[:shown] if r.environment == environment]
        if not mine:
            continue
        lines += [f"**{md_text(environment)}**", "", "| agent | action | from | to | result "
                  "| audit record |", "|---|---|---|---|---|---|"]  # fmt: skip
        lines += [_row(r, link) for r in mine] + [""]
    if shown < len(rows):
        lines += [f"_…and {len(rows) - shown} more: see the audit logs of the run._", ""]
    done = {r.environment for r in rows}
    pending = [s for s in steps if s.agents and s.environment not in done]
    if pending:
        names = ", ".join(
            f"**{md_text(s.environment)}** ({len(s.agents)} agent(s))" for s in pending
        )
        lines.append(f"Not applied yet, in promotion order: {names}.")
    failed = [r for r in rows if r.result != "ok"]
    if failed:
        lines.append(f"\n{len(failed)} action(s) did not succeed: see their audit records.")
    return "\n".join(lines).rstrip()
