"""Request bodies for both endpoints, from resolved options and mapped history (pure)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from ..options import LLMOptions

# Sampling settings shared by chat completions and Conversations' ``completion_args``.
_SAMPLING = (
    "temperature",
    "max_tokens",
    "top_p",
    "random_seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
)


def to_response_format(value: Any) -> dict[str, Any] | None:
    """A pydantic model class, a JSON schema dict, a ready ``response_format`` dict, or
    ``"text"`` / ``"json_object"``."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, type) and issubclass(value, BaseModel):
        return _json_schema(value.__name__, value.model_json_schema())
    if isinstance(value, dict):
        if value.get("type") in ("text", "json_object", "json_schema"):
            return value
        return _json_schema(str(value.get("title") or "response"), value)
    raise ValueError(
        "response_format must be a pydantic model class, a JSON schema dict, "
        f"'text' or 'json_object', got {type(value).__name__}"
    )


def _json_schema(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


# Fields of the 2026 API additions, by endpoint (Mistral's OpenAPI document: chat
# completions take all four; a conversation request takes guardrails and metadata only).
_CHAT_ADDITIONS = ("guardrails", "service_tier", "metadata", "prompt_mode")
_CONVERSATION_ADDITIONS = ("guardrails", "metadata")


def _set_fields(opts: LLMOptions, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(opts, name) for name in names if getattr(opts, name) is not None}


def _sampling(opts: LLMOptions) -> dict[str, Any]:
    out = {name: getattr(opts, name) for name in _SAMPLING if getattr(opts, name) is not None}
    if (fmt := to_response_format(opts.response_format)) is not None:
        out["response_format"] = fmt
    return out


def chat_body(
    opts: LLMOptions,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    tool_choice: str | dict[str, Any] | None,
    parallel_tool_calls: bool | None,
    extra: dict[str, Any] | None = None,
    *,
    prompt_cache_key: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": opts.model, "messages": messages, "stream": True}
    body.update(_sampling(opts))
    if opts.safe_prompt is not None:
        body["safe_prompt"] = opts.safe_prompt
    body.update(_set_fields(opts, _CHAT_ADDITIONS))
    if prompt_cache_key is not None:
        body["prompt_cache_key"] = prompt_cache_key
    if tools:
        # tool settings mean nothing without tools, and the API may refuse them alone
        body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            body["parallel_tool_calls"] = parallel_tool_calls
    if extra:
        body.update(extra)
    return body


def conversation_body(
    opts: LLMOptions,
    agent_id: str,
    inputs: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A conversation with a Mistral agent: its own instructions and tools apply."""
    target: dict[str, Any] = {"agent_id": agent_id}
    if opts.agent_version is not None:
        target["agent_version"] = opts.agent_version
    return _conversation(opts, target, inputs, _sampling(opts), extra)


def model_conversation_body(
    opts: LLMOptions,
    inputs: list[dict[str, Any]],
    instructions: str | None,
    tools: list[dict[str, Any]],
    tool_choice: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A conversation with a model, its instructions and tools (built-in ones included)."""
    target: dict[str, Any] = {"model": opts.model}
    if instructions:
        target["instructions"] = instructions
    if tools:
        target["tools"] = tools
    args = _sampling(opts)
    if tools and tool_choice is not None:
        args["tool_choice"] = tool_choice
    return _conversation(opts, target, inputs, args, extra)


def _conversation(
    opts: LLMOptions,
    target: dict[str, Any],
    inputs: list[dict[str, Any]],
    completion_args: dict[str, Any],
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    # unstored: every call starts afresh with the whole history (see agent_stream.py)
    body: dict[str, Any] = {**target, "inputs": inputs, "stream": True, "store": False}
    if completion_args:
        body["completion_args"] = completion_args
    body.update(_set_fields(opts, _CONVERSATION_ADDITIONS))
    if extra:
        body.update(extra)
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
