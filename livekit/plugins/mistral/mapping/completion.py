"""Chat-completions stream payloads -> LiveKit ``ChatChunk`` deltas (pure, no I/O).

One :class:`CompletionAssembler` lives for one attempt. Text is passed on as it arrives;
thinking never reaches ``delta.content`` (it rides in ``delta.extra["thinking"]``, and the
turn's whole thinking in the last delta: see ``reasoning.py``); tool
calls are accumulated by ``index`` (Mistral sends them whole, other models served on the
same endpoint send OpenAI-style fragments; a new call id at a used index is a new call) and
released only by :meth:`finish`, i.e. on a normal end of stream. The end rule: ``[DONE]``
or a ``finish_reason``.
"""

from __future__ import annotations

from typing import Any

from livekit.agents.llm import ChatChunk, ChoiceDelta, CompletionUsage, FunctionToolCall

from ..log import logger
from ..wire.sse import END_OF_STREAM
from .assembly import InStreamError, ToolCallAccumulator, error_status
from .reasoning import ThinkingRecorder, final_delta
from .usage import usage_from


def content_parts(content: list[Any]) -> tuple[str, str, str | None]:
    """Split a list-shaped content into (spoken text, thinking text, the last thinking
    ``signature``): the one reading of content chunks, for every assembler."""
    text: list[str] = []
    thinking: list[str] = []
    signature: str | None = None
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text.append(str(part.get("text") or ""))
        elif kind == "thinking":
            for inner in part.get("thinking") or ():
                if isinstance(inner, dict) and inner.get("type") == "text":
                    thinking.append(str(inner.get("text") or ""))
            if isinstance(sig := part.get("signature"), str) and sig:
                signature = sig
        # other chunk types (references, images) are not speakable: skipped on purpose
    return "".join(text), "".join(thinking), signature


# finish reasons of an answer cut by a token limit: a tool call in it may be incomplete
_CUT_SHORT = frozenset({"length", "model_length"})


class CompletionAssembler:
    """Stateful, pure translator for one streamed completion."""

    end_marker = "[DONE] or a finish_reason"
    __slots__ = (
        "response_id",
        "finish_reason",
        "usage",
        "ended",
        "thinking",
        "_calls",
        "_unknown_seen",
    )

    def __init__(self, keep_reasoning: bool = True) -> None:
        self.thinking = ThinkingRecorder(keep_reasoning)
        self.response_id = ""
        self.finish_reason: str | None = None
        self.usage: CompletionUsage | None = None
        self.ended = False
        self._calls = ToolCallAccumulator()
        self._unknown_seen = False

    @property
    def complete(self) -> bool:
        return self.ended or self.finish_reason is not None

    def feed(self, payload: dict[str, Any]) -> ChatChunk | None:
        """One decoded event; returns the chunk to send now, if any."""
        if "choices" not in payload:
            self._not_a_chunk(payload)
            return None
        if not self.response_id:
            self.response_id = str(payload.get("id") or "")
        if (usage := payload.get("usage")) is not None:
            self.usage = usage_from(usage)
        choices = payload["choices"]
        if not choices:
            return None
        choice = choices[0]
        if (reason := choice.get("finish_reason")) is not None:
            self.finish_reason = reason
            if reason == "error":
                raise InStreamError(payload, 500)
        delta = choice.get("delta") or {}
        if calls := delta.get("tool_calls"):
            self._accumulate(calls)
        content = delta.get("content")
        if not content:
            return None
        if isinstance(content, str):
            return ChatChunk(
                id=self.response_id, delta=ChoiceDelta(role="assistant", content=content)
            )
        return self._list_chunk(content)

    def _not_a_chunk(self, payload: dict[str, Any]) -> None:
        if payload is END_OF_STREAM:
            self.ended = True
            return
        if payload.get("object") == "error" or "error" in payload or "message" in payload:
            raise InStreamError(payload, error_status(payload))
        if not self._unknown_seen:
            self._unknown_seen = True
            logger.warning(
                "ignoring an event that is not a completion chunk",
                extra={"object": payload.get("object"), "keys": sorted(payload)[:10]},
            )

    def finish(self) -> list[ChatChunk]:
        """End of a normal stream: complete tool calls, then usage."""
        chunks: list[ChatChunk] = []
        if (delta := final_delta(self._complete_calls(), self.thinking)) is not None:
            chunks.append(ChatChunk(id=self.response_id, delta=delta))
        if self.usage is not None:
            chunks.append(ChatChunk(id=self.response_id, usage=self.usage))
        return chunks

    def _list_chunk(self, content: Any) -> ChatChunk | None:
        if not isinstance(content, list):
            return None
        text, thinking, signature = content_parts(content)
        self.thinking.add(thinking, signature)
        if not text and not thinking:
            return None
        delta = ChoiceDelta(
            role="assistant",
            content=text or None,
            extra={"thinking": thinking} if thinking else None,
        )
        return ChatChunk(id=self.response_id, delta=delta)

    def _accumulate(self, calls: list[dict[str, Any]]) -> None:
        for position, call in enumerate(calls):
            index = call.get("index")
            function = call.get("function") or {}
            self._calls.add(
                index if isinstance(index, int) else position,
                str(call.get("id") or ""),
                str(function.get("name") or ""),
                function.get("arguments"),
            )

    def _complete_calls(self) -> list[FunctionToolCall]:
        if self._calls and self.finish_reason in _CUT_SHORT:
            logger.warning(
                "max_tokens cut the answer inside a tool call; the call was dropped",
                extra={"tools": self._calls.names},
            )
            return []
        return self._calls.calls(lambda n: f"{self.response_id}_{n}")
