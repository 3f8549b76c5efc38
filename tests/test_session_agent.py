"""The plugin inside LiveKit's real ``AgentSession``: in-process, text only (``vad=None``),
against the local Mistral server over a real socket.

Every turn goes through LiveKit's voice pipeline (``Agent.llm_node``, tool execution,
interruptions, the ``FallbackAdapter``); the assertions read what the user would hear
(``RunResult`` events) and what Mistral received (the recorded request bodies). The server
answers 400/422 to any request the live API refuses, so a turn that completes is a request
Mistral accepts; the rule checks are also run on the recorded bodies.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from conftest import AGENT_ID, API_KEY
from livekit.agents import Agent, AgentSession, APIConnectionError, function_tool, llm
from livekit.agents.llm import FallbackAdapter
from livekit.agents.metrics import LLMMetrics

from livekit.plugins.mistral import LLM, BuiltinToolEvent, tools
from livekit.plugins.mistral.testing import (
    AgentReply,
    ChatReply,
    Fault,
    LocalMistral,
    RuleViolation,
    ToolCall,
    check_chat_request,
    check_conversation_request,
)

Mode = Literal["normal", "agent"]
MakeLLM = Callable[..., LLM]

MISTRAL_ID = re.compile(r"[a-zA-Z0-9]{9}")
FORECASTS = {"Paris": "sunny, 21 degrees", "Lyon": "cloudy, 17 degrees"}
LOCAL_TIMES = {"Paris": "14:05", "Lyon": "14:05"}
INSTRUCTIONS = "You are a weather assistant. Be brief."


class WeatherAgent(Agent):
    def __init__(self, chat_ctx: llm.ChatContext | None = None) -> None:
        super().__init__(instructions=INSTRUCTIONS, chat_ctx=chat_ctx)
        self.calls: list[tuple[str, str]] = []

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Look up the current weather in a city.

        Args:
            location: The city name.
        """
        self.calls.append(("get_weather", location))
        return f"{FORECASTS.get(location, 'clear, 20 degrees')} in {location}"

    @function_tool
    async def get_local_time(self, city: str) -> str:
        """Tell the local time in a city.

        Args:
            city: The city name.
        """
        self.calls.append(("get_local_time", city))
        return f"It is {LOCAL_TIMES.get(city, '12:00')} in {city}"


