"""Make the demo's pull request: edit the example fleet the way a team would.

Text edits, so comments and layout survive, as in a real review. Each edit must
apply exactly; a fleet that no longer matches fails loudly instead of demoing nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

EDITS: list[tuple[str, str, str]] = [
    # support-triage: swap to a cheaper model (its answers are worse) and grant a CRM write
    # tool; its contract forbade CRM writes, so the rule is narrowed in the same change
    # (alm validate refuses a grant that the agent's own must_never forbids)
    ("agents/support-triage/agent.yaml", "  name: gpt-4.1-mini\n", "  name: gpt-4.1-nano\n"),
    (
        "agents/support-triage/agent.yaml",
        "      rule: Never change or delete CRM records; triage only reads the CRM.\n"
        "      forbid_tools: [crm.update_record, crm.delete_record]\n",
        "      rule: Never delete CRM records; triage only corrects a customer's plan.\n"
        "      forbid_tools: [crm.delete_record]\n",
    ),
    (
        "agents/support-triage/agent.yaml",
        "  - crm.search_contacts\n",
        "  - crm.search_contacts\n  - crm.update_record\n",
    ),
    (
        "agents/support-triage/agent.yaml",
        "      queue: {enum: [billing, tech, general]}\n",
        "      queue: {enum: [billing, tech]}\n",
    ),
    (
        "agents/support-triage/prompts/system.md",
        "4. Add one internal note",
        "4. Update the CRM record when the customer's plan is out of date.\n"
        "5. Add one internal note",
    ),
    ("agents/support-triage/prompts/system.md", "5. Finish with", "6. Finish with"),
    # email-drafting: widen its canary (a new revision that passes its evals, so it reaches
    # prod, where the demo rolls it back)
    (
        "agents/email-drafting/agent.yaml",
        "  rollout: {strategy: canary, canary_percent: 10}\n",
        "  rollout: {strategy: canary, canary_percent: 25}\n",
    ),
]

# (file, first line of the block, the line that follows it): the block is deleted.
CUTS: list[tuple[str, str, str]] = [
    # sales-research: drop a must_never rule
    (
        "agents/sales-research/agent.yaml",
        "    - id: no-personal-contact-details\n",
        "  escalation:\n",
    ),
]


def main(root: Path) -> int:
    for rel, old, new in EDITS:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        if old not in text:
            print(f"demo_change: {rel} no longer contains {old!r}", file=sys.stderr)
            return 1
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    for rel, first, following in CUTS:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        start = text.find(first)
        end = text.find(following, start)
        if start < 0 or end < 0:
            print(f"demo_change: {rel} no longer contains {first!r}", file=sys.stderr)
            return 1
        path.write_text(text[:start] + text[end:], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
