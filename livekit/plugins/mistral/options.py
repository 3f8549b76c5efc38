"""The resolved settings of one ``LLM``: a single dataclass, checked as a whole."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields
from typing import Any, TypeGuard, get_args

from livekit.agents.llm import ToolChoice
from pydantic import BaseModel

from .models import AgentInstructions, Mode, ReasoningEffort, ToolMismatchPolicy

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
_BOOLEANS = ("safe_prompt", "parallel_tool_calls")
# CompletionArgs.temperature: maximum 1 (chat completions allow 1.5)
CONVERSATION_MAX_TEMPERATURE = 1.0


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

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))


def api_key_from(api_key: str | None, where: str) -> str:
    """``api_key``, else ``MISTRAL_API_KEY``; a clear ValueError when neither is set."""
    key = api_key if api_key is not None else os.environ.get("MISTRAL_API_KEY")
    if not key:
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
