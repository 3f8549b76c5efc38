"""What the streams of both modes share: the request body, output tracking, sending."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from livekit.agents import llm
from livekit.agents.types import APIConnectOptions

from .mapping.request import encode
from .options import LLMOptions
from .wire.http import MistralHTTP

if TYPE_CHECKING:
    from .llm import LLM


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
        http: MistralHTTP,
        opts: LLMOptions,
        extra: dict[str, Any] | None,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        # set before super().__init__, which starts the task that reads them
        self._http = http
        self._opts = opts
        self._extra = extra
        self._body: bytes | None = None
        self.output_sent = False
        super().__init__(llm_, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._retry_on_chunk_sent = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self._opts.model!r}, output_sent={self.output_sent})"

    @abstractmethod
    def _build_request(self) -> dict[str, Any]:
        """The JSON body, from the chat context, tools and options (no I/O)."""

    def _request_body(self) -> bytes:
        if self._body is None:
            self._body = encode(self._build_request())
        return self._body

    def _send(self, chunk: llm.ChatChunk) -> None:
        self._event_ch.send_nowait(chunk)
        if chunk.delta is not None and (chunk.delta.content or chunk.delta.tool_calls):
            self.output_sent = True
