"""ChatContext -> request conversion time for long histories, ours against the official path.

The histories mix what a voice session accumulates: user and assistant turns, tool calls with
their results (LiveKit-style call ids), and now and then a user message with an image (an
https URL or a small data URI). Every converter gets the same ``ChatContext`` and tools:

- ``ours-normal``: ``to_chat_messages`` + ``to_mistral_tools`` (what ``LLMStream`` maps);
- ``ours-normal-bytes``: the same, then ``chat_body`` + ``encode``: the request bytes;
- ``ours-agent``: ``to_conversation_inputs`` (agent mode sends no tools);
- ``official-chat``: ``to_provider_format("openai")`` + ``parse_function_tools("openai",
  strict=True)``, as livekit-plugins-mistralai's chat_completions mode does;
- ``official-chat-bytes``: the same, then the SDK's own request model and serializer, as
  ``chat.stream_async`` does before sending;
- ``official-conv``: ``to_provider_format("mistralai")`` + ``parse_function_tools``, as its
  conversations mode does;
- ``ours-messages`` / ``official-messages``: the history alone (no tools);
- ``ours-tools`` / ``official-tools``: the tool schemas alone, the same for every length.
"""

from __future__ import annotations

import base64
import gc
import time
from collections.abc import Callable

from livekit.agents import llm

from livekit.plugins.mistral.mapping.chat import to_chat_messages
from livekit.plugins.mistral.mapping.conversations import to_conversation_inputs
from livekit.plugins.mistral.mapping.request import chat_body, encode
from livekit.plugins.mistral.mapping.tools import to_mistral_tools
from livekit.plugins.mistral.options import LLMOptions

from .contenders import MODEL

_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4).decode()
IMAGE_URL = "https://example.com/photos/harbour.jpg"
IMAGE_DATA_URI = f"data:image/png;base64,{_PNG}"
Converter = Callable[[llm.ChatContext, list[llm.Tool]], object]


def _tools() -> list[llm.Tool]:
    @llm.function_tool
    async def get_weather(location: str, unit: str = "celsius") -> str:
        """Current weather for a city.

        Args:
            location: The city name.
            unit: celsius or fahrenheit.
        """
        return "sunny"

    @llm.function_tool
    async def book_table(restaurant: str, people: int, time: str) -> str:
        """Book a table.

        Args:
            restaurant: Where.
            people: How many guests.
            time: When, ISO 8601.
        """
        return "booked"

    @llm.function_tool
    async def lookup_order(order_id: str) -> str:
        """Look an order up by its id.

        Args:
            order_id: The order number.
        """
        return "shipped"

    return [get_weather, book_table, lookup_order]


def history(items: int) -> llm.ChatContext:
    """A session of exactly ``items`` items: system prompt, then turns of 4 items
    (user, tool call, tool result, assistant); every 5th user message holds an image."""
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You are a helpful voice assistant for a harbour town.")
    turn = 0
    while len(ctx.items) < items:
        content: list[llm.ChatContent] = [f"Question {turn}: what is the weather in Lyon today?"]
        if turn % 5 == 4:
            content.append(llm.ImageContent(image=IMAGE_URL if turn % 10 == 4 else IMAGE_DATA_URI))
        call_id = f"call_{turn:05d}abcdef"
        turn_items: list[llm.ChatItem] = [
            llm.ChatMessage(role="user", content=content),
            llm.FunctionCall(
                id=f"gen_{turn:05d}/fnc_0",
                call_id=call_id,
                name="get_weather",
                arguments='{"location": "Lyon", "unit": "celsius"}',
            ),
            llm.FunctionCallOutput(
                call_id=call_id,
                name="get_weather",
                output='{"sky": "clear", "temperature": 21}',
                is_error=False,
            ),
            llm.ChatMessage(role="assistant", content=[f"It is clear and 21 degrees ({turn})."]),
        ]
        ctx.items.extend(turn_items[: items - len(ctx.items)])
        turn += 1
    return ctx


