"""Reasoning kept across turns, prompt-cache keys and cached-token metrics inside LiveKit's
real ``AgentSession`` (text only, ``vad=None``), against the local server over a real socket."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import AGENT_ID, thought, until
from livekit.agents.metrics import LLMMetrics
from livekit.agents.voice.run_result import RunResult
from test_session_agent import INSTRUCTIONS, MakeLLM, Mode, WeatherAgent, running, said

from livekit.plugins.mistral import LLM
from livekit.plugins.mistral.testing import (
    AgentReply,
    ChatReply,
    LocalMistral,
    ToolCall,
    check_chat_request,
    check_conversation_request,
)

LONG_INSTRUCTIONS = INSTRUCTIONS + " Answer in one short sentence about the weather." * 12


def make(make_llm: MakeLLM, mode: Mode, **options: Any) -> LLM:
    if mode == "agent":
        return make_llm(model=AGENT_ID, mode="agent", **options)
    return make_llm(model="magistral-small-latest", **options)


class LongAgent(WeatherAgent):
    def __init__(self) -> None:
        super().__init__()
        self._instructions = LONG_INSTRUCTIONS


# --- reasoning kept across turns ------------------------------------------------------------


async def test_second_turn_carries_the_first_turns_thinking(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(
        ChatReply(thinking="The user greets; reply warmly.", signature="c2ln", text="Hello!"),
        ChatReply(text="Sunny."),
    )
    model = make(make_llm, "normal", reasoning_effort="medium")
    async with running(model, WeatherAgent()) as session:
        first: RunResult[None] = await session.run(user_input="Hi")
        second: RunResult[None] = await session.run(user_input="Weather?")

    assert said(first) == ["Hello!"] and said(second) == ["Sunny."]  # thinking never spoken
    _, body = server.chat_requests
    assert body["messages"][1:] == [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": [
                thought("The user greets; reply warmly.", "c2ln"),
                {"type": "text", "text": "Hello!"},
            ],
        },
        {"role": "user", "content": "Weather?"},
    ]
    assert check_chat_request(body) is None


async def test_thinking_before_a_tool_call_survives_the_tool_result(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    call = ToolCall("get_weather", {"location": "Paris"}, id="aB3dE5gH7")
    server.queue_chat(
        ChatReply(thinking="I need the forecast first.", tool_calls=[call]),
        ChatReply(text="Sunny in Paris."),
    )
    model = make(make_llm, "normal", reasoning_effort="high")
    async with running(model, WeatherAgent()) as session:
        result: RunResult[None] = await session.run(user_input="Weather in Paris?")

    assert said(result) == ["Sunny in Paris."]
    _, after_tool = server.chat_requests
    assert after_tool["messages"][2:4] == [
        {"role": "assistant", "content": [thought("I need the forecast first.")]},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "aB3dE5gH7",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                }
            ],
        },
    ]
    assert check_chat_request(after_tool) is None


async def test_agent_mode_second_turn_carries_the_first_turns_thinking(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_conversation(
        AgentReply(thinking="Greet back.", text="Hello!"), AgentReply(text="Sunny.")
    )
    async with running(make(make_llm, "agent"), WeatherAgent()) as session:
        await session.run(user_input="Hi")
        await session.run(user_input="Weather?")

    _, body = server.conversation_requests
    assert body["inputs"][1:] == [
        {"type": "message.input", "role": "user", "content": "Hi"},
        {
            "type": "message.output",
            "role": "assistant",
            "content": [thought("Greet back."), {"type": "text", "text": "Hello!"}],
        },
        {"type": "message.input", "role": "user", "content": "Weather?"},
    ]
    assert check_conversation_request(body, [AGENT_ID]) is None


@pytest.mark.parametrize("mode", ["normal", "agent"])
async def test_keep_reasoning_false_drops_thinking_between_turns(
    server: LocalMistral, make_llm: MakeLLM, mode: Mode
) -> None:
    if mode == "normal":
        server.queue_chat(ChatReply(thinking="Hmm.", text="Hello!"), ChatReply(text="Sunny."))
    else:
        server.queue_conversation(
            AgentReply(thinking="Hmm.", text="Hello!"), AgentReply(text="Sunny.")
        )
    async with running(make(make_llm, mode, keep_reasoning=False), WeatherAgent()) as session:
        await session.run(user_input="Hi")
        await session.run(user_input="Weather?")

    bodies = server.chat_requests if mode == "normal" else server.conversation_requests
    assert "thinking" not in str(bodies[1])


# --- prompt-cache keys ----------------------------------------------------------------------


async def two_turns(model: LLM) -> None:
    async with running(model, WeatherAgent()) as session:
        await session.run(user_input="Hi")
        await session.run(user_input="Weather?")


async def test_default_key_is_stable_in_a_session_and_differs_between_sessions(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(*(ChatReply(text=f"Reply {n}.") for n in range(4)))
    model = make(make_llm, "normal")
    await two_turns(model)
    await two_turns(model)  # a second session on the same LLM

    keys = [body["prompt_cache_key"] for body in server.chat_requests]
    assert keys[0] == keys[1] and keys[2] == keys[3]
    assert keys[0] != keys[2]
    assert all(key.startswith("lk-") for key in keys)
    assert not any("Hi" in key or "Weather" in key for key in keys)


@pytest.mark.parametrize(("setting", "expected"), [("team-7", "team-7"), (None, None)])
async def test_explicit_key_wins_and_none_omits(
    server: LocalMistral, make_llm: MakeLLM, setting: str | None, expected: str | None
) -> None:
    server.queue_chat(*(ChatReply(text=f"Reply {n}.") for n in range(2)))
    await two_turns(make(make_llm, "normal", prompt_cache_key=setting))
    assert [body.get("prompt_cache_key") for body in server.chat_requests] == [expected] * 2


# --- metrics --------------------------------------------------------------------------------


async def test_metrics_show_cached_tokens_and_reasoning_tokens(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(ChatReply(text="Hello!"), ChatReply(thinking="Look it up.", text="Sunny."))
    model = make(make_llm, "normal")
    collected: list[LLMMetrics] = []
    model.on("metrics_collected", collected.append)
    async with running(model, LongAgent()) as session:
        await session.run(user_input="Hi")
        await session.run(user_input="Weather?")
        await until(lambda: len(collected) == 2)

    first_report, second_report = server.usage_reports
    assert first_report["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second_report["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 64 and cached % 64 == 0
    assert [m.prompt_cached_tokens for m in collected] == [0, cached]
    reasoning = second_report["completion_tokens_details"]["reasoning_tokens"]
    assert [m.reasoning_tokens for m in collected] == [0, reasoning] and reasoning > 0
