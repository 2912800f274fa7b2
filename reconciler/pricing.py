"""Model prices: genai-prices' bundled, pinned snapshot, with overrides from policies/.

Never touches the network: genai-prices only fetches when asked to update.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from reconciler import pricedmodels
from reconciler.spec.catalog import ModelPrice


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0


class PriceBook:
    """Answers "what does this usage cost" for (provider, model)."""

    def __init__(self, overrides: Iterable[ModelPrice] = ()) -> None:
        self._overrides = {(o.provider, o.name): o for o in overrides}

    def known(self, provider: str, model: str) -> bool:
        return (provider, model) in self._overrides or _bundled_known(provider, model)

    def model_names(self, provider: str) -> list[str]:
        """Every model priced for `provider`, overrides first (for "did you mean")."""
        own = [name for (p, name) in self._overrides if p == provider]
        return own + [n for n in _bundled_names(provider) if n not in own]

    def provider_names(self) -> list[str]:
        return list(dict.fromkeys([p for p, _ in self._overrides] + list(_bundled_providers())))

    def cost_usd(self, provider: str, model: str, usage: TokenUsage) -> float:
        override = self._overrides.get((provider, model))
        if override is not None:
            cached_rate = override.cached_input_usd_per_mtok
            if cached_rate is None:
                cached_rate = override.input_usd_per_mtok
            uncached = usage.input_tokens - usage.cached_input_tokens
            return (
                uncached * override.input_usd_per_mtok
                + usage.cached_input_tokens * cached_rate
                + usage.output_tokens * override.output_usd_per_mtok
            ) / 1_000_000
        from genai_prices import Usage, calc_price

        price = calc_price(
            Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cached_input_tokens or None,
            ),
            model_ref=model,
            provider_id=provider,
        )
        return float(price.total_price)


# genai-prices is imported when a price is first asked for, not with this module: its
# package imports its network updater's HTTP client, ~0.1-0.2 s of every command's start-up


@lru_cache(maxsize=512)
def _bundled_known(provider: str, model: str) -> bool:
    return pricedmodels.remembered(provider, model, _snapshot_prices)


def _snapshot_prices(provider: str, model: str) -> bool:
    from genai_prices import Usage, calc_price

    try:
        calc_price(Usage(input_tokens=0, output_tokens=0), model_ref=model, provider_id=provider)
    except LookupError:
        return False
    return True


@lru_cache(maxsize=1)
def _bundled_providers() -> tuple[str, ...]:
    from genai_prices.data_snapshot import get_snapshot

    return tuple(p.id for p in get_snapshot().providers)


@lru_cache(maxsize=64)
def _bundled_names(provider: str) -> tuple[str, ...]:
    from genai_prices.data_snapshot import get_snapshot

    found = next((p for p in get_snapshot().providers if p.id == provider), None)
    return tuple(m.id for m in found.models) if found else ()
