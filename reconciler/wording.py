"""How counts read in messages: "1 error", "2 errors". Every count alm prints goes through
here, so no message says "1 trials"."""

from __future__ import annotations


def noun(count: int, one: str, many: str | None = None) -> str:
    """The noun alone in the number `count` asks for (`many` defaults to `one` + "s"): for
    a count printed in its own format, as in f"{n:,} {noun(n, 'task')}"."""
    return one if count == 1 else (many or one + "s")


def plural(count: int, one: str, many: str | None = None) -> str:
    """`count` and the noun in the right number (`many` defaults to `one` + "s")."""
    return f"{count} {noun(count, one, many)}"
