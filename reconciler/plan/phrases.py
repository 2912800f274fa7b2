"""The phrase tables: which words each change of the desired state reads in.

Paths are those of the normalised views built in reconciler.plan.state_views: grants
keyed by tool name, must-never rules by id, environments, policies, validations
and prices by name. Order matters: the first matching pattern wins.
"""

from __future__ import annotations

from typing import Any

from reconciler.plan.phrasing import (
    MISSING,
    Change,
    Context,
    Edit,
    Registry,
    arrow,
    constraint_text,
    delta,
    fmt,
    generic,
    presence,
    prompt_diff,
    short_version,
    text_change,
    tool_info,
)
from reconciler.wording import plural


def _grant(ctx: Context, e: Edit) -> Change:
    name = str(e.path[1])
    info = tool_info(name, ctx.head_tools, ctx.base_tools)
    if e.after is MISSING:
        return e.change("tool.revoked", f"tool revoked: {name} ({info})")
    if e.before is not MISSING or not isinstance(e.after, dict):
        return generic(ctx, e)
    if e.after.get("requires_approval"):
        info += ", human approval"
    constraints = e.after.get("constraints") or {}
    detail = "\n".join(f"constraint {arg} {constraint_text(c)}" for arg, c in constraints.items())
    return e.change("tool.granted", f"tool granted: {name} ({info})", detail or None)


def _approval(_ctx: Context, e: Edit) -> Change:
    if e.after is True:
        return e.change("tool.approval_added", f"human approval added: {e.path[1]}")
    return e.change("tool.approval_removed", f"human approval removed: {e.path[1]}")


def _constraint(_ctx: Context, e: Edit) -> Change:
    where = f"{e.path[1]} {e.path[3]}"
    if e.before is MISSING:
        return e.change(
            "tool.constraint_added", f"tool constraint added: {where} {constraint_text(e.after)}"
        )
    if e.after is MISSING:
        return e.change(
            "tool.constraint_removed",
            f"tool constraint removed: {where} {constraint_text(e.before)}",
        )
    return e.change(
        "tool.constraint_changed",
        f"tool constraint changed: {where} {fmt(e.before)} → {fmt(e.after)}",
    )


def _prompt(ctx: Context, e: Edit) -> Change:
    shown = ctx.head_prompt or ctx.base_prompt
    where = shown.path if shown else "the prompt"
    versions = f"{short_version(e.before)} → {short_version(e.after)}"
    detail = prompt_diff(ctx.base_prompt, ctx.head_prompt)
    return e.change("prompt.changed", f"prompt changed: {where} ({versions})", detail or None)


def _escalation(ctx: Context, e: Edit) -> Change:
    if isinstance(e.after, dict) and not isinstance(e.before, dict):
        when = "; ".join(str(w) for w in e.after.get("when", []))
        return e.change("escalation.added", f"escalation added: {e.after['tool']} (when: {when})")
    if isinstance(e.before, dict) and not isinstance(e.after, dict):
        return e.change("escalation.removed", f"escalation removed: {e.before['tool']}")
    return generic(ctx, e)


def _label(_ctx: Context, e: Edit) -> Change:
    key = e.path[2]
    if e.before is MISSING:
        return e.change("label.added", f"label added: {key}={fmt(e.after)}")
    if e.after is MISSING:
        return e.change("label.removed", f"label removed: {key}={fmt(e.before)}")
    return e.change("label.changed", f"label {key} {fmt(e.before)} → {fmt(e.after)}")


def _rule(rule: Any) -> str:
    return str(rule.get("rule", "")) if isinstance(rule, dict) else fmt(rule)


