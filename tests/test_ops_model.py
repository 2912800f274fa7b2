"""The window of `alm ops` commands (reconciler.ops.model.parse_window): --since/--until/
--hours across midnight, month and year ends, with time zones in ISO times, and times no
trace can have (before 1970, past what the store holds) held at the ends instead of
failing as an unexpected error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.errors import UsageError
from reconciler.ops.model import MAX_NS, NS_PER_S, Window, parse_window

NEW_YEAR_EVE = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)
HOUR = 3600 * NS_PER_S


def ns(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * NS_PER_S + moment.microsecond * 1000


def window(since: str | None = None, until: str | None = None, hours: float | None = None,
           now: datetime = NEW_YEAR_EVE) -> Window:  # fmt: skip
    return parse_window(since, until, hours, now)


def test_the_default_is_the_last_24_hours_across_the_year_end() -> None:
    got = window(now=datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    assert got == Window(ns("2025-12-31T00:30:00+00:00") + 365 * 24 * HOUR,
                         ns("2027-01-01T00:30:00+00:00"))  # fmt: skip
    assert got.describe() == "2026-12-31T00:30:00Z to 2027-01-01T00:30:00Z (24 h)"


@pytest.mark.parametrize(
    ("since", "until", "start", "end"),
    [  # the same instant in any zone; a time without one is UTC
        ("2026-12-31T23:00:00-02:00", None, "2027-01-01T01:00:00+00:00", None),
        (
            "2027-01-01T08:00:00+09:00",
            "2027-01-01T00:00:00Z",
            "2026-12-31T23:00:00+00:00",
            "2027-01-01T00:00:00+00:00",
        ),
        (
            "2026-02-28T23:00:00+01:00",
            "2026-03-01T01:00:00+01:00",
            "2026-02-28T22:00:00+00:00",
            "2026-03-01T00:00:00+00:00",
        ),
        (
            "2028-02-29T23:30:00",
            "2028-03-01T00:30",
            "2028-02-29T23:30:00+00:00",
            "2028-03-01T00:30:00+00:00",
        ),
        (
            "2026-11-30t23:00:00z",
            "2026-12-01 06:00:00+05:30",
            "2026-11-30T23:00:00+00:00",
            "2026-12-01T00:30:00+00:00",
        ),  # RFC 3339's lowercase t and z
    ],
)
def test_iso_times_with_zones(since: str, until: str | None, start: str, end: str | None) -> None:
    got = window(since, until, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert got.start_ns == ns(start)
    assert got.end_ns == (ns(end) if end else ns("2030-01-01T00:00:00+00:00"))


def test_durations_count_back_from_now_across_month_and_year_ends() -> None:
    got = window("7d", "1h")
    assert got.describe() == "2026-12-24T23:59:30Z to 2026-12-31T22:59:30Z (6.95833 d)"
    march = datetime(2026, 3, 1, 0, 15, tzinfo=UTC)
    assert window(hours=0.5, now=march).describe() == (
        "2026-02-28T23:45:00Z to 2026-03-01T00:15:00Z (0.5 h)"
    )
    assert window("2w", now=march).start_ns == ns("2026-02-15T00:15:00+00:00")


@pytest.mark.parametrize(
    ("since", "until", "hours"),
    [
        ("999999w", None, None),  # 19,000 years: before any trace
        ("0001-01-01T00:00:00+01:00", None, None),  # an hour before datetime's first day
        (None, None, 1e15),
        (None, None, 1e300),  # infinite once in nanoseconds
    ],
)
def test_a_start_before_1970_is_the_first_trace(since, until, hours) -> None:
    assert window(since, until, hours) == Window(0, ns("2026-12-31T23:59:30+00:00"))


def test_an_end_past_the_store_range_is_its_last_time() -> None:
    got = window("1d", "9999-12-31T23:59:59-06:00")
    assert got.end_ns == MAX_NS and got.start_ns == ns("2026-12-30T23:59:30+00:00")
    assert got.describe().endswith("2262-04-11T23:47:16Z (85934 d)")


@pytest.mark.parametrize(
    ("since", "until", "hours", "message"),
    [
        (None, "0001-01-01", None, "starts at 1970-01-01T00:00:00Z, not before its end 1970"),
        ("9999-01-01", "9999-12-31", None, "starts at 2262-04-11T23:47:16Z, not before"),
        ("0s", None, None, "not before its end"),
        (
            "2026-12-01T00:00:00Z",
            "2026-12-01T05:00:00+05:30",
            None,
            "starts at 2026-12-01T00:00:00Z, not before its end 2026-11-30T23:30:00Z",
        ),
        ("yesterday", None, None, "--since 'yesterday': expected a duration"),
        (None, "2026-13-01", None, "--until '2026-13-01': expected a duration"),
        ("1h", None, 2, "--since and --hours both"),
        (None, None, float("nan"), "--hours nan: expected a positive number"),
        (None, None, -1, "--hours -1: expected a positive number"),
    ],
)
def test_bad_windows_are_usage_errors(since, until, hours, message) -> None:
    with pytest.raises(UsageError, match=message):
        window(since, until, hours)
