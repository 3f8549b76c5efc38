"""SSE framing, and how a mid-stream :class:`Fault` rewrites a list of frames.

A stream is planned as a list of steps (bytes to write, a stall, an abort) before anything is
sent, so the fault logic stays pure and testable; the server only executes the plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .script import Fault

DONE = b"data: [DONE]\n\n"
COMMENT = b": keep-alive\n\n"
MALFORMED = b'data: {"id": "broken", "choices": [{"delta": {"content": "\n\n'
"""A data line cut inside a JSON string: never valid JSON."""


def dumps(payload: Any) -> str:
    """Compact JSON, UTF-8 kept as is (so multi-byte characters cross chunk boundaries)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def data_frame(payload: Mapping[str, Any]) -> bytes:
    """A chat-completions event: one ``data:`` line, no ``event:`` line."""
    return f"data: {dumps(payload)}\n\n".encode()


def event_frame(payload: Mapping[str, Any]) -> bytes:
    """A conversations event: an ``event:`` line naming the type, then the data repeating it."""
    return f"event: {payload['type']}\ndata: {dumps(payload)}\n\n".encode()


@dataclass(frozen=True)
class Stall:
    """Go silent for ``seconds`` (cut short by a client disconnect or server close)."""

    seconds: float


@dataclass(frozen=True)
class Abort:
    """Abort the TCP connection (RST), no clean close."""


Step = bytes | Stall | Abort


class FaultFrames(Protocol):
    """The frames one stream dialect (chat or conversations) uses to act out a fault."""

    def error(self, message: str, code: int) -> list[bytes]: ...

    def unknown(self) -> list[bytes]: ...

    def oversized(self, size_bytes: int) -> bytes: ...


def plan_stream(frames: Sequence[bytes], fault: Fault | None, dialect: FaultFrames) -> list[Step]:
    """The steps that stream ``frames`` with ``fault`` applied.

    ``after_events`` is clamped so at least the terminal frame (``[DONE]`` or
    ``conversation.response.done``) is always affected.
    """
    if fault is None or not fault.is_mid_stream:
        return list(frames)
    cut = max(0, min(fault.after_events, len(frames) - 1))
    head, tail = list(frames[:cut]), list(frames[cut:])
    inserted: dict[str, list[Step]] = {
        "stall_mid_stream": [Stall(fault.seconds), *tail],
        "reset_mid_stream": [Abort()],
        "cut_stream": [],
        "malformed_event": [MALFORMED, *tail],
        "in_stream_error": list(dialect.error(fault.message, fault.code)),
        "oversized_event": [dialect.oversized(fault.size_bytes), *tail],
        "unknown_event": [*dialect.unknown(), *tail],
        "inject": [fault.body, *tail],
        "keep_alive": [*_keep_alives(fault.every, fault.seconds), *tail],
    }
    return [*head, *inserted[fault.kind]]


def _keep_alives(every: float, seconds: float) -> list[Step]:
    """A comment every ``every`` seconds for ``seconds``: bytes that carry no event."""
    count = max(1, round(seconds / every)) if every > 0 else 1
    return [step for _ in range(count) for step in (Stall(every), COMMENT)]
