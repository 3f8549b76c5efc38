"""The clients compared, each behind one small interface: open a stream, yield its text.

Every contender streams the same scripted answer from the same local server and yields the
text deltas the application would see, so the harness measures them all the same way:

- ``ours-normal`` / ``ours-agent``: this plugin (``/v1/chat/completions`` / ``/v1/conversations``).
- ``ours-model-conv``: this plugin in normal mode with a built-in tool in the call, which
  makes it a model conversation (``/v1/conversations`` with ``model`` and ``tools``).
- ``official-chat`` / ``official-conv``: ``livekit-plugins-mistralai`` in both ``api_mode`` s.
- ``sdk``: the raw mistralai SDK, ``chat.stream_async``.
- ``floor-network``: aiohttp + a byte split + ``json.loads``, nothing else.
- ``floor-framework`` / ``floor-framework-conv``: the network floor feeding a bare LiveKit
  ``LLMStream`` that only wraps each parsed delta in a ``ChatChunk`` (LiveKit's channel, tee
  and metrics task are the cost every plugin pays on top of the network).
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Literal

import aiohttp
from livekit.agents import llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions

from livekit.plugins import mistral

from .server_process import AGENT_ID, API_KEY

MODEL = "mistral-small-latest"
SYSTEM = "You are a helpful voice assistant. Keep answers short."
USER = "Tell me a long story about the sea."
Endpoint = Literal["chat", "conversation"]


def chat_context() -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=SYSTEM)
    ctx.add_message(role="user", content=USER)
    return ctx


def _connector() -> aiohttp.TCPConnector:
    # the same pool settings as the plugin's own session, so floors and plugin compare fairly
    return aiohttp.TCPConnector(limit=0, keepalive_timeout=60)


class Contender(ABC):
    """One client under test."""

    key: str
    label: str
    endpoint: Endpoint = "chat"
    heavy = False
    """About 1 ms of CPU per chunk: fewer CPU samples are enough to place it."""
    retries = 0
    """Attempts the client itself retried (LiveKit's ``error`` events marked recoverable)."""

    @abstractmethod
    async def start(self, base_url: str) -> None:
        """Create the client (no connection is opened yet)."""

    @abstractmethod
    async def prewarm(self) -> None:
        """What the client does to open its connection before the first turn."""

    @abstractmethod
    def chunks(self) -> AsyncGenerator[str, None]:
        """One streamed answer's text deltas; closing the generator closes the stream."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close everything the contender created."""


class _LiveKitContender(Contender):
    """A LiveKit ``llm.LLM``: the application reads ``ChatChunk`` s from ``chat()``."""

    tools: tuple[llm.Tool, ...] = ()

    def __init__(self) -> None:
        self.llm: llm.LLM[Any] | None = None
        self.ctx = chat_context()

    @abstractmethod
    def make_llm(self, base_url: str) -> llm.LLM[Any]: ...

    async def start(self, base_url: str) -> None:
        self.llm = self.make_llm(base_url)
        self.llm.on("error", self._on_error)

    def _on_error(self, error: llm.LLMError) -> None:
        if error.recoverable:
            self.retries += 1

    async def prewarm(self) -> None:
        assert self.llm is not None
        self.llm.prewarm()
        task = self.llm._prewarm_task
        if task is not None:
            await task

    async def chunks(self) -> AsyncGenerator[str, None]:
        assert self.llm is not None
        async with self.llm.chat(chat_ctx=self.ctx, tools=list(self.tools)) as stream:
            async for chunk in stream:
                delta = chunk.delta
                if delta is not None and delta.content:
                    yield delta.content

    async def aclose(self) -> None:
        if self.llm is not None:
            await self.llm.aclose()


class OursNormal(_LiveKitContender):
    key = "ours-normal"
    label = "this plugin, normal mode"

    def make_llm(self, base_url: str) -> llm.LLM[Any]:
        return mistral.LLM(model=MODEL, api_key=API_KEY, base_url=base_url)


class OursAgent(_LiveKitContender):
    key = "ours-agent"
    label = "this plugin, agent mode"
    endpoint: Endpoint = "conversation"

    def make_llm(self, base_url: str) -> llm.LLM[Any]:
        return mistral.LLM(model=AGENT_ID, mode="agent", api_key=API_KEY, base_url=base_url)


class OursModelConversation(OursNormal):
    key = "ours-model-conv"
    label = "this plugin, normal mode + built-in tool"
    endpoint: Endpoint = "conversation"
    tools = (mistral.tools.WebSearch(),)


class _Official(_LiveKitContender):
    api_mode = "chat_completions"
    heavy = True

    def __init__(self) -> None:
        super().__init__()
        self.client: Any = None

    def make_llm(self, base_url: str) -> llm.LLM[Any]:
        from mistralai.client import Mistral

        from livekit.plugins import mistralai

        self.client = Mistral(api_key=API_KEY, server_url=base_url)
        return mistralai.LLM(client=self.client, model=MODEL, api_mode=self.api_mode)

    async def aclose(self) -> None:
        await super().aclose()
        if self.client is not None:
            # the official LLM does not own a client passed in: its creator closes it
            await self.client.__aexit__(None, None, None)


class OfficialChat(_Official):
    key = "official-chat"
    label = "livekit-plugins-mistralai, chat_completions"


class OfficialConversations(_Official):
    key = "official-conv"
    label = "livekit-plugins-mistralai, conversations"
    endpoint: Endpoint = "conversation"
    api_mode = "conversations"


class RawSDK(Contender):
    key = "sdk"
    label = "mistralai SDK, chat.stream_async"
    heavy = True

    def __init__(self) -> None:
        self.client: Any = None

    async def start(self, base_url: str) -> None:
        from mistralai.client import Mistral

        self.client = Mistral(api_key=API_KEY, server_url=base_url)

    async def prewarm(self) -> None:
        await self.client.models.list_async()

    async def chunks(self) -> AsyncGenerator[str, None]:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
        response = await self.client.chat.stream_async(model=MODEL, messages=messages)
        async with response:
            async for event in response:
                for choice in event.data.choices:
                    content = choice.delta.content
                    if isinstance(content, str) and content:
                        yield content

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.__aexit__(None, None, None)


# -- floors ---------------------------------------------------------------------------------


def _chat_body() -> bytes:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    return json.dumps({"model": MODEL, "messages": messages, "stream": True}).encode()


def _conversation_body() -> bytes:
    inputs = [{"type": "message.input", "role": "user", "content": USER}]
    body = {"agent_id": AGENT_ID, "inputs": inputs, "stream": True, "store": False}
    return json.dumps(body).encode()


_HEADERS = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json",
    "Accept": "text/event-stream",
}


