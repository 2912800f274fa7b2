"""Approval evaluation on the review sequences that break naive bots."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.policy.approvals import Requirement, Review, evaluate, latest_reviews

HEAD = "c0ffee" * 6 + "beef"
OLD = "a" * 40
AUTHOR = "alice"
TEAMS = {"@acme/security": ["Sam", "sue"], "@acme/platform": ["pat"]}

SECURITY = Requirement("policy:x", ("@acme/security",), "security signs off", "policy")
PLATFORM = Requirement("codeowners:@acme/platform", ("@acme/platform",), "owners", "codeowners")


def review(who: str, state: str, minute: int, commit: str = HEAD) -> Review:
    return Review(who, state, commit, f"2024-06-11T12:{minute:02d}:00Z")


def outcome(reviews: list[Review], *requirements: Requirement) -> list[tuple[str, ...]]:
    result = evaluate(
        list(requirements or (SECURITY,)), reviews, author=AUTHOR, head_sha=HEAD, teams=TEAMS
    )
    return [o.approved_by for o in result.outcomes]


def test_a_team_member_approving_the_head_commit_satisfies_a_team_requirement() -> None:
    assert outcome([review("sam", "APPROVED", 1)]) == [("sam",)]


def test_logins_and_team_names_compare_case_insensitively() -> None:
    assert outcome([review("SUE", "APPROVED", 1)]) == [("sue",)]


def test_a_non_member_approval_does_not_count() -> None:
    assert outcome([review("pat", "APPROVED", 1)]) == [()]


def test_a_user_owner_is_satisfied_by_that_user() -> None:
    owner = Requirement("codeowners:@bob", ("@bob",), "owner", "codeowners")
    assert outcome([review("Bob", "APPROVED", 1)], owner) == [("bob",)]


def test_any_one_owner_satisfies_a_requirement() -> None:
    either = Requirement("r", ("@acme/security", "@acme/platform"), "either", "policy")
    assert outcome([review("pat", "APPROVED", 1)], either) == [("pat",)]


def test_each_requirement_is_judged_on_its_own() -> None:
    result = evaluate(
        [SECURITY, PLATFORM],
        [review("sam", "APPROVED", 1)],
        author=AUTHOR,
        head_sha=HEAD,
        teams=TEAMS,
    )
    assert not result.satisfied
    assert result.missing == (PLATFORM,)


def test_stale_approval_of_an_older_commit_does_not_count() -> None:
    result = evaluate(
        [SECURITY], [review("sam", "APPROVED", 1, OLD)], author=AUTHOR, head_sha=HEAD, teams=TEAMS
    )
    assert result.missing == (SECURITY,)
    assert result.not_counted == (("sam", f"approved {OLD[:12]}, not the head commit"),)


def test_approving_again_after_new_commits_counts() -> None:
    reviews = [review("sam", "APPROVED", 1, OLD), review("sam", "APPROVED", 5)]
    assert outcome(reviews) == [("sam",)]


def test_the_author_cannot_approve_their_own_change() -> None:
    teams = {"@acme/security": ["alice"]}
    result = evaluate(
        [SECURITY], [review("Alice", "APPROVED", 1)], author="alice", head_sha=HEAD, teams=teams
    )
    assert result.missing == (SECURITY,)
    assert result.not_counted[0][1] == "the author cannot approve their own change"


def test_a_dismissed_review_no_longer_counts() -> None:
    reviews = [review("sam", "APPROVED", 1), review("sam", "DISMISSED", 2)]
    result = evaluate([SECURITY], reviews, author=AUTHOR, head_sha=HEAD, teams=TEAMS)
    assert result.missing == (SECURITY,)
    assert result.not_counted == (("sam", "review dismissed"),)


def test_a_dismissed_review_alone_counts_for_nothing() -> None:
    # GitHub rewrites the state of a dismissed approval to DISMISSED.
    assert outcome([review("sam", "DISMISSED", 1)]) == [()]


def test_approval_after_a_dismissal_counts() -> None:
    reviews = [review("sam", "DISMISSED", 1), review("sam", "APPROVED", 2)]
    assert outcome(reviews) == [("sam",)]


def test_latest_review_wins_changes_requested_after_approval() -> None:
    reviews = [review("sam", "APPROVED", 1), review("sam", "CHANGES_REQUESTED", 2)]
    result = evaluate([SECURITY], reviews, author=AUTHOR, head_sha=HEAD, teams=TEAMS)
    assert result.missing == (SECURITY,)
    assert result.changes_requested == ("sam",)


def test_latest_review_wins_approval_after_changes_requested() -> None:
    reviews = [review("sam", "CHANGES_REQUESTED", 1), review("sam", "APPROVED", 2)]
    result = evaluate([SECURITY], reviews, author=AUTHOR, head_sha=HEAD, teams=TEAMS)
    assert result.satisfied and result.changes_requested == ()


def test_order_is_by_time_not_by_position_in_the_list() -> None:
    reviews = [review("sam", "APPROVED", 9), review("sam", "CHANGES_REQUESTED", 2)]
    assert outcome(reviews) == [("sam",)]


def test_a_comment_after_an_approval_keeps_it() -> None:
    reviews = [review("sam", "APPROVED", 1), review("sam", "COMMENTED", 2)]
    assert outcome(reviews) == [("sam",)]


def test_a_comment_alone_approves_nothing() -> None:
    assert outcome([review("sam", "COMMENTED", 1)]) == [()]


def test_one_reviewers_latest_review_does_not_touch_anothers() -> None:
    reviews = [
        review("sam", "APPROVED", 1),
        review("sue", "CHANGES_REQUESTED", 2),
    ]
    result = evaluate([SECURITY], reviews, author=AUTHOR, head_sha=HEAD, teams=TEAMS)
    assert [o.approved_by for o in result.outcomes] == [("sam",)]
    assert result.changes_requested == ("sue",)


def test_timestamps_may_be_datetimes() -> None:
    early = Review("sam", "APPROVED", HEAD, datetime(2024, 6, 11, 12, 0, tzinfo=UTC))
    late = Review("sam", "DISMISSED", HEAD, datetime(2024, 6, 11, 12, 5))  # naive: UTC
    assert latest_reviews([late, early])["sam"] is late


def test_no_requirements_are_satisfied_by_nothing() -> None:
    result = evaluate([], [], author=AUTHOR, head_sha=HEAD)
    assert result.satisfied and result.outcomes == ()


def test_requirements_round_trip_through_the_report_json() -> None:
    requirement = Requirement(
        "policy:cost/approvals[0]",
        ("@acme/finance-ops",),
        "raising the cost limit",
        "policy",
        agents=("support-triage",),
        policy="cost",
    )
    assert Requirement.from_dict(requirement.to_dict()) == requirement
