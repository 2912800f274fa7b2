"""`alm github pr`: the sticky comment, the status `alm/gate` and the check run `alm`.

Order: read (pull request, changed files, base CODEOWNERS, reviews, comments), decide,
then write the status and the check run, and the comment last. When the comment is
already exactly what would be written and its body names the head commit (it would
differ for another head), an earlier run wrote all three for this commit (the comment
is written last, after the verdict it shows): nothing is written again, 5 requests in
all. Just before the comment, the pull request is read again: when its head moved
meanwhile, the newer push's run owns the comment and this one leaves it alone. A failed
comment fails the job (AlmError, exit 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from github import GithubException

from reconciler.errors import AlmError
from reconciler.github import comment, gate, locate, owners, sticky
from reconciler.github.api import Api, Pull
from reconciler.github.context import Context
from reconciler.github.retry import describe
from reconciler.plan import verdict as verdicts
from reconciler.plan.model import PlanReport, Verdict
from reconciler.policy.approvals import Requirement
from reconciler.policy.codeowners import LOCATIONS

MARKER = "<!-- alm:report -->"
_AFTER_RUN_ID = re.compile(r"\d{1,20}(?:[/#?][A-Za-z0-9/#?=&._-]{0,200})?")


@dataclass
class Result:
    summary: str
    log: list[str] = field(default_factory=list)


def run(ctx: Context, api: Api, report: PlanReport, render: sticky.Render) -> Result:
    report = own_links(ctx, report)
    target = locate.locate(ctx, report, api)
    if isinstance(target, locate.Stale):
        return Result(target.why)
    if isinstance(target, locate.MergeGroup):
        log: list[str] = []
        verdict = gate.merge_queue_verdict(report.verdict)
        publish_gate(ctx, api, target.sha, report, verdict, log)
        return Result(f"merge group {target.sha[:12]}: alm/gate {gate.STATE[verdict.status]}", log)
    return _pull_request(ctx, api, report, render, target.pull)


def _pull_request(
    ctx: Context, api: Api, report: PlanReport, render: sticky.Render, pull: Pull
) -> Result:
    log: list[str] = []
    counted = with_approvals(api, report, pull, log)
    text = sticky.body(MARKER, counted, render)
    listed = api.comments(pull.number)
    write = sticky.decide(sticky.find(listed, MARKER), text)
    state = gate.STATE[counted.verdict.status]
    settled = not sticky.duplicates(listed, MARKER)
    if write.action == "none" and settled and _names_head(counted, text, render):
        return Result(f"PR #{pull.number}: nothing changed since the last run ({state})", log)
    publish_gate(ctx, api, pull.head_sha, counted, counted.verdict, log)
    moved = _moved_on(api, pull)
    if moved is not None:  # a newer push's run posts (or posted) the comment
        return Result(f"{moved}; alm/gate {state} on {pull.head_sha[:12]}", log)
    done = comment.upsert(api, pull.number, text, MARKER, listed)
    return Result(f"PR #{pull.number}: comment {done}; alm/gate {state}", log)


def _moved_on(api: Api, pull: Pull) -> str | None:
    """Why not to write the comment: the pull request's head moved while this run read
    and decided (the status is per commit, the comment is not: a run for the older head
    finishing last would overwrite the newer run's report)."""
    now = api.pull(pull.number)
    if now is None or now.head_sha == pull.head_sha:
        return None
    return locate.stale_message(pull.number, pull.head_sha, now.head_sha, "no comment")


def own_links(ctx: Context, report: PlanReport) -> PlanReport:
    """The report with only the links that lead to a workflow run of this repository.
    Under workflow_run the report is an artifact a pull request's run wrote (a fork's
    workflow can write any file), and the comment and the status are alm's word: a link
    to another site there would be the pull request's, shown as the bot's."""
    prefix = f"{ctx.server_url}/{ctx.repository}/actions/runs/".lower()

    def own(url: str | None) -> str | None:
        if url is None or url[: len(prefix)].lower() != prefix:
            return None
        return url if _AFTER_RUN_ID.fullmatch(url[len(prefix) :]) else None

    found = report.links
    fields = ("html_report", "job_summary", "run")
    kept = found.model_copy(update={f: own(getattr(found, f)) for f in fields})
    return report if kept == found else report.model_copy(update={"links": kept})


def _names_head(report: PlanReport, text: str, render: sticky.Render) -> bool:
    """Whether the body tells this head from another: rendered for a different head it
    differs. Then an unchanged body means an earlier run posted for this very commit."""
    other = "1" * 40 if report.approvals.head_sha == "0" * 40 else "0" * 40
    approvals = report.approvals.model_copy(update={"head_sha": other})
    update: dict[str, object] = {"approvals": approvals}
    if report.pull_request is not None:
        update["pull_request"] = report.pull_request.model_copy(update={"head_sha": other})
    return sticky.body(MARKER, report.model_copy(update=update), render) != text


def with_approvals(api: Api, report: PlanReport, pull: Pull, log: list[str]) -> PlanReport:
    """The report with the base's code-owner requirements it lacked and the reviews counted."""
    changes = api.changed_files(pull.number)
    if owners.unlisted(changes.listed, pull.changed_files):
        report = owners.with_reason(report, owners.too_many_files(pull.number, pull.changed_files))
    report, base = _with_base(api, report, pull, changes.paths, log)
    reviews = api.reviews(pull.number)
    reqs = owners.requirements(report)
    evaluation = owners.evaluate_with(reqs, reviews, pull.author, pull.head_sha, {})
    teams = owners.teams_to_read(evaluation, reviews, pull.author, pull.head_sha)
    read, skipped = owners.bounded(teams, base)
    if skipped:
        log.append(
            f"{len(skipped)} more team(s) the report's requirements name were not read (at "
            f"most {owners.MAX_TEAMS} a run, the base's CODEOWNERS' first): their approval "
            "counts as not given"
        )
    if read:
        members = _members(api, read, log)
        evaluation = owners.evaluate_with(reqs, reviews, pull.author, pull.head_sha, members)
    return verdicts.with_reviews(report, evaluation, pull.head_sha)


def _with_base(
    api: Api, report: PlanReport, pull: Pull, changed: list[str], log: list[str]
) -> tuple[PlanReport, list[Requirement]]:
    """The report with the base CODEOWNERS' requirements it lacked, and those requirements."""
    found = _base_codeowners(api, pull.base_ref)
    if found is None:
        log.append(f"no CODEOWNERS on {pull.base_ref}: code-owner approvals as the report has them")
        return report, []
    path, text = found
    base = owners.base_requirements(text, f"{path} at {pull.base_ref}", changed)
    added = owners.missing_from(report, base)
    if added:
        log.append(
            f"{path} at {pull.base_ref} requires {len(added)} approval(s) the report "
            "lacked; added: " + "; ".join(" or ".join(r.owners) for r in added)
        )
    return owners.with_requirements(report, added), base


def _base_codeowners(api: Api, ref: str) -> tuple[str, str] | None:
    for path in LOCATIONS:  # where GitHub looks, in its order
        text = api.text_at(path, ref)
        if text is not None:
            return path, text
    return None


def _members(api: Api, teams: list[str], log: list[str]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for team in teams:
        logins = api.team_members(*owners.split_team(team))
        if logins is None:
            log.append(
                f"cannot read the members of {team} with this token (403/404): "
                "its approval counts as not given"
            )
            continue
        members[team] = logins
    return members


def publish_gate(
    ctx: Context, api: Api, sha: str, report: PlanReport, verdict: Verdict, log: list[str]
) -> None:
    link = ctx.run_url or report.links.run or report.links.html_report
    try:
        api.status(sha, gate.STATE[verdict.status], gate.description(verdict), link)
    except GithubException as exc:
        raise AlmError(
            f"could not set the status alm/gate on {sha[:12]}: {describe(exc)}"
        ) from None
    check = gate.check_run(report, verdict, link)
    try:
        api.check_run(sha, check.conclusion, check.output, link, check.more)
    except GithubException as exc:
        if exc.status != 403:
            raise AlmError(f"could not create the check run alm: {describe(exc)}") from None
        log.append(
            f"the token may not create check runs ({describe(exc)}): "
            "the status alm/gate alone carries the gate"
        )
