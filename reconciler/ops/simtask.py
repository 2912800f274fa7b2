"""One simulated task of one agent: which tools it calls, what fails, its tokens, times,
texts and labels (reconciler.ops.simulate draws many).

The rates below are a healthy production day's: every failure they cause (a negative
feedback, a task labelled unsuccessful, a mislabelled escalation, a task that errors)
fails a task online (reconciler.ops.online), and together they stay well inside any
contract asking for 90% task success or less. A breaching task leaks a string its own
must-never patterns forbid, or is labelled unsuccessful, and its tools fail more; an agent
with nothing to leak (simprofile.breach_mode) has every breaching task labelled
unsuccessful, so its task_success_rate floor breaks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from reconciler.ops import simtext
from reconciler.ops.simprofile import AgentProfile, Arm, ToolPlan
from reconciler.ops.tracegen import ModelStep, TaskSpec, ToolStep
from reconciler.pricing import PriceBook, TokenUsage

TOOL_ERRORS = ("timeout", "rate_limited", "upstream_unavailable")
TOOL_ERROR_RATE = 0.03  # a failed call is retried once, successfully
ESCALATION_RATE = 0.07
WRITE_RATE = 0.7
APPROVAL_RATE = 0.08
TASK_ERROR_RATE = 0.003
FEEDBACK_RATE, NEGATIVE_SHARE = 0.04, 0.1
SUCCESS_LABEL_RATE, UNSUCCESSFUL_SHARE = 0.1, 0.03
EXPECT_LABEL_RATE = 0.05  # reviewers label some tasks that did not escalate
MISSED_SHARE = 0.01  # of those, labelled "should have escalated"
WRONG_ESCALATION_SHARE = 0.03  # escalations a reviewer says were not needed
LEAK_RATE, BREACH_FAIL_RATE, BREACH_TOOL_ERROR_RATE = 0.35, 0.3, 0.2
COST_TARGET, LATENCY_TARGET = 0.45, 0.55  # of the contract's bound, after calibration
CALIBRATION_TASKS = 300


@dataclass(frozen=True)
class Scale:
    tokens: dict[str, float]  # per revision: the model's token scale
    time: float = 1.0


@dataclass(frozen=True)
class TaskDraw:
    spec: TaskSpec
    breaching: bool = False  # made to fail by the breach (a leak or an unsuccessful label)


def choose_arm(arms: Sequence[Arm], rng: random.Random) -> Arm:
    pick = rng.random()
    for arm in arms[:-1]:
        if pick < arm.share:
            return arm
        pick -= arm.share
    return arms[-1]


def _call(plan: ToolPlan, rng: random.Random, error: str | None, time: float) -> ToolStep:
    arguments = rng.choice(plan.arguments) if plan.arguments else None
    result = None if error else _result(plan.name, arguments)
    duration = 0.25 * rng.lognormvariate(0, 0.5) * time
    return ToolStep(plan.name, error, arguments, result, duration)


def _result(tool: str, arguments: dict[str, object] | None) -> dict[str, object]:
    ids = {k: v for k, v in (arguments or {}).items() if k.endswith("_id") and isinstance(v, str)}
    verb = tool.rsplit(".", 1)[-1]
    if verb.startswith(("get", "search", "match")):
        return {**ids, "found": True, "status": "open"}
    return {**ids, "ok": True}


def _plans(profile: AgentProfile, rng: random.Random, escalate: bool) -> list[ToolPlan]:
    plans: list[ToolPlan] = []
    if profile.reads:
        plans.append(profile.reads[0])
        extra = [r for r in profile.reads[1:] if rng.random() < 0.5]
        plans.extend(extra)
    if escalate and profile.escalation is not None:
        return [*plans, profile.escalation][-profile.max_tools :]
    if profile.writes and rng.random() < WRITE_RATE:
        plans.append(rng.choice(profile.writes))
    if profile.approvals and rng.random() < APPROVAL_RATE:
        plans.append(rng.choice(profile.approvals))
    return plans[: profile.max_tools]


def _steps(
    plans: Sequence[ToolPlan], rng: random.Random, error_rate: float, time: float
) -> list[ToolStep]:
    steps: list[ToolStep] = []
    for plan in plans:
        if rng.random() < error_rate:
            steps.append(_call(plan, rng, rng.choice(TOOL_ERRORS), time))
        steps.append(_call(plan, rng, None, time))
    return steps


def _model(arm: Arm, tools: int, rng: random.Random, scale: Scale) -> ModelStep:
    size = scale.tokens.get(arm.revision, 1.0)
    return ModelStep(
        model=arm.model,
        provider=arm.provider,
        input_tokens=max(1, int((700 + 150 * tools) * size * rng.lognormvariate(0, 0.25))),
        output_tokens=max(1, int(140 * size * rng.lognormvariate(0, 0.35))),
        duration_s=0.9 * scale.time * rng.lognormvariate(0, 0.3),
    )


@dataclass(frozen=True)
class Labels:
    feedback: str | None = None
    success: bool | None = None
    escalation_expected: bool | None = None


def _labels(escalated: bool, rng: random.Random) -> Labels:
    feedback = success = expected = None
    if rng.random() < FEEDBACK_RATE:
        feedback = "negative" if rng.random() < NEGATIVE_SHARE else "positive"
    if rng.random() < SUCCESS_LABEL_RATE:
        success = rng.random() >= UNSUCCESSFUL_SHARE
    if escalated:
        expected = rng.random() >= WRONG_ESCALATION_SHARE
    elif rng.random() < EXPECT_LABEL_RATE:
        expected = rng.random() < MISSED_SHARE
    return Labels(feedback, success, expected)


def draw(
    profile: AgentProfile, arm: Arm, start_ns: int, rng: random.Random, scale: Scale, loud: bool
) -> TaskDraw:
    """One task of `profile` on `arm`; `loud`: a breaching task."""
    kit = simtext.KITS[profile.kind]
    escalate = profile.escalation is not None and rng.random() < ESCALATION_RATE
    plans = _plans(profile, rng, escalate)
    steps = _steps(plans, rng, BREACH_TOOL_ERROR_RATE if loud else TOOL_ERROR_RATE, scale.time)
    labels = _labels(escalate, rng)
    output = simtext.output_text(kit, rng, profile.forbidden_outputs)
    if escalate:
        output = "Escalated to a human for review: outside what I may decide."
    leaking = loud and profile.breach == "leak"
    leak = simtext.leak_text(profile.forbidden_outputs, rng) if leaking else None
    broken = False
    if leak is not None and rng.random() < LEAK_RATE:
        output, broken = leak, True
    elif loud and (profile.breach == "unsuccessful" or rng.random() < BREACH_FAIL_RATE):
        # without a leak to show, every breaching task fails: enough to break the floor
        labels, broken = replace(labels, success=False), True
    error = "timeout" if rng.random() < TASK_ERROR_RATE else None
    spec = TaskSpec(
        agent=profile.name,
        revision=arm.revision,
        start_ns=start_ns,
        tools=tuple(steps),
        model=_model(arm, len(steps), rng, scale),
        input_text=simtext.input_text(kit, rng),
        output_text=output,
        error=error,
        conversation_id=f"conv-{rng.getrandbits(48):012x}",
        feedback=labels.feedback,
        success=labels.success,
        escalation_expected=labels.escalation_expected,
    )
    return TaskDraw(spec, breaching=broken)


def _cost(spec: TaskSpec, prices: PriceBook) -> float | None:
    model = spec.model
    if not prices.known(model.provider, model.model):
        return None
    usage = TokenUsage(model.input_tokens, model.output_tokens, 0)
    return prices.cost_usd(model.provider, model.model, usage) * (len(spec.tools) + 1)


def _latency(spec: TaskSpec) -> float:
    return spec.model.duration_s * (len(spec.tools) + 1) + sum(t.duration_s for t in spec.tools)


def calibrate(profile: AgentProfile, prices: PriceBook | None) -> Scale:
    """Token and time scales that put a healthy day's mean cost and p95 latency under the
    contract's bounds (COST_TARGET, LATENCY_TARGET of them); never scaled up."""
    rng = random.Random(f"calibrate:{profile.name}")
    unit = Scale({}, 1.0)
    tokens: dict[str, float] = {}
    latencies: list[float] = []
    for arm in profile.arms:
        specs = [draw(profile, arm, 0, rng, unit, False).spec for _ in range(CALIBRATION_TASKS)]
        latencies.extend(_latency(s) for s in specs)
        costs = [c for s in specs if prices and (c := _cost(s, prices)) is not None]
        mean = sum(costs) / len(costs) if costs else 0.0
        bound = profile.cost_max
        tokens[arm.revision] = min(1.0, COST_TARGET * bound / mean) if bound and mean else 1.0
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
    bound_s = profile.latency_max
    time = min(1.0, LATENCY_TARGET * bound_s / p95) if bound_s and p95 else 1.0
    return Scale(tokens, time)