def chat_delta(event: bytes) -> tuple[str, str | None] | None:
    """``(id, content)`` of one ``data:`` event; ``None`` at ``[DONE]``."""
    data = event[event.index(b"data:") + 5 :].lstrip()
    if data == b"[DONE]":
        return None
    payload = json.loads(data)
    choices = payload["choices"]
    return payload["id"], choices[0]["delta"].get("content") if choices else None


def conversation_delta(event: bytes) -> tuple[str, str | None] | None:
    """``(id, content)`` of one conversations event; ``None`` at the end of the turn."""
    payload = json.loads(event[event.index(b"data:") + 5 :])
    kind = payload["type"]
    if kind == "conversation.response.done":
        return None
    content = payload.get("content") if kind == "message.output.delta" else None
    return payload.get("id", ""), content if isinstance(content, str) else None


async def raw_deltas(
    session: aiohttp.ClientSession, url: str, body: bytes, parse: Callable[[bytes], Any]
) -> AsyncIterator[tuple[str, str | None]]:
    """POST, then every event's ``(id, content)``: the least a client can do."""
    async with session.post(url, data=body, headers=_HEADERS) as resp:
        resp.raise_for_status()
        buf = b""
        async for raw in resp.content.iter_any():
            buf += raw
            *events, buf = buf.split(b"\n\n")
            for event in events:
                parsed = parse(event)
                if parsed is None:
                    return
                yield parsed


class NetworkFloor(Contender):
    key = "floor-network"
    label = "floor: aiohttp + json.loads"

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self, base_url: str) -> None:
        self.session = aiohttp.ClientSession(connector=_connector())
        self.url = base_url + "/v1/chat/completions"

    async def prewarm(self) -> None:
        assert self.session is not None
        base = self.url.removesuffix("/v1/chat/completions")
        async with self.session.get(base + "/v1/models", headers=_HEADERS) as resp:
            await resp.read()

    async def chunks(self) -> AsyncGenerator[str, None]:
        assert self.session is not None
        async for _, content in raw_deltas(self.session, self.url, _chat_body(), chat_delta):
            if content:
                yield content

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


class _FloorStream(llm.LLMStream):
    def __init__(self, floor: _FloorLLM, chat_ctx: llm.ChatContext, conn: APIConnectOptions):
        self._floor = floor
        super().__init__(floor, chat_ctx=chat_ctx, tools=[], conn_options=conn)

    async def _run(self) -> None:
        floor = self._floor
        send = self._event_ch.send_nowait
        async for chunk_id, content in raw_deltas(
            floor.session, floor.url, floor.body, floor.parse
        ):
            if content:
                send(
                    llm.ChatChunk(
                        id=chunk_id, delta=llm.ChoiceDelta(role="assistant", content=content)
                    )
                )


class _FloorLLM(llm.LLM[Any]):
    def __init__(self, base_url: str, endpoint: Endpoint) -> None:
        super().__init__()
        self.session = aiohttp.ClientSession(connector=_connector())
        conversation = endpoint == "conversation"
        self.url = base_url + ("/v1/conversations" if conversation else "/v1/chat/completions")
        self.body = _conversation_body() if conversation else _chat_body()
        self.parse = conversation_delta if conversation else chat_delta

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: Any = NOT_GIVEN,
        tool_choice: Any = NOT_GIVEN,
        extra_kwargs: Any = NOT_GIVEN,
    ) -> llm.LLMStream:
        return _FloorStream(self, chat_ctx, conn_options)

    async def _prewarm_impl(self) -> None:
        base = self.url.rsplit("/v1/", 1)[0]
        async with self.session.get(base + "/v1/models", headers=_HEADERS) as resp:
            await resp.read()

    async def aclose(self) -> None:
        await super().aclose()
        await self.session.close()


class FrameworkFloor(_LiveKitContender):
    key = "floor-framework"
    label = "floor: + bare LiveKit LLMStream"

    def make_llm(self, base_url: str) -> llm.LLM[Any]:
        return _FloorLLM(base_url, self.endpoint)


class FrameworkFloorConversations(FrameworkFloor):
    key = "floor-framework-conv"
    label = "floor: + bare LiveKit LLMStream (conversations)"
    endpoint: Endpoint = "conversation"


ALL: tuple[type[Contender], ...] = (
    OursNormal,
    OursAgent,
    OursModelConversation,
    OfficialChat,
    OfficialConversations,
    RawSDK,
    NetworkFloor,
    FrameworkFloor,
    FrameworkFloorConversations,
)
BY_KEY: dict[str, type[Contender]] = {c.key: c for c in ALL}


async def close_quietly(contender: Contender) -> None:
    try:
        await asyncio.wait_for(contender.aclose(), 5)
    except Exception:  # a contender failing to close must not hide the others' results
        pass
