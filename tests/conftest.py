"""Shared fixtures: a real local Mistral server on 127.0.0.1 for every test that talks HTTP,
and the one polling helper tests wait with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from livekit.agents import APIConnectOptions, llm

from livekit.plugins.mistral import LLM
from livekit.plugins.mistral.testing import LocalMistral

API_KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e"
AGENT_ID = "ag_0680b7000e847f6e80003620e5d4d99d"
OTHER_AGENT_ID = "ag_11112222333344445555666677778888"

# short timeouts and intervals so fault tests finish fast; the values are still real
FAST = APIConnectOptions(max_retry=2, retry_interval=0.05, timeout=1.0)


@pytest.fixture
async def server() -> AsyncIterator[LocalMistral]:
    async with LocalMistral(api_key=API_KEY) as srv:
        srv.add_agent(AGENT_ID, name="support")
        srv.add_agent(OTHER_AGENT_ID, name="billing")
        yield srv


@pytest.fixture
async def make_llm(server: LocalMistral) -> AsyncIterator[Callable[..., LLM]]:
    made: list[LLM] = []

    def make(**kwargs: Any) -> LLM:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", server.base_url)
        model = LLM(**kwargs)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


async def stream_reply(
    model: LLM, ctx: llm.ChatContext, **kwargs: Any
) -> tuple[list[llm.ChatChunk], str, list[llm.FunctionToolCall]]:
    """Run one ``chat()`` to the end: every chunk, the spoken text, the tool calls."""
    chunks: list[llm.ChatChunk] = []
    async with model.chat(chat_ctx=ctx, **kwargs) as stream:
        async for chunk in stream:
            chunks.append(chunk)
    text = "".join(c.delta.content or "" for c in chunks if c.delta)
    calls = [call for c in chunks if c.delta for call in c.delta.tool_calls]
    return chunks, text, calls


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds, checking every 5 ms; fail after ``timeout`` seconds.

    Use it instead of a fixed sleep before an assertion: it returns as soon as the thing has
    happened, and a slow machine only makes it wait longer, not fail.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s")
        await asyncio.sleep(0.005)


def thought(text: str, signature: str | None = None) -> dict[str, Any]:
    """A thinking chunk as the plugin sends a kept turn's reasoning back (``closed: true``)."""
    chunk: dict[str, Any] = {"type": "thinking", "thinking": [{"type": "text", "text": text}]}
    if signature is not None:
        chunk["signature"] = signature
    chunk["closed"] = True
    return chunk
