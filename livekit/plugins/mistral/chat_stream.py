"""Normal mode: one streamed ``/v1/chat/completions`` call per attempt."""

from __future__ import annotations

from typing import Any

from livekit.agents import APIConnectionError

from .errors import status_error
from .log import logger
from .mapping.caching import prompt_cache_key
from .mapping.chat import history_options, to_chat_messages
from .mapping.completion import CompletionAssembler, InStreamError
from .mapping.request import chat_body
from .mapping.tools import to_mistral_tool_choice, to_mistral_tools
from .stream import MistralStream
from .wire.http import parse_event, pump_events, transport_errors
from .wire.sse import SSEEvent

CHAT_PATH = "/v1/chat/completions"


class LLMStream(MistralStream):
    """Streams one chat completion into LiveKit ``ChatChunk`` deltas."""

    def _build_request(self) -> dict[str, Any]:
        schemas, skipped = to_mistral_tools(self._tools)
        if skipped:
            logger.warning(
                "tools Mistral chat completions cannot take were not sent",
                extra={"tools": skipped},
            )
        choice = self._opts.tool_choice
        body = chat_body(
            self._opts,
            to_chat_messages(self._chat_ctx, history_options(self._opts)),
            schemas,
            to_mistral_tool_choice(choice) if choice is not None else None,
            self._opts.parallel_tool_calls,
            self._extra,
            prompt_cache_key=prompt_cache_key(self._opts.prompt_cache_key, self._chat_ctx),
        )
        if not body["messages"]:
            raise ValueError("the chat context holds no message to send to Mistral")
        return body

    async def _run(self) -> None:
        body = self._request_body()
        timeout = self._conn_options.timeout
        assembler = CompletionAssembler(self._opts.keep_reasoning)

        def handle(event: SSEEvent) -> bool:
            if event.data == "[DONE]":
                return True
            chunk = assembler.feed(parse_event(event.data, self))
            if chunk is not None:
                self._send(chunk)
            return False

        with transport_errors(self, timeout=timeout):
            async with self._http.stream(CHAT_PATH, body, timeout=timeout, state=self) as resp:
                try:
                    done = await pump_events(resp, handle, timeout=timeout)
                except InStreamError as e:
                    raise status_error(
                        e.status, e.body, resp.headers, output_sent=self.output_sent
                    ) from None
        # a finish_reason without [DONE] is still a whole answer
        if not done and assembler.finish_reason is None:
            raise APIConnectionError(
                "Mistral's stream ended before the answer was complete",
                retryable=not self.output_sent,
            )
        for chunk in assembler.finish():
            self._send(chunk)
