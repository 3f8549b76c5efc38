"""Incremental Server-Sent Events decoder.

Fed with raw byte chunks exactly as they come off the socket, it yields the same events for
any split of the stream: lines are cut on ``\\n`` *bytes* (a byte that never occurs inside a
multi-byte UTF-8 character), so each complete line decodes on its own and a character split
across chunks is simply held back until its line is complete. ``\\r\\n`` endings are accepted;
a lone ``\\r`` as a line ending (allowed by the SSE spec, never sent by Mistral) is not.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024

END_OF_STREAM: dict[str, str] = {"type": "[DONE]"}
"""What the wire yields for ``data: [DONE]``, the end marker of chat-completion streams;
compare with ``is``."""


class SSEProtocolError(Exception):
    """The byte stream is not a well-formed event stream (e.g. an event past the size cap)."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None


class SSEDecoder:
    """Pure state machine: ``feed(bytes) -> list[SSEEvent]``, then ``close()`` at EOF."""

    __slots__ = ("_buf", "_data", "_event", "_size", "_max")

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._size = 0
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        events: list[SSEEvent] = []
        for raw in lines:
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw:
                if self._data:
                    events.append(SSEEvent("\n".join(self._data), self._event))
                self._data = []
                self._event = None
                self._size = 0
                continue
            self._size += len(raw)
            self._field(raw)
        if self._size + len(self._buf) > self._max:
            raise SSEProtocolError(f"an event exceeded {self._max} bytes")
        return events

    def close(self) -> list[SSEEvent]:
        """Flush at end of stream: a last event with no trailing blank line still counts."""
        events = self.feed(b"\n\n") if (self._buf or self._data) else []
        self._buf = b""
        return events

    def _field(self, raw: bytes) -> None:
        if raw[0] == 0x3A:  # ":" comment, e.g. a keep-alive
            return
        name, sep, value = raw.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        try:
            if name == b"data":
                self._data.append(value.decode("utf-8"))
            elif name == b"event":
                self._event = value.decode("utf-8")
        except UnicodeDecodeError:
            raise SSEProtocolError("the event stream is not valid UTF-8") from None
        # "id" and "retry" carry nothing Mistral uses; unknown fields are ignored per the spec.