def _ours_normal(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    return to_chat_messages(ctx), to_mistral_tools(tools)[0]


_OPTIONS = LLMOptions(model=MODEL)


def _ours_normal_bytes(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    messages, schemas = to_chat_messages(ctx), to_mistral_tools(tools)[0]
    return encode(chat_body(_OPTIONS, messages, schemas, None, None))


def _ours_agent(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    return to_conversation_inputs(ctx)


def _official_chat(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    messages, _ = ctx.to_provider_format(format="openai")
    return messages, llm.ToolContext(tools).parse_function_tools("openai", strict=True)


def _official_chat_bytes(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    from mistralai.client import models, utils

    messages, _ = ctx.to_provider_format(format="openai")
    schemas = llm.ToolContext(tools).parse_function_tools("openai", strict=True)
    request = models.ChatCompletionStreamRequest(
        model=MODEL,
        stream=True,
        messages=utils.get_pydantic_model(
            messages, list[models.ChatCompletionStreamRequestMessage]
        ),
        tools=utils.get_pydantic_model(schemas, list[models.ChatCompletionStreamRequestTool]),
    )
    return utils.serialize_request_body(
        request, False, False, "json", models.ChatCompletionStreamRequest
    )


def _ours_messages(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    return to_chat_messages(ctx)


def _official_messages(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    return ctx.to_provider_format(format="openai")


def _ours_tools(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    return to_mistral_tools(tools)


def _official_tools(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    return llm.ToolContext(tools).parse_function_tools("openai", strict=True)


def _official_conv(ctx: llm.ChatContext, tools: list[llm.Tool]) -> object:
    entries, _ = ctx.to_provider_format(format="mistralai")
    return entries, llm.ToolContext(tools).parse_function_tools("openai", strict=True)


CONVERTERS: dict[str, tuple[str, Converter]] = {
    "ours-normal": ("this plugin, normal mode: messages + tools", _ours_normal),
    "ours-normal-bytes": ("this plugin, normal mode: request bytes", _ours_normal_bytes),
    "ours-agent": ("this plugin, agent mode: inputs", _ours_agent),
    "official-chat": ("official, chat_completions: messages + tools", _official_chat),
    "official-chat-bytes": ("official, chat_completions: SDK request bytes", _official_chat_bytes),
    "official-conv": ("official, conversations: entries + tools", _official_conv),
    "ours-messages": ("(history alone) this plugin: to_chat_messages", _ours_messages),
    "official-messages": (
        '(history alone) official: to_provider_format("openai")',
        _official_messages,
    ),
    "ours-tools": ("(tools alone) this plugin: to_mistral_tools", _ours_tools),
    "official-tools": ("(tools alone) official: parse_function_tools", _official_tools),
}


BATCHES = 7


def _loops_for(
    convert: Converter, ctx: llm.ChatContext, tools: list[llm.Tool], seconds: float
) -> int:
    """Calls per batch so that one batch takes about ``seconds`` of CPU."""
    convert(ctx, tools)  # warm caches (the tool schemas, lazy imports)
    loops = 1
    while True:
        start = time.process_time()
        for _ in range(loops):
            convert(ctx, tools)
        if time.process_time() - start >= seconds or loops >= 1 << 20:
            return loops
        loops *= 2


def measure(sizes: tuple[int, ...], budget: float) -> dict[str, dict[int, list[float]]]:
    """CPU microseconds per call of every converter, ``BATCHES`` values per size.

    Conversion is pure computation, so it is timed with this process's CPU clock, and the
    converters take turns batch by batch, so a noisy neighbour on the machine disturbs all of
    them alike. The collector is off while timing, as ``timeit`` does: a full collection
    lands on whichever batch crosses its threshold and scans every object of this process,
    which measures the harness more than the converter.
    """
    tools = _tools()
    results: dict[str, dict[int, list[float]]] = {key: {} for key in CONVERTERS}
    for size in sizes:
        ctx = history(size)
        loops = {
            key: _loops_for(convert, ctx, tools, budget / BATCHES)
            for key, (_, convert) in CONVERTERS.items()
        }
        gc.collect()
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for _ in range(BATCHES):
                for key, (_, convert) in CONVERTERS.items():
                    start = time.process_time()
                    for _ in range(loops[key]):
                        convert(ctx, tools)
                    elapsed = time.process_time() - start
                    results[key].setdefault(size, []).append(elapsed / loops[key] * 1e6)
        finally:
            if was_enabled:
                gc.enable()
    return results