AGENT_PHRASES: Registry = {
    "metadata.owners": delta("owners.changed", "owners"),
    "metadata.labels.*": _label,
    "metadata.description": text_change("description.changed", "description"),
    "model.name": arrow("model.changed", "model"),
    "model.provider": arrow("model.provider_changed", "model provider"),
    "model.params.*": arrow("model.param_changed", "model param {p[2]}"),
    "prompt.system": arrow("prompt.path_changed", "prompt file"),
    "prompt.version": _prompt,
    "tools.*": _grant,
    "tools.*.requires_approval": _approval,
    "tools.*.constraints.*": _constraint,
    "tools.*.constraints.*.**": arrow(
        "tool.constraint_changed", "tool constraint changed: {p[1]} {p[3]}", rest_from=4
    ),
    "contract.purpose": text_change("purpose.changed", "purpose"),
    "contract.scope.*": delta("scope.changed", "scope {p[2]}", quote=True),
    "contract.must_never.*": presence("must_never", "must_never rule", _rule),
    "contract.must_never.*.rule": text_change("must_never.changed", "must_never rule {p[2]} text"),
    "contract.must_never.*.*": delta("must_never.changed", "must_never rule {p[2]} {p[3]}"),
    "contract.escalation": _escalation,
    "contract.escalation.tool": arrow("escalation.changed", "escalation tool"),
    "contract.escalation.when": delta("escalation.changed", "escalation when", quote=True),
    "contract.success_metrics.*": presence("success_metric", "success metric", constraint_text),
    "contract.success_metrics.*.*": arrow("success_metric.changed", "success metric {p[2]} {p[3]}"),
    "contract.volume.**": arrow("volume.changed", "volume", rest_from=2),
    "limits.*": arrow("limits.changed", "limits {p[1]}"),
    "runtime.*": arrow("runtime.changed", "runtime {p[1]}"),
    "deploy.environments": arrow("deploy.environments_changed", "deploy environments"),
    "deploy.rollout.*": arrow("deploy.rollout_changed", "rollout {p[2]}"),
}


def _access_risk(tool: Any) -> str:
    return f"{tool.get('access')}, {tool.get('risk')} risk" if isinstance(tool, dict) else ""


CATALOG_PHRASES: Registry = {
    "*": presence("catalog.tool", "catalog: tool", _access_risk),
    "*.risk": arrow("catalog.risk_changed", "catalog: {p[0]} risk"),
    "*.access": arrow("catalog.access_changed", "catalog: {p[0]} access"),
    "*.data_classes": delta("catalog.data_classes_changed", "catalog: {p[0]} data_classes"),
    "*.approvers": delta("catalog.approvers_changed", "catalog: {p[0]} approvers"),
    "*.parameters.**": arrow(
        "catalog.parameters_changed", "catalog: {p[0]} parameters", rest_from=2
    ),
    "*.description": text_change("catalog.description_changed", "catalog: {p[0]} description"),
    "*.**": arrow("catalog.changed", "catalog: {p[0]}", rest_from=1),
}


def _order(_ctx: Context, e: Edit) -> Change:
    old = e.before if isinstance(e.before, list) else []
    new = e.after if isinstance(e.after, list) else []
    kind = "environment.reordered" if sorted(old) == sorted(new) else "environment.order_changed"
    return e.change(kind, f"promotion order {fmt(old)} → {fmt(new)}")


def _target(env: Any) -> str:
    target = env.get("target", {}) if isinstance(env, dict) else {}
    where = target.get("path") or target.get("url")
    if target.get("type") == "git":
        where = f"branch {target.get('branch')}" + (
            f" of {target['repository']}" if target.get("repository") else ""
        )
    return f"{target.get('type')} {where}"


ENVIRONMENT_PHRASES: Registry = {
    "order": _order,
    "environments.*": presence("environment", "environment", _target),
    "environments.*.gates.*": arrow("environment.gate_changed", "environment {p[1]} gate {p[3]}"),
    "environments.*.**": arrow("environment.changed", "environment {p[1]}", rest_from=2),
}


def _policy_size(policy: Any) -> str:
    validations, approvals = len(policy.get("validations", {})), len(policy.get("approvals", {}))
    return f"{plural(validations, 'validation')}, {plural(approvals, 'approval rule')}"


def _message(validation: Any) -> str:
    return str(validation.get("message", "")) if isinstance(validation, dict) else ""


def _approvers(rule: Any) -> str:
    return "from " + fmt(rule.get("from", [])) if isinstance(rule, dict) else ""


POLICY_PHRASES: Registry = {
    "*": presence("policy", "policy", _policy_size),
    "*.validations.*": presence("policy.validation", "policy {p[0]} validation", _message),
    "*.validations.*.*": arrow(
        "policy.validation_changed", "policy {p[0]} validation {p[2]} {p[3]}"
    ),
    "*.approvals.*": presence("policy.approval", "policy {p[0]} approval rule", _approvers),
    "*.approvals.*.*": arrow(
        "policy.approval_changed", "policy {p[0]} approval rule {p[2]} {p[3]}"
    ),
    "*.**": arrow("policy.changed", "policy {p[0]}", rest_from=1),
}


def _price(price: Any) -> str:
    if not isinstance(price, dict):
        return ""
    return (
        f"input {fmt(price.get('input_usd_per_mtok'))}, "
        f"output {fmt(price.get('output_usd_per_mtok'))} USD per million tokens"
    )


PRICING_PHRASES: Registry = {
    "*": presence("price", "price", _price),
    "*.*": arrow("price.changed", "price {p[0]} {p[1]}"),
}
