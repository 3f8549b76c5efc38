"""Mistral's ``usage`` object -> LiveKit ``CompletionUsage`` (pure), the same in every mode.

Decisions:
- Every count Mistral reports fills the LiveKit field of the same meaning; a field that is
  absent or ``null`` reads 0 (``None`` for ``service_tier`` and ``prompt_audio_seconds``).
  A count that is not a number, or a details object that is not an object, raises
  ``ValueError`` / ``TypeError``: the stream treats it as any event it cannot read.
- Cached input tokens come from ``prompt_tokens_details.cached_tokens``, else the older
  ``prompt_token_details.cached_tokens``, else ``num_cached_tokens``: the first one present
  wins, so an explicit 0 in the current shape is a miss, not a reason to read an older one.
  ``prompt_tokens`` already includes them (Mistral bills them at 10%).
- ``reasoning_tokens`` from ``completion_tokens_details.reasoning_tokens`` (already counted in
  ``completion_tokens``, as LiveKit documents).
- Mistral-only counts stay reachable on :class:`MistralUsage`: ``connector_tokens`` (agent
  connectors) and ``prompt_audio_seconds`` (audio input), which LiveKit has no field for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from livekit.agents.llm import CompletionUsage

_CACHED_TOKENS_PATHS: tuple[tuple[str, ...], ...] = (
    ("prompt_tokens_details", "cached_tokens"),
    ("prompt_token_details", "cached_tokens"),
    ("num_cached_tokens",),
)


class MistralUsage(CompletionUsage):
    """LiveKit's usage plus what only Mistral reports."""

    connector_tokens: int = 0
    """Tokens spent by agent connectors (Conversations API)."""
    prompt_audio_seconds: float | None = None
    """Seconds of audio input in the prompt, when Mistral reports them."""


AgentUsage = MistralUsage
"""The name agent mode used first; the same class."""


def usage_from(raw: Mapping[str, Any]) -> MistralUsage:
    """The usage of one answer, from the ``usage`` object of a chunk or a done event."""
    if not isinstance(raw, Mapping):
        raise TypeError("usage is not an object")
    return MistralUsage(
        prompt_tokens=_count(raw.get("prompt_tokens")),
        completion_tokens=_count(raw.get("completion_tokens")),
        total_tokens=_count(raw.get("total_tokens")),
        prompt_cached_tokens=_cached_tokens(raw),
        reasoning_tokens=_count(_dig(raw, ("completion_tokens_details", "reasoning_tokens"))),
        service_tier=_text(raw.get("service_tier")),
        connector_tokens=_count(raw.get("connector_tokens")),
        prompt_audio_seconds=_seconds(raw.get("prompt_audio_seconds")),
    )


def _cached_tokens(raw: Mapping[str, Any]) -> int:
    for path in _CACHED_TOKENS_PATHS:
        value = _dig(raw, path)
        if value is not None:
            return _count(value)
    return 0


def _dig(raw: Mapping[str, Any], path: tuple[str, ...]) -> object:
    value: object = raw
    for key in path:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise TypeError("a usage details field is not an object")
        value = value.get(key)
    return value


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    raise ValueError("a usage count is not a number")


def _count(value: object) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


def _seconds(value: object) -> float | None:
    number = _number(value)
    return float(number) if number is not None else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
