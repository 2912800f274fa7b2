"""How counts read in messages: "1 error", "2 errors"."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """`count` and the noun in the right number (`many` defaults to `one` + "s")."""
    return f"{count} {one if count == 1 else (many or one + 's')}"
