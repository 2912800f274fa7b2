#!/usr/bin/env python3
"""A rule-based support triage agent speaking alm.agent/v1 on stdin/stdout (no dependencies).

It reads the ticket, escalates disputes and legal threats to a human, and routes
everything else to a queue. Swap the rules for a LangGraph graph, an OpenAI Agents SDK
run or anything else: alm only sees the messages. See docs/agent-protocol.md.

Run it under alm with, in agents/<name>/agent.yaml:

    runtime: {type: command, command: [python3, ../../examples/command-agent/agent.py]}
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

PROTOCOL = "alm.agent/v1"
DISPUTE = re.compile(r"chargeback|dispute|charged twice|refund")
LEGAL = re.compile(r"lawyer|lawsuit|legal|gdpr|regulator")
ESCALATIONS = [(LEGAL, "legal", "legal_threat"), (DISPUTE, "billing-disputes", "billing_dispute")]
QUEUES = [
    ("billing", re.compile(r"invoice|charge|billing|payment|receipt")),
    ("tech", re.compile(r"login|error|bug|sso|crash|outage")),
]


def send(message: dict[str, Any]) -> dict[str, Any]:
    """Write one message and read the answer: the protocol strictly alternates."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    return json.loads(line) if line else {}


def call(tools: set[str], name: str, arguments: dict[str, Any], ids: list[int]) -> Any:
    """Call a tool by its dotted name if alm offered it; returns the result or the error."""
    if name.replace(".", "__") not in tools:
        return {"error": f"{name} is not offered"}
    ids[0] += 1
    answer = send({"type": "tool_call", "id": f"c{ids[0]}", "name": name, "arguments": arguments})
    return answer.get("result") if "error" not in answer else {"error": answer["error"]}


def triage(start: dict[str, Any]) -> dict[str, Any]:
    tools = {t["function"]["name"] for t in start.get("tools", [])}
    text = start["input"]["message"] + " " + json.dumps(start["input"].get("context", {}))
    found = re.search(r"TCK-\d+", text)
    if not found:
        return {"type": "final", "output": "No ticket id in the request.", "outcome": "refused"}
    ticket_id, ids = found.group(0), [0]
    ticket = call(tools, "ticketing.get_ticket", {"ticket_id": ticket_id}, ids)
    if not isinstance(ticket, dict) or "error" in ticket:
        return {"type": "final", "output": f"Could not read {ticket_id}.", "outcome": "refused"}
    words = f"{ticket.get('subject', '')} {ticket.get('body', '')}".lower()
    for pattern, team, reason in ESCALATIONS:
        if pattern.search(words):
            summary = f"{ticket_id}: {reason.replace('_', ' ')} needs a human decision."
            arguments = {"team": team, "reason": reason, "summary": summary}
            call(tools, "human.escalate", {**arguments, "reference": ticket_id}, ids)
            output = f"Escalated {ticket_id} to {team}."
            return {"type": "final", "output": output, "outcome": "escalated"}
    queue = next((name for name, pattern in QUEUES if pattern.search(words)), "general")
    call(tools, "ticketing.update_ticket", {"ticket_id": ticket_id, "queue": queue}, ids)
    return {"type": "final", "output": f"Routed {ticket_id} to {queue}.", "outcome": "resolved"}


def main() -> int:
    start = json.loads(sys.stdin.readline())
    if start.get("type") != "start" or start.get("protocol") != PROTOCOL:
        sys.stdout.write(json.dumps({"type": "error", "message": "expected a start message"}))
        sys.stdout.write("\n")
        return 1
    sys.stdout.write(json.dumps(triage(start)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
