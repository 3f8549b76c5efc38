"""Normal mode: one streamed ``/v1/chat/completions`` call per attempt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
from livekit.agents import APIConnectionError, llm
from livekit.agents.types import APIConnectOptions

from .errors import status_error
from .log import logger
from .mapping.chat import to_chat_messages
from .mapping.completion import CompletionAssembler, InStreamError
from .mapping.request import chat_body, encode
from .mapping.tools import to_mistral_tool_choice, to_mistral_tools
from .options import LLMOptions
from .wire.http import MistralHTTP, parse_event, transport_errors
from .wire.sse import SSEDecoder

if TYPE_CHECKING:
    from .llm import LLM

CHAT_PATH = "/v1/chat/completions"


class LLMStream(llm.LLMStream):
    """Streams one chat completion into LiveKit ``ChatChunk`` deltas.

    The request body is built once, before the first attempt; each attempt opens its own
    HTTP request in ``_run``. Once text or a tool call has been sent, errors are not
    retryable, so LiveKit never makes the agent say a sentence twice.
    """

    def __init__(
        self,
        llm_: LLM,
        *,
        http: MistralHTTP,
        opts: LLMOptions,
        extra: dict[str, Any] | None,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        self._http = http
        self._opts = opts
        self._extra = extra
        self._body: bytes | None = None
        self.output_sent = False
        super().__init__(llm_, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._retry_on_chunk_sent = False

    def __repr__(self) -> str:
        return f"LLMStream(model={self._opts.model!r}, output_sent={self.output_sent})"

    def _request_body(self) -> bytes:
        if self._body is None:
            schemas, skipped = to_mistral_tools(self._tools)
            if skipped:
                logger.warning(
                    "tools Mistral chat completions cannot take were not sent",
                    extra={"tools": skipped},
                )
            choice = self._opts.tool_choice
            body = chat_body(
                self._opts,
                to_chat_messages(self._chat_ctx),
                schemas,
                to_mistral_tool_choice(choice) if choice is not None else None,
                self._opts.parallel_tool_calls,
                self._extra,
            )
            if not body["messages"]:
                raise ValueError("the chat context holds no message to send to Mistral")
            self._body = encode(body)
        return self._body

    async def _run(self) -> None:
        body = self._request_body()
        timeout = self._conn_options.timeout
        assembler = CompletionAssembler()
        with transport_errors(self, timeout=timeout):
            async with self._http.stream(CHAT_PATH, body, timeout=timeout, state=self) as resp:
                try:
                    complete = await self._pump(resp, assembler)
                except InStreamError as e:
                    raise status_error(
                        e.status, e.body, resp.headers, output_sent=self.output_sent
                    ) from None
        if not complete:
            raise APIConnectionError(
                "Mistral's stream ended before the answer was complete",
                retryable=not self.output_sent,
            )
        for chunk in assembler.finish():
            self._send(chunk)

    async def _pump(self, resp: aiohttp.ClientResponse, assembler: CompletionAssembler) -> bool:
        """Read events until ``[DONE]``; True when the answer ended normally."""
        decoder = SSEDecoder()
        feed = assembler.feed
        async for raw in resp.content.iter_any():
            for event in decoder.feed(raw):
                if event.data == "[DONE]":
                    return True
                chunk = feed(parse_event(event.data, self))
                if chunk is not None:
                    self._send(chunk)
        for event in decoder.close():
            if event.data == "[DONE]":
                return True
        # a finish_reason without [DONE] is still a whole answer
        return assembler.finish_reason is not None

    def _send(self, chunk: llm.ChatChunk) -> None:
        self._event_ch.send_nowait(chunk)
        if chunk.delta is not None and (chunk.delta.content or chunk.delta.tool_calls):
            self.output_sent = True
