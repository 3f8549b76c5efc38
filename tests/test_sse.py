"""The SSE decoder yields the same events for any split of the byte stream."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livekit.plugins.mistral.wire.sse import (
    DEFAULT_MAX_EVENT_BYTES,
    SSEDecoder,
    SSEEvent,
    SSEProtocolError,
)

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
            alphabet=st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]),
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


# one SSE line of each kind the decoder meets; "\r\n" endings, a bare name, multi-byte text
LINES = st.sampled_from(
    [
        b"",
        b"\r",
        b": keep-alive",
        b"data: h\xc3\xa9llo \xf0\x9f\x98\x80",
        b"data:no space",
        b"data:  two spaces",
        b"data",
        b"data:",
        b"data:\r",
        b"event: message.output.delta",
        b"event:x\r",
        b"id: 7",
        b"retry: 10",
        b"unknown: \xff not read",
        b"datax: not data",
        b"data: " + "ça va? très bien 🙂 ".encode() * 40,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=30), st.lists(st.integers(min_value=0, max_value=4000)))
def test_any_split_of_any_lines_decodes_as_the_whole(lines: list[bytes], cuts: list[int]) -> None:
    # decoding in one piece never holds a line back; split, lines wait across chunks
    wire = b"".join(line + b"\n" for line in lines)
    whole = decode([wire])
    assert decode(split_at(wire, [c for c in cuts if c <= len(wire)])) == whole


def _event_of_exactly(size: int) -> tuple[bytes, str]:
    """An event whose data line is ``size`` bytes long, with characters of 1 to 4 bytes."""
    unit = "ça va? très bien 🙂 ".encode()
    body = unit * ((size - 6) // len(unit))
    text = (body + b"x" * (size - 6 - len(body))).decode()
    return f"data: {text}\n\n".encode(), text


def test_each_chunk_of_a_long_event_costs_its_own_size() -> None:
    # An event of the largest size the default cap takes, fed in 16 KiB pieces (characters
    # split between pieces). Allocation is the measure of work here, free of timing noise:
    # a decoder that re-joins everything held on every chunk allocates the event so far each
    # time (quadratic: seconds of event-loop time for 8 MiB). The timing is a benchmark row.
    piece = 16 * 1024
    wire, text = _event_of_exactly(DEFAULT_MAX_EVENT_BYTES)
    *pieces, last = [wire[i : i + piece] for i in range(0, len(wire), piece)]
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    worst = 0
    tracemalloc.start()
    try:
        for chunk in pieces:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            events += decoder.feed(chunk)
            worst = max(worst, tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()
    events += decoder.feed(last)  # the one piece that joins the event, once
    assert events == [SSEEvent(text)]
    assert worst < 8 * piece  # the decoded text of one piece, at 4 bytes per character


def test_a_long_line_past_the_cap_is_refused_while_it_arrives() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    assert decoder.feed(b"data: " + b"x" * 500) == []
    with pytest.raises(SSEProtocolError, match="exceeded 1000 bytes"):
        decoder.feed(b"x" * 500)


def test_invalid_utf8_in_a_line_still_arriving_is_refused_when_the_line_ends() -> None:
    # the events before it come out first, as they do when the bad line arrives whole
    decoder = SSEDecoder()
    assert decoder.feed(b"data: ok\n\ndata: \xff") == [SSEEvent("ok")]
    with pytest.raises(SSEProtocolError, match="UTF-8"):
        decoder.feed(b"\n\n")
