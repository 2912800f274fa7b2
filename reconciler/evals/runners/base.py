"""What every runner shares: a trial bounded by limits.timeout_s that always returns a trajectory.

A runner fills in a Trajectory as it goes. When the trial times out, or a model call or
the agent fails, the runner still returns what happened so far, with stop_reason
``timeout`` or ``error``: never a pass.

A trial's latency is recorded, never measured here: the sum of its model calls' latencies
(as the provider reports them: the measured round trip when live, the cassette's figure
in replay, or what an external agent reports in its usage) plus its tool calls' latency
(0: fixtures answer at once). Local wall time, which grows with the machine's load and
the run's concurrency, never enters it, so a replayed run has the same latency anywhere.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Awaitable, Callable

from reconciler.errors import AlmError
from reconciler.evals.types import CaseJob, ModelCall, NotRecorded, Trajectory
from reconciler.pricing import PriceBook, TokenUsage


class AgentProtocolError(AlmError):
    """An external agent broke the alm.agent/v1 protocol, crashed or could not be reached."""


TrialBody = Callable[[Trajectory], Awaitable[None]]


async def run_bounded(job: CaseJob, body: TrialBody) -> Trajectory:
    """Run ``body`` under the agent's timeout; failures end the trajectory, never the run."""
    trajectory = Trajectory()
    timeout_s = job.agent.limits.timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            await body(trajectory)
    except TimeoutError:
        fail(trajectory, f"timed out after {timeout_s:g} s (limits.timeout_s)", "timeout")
    except NotRecorded as exc:
        fail(trajectory, exc.message)
        trajectory.not_recorded = True
    except AlmError as exc:
        fail(trajectory, exc.message)
    trajectory.latency_s = recorded_latency(trajectory)
    return trajectory


def recorded_latency(trajectory: Trajectory) -> float:
    """Model latency as reported, plus each answered tool call's declared fixture latency:
    recorded figures only, so replay latency never depends on the machine."""
    models = (call.latency_s for call in trajectory.model_calls)
    return math.fsum([*models, *(call.latency_s for call in trajectory.tool_calls)])


def fail(trajectory: Trajectory, message: str, reason: str = "error") -> None:
    trajectory.stop_reason = "timeout" if reason == "timeout" else "error"
    trajectory.error = message


_COSTS: weakref.WeakKeyDictionary[PriceBook, dict[tuple[str, str, TokenUsage], float]] = (
    weakref.WeakKeyDictionary()
)


def priced_call(
    job: CaseJob, provider: str, model: str, usage: TokenUsage, latency_s: float
) -> ModelCall:
    """A model call with its cost; a model without a price is an error, never free."""
    costs = _COSTS.setdefault(job.prices, {})
    key = (provider, model, usage)
    cost = costs.get(key)
    if cost is None:
        try:
            cost = costs[key] = job.prices.cost_usd(provider, model, usage)
        except LookupError:
            raise AlmError(
                f"no price for model {provider}/{model}: add it to a Pricing document in policies/"
            ) from None
    return ModelCall(provider, model, usage, latency_s, cost)
