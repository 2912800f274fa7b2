"""Masking a production trace's content with the agent's own forbid_output_patterns.

What a contract forbids the agent to say (card numbers, IBANs, national ids) is what must
not be copied from a trace into a file of the repository either. Every match is replaced
by `«masked:<rule id>»` before anything is written or printed. Patterns run on RE2
(reconciler.spec.saferegex): linear time, whatever the text.

Numbers are masked too: a card number can arrive as a JSON number in a tool result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.spec import saferegex
from reconciler.spec.agent import Agent


@dataclass(frozen=True)
class Masker:
    """(rule id, compiled pattern) pairs, applied in the contract's order."""

    patterns: tuple[tuple[str, saferegex.SafePattern], ...]

    @property
    def active(self) -> bool:
        return bool(self.patterns)

    def text(self, value: str) -> str:
        """Every stretch any pattern matches in the original text, overlapping matches
        merged, replaced by one placeholder (the rule of the match it starts with). Matching the
        original, not a partly masked text, keeps one pattern from hiding another's match
        (a card pattern eating the digits of an IBAN)."""
        found = sorted(
            (start, end, rule)
            for rule, pattern in self.patterns
            for start, end in pattern.spans(value)
        )
        if not found:
            return value
        pieces: list[str] = []
        done = 0
        for start, end, rule in found:
            if end <= done:
                continue
            if start < done:  # overlaps the stretch just masked: extend it
                done = end
                continue
            pieces += [value[done:start], placeholder(rule)]
            done = end
        return "".join(pieces) + value[done:]

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string, key and number masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            shown = str(value)
            masked = self.text(shown)
            return value if masked == shown else masked
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return self.text(str(value))


def placeholder(rule: str) -> str:
    return f"«masked:{rule}»"


def masker_for(agent: Agent) -> Masker:
    """The agent's must-never output patterns (checked when the spec loaded)."""
    return Masker(
        tuple(
            (rule.id, saferegex.compile(pattern))
            for rule in agent.contract.must_never
            for pattern in rule.forbid_output_patterns
        )
    )


def rules_of(masker: Masker) -> Sequence[str]:
    """The rule ids that mask, once each, for messages."""
    return list(dict.fromkeys(rule for rule, _ in masker.patterns))
