"""The SSE decoder yields the same events for any split of the byte stream."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livekit.plugins.mistral.wire.sse import SSEDecoder, SSEEvent, SSEProtocolError

STREAM = (
    b": keep-alive\n\n"
    b'data: {"text": "h\xc3\xa9llo \xf0\x9f\x98\x80"}\n\n'
    b"event: message.output.delta\r\n"
    b'data:{"a":1}\r\n\r\n'
    b"data: line one\n"
    b"data: line two\n\n"
    b"id: 7\nretry: 10\nunknown: x\ndata: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent('{"text": "héllo 😀"}'),
    SSEEvent('{"a":1}', "message.output.delta"),
    SSEEvent("line one\nline two"),
    SSEEvent("[DONE]"),
]


def decode(pieces: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    events.extend(decoder.close())
    return events


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def test_whole_stream() -> None:
    assert decode([STREAM]) == EXPECTED


def test_byte_by_byte_splits_utf8_characters() -> None:
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    assert decode(split_at(STREAM, cuts)) == EXPECTED


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)),
            max_size=30,
        ),
        max_size=8,
    ),
    st.lists(st.integers(min_value=0, max_value=4000), max_size=20),
)
def test_generated_events_survive_any_split(payloads: list[str], cuts: list[int]) -> None:
    wire = b"".join(f"data: {p}\n\n".encode() for p in payloads)
    expected = [SSEEvent(p) for p in payloads]
    # an event whose data line is empty still dispatches: "data: " carries an empty string
    assert decode(split_at(wire, [c for c in cuts if c <= len(wire)])) == expected


def test_last_event_without_blank_line_is_flushed_at_close() -> None:
    assert decode([b"data: tail"]) == [SSEEvent("tail")]


def test_oversized_event_is_refused() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(SSEProtocolError, match="exceeded 100 bytes"):
        decoder.feed(b"data: " + b"x" * 200)


def test_many_small_events_in_one_chunk_are_not_oversized() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    assert len(decoder.feed(b"data: 0123456789\n\n" * 50)) == 50


def test_invalid_utf8_is_a_protocol_error() -> None:
    with pytest.raises(SSEProtocolError, match="UTF-8"):
        SSEDecoder().feed(b"data: \xff\xfe\n\n")
