"""ChatContext -> Conversations API ``inputs`` and instructions (pure).

Renders the history normalized by ``chat.to_history``, so both endpoints see the same
conversation under the same rules (see that module for each decision). Here:
- The preamble (first system/developer message plus LiveKit's per-call dynamic one) is
  returned as the instructions text, not as an entry. Other system/developer messages stay
  in place as user ``message.input`` entries wrapped in ``<instructions>`` tags, so they
  still reach an ``agent_id`` agent, which refuses ``instructions``.
- User -> ``message.input`` (a string, or chunks when it holds images; audio always as its
  transcript: Conversations take no audio chunks); assistant text -> ``message.output``
  (chunks, its thinking first, when the turn kept thinking); an answered tool call ->
  ``function.call``, its output -> ``function.result``; the calls of one generation come
  first, then their results, in call order; a tool turn's own thinking goes in a
  ``message.output`` just before its calls.
  Orphan calls and outputs are dropped; ids go through ``to_mistral_call_id``.
- The last entry is always one the agent answers: a history ending on assistant text, or
  holding only instructions, gets a trailing ``message.input`` carrying ``CONTINUE_PROMPT``
  (the assistant entry is kept). A user entry right after function results gets an ``"OK."``
  ``message.output`` before it, as in chat completions.
"""

from __future__ import annotations

from typing import Any

from livekit.agents import llm

from .chat import (
    AssistantTurn,
    HistoryOptions,
    ToolExchange,
    ToolTurn,
    Turn,
    UserTurn,
    assistant_content,
    to_history,
    user_content,
)


def to_conversation_inputs(
    chat_ctx: llm.ChatContext, *, keep_reasoning: bool = True
) -> tuple[list[dict[str, Any]], str | None]:
    """Input entries for the whole history, and the instructions text (``None`` without)."""
    history = to_history(chat_ctx, HistoryOptions(keep_reasoning=keep_reasoning, audio=False))
    entries = [entry for turn in history.turns for entry in _turn_entries(turn)]
    return entries, history.instructions


def _turn_entries(turn: Turn) -> list[dict[str, Any]]:
    match turn:
        case UserTurn(parts=parts):
            return [{"type": "message.input", "role": "user", "content": user_content(parts)}]
        case AssistantTurn(text=text, thinking=thinking):
            content = assistant_content(text, thinking)
            return [{"type": "message.output", "role": "assistant", "content": content}]
        case ToolTurn(exchanges=exchanges, thinking=thinking):
            entries = [*map(_call_entry, exchanges), *map(_result_entry, exchanges)]
            if thinking:
                output = {"type": "message.output", "role": "assistant", "content": list(thinking)}
                entries.insert(0, output)
            return entries


def _call_entry(exchange: ToolExchange) -> dict[str, Any]:
    return {
        "type": "function.call",
        "tool_call_id": exchange.call_id,
        "name": exchange.name,
        "arguments": exchange.arguments,
    }


def _result_entry(exchange: ToolExchange) -> dict[str, Any]:
    return {"type": "function.result", "tool_call_id": exchange.call_id, "result": exchange.result}
