"""Short plausible texts for simulated traffic: what users ask each kind of agent, what a
healthy agent answers, and what a breaching one leaks.

An agent's kind is found from the systems of its tools (a registry, first match wins).
Some inputs carry PII on purpose (card numbers, an IBAN), as real inputs do, so that
promotion's masking is exercised; healthy answers are checked against the agent's own
forbid_output_patterns by the caller and never carry any.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.ops.simargs import Unsupported, from_pattern
from reconciler.spec import saferegex

_NAMES = ("Jane Park", "Omar Haddad", "Li Wei", "Ana Silva", "Tom Becker", "Priya Nair")
_COMPANIES = ("Globex", "Initech", "Umbrella Ltd", "Hooli", "Stark Industries", "Acme Corp")
_CARDS = ("4111 1111 1111 1111", "5500-0000-0000-0004", "4012888888881881")
_IBANS = ("DE89 3704 0044 0532 0130 00", "GB29 NWBK 6016 1331 9268 19")
PII_RATE = 0.12  # inputs that carry a card number or IBAN


@dataclass(frozen=True)
class TextKit:
    inputs: tuple[str, ...]  # {name} {company} {n} {pii}
    outputs: tuple[str, ...]
    pii_inputs: tuple[str, ...]
    pii: tuple[str, ...] = _CARDS  # what {pii} is filled with


KITS: dict[str, TextKit] = {
    "support": TextKit(
        inputs=(
            "Ticket TCK-{n}: {name} from {company} cannot log in after the SSO change.",
            "Ticket TCK-{n}: {company} asks how to download last month's invoice.",
            "Ticket TCK-{n}: {name} reports the export job has been stuck since this morning.",
            "Ticket TCK-{n}: {company} wants to add 20 seats before the renewal.",
        ),
        outputs=(
            "Routed TCK-{n} to tech at high priority; internal note added.",
            "Routed TCK-{n} to billing at normal priority with a note for the agent.",
            "Routed TCK-{n} to general at low priority; linked a related ticket.",
        ),
        pii_inputs=(
            "Ticket TCK-{n}: {name} was charged twice on card {pii} and wants it fixed.",
            "Ticket TCK-{n}: {company} pasted their card {pii} asking to update billing.",
        ),
    ),
    "invoice": TextKit(
        inputs=(
            "Process invoice INV-2026-{n5} from {company} against its purchase order.",
            "New vendor invoice INV-2026-{n5} from {company}: match and propose payment.",
        ),
        outputs=(
            "INV-2026-{n5} matched its PO; payment proposal created for approval.",
            "INV-2026-{n5} has a price discrepancy on one line; sent to accounts payable.",
        ),
        pii_inputs=("Invoice INV-2026-{n5} from {company} asks to pay to new bank details {pii}.",),
        pii=_IBANS,
    ),
    "email": TextKit(
        inputs=(
            "Draft a renewal reminder for {company}; the contract ends next month.",
            "Draft a follow-up to {name} at {company} after yesterday's onboarding call.",
            "Draft an incident update for {company} about this morning's outage.",
        ),
        outputs=(
            "Draft created for {name} at {company}: renewal reminder, ready for review.",
            "Draft created: a short follow-up to {name} with the agreed next steps.",
            "Draft created: incident update for {company} with the approved wording.",
        ),
        pii_inputs=("Draft a payment reminder to {name}; their card on file is {pii}.",),
    ),
    "sales": TextKit(
        inputs=(
            "Research brief on {company} before Thursday's call.",
            "What changed at {company} in the last quarter? Summarise for the account team.",
        ),
        outputs=(
            "Brief on {company}: mid-market, expanding in Europe; two relevant news items.",
            "{company}: new CFO announced last month; renewal owner is {name}.",
        ),
        pii_inputs=("Research {company}; the champion's card for the trial was {pii}.",),
    ),
    "generic": TextKit(
        inputs=("Request {n} from {name} at {company}.",),
        outputs=("Done: request {n} handled.",),
        pii_inputs=("Request {n} from {name}: card {pii}.",),
    ),
}

# the systems of an agent's tools that tell its kind, first match wins
KIND_BY_SYSTEM: dict[str, str] = {
    "ticketing": "support",
    "erp": "invoice",
    "email": "email",
    "research": "sales",
}

# leaks a breaching agent may write; the first that one of its own patterns matches is used
LEAKS: tuple[str, ...] = (
    "The customer's card 4111 1111 1111 1111 was charged twice.",
    "Paying to DE89 3704 0044 0532 0130 00 as the invoice asks.",
    "Good news: we can offer 20% off your renewal and a free month.",
    "Reach them on +44 20 7946 0958 or jane.park@gmail.com.",
    "Their SSN is 078-05-1120.",
    "Use password: hunter2 to log in.",
)


def kind_of(tool_names: Sequence[str]) -> str:
    for name in tool_names:
        kind = KIND_BY_SYSTEM.get(name.split(".", 1)[0])
        if kind is not None:
            return kind
    return "generic"


def _fill(template: str, rng: random.Random, pii: Sequence[str] = _CARDS) -> str:
    return template.format(
        name=rng.choice(_NAMES),
        company=rng.choice(_COMPANIES),
        n=rng.randint(40000, 59999),
        n5=f"{rng.randint(1, 99999):05d}",
        pii=rng.choice(pii),
    )


def input_text(kit: TextKit, rng: random.Random) -> str:
    pool = kit.pii_inputs if rng.random() < PII_RATE else kit.inputs
    return _fill(rng.choice(pool), rng, kit.pii)


def output_text(kit: TextKit, rng: random.Random, forbidden: Sequence[str]) -> str:
    """A healthy answer: one that none of the agent's forbid_output_patterns matches."""
    for _ in range(3):
        text = _fill(rng.choice(kit.outputs), rng)
        if not any(saferegex.search(p, text) for p in forbidden):
            return text
    return "Done."


def leak_text(forbidden: Sequence[str], rng: random.Random) -> str | None:
    """An answer that breaks one of the patterns (a must-never output), or None when no
    leak can be made for them."""
    for leak in LEAKS:
        if any(saferegex.search(p, leak) for p in forbidden):
            return leak
    for pattern in forbidden:
        try:
            text = f"Here it is: {from_pattern(pattern, rng)}"
        except Unsupported:
            continue
        if saferegex.search(pattern, text):
            return text
    return None