@dataclass
class Endpoint:
    """The local server as one mode sees it: chat completions or conversations."""

    server: LocalMistral
    mode: Mode

    def answer(
        self,
        text: str | list[str] = "",
        tool_calls: Sequence[ToolCall] = (),
        *,
        request_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Script the next answer; ``request_id`` is the completion or conversation id."""
        if self.mode == "normal":
            reply = ChatReply(text=text, tool_calls=list(tool_calls), id=request_id, **kwargs)
            self.server.queue_chat(reply)
        else:
            self.server.queue_conversation(
                AgentReply(
                    text=text, tool_calls=list(tool_calls), conversation_id=request_id, **kwargs
                )
            )

    @property
    def requests(self) -> list[Any]:
        if self.mode == "normal":
            return self.server.chat_requests
        return self.server.conversation_requests

    def violation(self, body: Any) -> RuleViolation | None:
        if self.mode == "normal":
            return check_chat_request(body)
        return check_conversation_request(body, [AGENT_ID])

    def tool_traffic(self, body: Any) -> list[tuple[Any, ...]]:
        """The tool calls and results a request carries, in order, the same shape in both
        modes: ``("call", id, name, arguments)`` and ``("result", id, output)``."""
        traffic: list[tuple[Any, ...]] = []
        if self.mode == "normal":
            for message in body["messages"]:
                for call in message.get("tool_calls") or []:
                    function = call["function"]
                    args = json.loads(function["arguments"])
                    traffic.append(("call", call["id"], function["name"], args))
                if message["role"] == "tool":
                    traffic.append(("result", message["tool_call_id"], message["content"]))
            return traffic
        for entry in body["inputs"]:
            if entry["type"] == "function.call":
                args = json.loads(entry["arguments"])
                traffic.append(("call", entry["tool_call_id"], entry["name"], args))
            elif entry["type"] == "function.result":
                traffic.append(("result", entry["tool_call_id"], entry["result"]))
        return traffic

    def kinds(self, body: Any) -> list[str]:
        """The role (chat) or entry type (conversations) of each item, in order."""
        if self.mode == "normal":
            return [message["role"] for message in body["messages"]]
        return [f"{entry['type']}:{entry.get('role', '')}" for entry in body["inputs"]]


@pytest.fixture(params=["normal", "agent"])
def mode(request: pytest.FixtureRequest) -> Mode:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def endpoint(server: LocalMistral, mode: Mode) -> Endpoint:
    return Endpoint(server, mode)


@pytest.fixture
def model(make_llm: MakeLLM, mode: Mode) -> LLM:
    if mode == "agent":
        return make_llm(model=AGENT_ID, mode="agent")
    return make_llm(model="mistral-small-latest")


@asynccontextmanager
async def running(model: llm.LLM, agent: Agent) -> AsyncIterator[AgentSession[None]]:
    """A started text-only session: no audio, so no VAD and no turn detector to load."""
    session: AgentSession[None] = AgentSession(
        llm=model, vad=None, turn_handling={"turn_detection": None}
    )
    async with session:
        await session.start(agent)
        yield session


def said(run: Any) -> list[str]:
    """The assistant messages of a run, as the user heard them."""
    return [
        event.item.text_content or ""
        for event in run.events
        if event.type == "message" and event.item.role == "assistant"
    ]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


# --- turns ----------------------------------------------------------------------------------


async def test_plain_reply_streams_into_the_session(endpoint: Endpoint, model: LLM) -> None:
    endpoint.answer(["Hello", " from", " Mistral", "!"])
    async with running(model, WeatherAgent()) as session:
        result = await session.run(user_input="Hi there")

    result.expect.next_event().is_message(role="assistant")
    result.expect.no_more_events()
    assert said(result) == ["Hello from Mistral!"]
    (body,) = endpoint.requests
    assert body["stream"] is True
    if endpoint.mode == "normal":
        assert body["model"] == "mistral-small-latest"
        assert body["messages"] == [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": "Hi there"},
        ]
        assert {tool["function"]["name"] for tool in body["tools"]} == {
            "get_weather",
            "get_local_time",
        }
    else:
        assert body["agent_id"] == AGENT_ID and body["store"] is False
        assert "tools" not in body and "instructions" not in body
        assert body["inputs"] == [
            {
                "type": "message.input",
                "role": "user",
                "content": f"<instructions>\n{INSTRUCTIONS}\n</instructions>",
            },
            {"type": "message.input", "role": "user", "content": "Hi there"},
        ]


async def test_function_tool_round_trip(endpoint: Endpoint, model: LLM) -> None:
    call = ToolCall("get_weather", '{"location": "Paris"}', id="aB3dE5gH7")
    endpoint.answer(tool_calls=[call])
    endpoint.answer("It is sunny in Paris.")
    agent = WeatherAgent()
    async with running(model, agent) as session:
        result = await session.run(user_input="What's the weather in Paris?")

    result.expect.next_event().is_function_call(name="get_weather", arguments={"location": "Paris"})
    result.expect.next_event().is_function_call_output(output="sunny, 21 degrees in Paris")
    result.expect.next_event().is_message(role="assistant")
    result.expect.no_more_events()
    assert said(result) == ["It is sunny in Paris."]
    assert agent.calls == [("get_weather", "Paris")]

    first, second = endpoint.requests
    assert endpoint.tool_traffic(first) == []
    if endpoint.mode == "normal":
        assert second["messages"][1:] == [
            {"role": "user", "content": "What's the weather in Paris?"},
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
            {
                "role": "tool",
                "tool_call_id": "aB3dE5gH7",
                "name": "get_weather",
                "content": "sunny, 21 degrees in Paris",
            },
        ]
    else:
        assert second["inputs"][1:] == [
            {"type": "message.input", "role": "user", "content": "What's the weather in Paris?"},
            {
                "type": "function.call",
                "tool_call_id": "aB3dE5gH7",
                "name": "get_weather",
                "arguments": '{"location": "Paris"}',
            },
            {
                "type": "function.result",
                "tool_call_id": "aB3dE5gH7",
                "result": "sunny, 21 degrees in Paris",
            },
        ]
    assert endpoint.violation(second) is None


async def test_parallel_tool_calls_in_one_turn(endpoint: Endpoint, model: LLM) -> None:
    endpoint.answer(
        tool_calls=[
            ToolCall("get_weather", {"location": "Lyon"}, id="Wx1Lyon00"),
            ToolCall("get_local_time", {"city": "Lyon"}, id="Tm2Lyon00"),
        ]
    )
    endpoint.answer("Cloudy in Lyon, and it is 14:05 there.")
    agent = WeatherAgent()
    async with running(model, agent) as session:
        result = await session.run(user_input="Weather and time in Lyon?")

    calls = result.expect[0:2]
    calls.contains_function_call(name="get_weather", arguments={"location": "Lyon"})
    calls.contains_function_call(name="get_local_time", arguments={"city": "Lyon"})
    outputs = result.expect[2:4]
    outputs.contains_function_call_output(output="cloudy, 17 degrees in Lyon")
    outputs.contains_function_call_output(output="It is 14:05 in Lyon")
    result.expect[4].is_message(role="assistant")
    assert len(result.events) == 5
    assert said(result) == ["Cloudy in Lyon, and it is 14:05 there."]
    assert sorted(agent.calls) == [("get_local_time", "Lyon"), ("get_weather", "Lyon")]

    body = endpoint.requests[-1]
    assert endpoint.tool_traffic(body) == [
        ("call", "Wx1Lyon00", "get_weather", {"location": "Lyon"}),
        ("call", "Tm2Lyon00", "get_local_time", {"city": "Lyon"}),
        ("result", "Wx1Lyon00", "cloudy, 17 degrees in Lyon"),
        ("result", "Tm2Lyon00", "It is 14:05 in Lyon"),
    ]
    if endpoint.mode == "normal":  # both calls in ONE assistant message
        assert endpoint.kinds(body)[-3:] == ["assistant", "tool", "tool"]
    assert endpoint.violation(body) is None


def foreign_history() -> llm.ChatContext:
    """A conversation another provider (and LiveKit) produced: ids Mistral refuses, and a
    user message right after a tool result."""
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="Weather in Paris and Lyon?")
    openai_calls = (("call_abc123def456ghi789jkl0", "Paris"), ("call_Zz9Yy8Xx7Ww6Vv5", "Lyon"))
    for call_id, city in openai_calls:
        ctx.items.append(
            llm.FunctionCall(
                call_id=call_id,
                name="get_weather",
                arguments=json.dumps({"location": city}),
                group_id="openai-turn-1",
            )
        )
    for call_id, city in openai_calls:
        ctx.items.append(
            llm.FunctionCallOutput(
                call_id=call_id,
                name="get_weather",
                output=f"{FORECASTS[city]} in {city}",
                is_error=False,
            )
        )
    ctx.add_message(role="user", content="And the time in Paris?")
    ctx.items.append(
        llm.FunctionCall(
            id="item_0a1b2c3d4e5f/fnc_0",
            call_id="item_0a1b2c3d4e5f/fnc_0",
            name="get_local_time",
            arguments='{"city": "Paris"}',
        )
    )
    ctx.items.append(
        llm.FunctionCallOutput(
            call_id="item_0a1b2c3d4e5f/fnc_0",
            name="get_local_time",
            output="It is 14:05 in Paris",
            is_error=False,
        )
    )
    ctx.add_message(role="assistant", content="Sunny in Paris, cloudy in Lyon; 14:05 in Paris.")
    return ctx


async def test_history_from_another_provider_is_accepted(endpoint: Endpoint, model: LLM) -> None:
    endpoint.answer("You are welcome.")
    endpoint.answer(tool_calls=[ToolCall("get_weather", {"location": "Lyon"}, id="New0Call1")])
    endpoint.answer("Still cloudy in Lyon.")
    async with running(model, WeatherAgent(chat_ctx=foreign_history())) as session:
        first_run = await session.run(user_input="Thanks!")
        second_run = await session.run(user_input="Is it still cloudy in Lyon?")

    assert said(first_run) == ["You are welcome."]
    assert said(second_run) == ["Still cloudy in Lyon."]
    first, _, last = endpoint.requests
    for body in (first, last):
        assert endpoint.violation(body) is None

    traffic = endpoint.tool_traffic(first)
    ids = [item[1] for item in traffic if item[0] == "call"]
    assert len(set(ids)) == 3 and all(MISTRAL_ID.fullmatch(i) for i in ids)
    assert traffic == [
        ("call", ids[0], "get_weather", {"location": "Paris"}),
        ("call", ids[1], "get_weather", {"location": "Lyon"}),
        ("result", ids[0], "sunny, 21 degrees in Paris"),
        ("result", ids[1], "cloudy, 17 degrees in Lyon"),
        ("call", ids[2], "get_local_time", {"city": "Paris"}),
        ("result", ids[2], "It is 14:05 in Paris"),
    ]
    kinds = endpoint.kinds(first)
    after_tool = "tool" if endpoint.mode == "normal" else "function.result:"
    user = "user" if endpoint.mode == "normal" else "message.input:user"
    assert all(
        not (before == after_tool and after == user)
        for before, after in zip(kinds, kinds[1:], strict=False)
    )

    # the same history maps to the same ids on the next turn; the new call joins it
    assert endpoint.tool_traffic(last) == [
        *traffic,
        ("call", "New0Call1", "get_weather", {"location": "Lyon"}),
        ("result", "New0Call1", "cloudy, 17 degrees in Lyon"),
    ]


# --- interruption -----------------------------------------------------------------------------


async def test_interruption_closes_the_stream_and_the_next_turn_works(
    endpoint: Endpoint, model: LLM
) -> None:
    story = " ".join(f"word{n}" for n in range(400))
    endpoint.answer(story, delay=0.02)
    endpoint.answer("Sure, a short one.")
    async with running(model, WeatherAgent()) as session:
        handle = session.run(user_input="Tell me a long story")
        await until(lambda: session.agent_state == "speaking" and endpoint.server.open_streams > 0)
        await asyncio.sleep(0.2)  # some words out, most of the story still to come
        interrupted_at = time.monotonic()
        await session.interrupt()
        disconnect = await endpoint.server.wait_for_disconnect(timeout=2.0)
        interrupted = await handle
        assert disconnect.at - interrupted_at < 0.5
        assert endpoint.server.open_streams == 0
        after = await session.run(user_input="Shorter please")

    (heard,) = said(interrupted)
    assert interrupted.events[-1].item.interrupted is True  # type: ignore[union-attr]
    assert heard.startswith("word0") and len(heard) < len(story) // 2
    assert said(after) == ["Sure, a short one."]
    assert len(endpoint.requests) == 2  # the interrupted answer was not retried
    last = endpoint.requests[-1]
    assert endpoint.violation(last) is None
    if endpoint.mode == "normal":
        assert last["messages"][-2:] == [
            {"role": "assistant", "content": heard},
            {"role": "user", "content": "Shorter please"},
        ]
    else:
        assert last["inputs"][-2:] == [
            {"type": "message.output", "role": "assistant", "content": heard},
            {"type": "message.input", "role": "user", "content": "Shorter please"},
        ]


# --- built-in tools -------------------------------------------------------------------------

TRAVEL_INSTRUCTIONS = "You are a travel assistant. Be brief."


class TravelAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=TRAVEL_INSTRUCTIONS, tools=[tools.WebSearch()])
        self.calls: list[str] = []

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Look up the current weather in a city.

        Args:
            location: The city name.
        """
        self.calls.append(location)
        return f"sunny in {location}"


async def test_search_function_call_and_interruption_in_one_session(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    model = make_llm(model="mistral-medium-latest")
    events: list[BuiltinToolEvent] = []
    model.on("builtin_tool", events.append)
    story = " ".join(f"word{n}" for n in range(400))
    server.queue_conversation(
        AgentReply(tool_executions=["web_search"], text="It is 330 metres tall.", references=True),
        AgentReply(tool_calls=[ToolCall("get_weather", {"location": "Paris"}, id="wthr00001")]),
        AgentReply(text="Sunny in Paris today."),
        AgentReply(text=story, delay=0.02),
        AgentReply(text="Sure, briefly."),
    )
    agent = TravelAgent()
    session: AgentSession[None] = AgentSession(
        llm=model, vad=None, turn_handling={"turn_detection": None}
    )
    async with session:
        await session.start(agent)
        searched = await session.run(user_input="How tall is the Eiffel Tower?")
        weather = await session.run(user_input="And the weather in Paris?")
        handle = session.run(user_input="Tell me a long story")
        await until(lambda: session.agent_state == "speaking" and server.open_streams > 0)
        await asyncio.sleep(0.2)
        await session.interrupt()
        await server.wait_for_disconnect(timeout=2.0)
        interrupted = await handle
        after = await session.run(user_input="Shorter please")
        stored = session.history.items

    assert said(searched) == ["It is 330 metres tall."]
    assert [(e.name, e.phase) for e in events] == [
        ("web_search", "started"),
        ("web_search", "done"),
    ]
    weather.expect.next_event().is_function_call(name="get_weather")
    weather.expect.next_event().is_function_call_output(output="sunny in Paris")
    assert said(weather) == ["Sunny in Paris today."] and agent.calls == ["Paris"]
    (heard,) = said(interrupted)
    assert heard.startswith("word0") and len(heard) < len(story) // 2
    assert said(after) == ["Sure, briefly."]

    # LiveKit stored the citation on the assistant message that used it
    first_answer = next(
        i for i in stored if isinstance(i, llm.ChatMessage) and i.role == "assistant"
    )
    assert [r["tool"] for r in first_answer.extra["references"]] == ["web_search"]

    bodies = server.conversation_requests
    assert len(bodies) == 5  # the interrupted answer was not retried
    for body in bodies:
        assert check_conversation_request(body) is None
        assert body["model"] == "mistral-medium-latest" and body["store"] is False
        assert body["instructions"] == TRAVEL_INSTRUCTIONS
        assert [t.get("type") for t in body["tools"]] == ["function", "web_search"]
    assert bodies[-1]["inputs"][-2:] == [
        {"type": "message.output", "role": "assistant", "content": heard},
        {"type": "message.input", "role": "user", "content": "Shorter please"},
    ]
    assert any(e["type"] == "function.result" for e in bodies[2]["inputs"])


# --- metrics --------------------------------------------------------------------------------


async def test_metrics_report_ttft_tokens_and_request_id_per_call(
    endpoint: Endpoint, model: LLM
) -> None:
    prefix = "cmpl-" if endpoint.mode == "normal" else "conv_"
    first_id, second_id = prefix + "1" * 32, prefix + "2" * 32
    endpoint.answer(
        tool_calls=[ToolCall("get_weather", {"location": "Paris"}, id="aB3dE5gH7")],
        request_id=first_id,
        usage={"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129},
    )
    endpoint.answer(
        "Sunny in Paris.",
        request_id=second_id,
        usage={"prompt_tokens": 150, "completion_tokens": 4, "total_tokens": 154},
    )
    collected: list[LLMMetrics] = []
    model.on("metrics_collected", collected.append)
    async with running(model, WeatherAgent()) as session:
        result = await session.run(user_input="Weather in Paris?")
        await until(lambda: len(collected) == 2)
        usage = session.usage

    assert [m.request_id for m in collected] == [first_id, second_id]
    assert [(m.prompt_tokens, m.completion_tokens, m.total_tokens) for m in collected] == [
        (120, 9, 129),
        (150, 4, 154),
    ]
    for metrics in collected:
        assert 0 < metrics.ttft <= metrics.duration < 2.0
        assert metrics.cancelled is False
        assert metrics.metadata is not None
        assert metrics.metadata.model_provider == "mistral"
        assert metrics.metadata.model_name == model.model
    (llm_usage,) = [u for u in usage.model_usage if u.type == "llm_usage"]
    assert (llm_usage.provider, llm_usage.model) == ("mistral", model.model)
    assert (llm_usage.input_tokens, llm_usage.output_tokens) == (270, 13)
    message = result.events[-1].item
    assert isinstance(message, llm.ChatMessage)
    assert 0 < message.metrics["llm_node_ttft"] < 2.0


# --- FallbackAdapter ------------------------------------------------------------------------


@pytest.fixture
async def backup() -> AsyncIterator[LocalMistral]:
    async with LocalMistral(api_key=API_KEY) as srv:
        yield srv


@pytest.mark.parametrize(
    "failure",
    [Fault.status(503), Fault.reset_before_headers(), Fault.stall_before_headers()],
    ids=["503", "reset", "stall"],
)
async def test_fallback_adapter_switches_before_any_output(
    server: LocalMistral, backup: LocalMistral, make_llm: MakeLLM, failure: Fault
) -> None:
    server.queue_chat(failure)  # then the demo brain answers the adapter's recovery probe
    backup.queue_chat(ChatReply(text="Hello from the backup server."))
    primary, secondary = make_llm(), make_llm(base_url=backup.base_url)
    adapter = FallbackAdapter([primary, secondary], attempt_timeout=0.5)
    availability: list[tuple[LLM, bool]] = []
    adapter.on("llm_availability_changed", lambda e: availability.append((e.llm, e.available)))
    try:
        async with running(adapter, WeatherAgent()) as session:
            result = await session.run(user_input="Hello?")
            await until(lambda: len(availability) == 2)
    finally:
        await adapter.aclose()

    result.expect.next_event().is_message(role="assistant")
    result.expect.no_more_events()
    assert said(result) == ["Hello from the backup server."]  # one reply, said once
    assert availability == [(primary, False), (primary, True)]  # failed, then recovered
    assert len(backup.chat_requests) == 1
    failed, probe = server.chat_requests
    assert failed["messages"] == backup.chat_requests[0]["messages"] == probe["messages"]


async def test_fallback_adapter_never_repeats_a_reply_cut_after_output(
    server: LocalMistral, backup: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(
        Fault.reset_mid_stream(after_events=3, reply=ChatReply(text="The first half, then more."))
    )
    backup.queue_chat(ChatReply(text="Hello from the backup server."))
    primary, secondary = make_llm(), make_llm(base_url=backup.base_url)
    adapter = FallbackAdapter([primary, secondary], attempt_timeout=0.5)
    try:
        async with running(adapter, WeatherAgent()) as session:
            handle = session.run(user_input="Hello?")
            with pytest.raises(APIConnectionError) as raised:
                await handle
            assert raised.value.retryable is False
    finally:
        await adapter.aclose()

    (heard,) = said(handle)
    full = "The first half, then more."
    assert heard and full.startswith(heard) and heard != full
    assert backup.chat_requests == []  # the backup would have said a second, different reply
