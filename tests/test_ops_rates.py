"""RatedPriceBook answers as the PriceBook does: flat prices by arithmetic, tiered ones
through genai-prices, overrides from policies/, unknown models unpriced."""

from __future__ import annotations

import pytest

from reconciler.ops.rates import RatedPriceBook
from reconciler.pricing import PriceBook, TokenUsage
from reconciler.spec.catalog import ModelPrice

USAGES = [TokenUsage(800, 120, 0), TokenUsage(300_000, 1_000, 100_000), TokenUsage(0, 0, 0)]


@pytest.mark.parametrize(
    ("provider", "model"),
    [("openai", "gpt-4.1-mini"), ("openai", "gpt-4.1"), ("google", "gemini-2.5-pro")],
)
def test_rated_prices_equal_the_price_book(provider: str, model: str) -> None:
    exact, rated = PriceBook(), RatedPriceBook()
    for usage in USAGES:
        expected = exact.cost_usd(provider, model, usage)
        assert rated.cost_usd(provider, model, usage) == pytest.approx(expected, rel=1e-12)
        calls = (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens)
        assert rated.call_cost(provider, model, *calls) == pytest.approx(expected, rel=1e-12)


def test_a_tiered_model_is_not_priced_linearly() -> None:
    rated = RatedPriceBook()
    small = rated.call_cost("google", "gemini-2.5-pro", 1_000, 0, 0) or 0.0
    large = rated.call_cost("google", "gemini-2.5-pro", 300_000, 0, 0) or 0.0
    assert large > 300 * small  # above its 200k-token tier the rate rises


def test_overrides_and_unknown_models() -> None:
    override = ModelPrice.model_validate({"provider": "acme", "name": "house-1",
                                          "input_usd_per_mtok": 1.0,
                                          "output_usd_per_mtok": 2.0})  # fmt: skip
    rated = RatedPriceBook([override])
    assert rated.call_cost("acme", "house-1", 1_000_000, 1_000_000, 0) == pytest.approx(3.0)
    assert rated.call_cost("acme", "house-2", 10, 10, 0) is None
