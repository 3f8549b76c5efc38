"""The one stream loop, for every request kind (chat completions, agent and model
conversations): open, read payloads, send chunks, map errors in one place."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
from livekit.agents import APIError, llm
from livekit.agents.types import APIConnectOptions

from .errors import CutShort, UnreadableEvent, api_error, cause_of
from .kinds import Call, RequestKind
from .mapping.assembly import Assembler
from .mapping.conversation_events import BuiltinToolEvent
from .mapping.request import encode
from .options import LLMOptions
from .wire.http import EventStream, EventTimeout, MistralHTTP

if TYPE_CHECKING:
    from .llm import LLM

# what reading an event of an unexpected shape raises from the mapping code
_SHAPE_ERRORS = (AttributeError, IndexError, KeyError, TypeError, ValueError)
# what a stream may lose after its last event without the answer being lost
_LOST_AFTER_THE_END = (aiohttp.ClientError, EventTimeout)


class MistralStream(llm.LLMStream):
    """One call to Mistral as a LiveKit stream.

    The request body is built once, before the first attempt; each attempt opens its own HTTP
    request in ``_run``. Once text or a tool call has been sent, errors are not retryable, so
    LiveKit never makes the agent say a sentence twice.
    """

    def __init__(
        self,
        llm_: LLM,
        *,
        kind: RequestKind,
        http: MistralHTTP,
        opts: LLMOptions,
        extra: dict[str, Any] | None,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        # set before super().__init__, which starts the task that reads them
        self._kind = kind
        self._http = http
        self._opts = opts
        self._extra = extra
        self._body: bytes | None = None
        self.output_sent = False
        super().__init__(llm_, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._retry_on_chunk_sent = False

    def __repr__(self) -> str:
        target = self._kind.agent_id or self._opts.model
        return f"{type(self).__name__}({target!r}, output_sent={self.output_sent})"

    def _call(self) -> Call:
        return Call(self._chat_ctx, self._tools, self._opts, self._extra)

    def _request_body(self) -> bytes:
        """The body, built before the first attempt. A call that cannot be sent (an empty
        history, ``extra_kwargs`` that are not JSON) is a final ``APIError``: LiveKit lets
        only those out of a stream."""
        if self._body is None:
            try:
                self._body = encode(self._kind.body(self._call()))
            except (ValueError, TypeError) as e:
                raise APIError(
                    f"the request to Mistral could not be built: {e}", retryable=False
                ) from e
        return self._body

    async def _run(self) -> None:
        body = self._request_body()
        assembler = self._kind.assembler(self._on_tool, self._opts.keep_reasoning)
        events = self._http.events(self._kind.path, body, timeout=self._conn_options.timeout)
        with self._mapped_errors(assembler, events):
            await self._kind.prepare(self._call(), self._http, timeout=self._conn_options.timeout)
            async with events:
                await self._read(events, assembler)
            if not assembler.complete:
                raise CutShort(
                    f"Mistral's stream ended before {assembler.end_marker}; the answer is "
                    "incomplete"
                )
        self._kind.completed(assembler)
        for chunk in assembler.finish():
            self._send(chunk)

    async def _read(self, events: EventStream, assembler: Assembler) -> None:
        """Feed every payload to the assembler and send the chunks it makes."""
        try:
            async for payload in events:
                try:
                    chunk = assembler.feed(payload)
                except _SHAPE_ERRORS as e:
                    raise UnreadableEvent("an event has a shape the plugin cannot read") from e
                if chunk is not None:
                    self._send(chunk)
        except _LOST_AFTER_THE_END:
            if not assembler.complete:
                raise
            # the answer was whole (a finish reason, conversation.response.done): only its
            # closing bytes were lost, so nothing is retried or thrown away

    @contextlib.contextmanager
    def _mapped_errors(self, assembler: Assembler, events: EventStream) -> Iterator[None]:
        """Every failure of an attempt as the LiveKit error to raise, built whole."""
        try:
            yield
        except Exception as e:
            err = api_error(
                e,
                output_sent=self.output_sent,
                timeout=self._conn_options.timeout,
                headers=events.headers,
                agent_id=self._kind.agent_id,
                conversation_id=assembler.response_id or None if self._kind.agent_id else None,
            )
            if err is None:
                raise
            raise err from cause_of(e, err)

    def _send(self, chunk: llm.ChatChunk) -> None:
        self._event_ch.send_nowait(chunk)
        if chunk.delta is not None and (chunk.delta.content or chunk.delta.tool_calls):
            self.output_sent = True

    def _on_tool(self, event: BuiltinToolEvent) -> None:
        self._llm.emit("builtin_tool", event)
