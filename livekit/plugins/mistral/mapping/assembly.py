"""What every stream assembler shares (pure): the in-stream error, tool-call accumulation and
the arguments text.

An assembler turns one attempt's event payloads into ``ChatChunk`` deltas: ``feed`` returns
what to send now, ``complete`` says whether the stream reached its normal end (the request
kind's end rule), and ``finish`` releases what waits for that end (whole tool calls, usage).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from livekit.agents.llm import ChatChunk, FunctionToolCall

from ..log import logger


class InStreamError(Exception):
    """The stream itself reported an error: an error object in a chat stream, a
    ``finish_reason`` of ``"error"``, or ``conversation.response.error``."""

    def __init__(self, body: dict[str, Any], status: int) -> None:
        super().__init__("error event in the stream")
        self.body = body
        self.status = status


def error_status(body: dict[str, Any]) -> int:
    """Best status for an in-stream error object (chat chunk or conversation event): its
    own if it names one (``raw_status_code`` first, then ``code`` and the like), else 500."""
    for key in ("raw_status_code", "status_code", "status", "code"):
        value = body.get(key)
        try:
            status = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if 400 <= status <= 599:
            return status
    return 500


class Assembler(Protocol):
    @property
    def response_id(self) -> str:
        """The provider's id of this answer (completion id or conversation id)."""

    @property
    def complete(self) -> bool:
        """Whether the stream reached its normal end."""

    @property
    def end_marker(self) -> str:
        """What marks the normal end, for messages."""

    def feed(self, payload: dict[str, Any]) -> ChatChunk | None: ...

    def finish(self) -> list[ChatChunk]: ...


def arguments_text(value: object) -> str:
    """Tool-call arguments as JSON text: strings as sent, objects (seen live) as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class _PartialCall:
    call_id: str
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAccumulator:
    """Joins streamed tool-call pieces into whole calls.

    Pieces are grouped by ``key`` (the ``index`` of a chat delta, the ``tool_call_id`` of a
    conversation event). A piece whose call id differs from the id already held under its key
    starts a new call: two whole calls sharing ``index: 0`` stay two calls. Calls are released
    only by :meth:`calls`, which the stream calls on a normal end.
    """

    __slots__ = ("_calls", "_by_key")

    def __init__(self) -> None:
        self._calls: list[_PartialCall] = []
        self._by_key: dict[object, _PartialCall] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    @property
    def names(self) -> list[str]:
        return [call.name for call in self._calls]

    def add(self, key: object, call_id: str, name: str, arguments: object) -> None:
        partial = self._by_key.get(key)
        if partial is None or (call_id and partial.call_id and call_id != partial.call_id):
            partial = _PartialCall(call_id)
            self._by_key[key] = partial
            self._calls.append(partial)
        elif call_id and not partial.call_id:
            partial.call_id = call_id
        if name:
            partial.name = name
        if text := arguments_text(arguments):
            partial.arguments.append(text)

    def calls(self, fallback_id: Callable[[int], str]) -> list[FunctionToolCall]:
        """The whole calls in arrival order; ``fallback_id(n)`` names a call sent without id.
        A call that never got a name cannot be run and is dropped with a warning."""
        whole: list[FunctionToolCall] = []
        for n, partial in enumerate(self._calls):
            if not partial.name:
                logger.warning("a streamed tool call had no name; it was dropped")
                continue
            whole.append(
                FunctionToolCall(
                    name=partial.name,
                    arguments="".join(partial.arguments) or "{}",
                    call_id=partial.call_id or fallback_id(n),
                )
            )
        return whole
