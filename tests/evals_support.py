"""A small agent, catalog and case for the eval runner, provider and engine tests."""

from __future__ import annotations

import copy
from typing import Any

from reconciler.evals.types import CaseJob
from reconciler.pricing import PriceBook
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Tool
from reconciler.spec.evalsuite import Case

SYSTEM_PROMPT = "You triage support tickets. Route them; escalate disputes."

TOOLS: list[dict[str, Any]] = [
    {
        "name": "ticketing.get_ticket",
        "system": "ticketing",
        "description": "Fetch a ticket.",
        "access": "read",
        "risk": "medium",
        "parameters": {
            "type": "object",
            "properties": {"ticket_id": {"type": "string", "pattern": "^TCK-[0-9]+$"}},
            "required": ["ticket_id"],
            "additionalProperties": False,
        },
    },
    {
        "name": "ticketing.update_ticket",
        "system": "ticketing",
        "description": "Route a ticket.",
        "access": "write",
        "risk": "medium",
        "parameters": {
            "type": "object",
            "properties": {
                "ticket_id": {"type": "string"},
                "queue": {"type": "string", "enum": ["billing", "tech", "general", "legal"]},
                "priority": {"type": "integer", "minimum": 1, "maximum": 5},
                "visibility": {"type": "string", "default": "public"},
            },
            "required": ["ticket_id"],
            "additionalProperties": False,
        },
    },
    {
        "name": "human.escalate",
        "system": "human",
        "description": "Hand the ticket to a human.",
        "access": "write",
        "risk": "low",
        "parameters": {
            "type": "object",
            "properties": {
                "team": {"type": "string"},
                "reason": {"type": "string"},
                "summary": {"type": "string", "minLength": 5},
                "reference": {"type": "string"},
            },
            "required": ["summary"],
        },
    },
    {
        "name": "billing.issue_refund",
        "system": "billing",
        "description": "Refund money.",
        "access": "write",
        "risk": "critical",
        "parameters": {"type": "object", "properties": {"amount": {"type": "number"}}},
    },
    {
        "name": "billing.get_invoice",
        "system": "billing",
        "description": "Read an invoice.",
        "access": "read",
        "risk": "medium",
        "parameters": {"type": "object", "properties": {"invoice_id": {"type": "string"}}},
    },
    {
        "name": "crm.update_record",
        "system": "crm",
        "description": "Change a CRM record.",
        "access": "write",
        "risk": "high",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
    },
]

AGENT: dict[str, Any] = {
    "apiVersion": "alm/v1",
    "kind": "Agent",
    "metadata": {"name": "triage", "owners": ["@acme/support"]},
    "contract": {
        "purpose": "Triage tickets.",
        "must_never": [
            {"id": "no-refunds", "rule": "Never refund.", "forbid_tools": ["billing.issue_refund"]}
        ],
        "success_metrics": {"task_success_rate": {"min": 0.9}},
    },
    "model": {"provider": "openai", "name": "gpt-4.1-mini", "params": {"temperature": 0}},
    "prompt": {"system": "prompts/system.md"},
    "tools": [
        "ticketing.get_ticket",
        {
            "name": "ticketing.update_ticket",
            "constraints": {
                "queue": {"enum": ["billing", "tech"]},
                "priority": {"maximum": 3},
                "visibility": {"const": "internal"},
            },
        },
        {"name": "human.escalate", "requires_approval": True},
        "billing.*",
    ],
    "limits": {"max_steps": 6, "timeout_s": 10},
}

CASE: dict[str, Any] = {
    "id": "dispute",
    "input": {"message": "Triage ticket TCK-1.", "context": {"channel": "email"}},
    "fixtures": [
        {"tool": "ticketing.get_ticket", "args": {"ticket_id": "TCK-1"}, "returns": {"body": "x"}},
        {"tool": "ticketing.get_ticket", "args": {"ticket_id": "TCK-2"}, "error": "not found"},
        {"tool": "ticketing.update_ticket", "returns": {"ok": True}},
        {"tool": "human.escalate", "args": {"reason": "deny"}, "error": "approval denied"},
        {"tool": "human.escalate", "returns": {"handed_to": "tier2"}},
        {"tool": "billing.issue_refund", "returns": {"refunded": True}},
    ],
    "expect": {"outcome": "escalated"},
}


def catalog() -> dict[str, Tool]:
    return {t["name"]: Tool.model_validate(t) for t in TOOLS}


def agent(**changes: Any) -> Agent:
    data = copy.deepcopy(AGENT)
    data.update(changes)
    return Agent.model_validate(data)


def case(**changes: Any) -> Case:
    data = copy.deepcopy(CASE)
    data.update(changes)
    return Case.model_validate(data)


def job(the_agent: Agent | None = None, the_case: Case | None = None, trial: int = 0) -> CaseJob:
    return CaseJob(
        agent=the_agent or agent(),
        system_prompt=SYSTEM_PROMPT,
        catalog=catalog(),
        case=the_case or case(),
        prices=PriceBook(),
        trial=trial,
    )
