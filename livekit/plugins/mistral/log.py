"""The plugin's logger, and the one way to say a note once instead of on every call."""

import logging

logger = logging.getLogger("livekit.plugins.mistral")


class Once:
    """Keys already said, for one ``LLM``: ``once(key)`` is True only the first time."""

    __slots__ = ("_said",)

    def __init__(self) -> None:
        self._said: set[str] = set()

    def __call__(self, key: str) -> bool:
        if key in self._said:
            return False
        self._said.add(key)
        return True
