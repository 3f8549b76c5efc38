"""Conversations API stream payloads -> LiveKit ``ChatChunk`` deltas (pure, no I/O).

Serves agent conversations and model conversations (normal mode with built-in tools) alike.

- Only text is spoken. Thinking rides in ``delta.extra["thinking"]``, and the turn's whole
  thinking in the last delta (see ``reasoning.py``).
- Citations (``tool_reference`` chunks) and files a tool produced (``tool_file`` chunks:
  generated images, code output) ride in ``delta.extra["references"]`` and
  ``delta.extra["files"]``. Each delta that adds one carries the whole list of the turn so
  far, because LiveKit keeps only the last value of each ``extra`` key on the assistant
  message it stores.
- Built-in tool runs (``tool.execution.started/delta/done``) are never spoken: each start and
  end becomes a :class:`BuiltinToolEvent` handed to ``on_tool`` (the stream emits it on the
  LLM as ``"builtin_tool"``) and an INFO log with the arguments under ``lk.pii`` extras.
- Function-call fragments are joined per ``tool_call_id`` and released as whole calls on
  ``conversation.response.done``, the end rule of a conversation stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit.agents.llm import ChatChunk, ChoiceDelta

from ..log import logger
from .assembly import InStreamError, ToolCallAccumulator, arguments_text, error_status
from .completion import content_parts
from .reasoning import ThinkingRecorder, final_delta
from .usage import AgentUsage, MistralUsage, usage_from

__all__ = ["AgentUsage", "BuiltinToolEvent", "ConversationAssembler", "Handoff"]

_FILE_FIELDS = ("tool", "file_id", "file_name", "file_type")
TOOL_EVENT_LOG = "Mistral built-in tool %s %s"
"""The log message of a built-in tool run: its name and phase; arguments only in extras."""


@dataclass(frozen=True)
class BuiltinToolEvent:
    """A Mistral built-in tool (web search, code interpreter, ...) started or finished.

    Emitted on the ``LLM`` as ``"builtin_tool"``, e.g. to say "let me look that up" while a
    search runs. ``arguments`` is the JSON text known so far (the whole of it at ``"done"``);
    ``info`` is what the tool reported at ``"done"``.
    """

    name: str
    phase: Literal["started", "done"]
    arguments: str
    info: dict[str, Any] | None
    conversation_id: str | None


@dataclass(frozen=True)
class Handoff:
    previous_agent_id: str | None
    next_agent_id: str
    next_agent_name: str | None


@dataclass
class _Execution:
    name: str
    arguments: list[str] = field(default_factory=list)


class ConversationAssembler:
    """Stateful translator for one streamed conversation turn."""

    end_marker = "conversation.response.done"

    def __init__(
        self,
        on_tool: Callable[[BuiltinToolEvent], None] | None = None,
        keep_reasoning: bool = True,
    ) -> None:
        self.thinking = ThinkingRecorder(keep_reasoning)
        self.response_id = ""
        self.complete = False
        self.usage: MistralUsage | None = None
        self.handoffs: list[Handoff] = []  # applied by the stream only if the turn completes
        self._on_tool = on_tool
        self._calls = ToolCallAccumulator()
        self._executions: dict[str, _Execution] = {}
        self._references: list[dict[str, Any]] = []
        self._files: list[dict[str, Any]] = []
        self._unknown: set[str] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], ChatChunk | None]] = {
            "conversation.response.started": self._started,
            "message.output.delta": self._message,
            "function.call.delta": self._function_call,
            "tool.execution.started": self._execution_started,
            "tool.execution.delta": self._execution_delta,
            "tool.execution.done": self._execution_done,
            "agent.handoff.started": self._handoff,
            "agent.handoff.done": self._handoff,
            "conversation.response.done": self._done,
            "conversation.response.error": self._error,
        }

    @property
    def conversation_id(self) -> str | None:
        return self.response_id or None

    def feed(self, payload: dict[str, Any]) -> ChatChunk | None:
        kind = str(payload.get("type") or "")
        handler = self._handlers.get(kind)
        if handler is not None:
            return handler(payload)
        if kind not in self._unknown:
            self._unknown.add(kind)
            logger.warning("ignoring an unknown conversation event type", extra={"event": kind})
        return None

    def finish(self) -> list[ChatChunk]:
        """After ``conversation.response.done``: whole function calls, then usage."""
        chunks: list[ChatChunk] = []
        calls = self._calls.calls(lambda n: f"{self.response_id}_{n}")
        if (delta := final_delta(calls, self.thinking)) is not None:
            chunks.append(self._chunk(delta))
        if self.usage is not None:
            chunks.append(ChatChunk(id=self.response_id, usage=self.usage))
        return chunks

    def _chunk(self, delta: ChoiceDelta) -> ChatChunk:
        return ChatChunk(id=self.response_id, delta=delta)

    def _started(self, payload: dict[str, Any]) -> None:
        self.response_id = str(payload.get("conversation_id") or self.response_id)

    def _message(self, payload: dict[str, Any]) -> ChatChunk | None:
        content = payload.get("content")
        if isinstance(content, str):
            return self._chunk(ChoiceDelta(role="assistant", content=content)) if content else None
        if not isinstance(content, dict):
            return None
        kind = content.get("type")
        if kind in ("text", "thinking"):
            text, thinking, signature = content_parts([content])
            self.thinking.add(thinking, signature)
            extra = {"thinking": thinking} if thinking else None
            if not text and not extra:
                return None
            return self._chunk(ChoiceDelta(role="assistant", content=text or None, extra=extra))
        if kind == "tool_reference":
            self._references.append({k: v for k, v in content.items() if k != "type"})
            references = {"references": list(self._references)}
            return self._chunk(ChoiceDelta(role="assistant", extra=references))
        if kind == "tool_file":
            self._files.append({k: content.get(k) for k in _FILE_FIELDS})
            return self._chunk(ChoiceDelta(role="assistant", extra={"files": list(self._files)}))
        logger.debug("a content chunk that is not spoken was skipped", extra={"chunk_type": kind})
        return None

    def _function_call(self, payload: dict[str, Any]) -> None:
        call_id = str(payload.get("tool_call_id") or "")
        # a fragment without any id cannot be joined to another: it is a call of its own
        key: object = call_id or payload.get("id") or object()
        self._calls.add(key, call_id, str(payload.get("name") or ""), payload.get("arguments"))

    def _execution_started(self, payload: dict[str, Any]) -> None:
        execution = _Execution(str(payload.get("name") or ""))
        self._executions[str(payload.get("id") or "")] = execution
        if text := arguments_text(payload.get("arguments")):
            execution.arguments.append(text)
        self._tool_event(execution, "started", None)

    def _execution_delta(self, payload: dict[str, Any]) -> None:
        execution = self._execution(payload)
        if text := arguments_text(payload.get("arguments")):
            execution.arguments.append(text)

    def _execution_done(self, payload: dict[str, Any]) -> None:
        info = payload.get("info")
        self._tool_event(self._execution(payload), "done", info if isinstance(info, dict) else None)

    def _execution(self, payload: dict[str, Any]) -> _Execution:
        key = str(payload.get("id") or "")
        if key not in self._executions:  # a delta or done whose start was not seen
            self._executions[key] = _Execution(str(payload.get("name") or ""))
        return self._executions[key]

    def _tool_event(
        self, execution: _Execution, phase: Literal["started", "done"], info: dict[str, Any] | None
    ) -> None:
        event = BuiltinToolEvent(
            execution.name, phase, "".join(execution.arguments), info, self.conversation_id
        )
        logger.info(
            TOOL_EVENT_LOG,
            event.name,
            phase,
            extra={
                "tool": event.name,
                "phase": phase,
                "conversation": event.conversation_id,
                "lk.pii.arguments": event.arguments,
                "lk.pii.info": info,
            },
        )
        if self._on_tool is not None:
            self._on_tool(event)

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
        self.complete = True
        raw = payload.get("usage")
        if isinstance(raw, dict):
            self.usage = usage_from(raw)

    def _error(self, payload: dict[str, Any]) -> None:
        raise InStreamError(payload, error_status(payload))
