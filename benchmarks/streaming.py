"""Streaming measurements: CPU per chunk, time to first chunk, cancellation.

Every phase runs the contenders round-robin (one call each, then the next round), so a slow
drift of the machine (another process, thermal state) spreads over all of them instead of
landing on whoever ran last.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .contenders import Contender
from .server_process import ServerProcess

_WORDS = (
    "Once upon a time the sea was calm and the old sailor watched the waves roll in, "
    "while café lights flickered along the quay and gulls argued over scraps of bread."
).split()
CANCEL_AFTER_CHUNKS = 5
CANCEL_REPLY_CHUNKS = 500
CANCEL_REPLY_DELAY = 0.002
DISCONNECT_WAIT = 1.5


def story(chunks: int) -> list[str]:
    """``chunks`` text deltas of 2-8 characters, as a tokenizer would cut them."""
    return [word + " " for word in itertools.islice(itertools.cycle(_WORDS), chunks)]


async def queue_replies(
    server: ServerProcess,
    contenders: Sequence[Contender],
    reply: dict[str, Any],
    rounds: int | Callable[[Contender], int],
) -> None:
    """Queue one identical reply per call each contender will make."""
    calls = rounds if callable(rounds) else (lambda _: rounds)
    chat = sum(calls(c) for c in contenders if c.endpoint == "chat")
    conversation = sum(calls(c) for c in contenders if c.endpoint == "conversation")
    if chat:
        await server.call("queue_chat", reply=reply, count=chat)
    if conversation:
        await server.call("queue_conversation", reply=reply, count=conversation)


async def cpu_per_chunk(
    server: ServerProcess,
    contenders: Sequence[Contender],
    chunks: int,
    samples: int,
    *,
    heavy_samples: int | None = None,
    delay: float = 0.0,
    after_warmup: Callable[[], None] = lambda: None,
) -> dict[str, list[float]]:
    """Client-process CPU microseconds per streamed chunk, one value per answer.

    With ``delay`` 0 the server writes as fast as it can and the client finds many events in
    each socket read; with a delay each event arrives on its own, as tokens do from the live
    API. The first round is a warm-up that also checks each contender yields exactly the
    scripted text (so all of them really did the same work). ``heavy`` contenders (about
    1 ms per chunk) take ``heavy_samples`` answers: their place is never in doubt.
    """
    pieces = story(chunks)
    expected = "".join(pieces)

    def rounds(contender: Contender) -> int:
        heavy = contender.heavy and heavy_samples is not None
        return 1 + (heavy_samples or 0 if heavy else samples)

    await queue_replies(server, contenders, {"text": pieces, "delay": delay}, rounds)
    results: dict[str, list[float]] = {c.key: [] for c in contenders}
    for round_ in range(max(map(rounds, contenders))):
        for contender in contenders:
            if round_ >= rounds(contender):
                continue
            if round_ == 0:
                text = "".join([t async for t in contender.chunks()])
                if text != expected:
                    raise RuntimeError(f"{contender.key} streamed a different text")
                continue
            if round_ == 1 and contender is contenders[0]:
                after_warmup()
            gc.collect()
            start = time.process_time()
            count = 0
            async for _ in contender.chunks():
                count += 1
            cpu = time.process_time() - start
            if count != chunks:
                raise RuntimeError(f"{contender.key} yielded {count} chunks, not {chunks}")
            results[contender.key].append(cpu / chunks * 1e6)
    return results


async def _time_to_first(contender: Contender) -> float:
    """Milliseconds from opening the stream to its first text; the rest is drained."""
    start = time.perf_counter()
    stream = contender.chunks()
    try:
        await stream.__anext__()
        first = time.perf_counter() - start
        async for _ in stream:
            pass
    finally:
        await stream.aclose()
    return first * 1e3


async def warm_ttft(
    server: ServerProcess, contenders: Sequence[Contender], calls: int, chunks: int
) -> dict[str, list[float]]:
    """Time to first chunk on a warm (pooled) connection, ``calls`` per contender."""
    await queue_replies(server, contenders, {"text": story(chunks)}, calls + 1)
    results: dict[str, list[float]] = {c.key: [] for c in contenders}
    for call in range(calls + 1):
        for contender in contenders:
            ttft = await _time_to_first(contender)
            if call:  # the first call per contender opens its connection
                results[contender.key].append(ttft)
    return results


async def new_connections_per_call(
    server: ServerProcess, contenders: Sequence[Contender], calls: int, chunks: int
) -> dict[str, float]:
    """TCP connections the server accepted per warm call: 0 when the client reuses its pool."""
    await queue_replies(server, contenders, {"text": story(chunks)}, calls)
    results: dict[str, float] = {}
    for contender in contenders:
        before = (await server.call("stats"))["connections_opened"]
        for _ in range(calls):
            await _time_to_first(contender)
        after = (await server.call("stats"))["connections_opened"]
        results[contender.key] = (after - before) / calls
    return results


async def first_call_ttft(
    server: ServerProcess,
    factories: Sequence[Callable[[], Contender]],
    samples: int,
    chunks: int,
    *,
    prewarm: bool,
) -> dict[str, list[float]]:
    """Time to first chunk of a fresh client's first call, after ``prewarm()`` or not."""
    probes = [factory() for factory in factories]
    await queue_replies(server, probes, {"text": story(chunks)}, samples)
    results: dict[str, list[float]] = {p.key: [] for p in probes}
    for _ in range(samples):
        for factory in factories:
            contender = factory()
            await contender.start(server.base_url)
            try:
                if prewarm:
                    await contender.prewarm()
                results[contender.key].append(await _time_to_first(contender))
            finally:
                await contender.aclose()
    return results


