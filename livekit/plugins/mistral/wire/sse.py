"""Incremental Server-Sent Events decoder.

Fed with raw byte chunks exactly as they come off the socket, it yields the same events for
any split of the stream: lines are cut on ``\\n`` *bytes* (a byte that never occurs inside a
multi-byte UTF-8 character), so each complete line decodes on its own, and a line still
arriving is decoded piece by piece by an incremental UTF-8 decoder, which holds back a
character split across chunks. ``\\r\\n`` endings are accepted; a lone ``\\r`` as a line
ending (allowed by the SSE spec, never sent by Mistral) is not.
"""

from __future__ import annotations

import codecs
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
    """Pure state machine: ``feed(bytes) -> list[SSEEvent]``, then ``close()`` at EOF.

    Linear in the bytes fed, however long an event is: each chunk is searched for line ends
    once, and a line longer than a chunk is decoded piece by piece as it arrives (see
    :class:`_PartialLine`). Joining the whole buffer on every chunk, as a naive decoder does,
    made one 8 MiB event fed in 16 KiB chunks cost seconds of event-loop time.
    """

    __slots__ = ("_partial", "_data", "_event", "_size", "_max")

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._partial = _PartialLine()
        self._data: list[str] = []
        self._event: str | None = None
        self._size = 0
        """Bytes of the current event's complete lines."""
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        try:
            if self._partial.size:
                end = chunk.find(b"\n")
                if end < 0:
                    self._partial.add(chunk)
                    self._check_size()
                    return events
                self._partial.add(chunk[:end])
                self._end_partial(events)
                chunk = chunk[end + 1 :]
            lines = chunk.split(b"\n")
            self._partial.add(lines.pop())
            for raw in lines:
                self._line(raw, events)
        except UnicodeDecodeError:
            raise SSEProtocolError("the event stream is not valid UTF-8") from None
        self._check_size()
        return events

    def close(self) -> list[SSEEvent]:
        """Flush at end of stream: a last event with no trailing blank line still counts."""
        events = self.feed(b"\n\n") if (self._partial.size or self._data) else []
        self._partial = _PartialLine()
        return events

    def _check_size(self) -> None:
        if self._size + self._partial.size > self._max:
            raise SSEProtocolError(f"an event exceeded {self._max} bytes")

    def _end_partial(self, events: list[SSEEvent]) -> None:
        line, self._partial = self._partial, _PartialLine()
        if line.name is None:  # short enough to still be whole in ``head``
            self._line(line.head, events)
            return
        self._size += line.size - line.cr
        if line.name in _DECODED:
            self._set(line.name, line.text())

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        end = len(raw) - 1 if raw.endswith(b"\r") else len(raw)
        if not end:
            if self._data:
                events.append(SSEEvent("\n".join(self._data), self._event))
            self._data = []
            self._event = None
            self._size = 0
            return
        self._size += end
        colon = raw.find(b":", 0, end)
        if colon == 0:  # a comment, e.g. a keep-alive
            return
        if colon < 0:
            self._set(raw[:end], "")
            return
        start = colon + 2 if raw[colon + 1 : colon + 2] == b" " else colon + 1
        name = raw[:colon]
        if name in _DECODED:
            self._set(name, raw[start:end].decode("utf-8"))

    def _set(self, name: bytes, value: str) -> None:
        # "id" and "retry" carry nothing Mistral uses; unknown fields are ignored per the spec.
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value


_DECODED = (b"data", b"event")
"""The fields whose values are read; others are skipped undecoded."""
_LONGEST_NAME = max(map(len, _DECODED))


class _PartialLine:
    """The part of a line received so far, before its ``\\n``.

    Its bytes are kept in ``head`` only until the field name is known (a few bytes); after
    that, a data or event value is decoded as each piece arrives (an incremental UTF-8
    decoder copes with a character split between pieces) and other fields are only counted.
    """

    __slots__ = ("head", "name", "size", "cr", "_text", "_utf8", "_error")

    def __init__(self) -> None:
        self.head = b""
        self.name: bytes | None = None
        """The field name once known; ``None`` while ``head`` may still be a whole line."""
        self.size = 0
        self.cr = False
        """The last byte so far is ``\\r`` (dropped if the ``\\n`` comes next)."""
        self._text: list[str] = []
        self._utf8 = _utf8_decoder()
        self._error: UnicodeDecodeError | None = None
        """Invalid UTF-8 seen; raised when the line ends, as for a line that came whole."""

    def add(self, piece: bytes) -> None:
        if not piece:
            return
        self.size += len(piece)
        self.cr = piece.endswith(b"\r")
        if self.name is None:
            self.head += piece
            self._name_field()
        elif self.name in _DECODED:
            self._decode(piece)

    def text(self) -> str:
        """The whole value, once the line has ended."""
        if self._error is not None:
            raise self._error
        pieces = self._text
        pieces.append(self._utf8.decode(b"", True))
        if self.cr:
            pieces[-2] = pieces[-2][:-1]
        return "".join(pieces)

    def _name_field(self) -> None:
        head = self.head
        colon = head.find(b":")
        if colon < 0:
            if len(head) <= _LONGEST_NAME + 1:  # may still be a bare "data" (+ "\r")
                return
            self.name = b""  # a field that is not read
        elif colon + 1 == len(head):
            return  # the byte after the colon says whether a space is to be dropped
        else:
            self.name = head[:colon]
            if self.name in _DECODED:
                start = colon + 2 if head[colon + 1] == 0x20 else colon + 1
                self._decode(head[start:])
        self.head = b""

    def _decode(self, data: bytes) -> None:
        if self._error is None:
            try:
                self._text.append(self._utf8.decode(data))
            except UnicodeDecodeError as e:
                self._error = e


_utf8_decoder = codecs.getincrementaldecoder("utf-8")
