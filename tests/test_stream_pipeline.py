"""The one stream loop: tool-call accumulation, arguments as JSON and closing the LLM while a
reply streams, in every mode, over a real socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import AGENT_ID, stream_reply
from livekit.agents import APIConnectionError, APIConnectOptions, llm

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
