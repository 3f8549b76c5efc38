"""Built-in tools inside LiveKit's real ``AgentSession``: a web search, a function tool and
an interruption in one conversation, against the local server over a real socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from livekit.agents import Agent, AgentSession, function_tool, llm

from livekit.plugins.mistral import LLM, BuiltinToolEvent, tools
from livekit.plugins.mistral.testing import (
    AgentReply,
    LocalMistral,
    ToolCall,
    check_conversation_request,
)

MakeLLM = Callable[..., LLM]
INSTRUCTIONS = "You are a travel assistant. Be brief."


class TravelAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS, tools=[tools.WebSearch()])
        self.calls: list[str] = []

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Look up the current weather in a city.

        Args:
            location: The city name.
        """
        self.calls.append(location)
        return f"sunny in {location}"


def said(run: object) -> list[str]:
    return [
        event.item.text_content or ""
        for event in run.events  # type: ignore[attr-defined]
        if event.type == "message" and event.item.role == "assistant"
    ]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


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
        assert body["instructions"] == INSTRUCTIONS
        assert [t.get("type") for t in body["tools"]] == ["function", "web_search"]
    assert bodies[-1]["inputs"][-2:] == [
        {"type": "message.output", "role": "assistant", "content": heard},
        {"type": "message.input", "role": "user", "content": "Shorter please"},
    ]
    assert any(e["type"] == "function.result" for e in bodies[2]["inputs"])
