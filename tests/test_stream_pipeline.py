"""The one stream loop: tool-call accumulation, arguments as JSON and closing the LLM while a
reply streams, in every mode, over a real socket."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from conftest import AGENT_ID, stream_reply
from livekit.agents import APIConnectionError, APIConnectOptions, APIError, APITimeoutError, llm

from livekit.plugins.mistral import LLM, AgentError
from livekit.plugins.mistral.testing import AgentReply, ChatReply, Fault, LocalMistral
from livekit.plugins.mistral.testing.sse import DONE, data_frame, event_frame

MakeLLM = Callable[..., LLM]
SLOW = APIConnectOptions(max_retry=0, timeout=30.0)


def user_ctx(text: str = "Weather in Paris and Lyon?") -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=text)
    return ctx


@llm.function_tool
async def get_weather(location: str) -> str:
    """Get the weather.

    Args:
        location: The city.
    """
    return "sunny"


def chat_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return data_frame({"id": "cmpl-1", "object": "chat.completion.chunk", "choices": [choice]})


def whole_call(call_id: str, city: str, index: int | None) -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": call_id,
        "function": {"name": "get_weather", "arguments": json.dumps({"location": city})},
    }
    if index is not None:
        call["index"] = index
    return call


@pytest.mark.parametrize("index", [0, None], ids=["shared index 0", "no index"])
async def test_whole_calls_with_distinct_ids_in_separate_deltas_stay_apart(
    server: LocalMistral, make_llm: MakeLLM, index: int | None
) -> None:
    body = (
        chat_chunk({"role": "assistant", "tool_calls": [whole_call("aaaaaaaa1", "Paris", index)]})
        + chat_chunk({"tool_calls": [whole_call("bbbbbbbb2", "Lyon", index)]}, "tool_calls")
        + DONE
    )
    server.queue_chat(Fault.raw_body(body))
    _, _, calls = await stream_reply(make_llm(), user_ctx(), tools=[get_weather])
    assert [(c.call_id, json.loads(c.arguments)) for c in calls] == [
        ("aaaaaaaa1", {"location": "Paris"}),
        ("bbbbbbbb2", {"location": "Lyon"}),
    ]


def conversation(*events: dict[str, Any]) -> bytes:
    started = {"type": "conversation.response.started", "conversation_id": "conv_" + "1" * 32}
    done = {
        "type": "conversation.response.done",
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    return b"".join(event_frame(e) for e in (started, *events, done))


def call_delta(arguments: Any, **ids: str) -> dict[str, Any]:
    return {"type": "function.call.delta", "name": "get_weather", "arguments": arguments, **ids}


async def test_agent_calls_without_ids_are_not_merged(server: LocalMistral, agent: LLM) -> None:
    server.queue_conversation(
        Fault.raw_body(conversation(call_delta('{"location":"Paris"}'), call_delta("{}")))
    )
    _, _, calls = await stream_reply(agent, user_ctx())
    assert [json.loads(c.arguments) for c in calls] == [{"location": "Paris"}, {}]
    assert calls[0].call_id != calls[1].call_id


async def test_agent_object_arguments_are_json(server: LocalMistral, agent: LLM) -> None:
    arguments = {"location": "Paris", "ok": True, "note": None}
    server.queue_conversation(
        Fault.raw_body(conversation(call_delta(arguments, tool_call_id="aaaaaaaa1")))
    )
    _, _, calls = await stream_reply(agent, user_ctx())
    assert [(c.call_id, json.loads(c.arguments)) for c in calls] == [("aaaaaaaa1", arguments)]


@pytest.fixture
def agent(make_llm: MakeLLM) -> LLM:
    return make_llm(model=AGENT_ID, mode="agent")


def stalled_reply(mode: str) -> Fault:
    reply = ChatReply(text="one two three") if mode == "normal" else AgentReply(text="one two")
    return Fault.stall_mid_stream(after_events=3, seconds=3600, reply=reply)


@pytest.mark.parametrize("mode", ["normal", "agent"])
async def test_aclose_ends_a_streaming_reply_at_once(
    server: LocalMistral, make_llm: MakeLLM, mode: str
) -> None:
    model = make_llm() if mode == "normal" else make_llm(model=AGENT_ID, mode="agent")
    queue = server.queue_chat if mode == "normal" else server.queue_conversation
    queue(stalled_reply(mode))
    heard: list[str] = []
    async with model.chat(chat_ctx=user_ctx(), conn_options=SLOW) as stream:

        async def read() -> None:
            async for chunk in stream:
                heard.append(chunk.delta.content or "" if chunk.delta else "")
                if "".join(heard):
                    await model.aclose()

        # the guard only keeps a regression from hanging the suite for conn_options.timeout
        with pytest.raises(APIConnectionError, match="LLM was closed") as raised:
            await asyncio.wait_for(read(), timeout=10)
    assert raised.value.retryable is False
    assert "".join(heard)
    await server.wait_for_disconnect(timeout=5)


def failed_turn(**error: Any) -> bytes:
    started = {"type": "conversation.response.started", "conversation_id": "conv_" + "2" * 32}
    failure = {"type": "conversation.response.error", "message": "It failed", **error}
    return event_frame(started) + event_frame(failure)


@pytest.mark.parametrize(
    ("error", "status", "retryable"),
    [
        ({"code": "429"}, 429, True),
        ({"code": 3051, "raw_status_code": 400}, 400, False),
        ({"code": 3000}, 500, True),
    ],
)
async def test_conversation_error_events_keep_their_status(
    server: LocalMistral, agent: LLM, error: dict[str, Any], status: int, retryable: bool
) -> None:
    server.queue_conversation(Fault.raw_body(failed_turn(**error)))
    with pytest.raises(AgentError) as raised:
        await stream_reply(agent, user_ctx(), conn_options=APIConnectOptions(max_retry=0))
    assert (raised.value.status_code, raised.value.retryable) == (status, retryable)


# --- a bare server, for what LocalMistral's faults do not act out ------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def bare() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """``await bare(handler)`` serves ``handler`` on 127.0.0.1 and returns the base URL."""
    runners: list[web.AppRunner] = []

    async def serve(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield serve
    for runner in runners:
        await runner.cleanup()


async def sse_response(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    return response


TEXT_CHUNK = chat_chunk({"role": "assistant", "content": "Hello."})
FINISH_CHUNK = data_frame(
    {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [whole_call("aaaaaaaa1", "Paris", 0)]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
)


async def test_connection_is_reused_when_the_body_ends_after_done(
    bare: Callable[[Handler], Awaitable[str]],
) -> None:
    peers: set[int] = set()

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername")[1])
        response = await sse_response(request)
        await response.write(TEXT_CHUNK + chat_chunk({}, "stop") + DONE)
        await asyncio.sleep(0.05)  # the body's end comes in a later read than [DONE]
        await response.write_eof()
        return response

    model = LLM(api_key="k", base_url=await bare(handler))
    try:
        for _ in range(3):
            _, text, _ = await stream_reply(model, user_ctx())
            assert text == "Hello."
            await asyncio.sleep(0.1)  # the next turn comes after the body has ended
    finally:
        await model.aclose()
    assert len(peers) == 1  # one client port: one connection for the three turns


async def test_a_reset_after_the_finish_reason_keeps_the_whole_answer(
    bare: Callable[[Handler], Awaitable[str]],
) -> None:
    requests = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal requests
        requests += 1
        response = await sse_response(request)
        await response.write(TEXT_CHUNK + FINISH_CHUNK)
        assert request.transport is not None
        request.transport.abort()  # no [DONE], no clean end of the body
        return response

    model = LLM(api_key="k", base_url=await bare(handler))
    try:
        chunks, text, calls = await stream_reply(model, user_ctx(), tools=[get_weather])
    finally:
        await model.aclose()
    assert text == "Hello." and [c.call_id for c in calls] == ["aaaaaaaa1"]
    assert chunks[-1].usage is not None and requests == 1


async def test_an_empty_event_is_skipped(bare: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await sse_response(request)
        await response.write(b"data:\n\n" + TEXT_CHUNK + b"data: \n\n" + FINISH_CHUNK + DONE)
        await response.write_eof()
        return response

    model = LLM(api_key="k", base_url=await bare(handler))
    try:
        _, text, calls = await stream_reply(model, user_ctx(), tools=[get_weather])
    finally:
        await model.aclose()
    assert text == "Hello." and len(calls) == 1


async def test_an_error_body_sent_a_byte_at_a_time_cannot_outlast_the_timeout(
    bare: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=503, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for byte in b'{"object": "error", "message": "Service unavailable"}':
            await response.write(bytes([byte]))
            await asyncio.sleep(0.1)  # each byte restarts a socket read timer
        await response.write_eof()
        return response

    model = LLM(api_key="k", base_url=await bare(handler))
    started = time.monotonic()
    try:
        with pytest.raises(APITimeoutError):
            await stream_reply(
                model, user_ctx(), conn_options=APIConnectOptions(max_retry=0, timeout=0.5)
            )
    finally:
        await model.aclose()
    assert time.monotonic() - started < 3  # the body alone takes 5.3 s to dribble out


async def test_an_empty_history_is_a_final_api_error(server: LocalMistral, model_llm: LLM) -> None:
    with pytest.raises(
        APIError, match="could not be built: the chat context holds no message"
    ) as raised:
        await stream_reply(model_llm, llm.ChatContext())
    assert raised.value.retryable is False and server.requests == []


@pytest.fixture
def model_llm(make_llm: MakeLLM) -> LLM:
    return make_llm()


async def test_an_agent_document_that_is_not_json_does_not_fail_the_turn(
    server: LocalMistral, agent: LLM, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue_http("/v1/agents/", Fault.raw_body(b"<html>maintenance</html>", "text/html"))
    server.queue_conversation(AgentReply(text="Still here."))
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        _, text, _ = await stream_reply(agent, user_ctx(), tools=[get_weather])
    assert text == "Still here."
    assert any("could not be fetched" in r.getMessage() for r in caplog.records)
