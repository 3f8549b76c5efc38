"""A turn's thinking, kept on the history and sent back on later turns (pure).

Reasoning models (``reasoning_effort``, magistral) think before they answer. Without help
that thinking is lost after each turn, so after every tool result the model reasons from
scratch. Decisions:
- While streaming, thinking pieces still ride in ``delta.extra["thinking"]`` as before (never
  in ``delta.content``: thinking is never spoken). :class:`ThinkingRecorder` gathers the
  turn's whole thinking: the text of its ``thinking`` chunks and the last ``signature``
  Mistral sent (its key to replay reasoning blocks).
- On a normal end of the stream the whole record is emitted ONCE, in the last delta, as
  ``delta.extra[REASONING_KEY] = {"text": ..., "signature"?: ...}``. LiveKit merges each
  delta's ``extra`` into the generation's with ``dict.update`` (a key is overwritten, not
  appended), and stores the result on the assistant message; so one whole record at the
  end is what survives, at O(1) cost per streamed chunk. The same record goes into the
  ``extra`` of the turn's first tool call, which LiveKit stores on the ``FunctionCall``
  item: a turn that only calls tools has no assistant message to carry it.
- An interrupted or failed turn emits no record (what was heard is stored without it).
- Sending back: :func:`thinking_chunk` turns a stored record into the chunk Mistral's schema
  takes in an assistant message's content, ``{"type": "thinking", "thinking": [text chunk],
  "signature"?, "closed": true}``; the history mappings put it first in the assistant
  message of that turn. A record that is not of this shape (hand-made, another plugin's) is
  skipped with a debug log.
- ``keep_reasoning=False`` turns both halves off: no record is emitted, none is sent back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livekit.agents.llm import ChoiceDelta, FunctionToolCall

from ..log import logger

REASONING_KEY = "mistral_reasoning"
"""The ``extra`` key holding a turn's thinking on LiveKit's assistant message and calls."""


class ThinkingRecorder:
    """Gathers one streamed turn's thinking; disabled, it records nothing."""

    __slots__ = ("_enabled", "_texts", "_signature")

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled
        self._texts: list[str] = []
        self._signature: str | None = None

    def add(self, thinking: str, signature: str | None) -> None:
        """Record a delta's thinking text and signature, as ``content_parts`` read them."""
        if not self._enabled:
            return
        if thinking:
            self._texts.append(thinking)
        if signature is not None:
            self._signature = signature

    def record(self) -> dict[str, str] | None:
        """The turn's thinking as stored on the history, ``None`` when there was none."""
        text = "".join(self._texts)
        if not text and self._signature is None:
            return None
        record = {"text": text}
        if self._signature is not None:
            record["signature"] = self._signature
        return record


def final_delta(calls: list[FunctionToolCall], thinking: ThinkingRecorder) -> ChoiceDelta | None:
    """The last delta of a normal end: the complete tool calls and the turn's thinking."""
    record = thinking.record()
    if not calls and record is None:
        return None
    extra = {REASONING_KEY: record} if record is not None else None
    if calls and extra is not None:
        first = calls[0]
        calls = [first.model_copy(update={"extra": {**(first.extra or {}), **extra}}), *calls[1:]]
    return ChoiceDelta(role="assistant", tool_calls=calls, extra=extra)


def stored_thinking(extra: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The thinking chunk to send back for a history item's ``extra``, if it holds one."""
    record = extra.get(REASONING_KEY) if extra else None
    if record is None:
        return None
    if not _is_record(record):
        logger.debug("skipping stored thinking of an unknown shape")
        return None
    return thinking_chunk(record)


def thinking_chunk(record: Mapping[str, str]) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "type": "thinking",
        "thinking": [{"type": "text", "text": record["text"]}],
    }
    if "signature" in record:
        chunk["signature"] = record["signature"]
    chunk["closed"] = True
    return chunk


def _is_record(value: object) -> bool:
    if not isinstance(value, Mapping) or not isinstance(value.get("text"), str):
        return False
    if not set(value) <= {"text", "signature"}:
        return False
    return isinstance(value.get("signature", ""), str)
