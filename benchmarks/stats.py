"""Order statistics for small samples; nothing assumes a normal distribution."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (``q`` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """Median and spread of one measurement."""

    n: int
    median: float
    p10: float
    p90: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("no values to summarize")
        return cls(
            n=len(values),
            median=quantile(values, 0.5),
            p10=quantile(values, 0.1),
            p90=quantile(values, 0.9),
            low=min(values),
            high=max(values),
        )

    def spread(self, fmt: str = "{:.1f}") -> str:
        """``p10-p90`` for large samples, ``min-max`` for small ones (said which)."""
        if self.n >= 20:
            return f"p10-p90 {fmt.format(self.p10)}-{fmt.format(self.p90)}"
        return f"min-max {fmt.format(self.low)}-{fmt.format(self.high)}"


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.inf
