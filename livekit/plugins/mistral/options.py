"""The resolved settings of one ``LLM``: a single dataclass, checked as a whole."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, Literal, TypeGuard, get_args

from livekit.agents.llm import ToolChoice
from pydantic import BaseModel

from .models import (
    AgentInstructions,
    AudioInput,
    Mode,
    PromptMode,
    ReasoningEffort,
    ServiceTier,
    ToolMismatchPolicy,
)

AGENT_ID = re.compile(
    r"^(ag_[0-9a-fA-F]{32}|ag:[0-9a-fA-F]{8}:\d{8}:[A-Za-z0-9_-]+:[0-9a-fA-F]{8})$"
)
# Mistral's pattern for a version alias (``PUT /v1/agents/{id}/aliases``), at most 64 long
AGENT_ALIAS = re.compile(r"^[a-z]([a-z0-9_-]*[a-z0-9])?$")

# Bounds from Mistral's OpenAPI document (openapi-public-doc.yaml in the public repository
# mistralai/platform-docs-public, read 2026-12): ``ChatCompletionRequest`` for chat completions,
# ``CompletionArgs`` for the ``completion_args`` of ``/v1/conversations``.


@dataclass(frozen=True)
class _Range:
    low: float
    high: float
    low_excluded: bool = False  # the schema's exclusiveMinimum

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_excluded else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        if self.low_excluded:
            return f"greater than {self.low:g} and at most {self.high:g}"
        return f"from {self.low:g} to {self.high:g}"


_RANGES: dict[str, _Range] = {
    # chat: minimum 0, maximum 1.5; CompletionArgs: maximum 1 (check_conversation_options)
    "temperature": _Range(0.0, 1.5),
    # chat: exclusiveMinimum 0, maximum 1; CompletionArgs says minimum 0, but one LLM may send
    # to both endpoints, so the stricter bound holds for all
    "top_p": _Range(0.0, 1.0, low_excluded=True),
    # both: minimum -2, maximum 2
    "presence_penalty": _Range(-2.0, 2.0),
    "frequency_penalty": _Range(-2.0, 2.0),
}
# both: integers with minimum 0 (max_tokens 0 is allowed by the API)
_MINIMUMS: dict[str, int] = {"max_tokens": 0, "random_seed": 0}
_BOOLEANS = ("safe_prompt", "parallel_tool_calls", "keep_reasoning")
# CompletionArgs.temperature: maximum 1 (chat completions allow 1.5)
CONVERSATION_MAX_TEMPERATURE = 1.0


class PromptCacheKey(Enum):
    """The default ``prompt_cache_key``: one key per conversation (see ``mapping.caching``)."""

    PER_CONVERSATION = "per_conversation"


PER_CONVERSATION: Literal[PromptCacheKey.PER_CONVERSATION] = PromptCacheKey.PER_CONVERSATION


@dataclass
class LLMOptions:
    model: str
    mode: Mode = "normal"
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    random_seed: int | None = None
    safe_prompt: bool | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: str | list[str] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: Any = None
    reasoning_effort: ReasoningEffort | None = None
    agent_version: int | str | None = None
    agent_instructions: AgentInstructions = "inline"
    on_tool_mismatch: ToolMismatchPolicy = "warn"
    # Mistral API additions of 2026: checked by _check_api_2026
    prompt_cache_key: str | None | PromptCacheKey = PER_CONVERSATION
    guardrails: list[dict[str, Any]] | None = None
    service_tier: ServiceTier | None = None
    metadata: dict[str, str] | None = None
    prompt_mode: PromptMode | None = None
    audio_input: AudioInput = "transcript"
    keep_reasoning: bool = True

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))


def api_key_from(api_key: str | None, where: str) -> str:
    """``api_key``, else ``MISTRAL_API_KEY``; a clear ValueError when neither is set."""
    key = api_key if api_key is not None else os.environ.get("MISTRAL_API_KEY")
    if not key or not key.strip():
        raise ValueError(
            "no Mistral API key: set the MISTRAL_API_KEY environment variable "
            f"or pass api_key=... to {where}"
        )
    return key


def check_options(opts: LLMOptions) -> None:
    """Raise ``ValueError`` saying what is wrong and what is allowed; nothing is sent before."""
    _check_mode(opts)
    for name, bounds in _RANGES.items():
        value = getattr(opts, name)
        if value is not None and not (_is_number(value) and bounds.holds(value)):
            raise ValueError(f"{name} must be a number {bounds.describe()}, got {value!r}")
    for name, low in _MINIMUMS.items():
        value = getattr(opts, name)
        if value is not None and not (_is_int(value) and value >= low):
            raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    for name in _BOOLEANS:
        value = getattr(opts, name)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    if opts.stop is not None and not _is_stop(opts.stop):
        raise ValueError(f"stop must be a string or a list of strings, got {opts.stop!r}")
    _check_choice("reasoning_effort", opts.reasoning_effort, get_args(ReasoningEffort))
    _check_choice("agent_instructions", opts.agent_instructions, get_args(AgentInstructions))
    _check_choice("on_tool_mismatch", opts.on_tool_mismatch, get_args(ToolMismatchPolicy))
    if opts.agent_version is not None:
        check_agent_version(opts.agent_version)
    check_tool_choice(opts.tool_choice)
    check_response_format(opts.response_format)
    _check_api_2026(opts)
    if opts.mode == "agent":
        check_conversation_options(opts)


def check_conversation_options(opts: LLMOptions) -> None:
    """The stricter rules of a ``/v1/conversations`` request (a Mistral agent, or a model
    with Mistral's built-in tools), on top of :func:`check_options`."""
    temperature = opts.temperature
    if temperature is not None and temperature > CONVERSATION_MAX_TEMPERATURE:
        raise ValueError(
            f"temperature must be at most {CONVERSATION_MAX_TEMPERATURE:g} for Mistral's "
            f"Conversations API (agents, built-in tools), got {temperature!r}; chat "
            "completions allow up to 1.5"
        )


def check_response_format(value: object) -> None:
    """What :func:`..mapping.request.to_response_format` can turn into a valid field."""
    if value is None or value in ("text", "json_object"):
        return
    if isinstance(value, type) and issubclass(value, BaseModel):
        return
    if isinstance(value, dict) and _is_response_format_dict(value):
        return
    raise ValueError(
        "response_format must be a pydantic model class, a JSON schema dict, 'text', "
        "'json_object', or a dict with 'type' 'text', 'json_object' or 'json_schema' (the "
        f"last with 'json_schema': {{'name': ..., 'schema': {{...}}}}), got {value!r}"
    )


def _is_response_format_dict(value: dict[Any, Any]) -> bool:
    if value.get("type") != "json_schema":
        return True  # {"type": "text" | "json_object"}, or the JSON schema of the answer
    spec = value.get("json_schema")  # JsonSchema: name and schema required
    return (
        isinstance(spec, dict)
        and isinstance(spec.get("name"), str)
        and isinstance(spec.get("schema"), dict)
    )


def check_tool_choice(choice: object) -> None:
    if choice is None or choice in ("auto", "required", "none"):
        return
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return
    raise ValueError(
        "tool_choice must be 'auto', 'required', 'none' or "
        f"{{'type': 'function', 'function': {{'name': ...}}}}, got {choice!r}"
    )


def check_agent_version(version: object) -> None:
    """A version number (int >= 0) or an alias, as ``agent_version`` takes them."""
    if isinstance(version, int) and not isinstance(version, bool) and version >= 0:
        return
    if isinstance(version, str) and len(version) <= 64 and AGENT_ALIAS.match(version):
        return
    raise ValueError(
        "agent_version must be a version number (an int >= 0) or an alias such as "
        f"'production' (lowercase letters, digits, '-' and '_', at most 64), got {version!r}"
    )


def _check_mode(opts: LLMOptions) -> None:
    if opts.mode not in get_args(Mode):
        raise ValueError(f"mode must be one of {list(get_args(Mode))}, got {opts.mode!r}")
    if not isinstance(opts.model, str) or not opts.model.strip():
        raise ValueError("model must be a non-empty string (a model name or an agent id)")
    is_agent = bool(AGENT_ID.match(opts.model))
    if opts.mode == "normal" and (is_agent or opts.model.startswith(("ag_", "ag:"))):
        raise ValueError(
            f"{opts.model!r} is an agent id: use LLM(model=..., mode='agent') to talk to an agent"
        )
    if opts.mode == "agent" and not is_agent:
        raise ValueError(
            f"{opts.model!r} is not an agent id ('ag_' + 32 hex characters, or a legacy "
            "'ag:...' id): pass an agent id, or use mode='normal' for a model name"
        )


def _check_choice(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    """A finite int or float; ``True`` is not a number here (JSON would send ``true``)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_stop(value: object) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(s, str) for s in value)


# --- Mistral API additions of 2026 ----------------------------------------------------------
# Which endpoint takes which field, from Mistral's OpenAPI document (ChatCompletionRequest,
# ConversationRequest, CompletionArgs, GuardrailConfig): chat completions take all of them;
# Conversations take ``guardrails`` and ``metadata`` only (no prompt_cache_key, service_tier
# or prompt_mode, and no audio chunks in its input entries).

_CHAT_ONLY = ("service_tier", "prompt_mode")
_GUARDRAIL_KEYS = frozenset({"block_on_error", "moderation_llm_v1", "moderation_llm_v2"})
_MODERATION_KEYS = frozenset(
    {"model_name", "custom_category_thresholds", "ignore_other_categories", "action"}
)
_MODERATION_ACTIONS = ("none", "block")


def _check_api_2026(opts: LLMOptions) -> None:
    _check_choice("service_tier", opts.service_tier, get_args(ServiceTier))
    _check_choice("prompt_mode", opts.prompt_mode, get_args(PromptMode))
    _check_choice("audio_input", opts.audio_input, get_args(AudioInput))
    _check_cache_key(opts.prompt_cache_key)
    _check_metadata(opts.metadata)
    if opts.guardrails is not None:
        check_guardrails(opts.guardrails)
    if opts.mode == "agent":
        _check_agent_mode_fields(opts)


# what to do instead, for each option a conversation request cannot carry
_NOT_IN_CONVERSATIONS: dict[str, str] = {
    "safe_prompt": "leave it unset or use mode='normal'",
    "parallel_tool_calls": "leave it unset or use mode='normal'",
    "service_tier": "leave it unset or use mode='normal'",
    "prompt_mode": "leave it unset or use mode='normal'",
    "prompt_cache_key": "leave it unset or pass None",
    "audio_input": "use audio_input='transcript'",
}


def unsent_in_conversations(opts: LLMOptions) -> list[str]:
    """The options set on ``opts`` that a conversation request cannot carry (Conversations
    take neither ``safe_prompt`` nor ``parallel_tool_calls``, nor the chat-only 2026 fields)."""
    unsent = [
        name
        for name in ("safe_prompt", "parallel_tool_calls", *_CHAT_ONLY)
        if getattr(opts, name) is not None
    ]
    if isinstance(opts.prompt_cache_key, str):
        unsent.append("prompt_cache_key")
    if opts.audio_input == "audio":
        unsent.append("audio_input")
    return unsent


def _check_agent_mode_fields(opts: LLMOptions) -> None:
    """Fields the Conversations API does not take: refused rather than silently dropped."""
    for name in unsent_in_conversations(opts):
        what = "audio_input='audio'" if name == "audio_input" else name
        raise ValueError(
            f"{what} is not available in agent mode (Mistral's Conversations API does not "
            f"take it); {_NOT_IN_CONVERSATIONS[name]}"
        )


def _check_cache_key(key: object) -> None:
    if key is None or key is PER_CONVERSATION:
        return
    if not isinstance(key, str) or not key.strip():
        raise ValueError(
            "prompt_cache_key must be a non-empty string, None (send none) or "
            f"PER_CONVERSATION (the default: one key per conversation), got {key!r}"
        )


def _check_metadata(metadata: object) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValueError(f"metadata must be a dict of strings to strings, got {metadata!r}")


def check_guardrails(guardrails: object) -> None:
    """The shape of Mistral's ``GuardrailConfig`` list, key by key."""
    if not isinstance(guardrails, list):
        raise ValueError(
            "guardrails must be a list of guardrail configs like {'block_on_error': True, "
            f"'moderation_llm_v2': {{'action': 'block'}}}}, got {guardrails!r}"
        )
    for i, item in enumerate(guardrails):
        where = f"guardrails[{i}]"
        guardrail = _known_keys(where, item, _GUARDRAIL_KEYS)
        if not isinstance(guardrail.get("block_on_error", False), bool):
            raise ValueError(f"{where}.block_on_error must be True or False")
        for name in ("moderation_llm_v1", "moderation_llm_v2"):
            if guardrail.get(name) is not None:
                _check_moderation(f"{where}.{name}", guardrail[name])


def _check_moderation(where: str, value: object) -> None:
    config = _known_keys(where, value, _MODERATION_KEYS)
    if not isinstance(config.get("model_name", ""), str):
        raise ValueError(f"{where}.model_name must be a string")
    if not isinstance(config.get("ignore_other_categories", False), bool):
        raise ValueError(f"{where}.ignore_other_categories must be True or False")
    _check_choice(f"{where}.action", config.get("action"), (None, *_MODERATION_ACTIONS))
    thresholds = config.get("custom_category_thresholds")
    if thresholds is None:
        return
    if not isinstance(thresholds, dict) or not all(
        isinstance(k, str) and (v is None or _is_number(v)) for k, v in thresholds.items()
    ):
        raise ValueError(
            f"{where}.custom_category_thresholds must map category names to numbers, "
            f"got {thresholds!r}"
        )


def _known_keys(where: str, value: object, allowed: frozenset[str]) -> dict[str, Any]:
    """``value`` as a dict whose keys are all ``allowed``; else a ValueError naming them."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a dict, got {value!r}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; allowed: {sorted(allowed)}")
    return value
