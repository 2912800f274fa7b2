"""A PriceBook fast enough for a window of production tasks.

genai-prices matches the model name on every call (~200 µs here): 200,000 tasks of four
model calls would take minutes. Most models have flat per-token prices, so their cost is
linear in the tokens: `RatedPriceBook` reads each model's three rates (input, cached
input, output) from the PriceBook once, checks them against the PriceBook on a few usages
of different sizes, and then prices by arithmetic. A model whose price is not linear
(tiers by prompt size) fails that check and is priced by the PriceBook on every call,
memoised by usage. The answers are the PriceBook's, to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from reconciler.pricing import PriceBook, TokenUsage
from reconciler.spec.catalog import ModelPrice

Rates = tuple[float, float, float]  # USD per token: input, cached input, output
_UNSEEN: Rates = (-1.0, -1.0, -1.0)

_UNIT = 1_000
# sizes on both sides of the usual tier thresholds (128k, 200k, 272k input tokens)
_PROBES = (
    TokenUsage(1_234, 567, 89),
    TokenUsage(150_000, 4_000, 20_000),
    TokenUsage(250_000, 9_000, 0),
    TokenUsage(1_500_000, 60_000, 700_000),
)


class RatedPriceBook(PriceBook):
    """The PriceBook of `overrides`, pricing linear models from cached rates."""

    def __init__(self, overrides: Iterable[ModelPrice] = ()) -> None:
        super().__init__(overrides)
        self._rates: dict[tuple[str, str], Rates | None] = {}
        self._memo: dict[tuple[str, str, TokenUsage], float] = {}

    def call_cost(
        self, provider: str, model: str, input_tokens: int, output_tokens: int, cached: int
    ) -> float | None:
        """The cost of one model call, None when the model has no price (the hot path of
        a report: no TokenUsage built for a linear model)."""
        key = (provider, model)
        rates = self._rates.get(key, _UNSEEN)
        if rates is _UNSEEN:
            if not self.known(provider, model):
                return None
            rates = self._rates[key] = self._linear_rates(provider, model)
        if rates is None:
            return self.cost_usd(provider, model, TokenUsage(input_tokens, output_tokens, cached))
        return (input_tokens - cached) * rates[0] + cached * rates[1] + output_tokens * rates[2]

    def cost_usd(self, provider: str, model: str, usage: TokenUsage) -> float:
        key = (provider, model)
        if key in self._rates:
            rates = self._rates[key]
        else:
            rates = self._rates[key] = self._linear_rates(provider, model)
        if rates is None:
            memo_key = (provider, model, usage)
            cost = self._memo.get(memo_key)
            if cost is None:
                cost = self._memo[memo_key] = super().cost_usd(provider, model, usage)
            return cost
        return _apply(rates, usage)

    def _linear_rates(self, provider: str, model: str) -> Rates | None:
        exact = super().cost_usd
        rates = (
            exact(provider, model, TokenUsage(_UNIT, 0, 0)) / _UNIT,
            exact(provider, model, TokenUsage(_UNIT, 0, _UNIT)) / _UNIT,
            exact(provider, model, TokenUsage(0, _UNIT, 0)) / _UNIT,
        )
        for probe in _PROBES:
            if not math.isclose(
                _apply(rates, probe), exact(provider, model, probe), rel_tol=1e-9, abs_tol=1e-12
            ):
                return None
        return rates


def _apply(rates: Rates, usage: TokenUsage) -> float:
    uncached = usage.input_tokens - usage.cached_input_tokens
    return (
        uncached * rates[0] + usage.cached_input_tokens * rates[1] + usage.output_tokens * rates[2]
    )
