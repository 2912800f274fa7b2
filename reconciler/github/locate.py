"""Which pull request a run is about, from the event and the report, checked against the
API (the edge is passed in). One function per event, chosen from a registry.

Under `workflow_run` the report is an artifact of a run on pull request code, so nothing
it names is believed: the run's head (from GitHub's event, not from the artifact) must be
the head the report records, and the pull request it names must come from that run's
repository and branch; a run of a merge group gets the status on its commit. The
event's `pull_requests` list is never read (empty for forks). A report for an older head
(a newer push since) posts nothing: the newer run will.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.errors import AlmError, UsageError
from reconciler.github.api import Api, Pull
from reconciler.github.context import Context
from reconciler.plan.model import PlanReport

JSON = dict[str, Any]
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Found:
    pull: Pull


@dataclass(frozen=True)
class Stale:
    why: str


@dataclass(frozen=True)
class MergeGroup:
    sha: str


Target = Found | Stale | MergeGroup
Locator = Callable[[Context, PlanReport, Api], Target]


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _number(ctx: Context) -> int:
    number = _get(ctx.event, "pull_request", "number")
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        raise AlmError(f"the {ctx.event_name} event names no pull request (pull_request.number)")
    return number


def _existing(api: Api, number: int, repository: str) -> Pull:
    pull = api.pull(number)
    if pull is None:
        raise AlmError(f"refused: pull request #{number} does not exist in {repository}")
    return pull


def _checked_head(report: PlanReport, pull: Pull) -> Target:
    recorded = report.pull_request
    if recorded is None:
        return Found(pull)
    if recorded.number != pull.number:
        raise AlmError(
            f"refused: the report is for pull request #{recorded.number}, "
            f"this event is about #{pull.number}"
        )
    if recorded.head_sha != pull.head_sha:
        return Stale(_stale(pull, recorded.head_sha))
    return Found(pull)


def _stale(pull: Pull, recorded: str) -> str:
    return stale_message(pull.number, recorded, pull.head_sha)


def stale_message(number: int, recorded: str, head: str, posted: str = "nothing") -> str:
    return (
        f"the report is for {recorded[:12]}, but pull request #{number}'s head is now "
        f"{head[:12]} (a newer push): {posted} posted, the newer run posts"
    )


def from_pull_request_event(ctx: Context, report: PlanReport, api: Api) -> Target:
    return _checked_head(report, _existing(api, _number(ctx), ctx.repository))


def from_workflow_run(ctx: Context, report: PlanReport, api: Api) -> Target:
    run = _get(ctx.event, "workflow_run")
    if _get(run, "event") == "merge_group":  # the queue's commit, from GitHub's event
        return _merge_group_sha(_get(run, "head_sha"), "workflow_run.head_sha")
    recorded = report.pull_request
    if recorded is None:
        raise AlmError(
            "refused: the report records no pull request; expected the plan.json that "
            "`alm plan --json` wrote under a pull_request event"
        )
    if recorded.repository and recorded.repository.lower() != ctx.repository.lower():
        raise AlmError(f"refused: the report names {recorded.repository}, not {ctx.repository}")
    run_head = _get(run, "head_sha")
    if not isinstance(run_head, str) or not _SHA.fullmatch(run_head):
        raise AlmError("the workflow_run event names no head commit (workflow_run.head_sha)")
    if recorded.head_sha != run_head:
        raise AlmError(
            f"refused: the report records head {recorded.head_sha[:12]} but the workflow run "
            f"that produced it ran on {run_head[:12]}"
        )
    pull = _existing(api, recorded.number, ctx.repository)
    run_repo = _get(run, "head_repository", "full_name")
    run_branch = _get(run, "head_branch")
    if not _same_source(pull, run_repo, run_branch):
        theirs, ours = _source(pull.head_repo, pull.head_ref), _source(run_repo, run_branch)
        raise AlmError(
            f"refused: pull request #{pull.number} comes from {theirs}, not from the run's "
            f"{ours}; the report names another pull request"
        )
    return _checked_head(report, pull)


def _source(repo: Any, branch: Any) -> str:
    """owner/name:branch as the message shows it; a fork deleted since is named so."""
    where = repo if isinstance(repo, str) else "(a deleted repository)"
    return f"{where}:{branch}" if isinstance(branch, str) else where


def _same_source(pull: Pull, repo: Any, branch: Any) -> bool:
    if not isinstance(repo, str) or not isinstance(branch, str) or pull.head_repo is None:
        return False
    return pull.head_repo.lower() == repo.lower() and pull.head_ref == branch


def _merge_group_sha(sha: Any, where: str) -> MergeGroup:
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise AlmError(f"the event names no merge group commit ({where})")
    return MergeGroup(sha)


def from_merge_group(ctx: Context, report: PlanReport, api: Api) -> Target:
    return _merge_group_sha(_get(ctx.event, "merge_group", "head_sha"), "merge_group.head_sha")


LOCATORS: dict[str, Locator] = {
    "pull_request": from_pull_request_event,
    "pull_request_target": from_pull_request_event,
    "pull_request_review": from_pull_request_event,
    "pull_request_review_comment": from_pull_request_event,
    "workflow_run": from_workflow_run,
    "merge_group": from_merge_group,
}


def locate(ctx: Context, report: PlanReport, api: Api) -> Target:
    locator = LOCATORS.get(ctx.event_name)
    if locator is None:
        known = ", ".join(LOCATORS)
        raise UsageError(
            f"GITHUB_EVENT_NAME={ctx.event_name or '(unset)'}: alm github pr runs under {known}"
        )
    return locator(ctx, report, api)
