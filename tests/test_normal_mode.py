"""Normal mode end to end: the real plugin, a real socket, the local Mistral server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import API_KEY, FAST, stream_reply
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    APITimeoutError,
    llm,
)

from livekit.plugins.mistral import LLM, MistralStatusError
from livekit.plugins.mistral.mapping.caching import conversation_key
from livekit.plugins.mistral.testing import ChatReply, Fault, LocalMistral, ToolCall

MakeLLM = Callable[..., LLM]


def user_ctx(text: str = "Hello there", system: str | None = "Be brief.") -> llm.ChatContext:
    ctx = llm.ChatContext()
    if system:
        ctx.add_message(role="system", content=system)
    ctx.add_message(role="user", content=text)
    return ctx


@pytest.fixture
def weather_tool() -> llm.FunctionTool:
    @llm.function_tool
    async def get_weather(location: str) -> str:
        """Get the current weather for a city.

        Args:
            location: The city name.
        """
        return f"Sunny in {location}"

    return get_weather


async def test_text_streams_with_usage_and_exact_body(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(ChatReply(text="Hello from Mistral!", id="cmpl-abc", cached_tokens=3))
    model = make_llm(temperature=0.2, max_tokens=50)
    ctx = user_ctx()
    chunks, text, calls = await stream_reply(model, ctx)

    assert text == "Hello from Mistral!"
    assert calls == []
    assert {c.id for c in chunks} == {"cmpl-abc"}
    assert len([c for c in chunks if c.delta and c.delta.content]) >= 5  # streamed, not batched
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].delta is None
    assert usage.completion_tokens > 0 and usage.prompt_cached_tokens == 3
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    (request,) = server.requests
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.body == {
        "model": "mistral-small-latest",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
        ],
        "stream": True,
        "temperature": 0.2,
        "max_tokens": 50,
        "prompt_cache_key": conversation_key(ctx),  # the default: one key per conversation
    }


async def test_last_chunk_text_is_not_dropped(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(ChatReply(text=["Hel", "lo", " end."]))
    _, text, _ = await stream_reply(make_llm(), user_ctx())
    assert text == "Hello end."


@pytest.mark.parametrize("style", ["mistral", "openai"])
async def test_parallel_tool_calls_arrive_whole(
    server: LocalMistral, make_llm: MakeLLM, weather_tool: llm.FunctionTool, style: str
) -> None:
    server.queue_chat(
        ChatReply(
            tool_calls=[
                ToolCall("get_weather", {"location": "Paris"}, id="aB3dE5gH7"),
                ToolCall("get_weather", '{"location": "Lyon"}', id="Zy9xW8vU7"),
            ],
            tool_call_style=style,  # type: ignore[arg-type]
        )
    )
    chunks, text, calls = await stream_reply(
        make_llm(parallel_tool_calls=True), user_ctx(), tools=[weather_tool]
    )
    assert text == ""
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"location": "Paris"}),
        ("get_weather", {"location": "Lyon"}),
    ]
    if style == "mistral":
        assert [c.call_id for c in calls] == ["aB3dE5gH7", "Zy9xW8vU7"]
    # both calls in one chunk, complete when sent
    assert len([c for c in chunks if c.delta and c.delta.tool_calls]) == 1
    body = server.chat_requests[0]
    assert body["parallel_tool_calls"] is True
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert "tool_choice" not in body


async def test_arguments_sent_as_object_become_json(
    server: LocalMistral, make_llm: MakeLLM, weather_tool: llm.FunctionTool
) -> None:
    server.queue_chat(
        ChatReply(
            tool_calls=[ToolCall("get_weather", {"location": "Oslo"})], arguments_as_object=True
        )
    )
    _, _, calls = await stream_reply(make_llm(), user_ctx(), tools=[weather_tool])
    assert json.loads(calls[0].arguments) == {"location": "Oslo"}


async def test_tool_settings_are_omitted_without_tools(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(ChatReply(text="ok"))
    await stream_reply(make_llm(tool_choice="required", parallel_tool_calls=False), user_ctx())
    body = server.chat_requests[0]
    assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "any"),
        ({"type": "function", "function": {"name": "get_weather"}},) * 2,
    ],
)
async def test_tool_choice_on_the_wire(
    server: LocalMistral,
    make_llm: MakeLLM,
    weather_tool: llm.FunctionTool,
    choice: Any,
    wire: Any,
) -> None:
    server.queue_chat(ChatReply(text="ok"))
    await stream_reply(make_llm(), user_ctx(), tools=[weather_tool], tool_choice=choice)
    assert server.chat_requests[0]["tool_choice"] == wire


async def test_thinking_is_never_spoken(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(ChatReply(thinking="Let me think about it.", text="The answer is 4."))
    chunks, text, _ = await stream_reply(make_llm(reasoning_effort="high"), user_ctx("2+2?"))
    assert text == "The answer is 4."
    thinking = "".join(
        c.delta.extra.get("thinking", "") for c in chunks if c.delta and c.delta.extra
    )
    assert thinking == "Let me think about it."
    assert server.chat_requests[0]["reasoning_effort"] == "high"


async def test_finish_reason_length_keeps_text(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(ChatReply(text="Cut sh", finish_reason="length"))
    _, text, _ = await stream_reply(make_llm(), user_ctx())
    assert text == "Cut sh"


async def test_connection_is_reused_across_turns_and_after_prewarm(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    model = make_llm()
    model.prewarm()
    assert model._prewarm_task is not None
    await model._prewarm_task
    assert [r.path for r in server.requests] == ["/v1/models"]
    for _ in range(3):
        await stream_reply(model, user_ctx())
    assert server.connections_opened == 1


async def test_401_is_readable_and_not_retried(server: LocalMistral, make_llm: MakeLLM) -> None:
    model = make_llm(api_key="sk-wrong-key-0000")
    with pytest.raises(APIStatusError) as info:
        await stream_reply(model, user_ctx(), conn_options=FAST)
    err = info.value
    assert err.status_code == 401 and err.retryable is False
    assert "Unauthorized" in err.message and "MISTRAL_API_KEY" in err.message
    assert len(server.chat_requests) == 1
    assert "sk-wrong-key-0000" not in f"{err} {err!r} {err.body}"


async def test_503_before_output_is_retried_and_answer_arrives_once(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(Fault.status(503), ChatReply(text="Recovered."))
    _, text, _ = await stream_reply(make_llm(), user_ctx(), conn_options=FAST)
    assert text == "Recovered."
    assert len(server.chat_requests) == 2
    assert server.chat_requests[0] == server.chat_requests[1]  # the same request, re-sent


async def test_429_exposes_retry_after(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(*[Fault.status(429, retry_after=7)] * 3)
    with pytest.raises(APIConnectionError) as info:  # LiveKit wraps the last attempt's error
        await stream_reply(make_llm(), user_ctx(), conn_options=FAST)
    cause = info.value.__cause__
    assert isinstance(cause, MistralStatusError)
    assert cause.status_code == 429 and cause.retry_after == 7.0
    assert len(server.chat_requests) == 3


async def test_reset_after_output_is_not_retried_and_text_not_repeated(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(
        Fault.reset_mid_stream(after_events=3, reply=ChatReply(text="One two three four five")),
        ChatReply(text="SHOULD NOT BE SPOKEN"),
    )
    texts: list[str] = []
    with pytest.raises(APIConnectionError) as info:
        async with make_llm().chat(chat_ctx=user_ctx(), conn_options=FAST) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    texts.append(chunk.delta.content)
    assert info.value.retryable is False
    assert texts and "SHOULD" not in "".join(texts)
    assert len(server.chat_requests) == 1


async def test_stall_before_headers_times_out_within_budget(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(*[Fault.stall_before_headers()] * 2)
    opts = APIConnectOptions(max_retry=1, retry_interval=0.05, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as info:
        await stream_reply(make_llm(), user_ctx(), conn_options=opts)
    elapsed = time.monotonic() - started
    assert isinstance(info.value.__cause__, APITimeoutError)
    assert 0.6 <= elapsed < 0.6 + 0.05 + 1.0  # two attempts of 0.3 s, one interval, slack
    assert len(server.chat_requests) == 2


async def test_stall_between_events_after_output_is_a_final_timeout(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(Fault.stall_mid_stream(after_events=3, reply=ChatReply(text="Hi there you")))
    opts = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=0.3)
    with pytest.raises(APITimeoutError) as info:
        await stream_reply(make_llm(), user_ctx(), conn_options=opts)
    assert info.value.retryable is False
    assert len(server.chat_requests) == 1


async def test_closing_the_stream_drops_the_connection_at_once(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(ChatReply(text="word " * 200, delay=0.01))
    stream = make_llm().chat(chat_ctx=user_ctx())
    async for chunk in stream:
        if chunk.delta and chunk.delta.content:
            break
    started = time.monotonic()
    await stream.aclose()
    disconnect = await server.wait_for_disconnect(timeout=2.0)
    assert disconnect.at - started < 0.5
    await asyncio.sleep(0.05)
    assert server.open_streams == 0
    leftover = [t for t in asyncio.all_tasks() if "LLM." in (t.get_name() or "")]
    assert leftover == []


async def test_in_stream_error_event(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(
        Fault.in_stream_error(after_events=0, message="Internal model failure", code=3000),
        ChatReply(text="second try"),
    )
    _, text, _ = await stream_reply(make_llm(), user_ctx(), conn_options=FAST)
    assert text == "second try"  # nothing had been spoken, so the retry is safe


async def test_malformed_event_is_a_connection_error(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(Fault.malformed_event(after_events=0, reply=ChatReply(text="x")))
    with pytest.raises(APIConnectionError, match="not a JSON object"):
        await stream_reply(make_llm(), user_ctx(), conn_options=APIConnectOptions(max_retry=0))


async def test_wrong_content_type_says_so(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(Fault.wrong_content_type())
    with pytest.raises(APIStatusError, match="instead of an event stream"):
        await stream_reply(make_llm(), user_ctx(), conn_options=APIConnectOptions(max_retry=0))


async def test_stream_cut_without_done(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(Fault.cut_stream(after_events=2, reply=ChatReply(text="abcdefghijkl")))
    with pytest.raises(APIConnectionError, match=r"ended before \[DONE\] or a finish_reason"):
        await stream_reply(make_llm(), user_ctx(), conn_options=APIConnectOptions(max_retry=0))


async def test_connection_refused(make_llm: MakeLLM) -> None:
    model = make_llm(base_url="http://127.0.0.1:9")
    with pytest.raises(APIConnectionError, match="could not connect"):
        await stream_reply(model, user_ctx(), conn_options=APIConnectOptions(max_retry=0))
