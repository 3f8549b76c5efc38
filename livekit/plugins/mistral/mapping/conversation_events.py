"""Conversations API stream events -> LiveKit ``ChatChunk`` deltas (pure, no I/O).

Only text is spoken. Thinking and citations (``tool_reference``) ride in ``delta.extra``;
built-in tool executions (web search, code interpreter, ...) are logged and consumed;
function-call fragments are joined per ``tool_call_id`` and released as whole calls on
``conversation.response.done``, the normal end of a turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livekit.agents.llm import ChatChunk, ChoiceDelta, FunctionToolCall

from ..log import logger
from .completion import _content_parts
from .reasoning import ThinkingRecorder, final_delta
from .usage import MistralUsage, usage_from

AgentUsage = MistralUsage  # the name this usage had before it was shared by both modes


class AgentStreamError(Exception):
    """``conversation.response.error``: the agent failed mid-turn."""

    def __init__(self, body: dict[str, Any], status: int) -> None:
        super().__init__("agent error event")
        self.body = body
        self.status = status


@dataclass(frozen=True)
class Handoff:
    previous_agent_id: str | None
    next_agent_id: str
    next_agent_name: str | None


@dataclass
class _PartialCall:
    name: str = ""
    arguments: list[str] = field(default_factory=list)


_SILENT_EVENTS = frozenset(
    {"tool.execution.started", "tool.execution.delta", "tool.execution.done"}
)


class ConversationAssembler:
    """Stateful translator for one streamed agent turn."""

    def __init__(self, keep_reasoning: bool = True) -> None:
        self.thinking = ThinkingRecorder(keep_reasoning)
        self.conversation_id = ""
        self.done = False
        self.usage: AgentUsage | None = None
        self.handoffs: list[Handoff] = []  # applied by the stream only if the turn completes
        self._calls: dict[str, _PartialCall] = {}
        self._unknown: set[str] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], ChatChunk | None]] = {
            "conversation.response.started": self._started,
            "message.output.delta": self._message,
            "function.call.delta": self._function_call,
            "agent.handoff.started": self._handoff,
            "agent.handoff.done": self._handoff,
            "conversation.response.done": self._done,
            "conversation.response.error": self._error,
        }

    def feed(self, event_type: str | None, payload: dict[str, Any]) -> ChatChunk | None:
        kind = event_type or str(payload.get("type") or "")
        handler = self._handlers.get(kind)
        if handler is not None:
            return handler(payload)
        if kind in _SILENT_EVENTS:
            _log_tool_execution(kind, payload)
        elif kind not in self._unknown:
            self._unknown.add(kind)
            logger.warning("ignoring an unknown agent event type", extra={"event": kind})
        return None

    def finish(self) -> list[ChatChunk]:
        """After ``conversation.response.done``: whole function calls, then usage."""
        chunks: list[ChatChunk] = []
        calls = [
            FunctionToolCall(
                name=partial.name, arguments="".join(partial.arguments) or "{}", call_id=call_id
            )
            for call_id, partial in self._calls.items()
            if partial.name
        ]
        if (delta := final_delta(calls, self.thinking)) is not None:
            chunks.append(self._chunk(delta))
        if self.usage is not None:
            chunks.append(ChatChunk(id=self.conversation_id, usage=self.usage))
        return chunks

    def _chunk(self, delta: ChoiceDelta) -> ChatChunk:
        return ChatChunk(id=self.conversation_id, delta=delta)

    def _started(self, payload: dict[str, Any]) -> None:
        self.conversation_id = str(payload.get("conversation_id") or self.conversation_id)

    def _message(self, payload: dict[str, Any]) -> ChatChunk | None:
        content = payload.get("content")
        if isinstance(content, str):
            return self._chunk(ChoiceDelta(role="assistant", content=content)) if content else None
        if not isinstance(content, dict):
            return None
        kind = content.get("type")
        if kind in ("text", "thinking"):
            text, thinking = _content_parts([content])
            self.thinking.add([content])
            extra = {"thinking": thinking} if thinking else None
            if not text and not extra:
                return None
            return self._chunk(ChoiceDelta(role="assistant", content=text or None, extra=extra))
        if kind == "tool_reference":
            reference = {k: v for k, v in content.items() if k != "type"}
            return self._chunk(ChoiceDelta(role="assistant", extra={"references": [reference]}))
        logger.debug("agent sent a content chunk that is not spoken", extra={"chunk_type": kind})
        return None

    def _function_call(self, payload: dict[str, Any]) -> None:
        call_id = str(payload.get("tool_call_id") or payload.get("id") or "")
        partial = self._calls.setdefault(call_id, _PartialCall())
        if payload.get("name"):
            partial.name = str(payload["name"])
        arguments = payload.get("arguments")
        if arguments:
            partial.arguments.append(arguments if isinstance(arguments, str) else str(arguments))

    def _handoff(self, payload: dict[str, Any]) -> None:
        next_id = payload.get("next_agent_id")
        if isinstance(next_id, str) and next_id:
            self.handoffs.append(
                Handoff(
                    previous_agent_id=payload.get("previous_agent_id"),
                    next_agent_id=next_id,
                    next_agent_name=payload.get("next_agent_name"),
                )
            )

    def _done(self, payload: dict[str, Any]) -> None:
        self.done = True
        raw = payload.get("usage")
        if isinstance(raw, dict):
            self.usage = usage_from(raw)

    def _error(self, payload: dict[str, Any]) -> None:
        code = payload.get("code")
        status = code if isinstance(code, int) and 400 <= code <= 599 else 500
        raise AgentStreamError(payload, status)


def _log_tool_execution(kind: str, payload: dict[str, Any]) -> None:
    log = logger.debug if kind == "tool.execution.delta" else logger.info
    log(
        "agent built-in tool event",
        extra={
            "event": kind,
            "tool": payload.get("name"),
            "lk.pii.arguments": payload.get("arguments"),
            "lk.pii.info": payload.get("info"),
        },
    )
