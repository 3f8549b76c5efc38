"""Mistral ``usage`` objects -> LiveKit ``CompletionUsage`` (pure), for every request kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livekit.agents.llm import CompletionUsage


class MistralUsage(CompletionUsage):
    """LiveKit's usage plus ``connector_tokens`` (Conversations API turns that used
    connectors or built-in tools)."""

    connector_tokens: int = 0


AgentUsage = MistralUsage
"""The name agent mode used first; the same class."""


def usage_from(raw: Mapping[str, Any]) -> MistralUsage:
    """Token counts from a chat-completions or conversations ``usage`` object."""
    details = raw.get("prompt_tokens_details") or {}
    return MistralUsage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        total_tokens=int(raw.get("total_tokens") or 0),
        prompt_cached_tokens=int(details.get("cached_tokens") or 0),
        connector_tokens=int(raw.get("connector_tokens") or 0),
    )
