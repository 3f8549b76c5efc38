"""Normal mode's stream: chat completions, or a model conversation when the call holds
Mistral built-in tools (see :mod:`.kinds`)."""

from __future__ import annotations

from .stream import MistralStream


class LLMStream(MistralStream):
    """Streams one normal-mode call into LiveKit ``ChatChunk`` deltas."""
