"""Guardrails as the local server acts them out: a deterministic stand-in for moderation.

The live API runs the request's ``guardrails`` (moderation_llm_v1 / _v2) on the input only,
before the model sees it, and answers HTTP 403 with the body Mistral's moderation docs show
when one blocks it. The local moderation scores a category 0.99 when a user message holds
the marker ``[flag:<category>]``, every other 0.0 (the live model's scores, and its default
thresholds, are not reproducible; 0.5 stands in for the latter). A guardrail whose
``action`` is ``"block"`` blocks when a score reaches its category's threshold; with
``ignore_other_categories`` only the categories of ``custom_category_thresholds`` count.
When the moderation service is down (``LocalMistral.moderation_down``), a guardrail with
``block_on_error`` blocks with the documented 403 and one without lets the request through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import errors
from .errors import ErrorBody
from .schema import MODERATION_CATEGORIES

FLAG_MARKER = "[flag:{category}]"
DEFAULT_THRESHOLD = 0.5
FLAGGED_SCORE = 0.99
_MODEL_NAMES = {
    "moderation_llm_v1": "mistral-moderation-2411",
    "moderation_llm_v2": "mistral-moderation-2603",
}


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
                decisions = _decisions(config, categories, text)
                if any(decision["violated"] for decision in decisions.values()):
                    model_name = str(config.get("model_name") or _MODEL_NAMES[name])
                    return errors.guardrail_blocked(name, model_name, decisions)
    return None


def _decisions(
    config: Mapping[str, Any], categories: Sequence[str], text: str
) -> dict[str, dict[str, Any]]:
    """Per category: threshold, score and whether it is violated."""
    thresholds = config.get("custom_category_thresholds") or {}
    watched = [
        c for c in categories if c in thresholds or not config.get("ignore_other_categories")
    ]
    decisions: dict[str, dict[str, Any]] = {}
    for category in watched:
        score = FLAGGED_SCORE if FLAG_MARKER.format(category=category) in text else 0.0
        threshold = thresholds.get(category)
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        decisions[category] = {
            "threshold": threshold,
            "score": score,
            "violated": score >= threshold,
        }
    return decisions