@dataclass
class Cancellation:
    """Closing a stream mid-answer: when the server saw it, and how long ``aclose`` took."""

    seen_ms: list[float]
    """Close -> server noticed the disconnect, for each close the server noticed."""
    missed: int
    """Closes the server never noticed within ``DISCONNECT_WAIT`` seconds."""
    close_ms: list[float]
    """How long closing took on the client side."""


async def _disconnect_after(server: ServerProcess, closed_at: float) -> float | None:
    deadline = closed_at + DISCONNECT_WAIT
    while time.monotonic() < deadline:
        seen = (await server.call("disconnects"))["disconnects"]
        if seen:
            return (float(seen[0][1]) - closed_at) * 1e3
        await asyncio.sleep(0.002)
    return None


async def _server_idle(server: ServerProcess, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while (await server.call("stats"))["open_streams"] and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await server.call("disconnects")  # forget late ones


async def cancellation(
    server: ServerProcess, contenders: Sequence[Contender], samples: int
) -> dict[str, Cancellation]:
    """Read a few chunks of a paced answer, close the stream, wait for the server to notice.

    ``time.monotonic()`` is one clock for every process on Linux, so the server process's
    disconnect timestamp and this process's close timestamp subtract directly.
    """
    reply = {"text": story(CANCEL_REPLY_CHUNKS), "delay": CANCEL_REPLY_DELAY}
    await queue_replies(server, contenders, reply, samples)
    results = {c.key: Cancellation([], 0, []) for c in contenders}
    for _ in range(samples):
        for contender in contenders:
            await _server_idle(server)
            stream = contender.chunks()
            for _ in range(CANCEL_AFTER_CHUNKS):
                await stream.__anext__()
            closed_at = time.monotonic()
            await stream.aclose()
            result = results[contender.key]
            result.close_ms.append((time.monotonic() - closed_at) * 1e3)
            seen = await _disconnect_after(server, closed_at)
            if seen is None:
                result.missed += 1
            else:
                result.seen_ms.append(seen)
    await _server_idle(server)
    return results
