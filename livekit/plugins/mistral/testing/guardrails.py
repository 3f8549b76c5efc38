"""Guardrails as the local server acts them out: a deterministic stand-in for moderation.

The live API runs the request's ``guardrails`` (moderation_llm_v1 / _v2) on the input and
answers HTTP 403 when one blocks it. The local moderation flags a category when a user
message holds the marker ``[flag:<category>]`` (its score is then 1.0, every other 0.0);
a guardrail whose ``action`` is ``"block"`` blocks when a flagged category's threshold
(``custom_category_thresholds``, else 0.5) is at most that score, and with
``ignore_other_categories`` only the categories it lists count. When the moderation service
is down (``LocalMistral.moderation_down``), a guardrail with ``block_on_error`` blocks and
one without lets the request through, as the spec describes ``block_on_error``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import errors
from .errors import ErrorBody
from .schema import MODERATION_CATEGORIES

FLAG_MARKER = "[flag:{category}]"
DEFAULT_THRESHOLD = 0.5


def guardrail_block(
    guardrails: Sequence[Mapping[str, Any]] | None,
    user_texts: Iterable[str],
    *,
    moderation_down: bool = False,
) -> ErrorBody | None:
    """The 403 body when the request's guardrails block it, else ``None``."""
    text = "\n".join(user_texts)
    for guardrail in guardrails or ():
        for name, categories in MODERATION_CATEGORIES.items():
            config = guardrail.get(name)
            if not isinstance(config, Mapping):
                continue
            if moderation_down:
                if guardrail.get("block_on_error") is True:
                    return errors.guardrail_failed(name)
                continue
            if config.get("action", "none") == "block":
                if flagged := _flagged(config, categories, text):
                    return errors.guardrail_blocked(name, flagged)
    return None


def _flagged(config: Mapping[str, Any], categories: Sequence[str], text: str) -> list[str]:
    thresholds = config.get("custom_category_thresholds") or {}
    watched = thresholds if config.get("ignore_other_categories") else categories
    return [
        category
        for category in categories
        if category in watched
        and FLAG_MARKER.format(category=category) in text
        and (thresholds.get(category) or DEFAULT_THRESHOLD) <= 1.0
    ]
