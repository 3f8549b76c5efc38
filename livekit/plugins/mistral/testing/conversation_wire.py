"""An :class:`AgentReply` rendered as the Agents API renders it: events or a response object.

Both renderings come from one list of outputs (handoff, tool executions, message, function
calls), so a streamed answer and a non-streamed one always agree.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import ids
from .chat_wire import estimate_tokens, split_text
from .script import AgentReply, ToolFile
from .sse import event_frame

_FRAGMENT_CHARS = 5
REFERENCE_CHUNK: dict[str, Any] = {
    "type": "tool_reference",
    "tool": "web_search",
    "title": "Mistral AI",
    "url": "https://mistral.ai",
    "favicon": None,
    "description": "A reference the answer relied on.",
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ConversationContext:
    """What the request decides about the answer.

    Args:
        model: the model answering (for an agent, the agent's model).
        agent_id: the agent addressed, or ``None`` for a model conversation.
        agent_names: names of the known agents, by id (for handoff events).
        user_text: what the built-in tool executions pretend to search for.
        prompt_tokens: the prompt size for the computed usage.
    """

    model: str
    agent_id: str | None = None
    agent_names: Mapping[str, str] = field(default_factory=dict)
    user_text: str = ""
    prompt_tokens: int = 1

    def name_of(self, agent_id: str | None) -> str:
        return self.agent_names.get(agent_id or "", agent_id or "")


@dataclass
class _Output:
    """One output entry of the answer, with the stream pieces that make it up."""

    kind: str
    entry: dict[str, Any]
    events: list[dict[str, Any]]


class _Outputs:
    def __init__(self, reply: AgentReply, ctx: ConversationContext) -> None:
        self.reply = reply
        self.ctx = ctx
        self.agent_id = ctx.agent_id
        self.items: list[_Output] = []

    @property
    def index(self) -> int:
        return len(self.items)

    def _attribution(self) -> dict[str, Any]:
        return {"model": self.ctx.model, "agent_id": self.agent_id}

    def handoff(self, target: str) -> None:
        handoff_id = ids.prefixed("handoff_")
        previous = {
            "previous_agent_id": self.agent_id or "",
            "previous_agent_name": self.ctx.name_of(self.agent_id),
        }
        following = {"next_agent_id": target, "next_agent_name": self.ctx.name_of(target)}
        common = {"id": handoff_id, "output_index": self.index, "created_at": now_iso()}
        events = [
            {"type": "agent.handoff.started", **common, **previous},
            {"type": "agent.handoff.done", **common, **following},
        ]
        entry = {
            "object": "entry",
            "type": "agent.handoff",
            "id": handoff_id,
            "created_at": now_iso(),
            "completed_at": now_iso(),
            **previous,
            **following,
        }
        self.items.append(_Output("agent.handoff", entry, events))
        self.agent_id = target

    def tool_execution(self, name: str) -> None:
        exec_id = ids.prefixed("tool_exec_")
        arguments = json.dumps({"query": self.ctx.user_text})
        common = {"id": exec_id, "name": name, "output_index": self.index, "created_at": now_iso()}
        events = [
            {"type": "tool.execution.started", **common, "arguments": "", **self._attribution()}
        ]
        events += [
            {"type": "tool.execution.delta", **common, "arguments": piece}
            for piece in split_text(arguments, 8)
        ]
        events.append({"type": "tool.execution.done", **common, "info": {}})
        entry = {
            "object": "entry",
            "type": "tool.execution",
            "id": exec_id,
            "name": name,
            "arguments": arguments,
            "info": {},
            "created_at": now_iso(),
            "completed_at": now_iso(),
            **self._attribution(),
        }
        self.items.append(_Output("tool.execution", entry, events))

    def message(self) -> None:
        pieces = split_text(self.reply.text, self.reply.chunk_chars)
        chunks: list[tuple[int, Any]] = []  # (content_index, content)
        entry_content: list[dict[str, Any]] = []
        if self.reply.thinking is not None:
            thoughts = split_text(self.reply.thinking, self.reply.chunk_chars)
            chunks += [(0, _thinking(piece)) for piece in thoughts]
            entry_content.append(_thinking("".join(thoughts)))
        if pieces:
            chunks += [(len(entry_content), piece) for piece in pieces]
            entry_content.append({"type": "text", "text": "".join(pieces)})
        if self.reply.references:
            chunks.append((len(entry_content), dict(REFERENCE_CHUNK)))
            entry_content.append(dict(REFERENCE_CHUNK))
        for file in self.reply.files:
            chunk = _file_chunk(file)
            chunks.append((len(entry_content), chunk))
            entry_content.append(chunk)
        if not chunks:
            return
        self._add_message(chunks, entry_content)

    def _add_message(self, chunks: list[tuple[int, Any]], content: list[dict[str, Any]]) -> None:
        msg_id = ids.prefixed("msg_")
        events = [
            {
                "type": "message.output.delta",
                "id": msg_id,
                "content": piece,
                "output_index": self.index,
                "content_index": index,
                "created_at": now_iso(),
                "role": "assistant",
                **self._attribution(),
            }
            for index, piece in chunks
        ]
        plain = len(content) == 1 and content[0]["type"] == "text"
        entry = {
            "object": "entry",
            "type": "message.output",
            "id": msg_id,
            "role": "assistant",
            "content": content[0]["text"] if plain else content,
            "created_at": now_iso(),
            "completed_at": now_iso(),
            **self._attribution(),
        }
        self.items.append(_Output("message.output", entry, events))

    def function_calls(self) -> None:
        for call in self.reply.tool_calls:
            call_id = ids.prefixed("fc_")
            tool_call_id = call.id or ids.tool_call_id()
            arguments = (
                call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            )
            common = {
                "id": call_id,
                "name": call.name,
                "tool_call_id": tool_call_id,
                "output_index": self.index,
                "created_at": now_iso(),
                **self._attribution(),
            }
            events = [
                {"type": "function.call.delta", **common, "arguments": piece}
                for piece in split_text(arguments, _FRAGMENT_CHARS) or [""]
            ]
            entry = {
                "object": "entry",
                "type": "function.call",
                "id": call_id,
                "tool_call_id": tool_call_id,
                "name": call.name,
                "arguments": arguments,
                "created_at": now_iso(),
                "completed_at": now_iso(),
                **self._attribution(),
            }
            self.items.append(_Output("function.call", entry, events))


def _file_chunk(file: ToolFile) -> dict[str, Any]:
    return {
        "type": "tool_file",
        "tool": file.tool,
        "file_id": file.file_id or str(uuid.uuid4()),
        "file_name": file.file_name,
        "file_type": file.file_type,
    }


def _thinking(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}


def _build(reply: AgentReply, ctx: ConversationContext) -> _Outputs:
    outputs = _Outputs(reply, ctx)
    if reply.handoff_to is not None:
        outputs.handoff(reply.handoff_to)
    for name in reply.tool_executions:
        outputs.tool_execution(name)
    outputs.message()
    outputs.function_calls()
    return outputs


def conversation_usage(reply: AgentReply, ctx: ConversationContext) -> dict[str, Any]:
    if reply.usage is not None:
        usage = dict(reply.usage)
    else:
        produced = "".join(split_text(reply.text, reply.chunk_chars)) + str(reply.thinking or "")
        completion = estimate_tokens(produced)
        usage = {
            "prompt_tokens": ctx.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": ctx.prompt_tokens + completion,
        }
    if reply.connector_tokens is not None:
        usage["connector_tokens"] = reply.connector_tokens
        if reply.tool_executions:
            usage["connectors"] = dict.fromkeys(reply.tool_executions, 1)
    return usage


def conversation_events(reply: AgentReply, ctx: ConversationContext) -> list[dict[str, Any]]:
    """Every event of the streamed answer, ending with ``conversation.response.done`` (or
    ``conversation.response.error`` when the reply scripts an error)."""
    conversation_id = reply.conversation_id or ids.prefixed("conv_")
    events: list[dict[str, Any]] = [
        {
            "type": "conversation.response.started",
            "conversation_id": conversation_id,
            "created_at": now_iso(),
        }
    ]
    for output in _build(reply, ctx).items:
        events += output.events
    if reply.error is not None:
        message, code = reply.error
        events.append(error_event(message, code))
    else:
        events.append(
            {
                "type": "conversation.response.done",
                "usage": conversation_usage(reply, ctx),
                "created_at": now_iso(),
            }
        )
    return events


def error_event(message: str, code: int) -> dict[str, Any]:
    return {
        "type": "conversation.response.error",
        "message": message,
        "code": code,
        "created_at": now_iso(),
    }


def conversation_frames(reply: AgentReply, ctx: ConversationContext) -> list[bytes]:
    return [event_frame(event) for event in conversation_events(reply, ctx)]


def conversation_response(reply: AgentReply, ctx: ConversationContext) -> dict[str, Any]:
    """The non-streaming ``conversation.response`` object."""
    return {
        "object": "conversation.response",
        "conversation_id": reply.conversation_id or ids.prefixed("conv_"),
        "outputs": [output.entry for output in _build(reply, ctx).items],
        "usage": conversation_usage(reply, ctx),
    }


class ConversationFaultFrames:
    """How a conversation stream acts out in-stream faults."""

    def __init__(self, ctx: ConversationContext) -> None:
        self.ctx = ctx

    def error(self, message: str, code: int) -> list[bytes]:
        return [event_frame(error_event(message, code))]

    def unknown(self) -> list[bytes]:
        event = {"type": "conversation.response.heartbeat", "created_at": now_iso()}
        return [event_frame(event)]

    def oversized(self, size_bytes: int) -> bytes:
        event = {
            "type": "message.output.delta",
            "id": ids.prefixed("msg_"),
            "content": "x" * size_bytes,
            "output_index": 0,
            "content_index": 0,
            "created_at": now_iso(),
            "role": "assistant",
            "model": self.ctx.model,
            "agent_id": self.ctx.agent_id,
        }
        return event_frame(event)
