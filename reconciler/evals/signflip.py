"""The paired one-sided sign-flip (permutation) test, on integer differences.

Under the null hypothesis (head and base are the same agent) each paired difference d_i
is as likely to be +|d_i| as -|d_i|. The statistic is T = sum(d_i) (the mean difference
times n); the lower-tail p-value is the share of the 2^n sign assignments s whose
T* = sum(s_i |d_i|) is at most T. Zero differences do not move T* and are left out.

The differences are integers (per-case scores scaled by a common denominator, latencies
in microseconds), so every sum is exact and ties are counted exactly.

- Exact for up to 24 differences of any size: the subset sums of each half (2^12 each),
  one half sorted and searched for each sum of the other ("meet in the middle").
- Exact, when it is cheap, for more: with X the sum of the |d_i| given a + sign, T* = 2X - S
  (S = sum |d_i|), and the number of assignments with X = x is the coefficient of z^x in
  prod(1 + z^|d_i|). That polynomial is packed in one Python integer, n + 1 bits a
  coefficient (no coefficient reaches 2^(n+1)), so each factor is one shift and one
  addition. The count of X <= m is the packed low part reduced modulo 2^(n+1) - 1,
  which sums its coefficients since 2^(n+1) = 1 there and the total 2^n is smaller.
- Monte Carlo otherwise: ``draws`` assignments from random.Random(seed), each an n-bit
  integer read a byte at a time through tables of the 256 subset sums of 8 differences;
  p = (1 + hits) / (1 + draws), a valid p-value. The same seed gives the same p.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

DRAWS = 20_000
SEED = 20_240_611
EXACT_BUDGET_BITS = 1 << 28  # bits shifted and added over all factors: ~10 ms of big ints
MIDDLE_MAX = 24  # differences counted exactly by meeting in the middle: 2 x 4096 sums


@dataclass(frozen=True)
class SignFlip:
    p_value: float
    nonzero: int  # differences that are not 0
    exact: bool
    draws: int  # Monte Carlo draws; 0 when exact


def lower_tail(
    diffs: Sequence[int],
    *,
    draws: int = DRAWS,
    seed: int = SEED,
    exact_budget_bits: int = EXACT_BUDGET_BITS,
) -> SignFlip:
    """P(T* <= T): small when the differences lean negative beyond chance.

    ``exact_budget_bits=0`` makes it Monte Carlo whatever the size."""
    magnitudes = sorted(abs(d) for d in diffs if d)
    n = len(magnitudes)
    if n == 0:
        return SignFlip(1.0, 0, True, 0)
    total = sum(magnitudes)
    # T* <= T  <=>  X <= (T + S) / 2; T + S is twice the sum of the positive differences
    limit = (sum(diffs) + total) // 2
    if (total + 1) * (n + 1) * n <= exact_budget_bits:
        return SignFlip(_exact_count(magnitudes, limit) / (1 << n), n, True, 0)
    if n <= MIDDLE_MAX and exact_budget_bits > 0:
        return SignFlip(_middle_count(magnitudes, limit) / (1 << n), n, True, 0)
    hits = _monte_carlo_hits(magnitudes, limit, draws, seed)
    return SignFlip((1 + hits) / (1 + draws), n, False, draws)


def upper_tail(diffs: Sequence[int], **options: int) -> SignFlip:
    """P(T* >= T): small when the differences lean positive beyond chance."""
    return lower_tail([-d for d in diffs], **options)


def _exact_count(magnitudes: Sequence[int], limit: int) -> int:
    """How many subsets of the magnitudes sum to at most ``limit``."""
    width = len(magnitudes) + 1
    packed = 1
    for m in magnitudes:
        packed += packed << (m * width)
    low = packed & ((1 << ((limit + 1) * width)) - 1)
    return low % ((1 << width) - 1)


def _middle_count(magnitudes: Sequence[int], limit: int) -> int:
    """The same count, for few magnitudes of any size."""
    half = len(magnitudes) // 2
    high = sorted(_subset_sums(magnitudes[half:]))
    return sum(bisect_right(high, limit - low) for low in _subset_sums(magnitudes[:half]))


def _subset_sums(chunk: Sequence[int]) -> list[int]:
    """sums[mask] = the sum of chunk[j] over the bits j set in mask."""
    sums = [0]
    for value in chunk:
        sums += [s + value for s in sums]
    return sums


def _monte_carlo_hits(magnitudes: Sequence[int], limit: int, draws: int, seed: int) -> int:
    rng = random.Random(seed)
    n = len(magnitudes)
    tables = [_subset_sums(magnitudes[i : i + 8]) for i in range(0, n, 8)]
    size = len(tables)
    pick = list.__getitem__
    hits = 0
    for _ in range(draws):
        signs = rng.getrandbits(n).to_bytes(size, "little")
        hits += sum(map(pick, tables, signs)) <= limit
    return hits
