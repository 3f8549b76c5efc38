"""The longest event-loop block while the SSE decoder takes in one very large event.

Each ``SSEDecoder.feed()`` runs without yielding to the event loop, so the longest one is how
long a voice agent's audio stalls while the event arrives. The event is one chat chunk whose
data line is exactly the size asked for (8 MiB is the largest the default cap accepts), fed
in 16 KiB pieces as socket reads bring it. Its text is the other phases' story (accented
letters: one byte per character once decoded); the "with emoji" variant adds one character
beyond U+FFFF, which makes Python store the whole text at 4 bytes per character, so building
it costs allocating four times the memory (any decoder that returns one ``str`` pays that).
Parsing the event's JSON afterwards is the caller's work and not counted here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from livekit.plugins.mistral.wire.sse import SSEDecoder

from .streaming import story

PIECE = 16 * 1024
TEXTS = {"story": "".join(story(60)), "story with emoji": "".join(story(60)) + "🙂 "}


@dataclass
class Decoding:
    """Per sample: the longest single ``feed()`` and all the feeds together, in ms."""

    block_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)


def event_of(size: int, text: str) -> bytes:
    """A chat chunk event whose ``data:`` line is exactly ``size`` bytes of ``text``."""
    frame = '{"id":"cmpl","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
    head = f'data: {frame}{{"content":"'.encode()
    tail = b'"}}]}'
    unit = text.encode()
    room = size - len(head) - len(tail)
    body = unit * (room // len(unit))
    body += b"x" * (room - len(body))
    line = head + body + tail
    json.loads(line[len(b"data: ") :])  # a valid chunk, as the live API would send
    return line + b"\n\n"


def decode_once(wire: bytes) -> tuple[float, float]:
    """Feed ``wire`` in ``PIECE``-sized reads; the longest feed and the sum, in ms."""
    pieces = [wire[i : i + PIECE] for i in range(0, len(wire), PIECE)]
    decoder = SSEDecoder()
    longest = total = 0.0
    events = 0
    for piece in pieces:
        start = time.perf_counter()
        events += len(decoder.feed(piece))
        took = time.perf_counter() - start
        longest = max(longest, took)
        total += took
    if events != 1:
        raise AssertionError(f"expected one event, decoded {events}")
    return longest * 1e3, total * 1e3


def measure(sizes_mib: Sequence[int], samples: int) -> dict[tuple[str, int], Decoding]:
    """``samples`` decodings of each text at each size (in MiB), all taken in turns."""
    wires = {
        (name, mib): event_of(mib * 1024 * 1024, text)
        for name, text in TEXTS.items()
        for mib in sizes_mib
    }
    results = {key: Decoding() for key in wires}
    for wire in wires.values():
        decode_once(wire)  # warm-up
    for _ in range(samples):
        for key, wire in wires.items():
            block, total = decode_once(wire)
            results[key].block_ms.append(block)
            results[key].total_ms.append(total)
    return results
