"""MCP tools through the plugin: a real MCP server (``tests/mcp_servers/travel.py``, the ``mcp``
package) run over stdio as a subprocess and attached with LiveKit's ``MCPToolset``, in a real
``AgentSession`` against the local Mistral server."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import AGENT_ID
from livekit.agents import Agent, AgentSession, llm
from livekit.agents.llm.mcp import MCPServerStdio, MCPToolset
from livekit.agents.llm.tool_context import get_raw_function_info

from livekit.plugins.mistral import LLM, tools
from livekit.plugins.mistral.testing import (
    AgentReply,
    ChatReply,
    LocalMistral,
    ToolCall,
    check_chat_request,
    check_conversation_request,
)

MakeLLM = Callable[..., LLM]

TRAVEL_SERVER = Path(__file__).parent / "mcp_servers" / "travel.py"
INSTRUCTIONS = "You plan trips. Be brief."
# what the MCP server itself answers; LiveKit passes its TextContent on as JSON
ITINERARY = "Ada goes to Lyon by train for 2 nights"


def travel_toolset() -> MCPToolset:
    return MCPToolset(id="travel", mcp_server=MCPServerStdio(sys.executable, [str(TRAVEL_SERVER)]))


@asynccontextmanager
async def running(
    model: LLM, toolset: MCPToolset, *more: llm.Tool
) -> AsyncIterator[AgentSession[None]]:
    session: AgentSession[None] = AgentSession(
        llm=model, vad=None, turn_handling={"turn_detection": None}
    )
    async with session:
        await session.start(Agent(instructions=INSTRUCTIONS, tools=[toolset, *more]))
        yield session


def said(run: Any) -> list[str]:
    return [
        event.item.text_content or ""
        for event in run.events
        if event.type == "message" and event.item.role == "assistant"
    ]


def refs(schema: Any) -> Iterator[str]:
    """Every ``$ref`` in a JSON schema."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from refs(item)


PLAN_TRIP = ToolCall(  # defaults left out: the MCP server's pydantic model fills them in
    "plan_trip", '{"trip": {"destination": "Lyon", "traveller": {"name": "Ada"}}}', id="Trip0Lyon"
)


def expect_trip_planned(result: Any) -> None:
    """The run called ``plan_trip``, the MCP server ran it, and the answer was spoken."""
    result.expect.next_event().is_function_call(
        name="plan_trip", arguments={"trip": {"destination": "Lyon", "traveller": {"name": "Ada"}}}
    )
    output = result.expect.next_event().is_function_call_output(is_error=False)
    assert ITINERARY in output.event().item.output
    result.expect.next_event().is_message(role="assistant")
    result.expect.no_more_events()
    assert said(result) == ["Booked: train, 2 nights."]


async def test_mcp_tools_reach_mistral_as_valid_schemas_and_run(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(ChatReply(tool_calls=[PLAN_TRIP]), ChatReply(text="Booked: train, 2 nights."))
    toolset = travel_toolset()
    async with running(make_llm(), toolset) as session:
        listed = {
            get_raw_function_info(tool).name: get_raw_function_info(tool).raw_schema
            for tool in toolset.tools
        }
        result = await session.run(user_input="Plan a trip to Lyon for Ada")

    expect_trip_planned(result)
    first, second = server.chat_requests
    assert check_chat_request(first) is None and check_chat_request(second) is None
    sent = {tool["function"]["name"]: tool for tool in first["tools"]}
    assert set(sent) == set(listed) == {"get_forecast", "plan_trip"}
    for name, tool in sent.items():  # the MCP server's own schema, unchanged
        assert tool["type"] == "function"
        assert tool["function"]["parameters"] == listed[name]["parameters"]
        assert tool["function"]["description"] == listed[name]["description"]

    plan = sent["plan_trip"]["function"]["parameters"]
    assert plan["properties"]["trip"] == {"$ref": "#/$defs/Trip"}
    assert set(plan["$defs"]) == {"Trip", "Traveller"}
    trip = plan["$defs"]["Trip"]
    assert trip["properties"]["traveller"] == {"$ref": "#/$defs/Traveller"}
    assert trip["properties"]["nights"]["default"] == 2
    assert trip["required"] == ["destination", "traveller"]
    for ref in refs(plan):  # every reference resolves inside the schema sent
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in plan["$defs"]

    tool_message = second["messages"][-1]
    assert (tool_message["role"], tool_message["tool_call_id"]) == ("tool", "Trip0Lyon")
    assert tool_message["name"] == "plan_trip" and ITINERARY in tool_message["content"]


async def test_mcp_tools_beside_a_builtin_tool_go_to_a_model_conversation(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_conversation(
        AgentReply(tool_executions=["web_search"], tool_calls=[PLAN_TRIP]),
        AgentReply(text="Booked: train, 2 nights."),
    )
    toolset = travel_toolset()
    async with running(make_llm(), toolset, tools.WebSearch()) as session:
        listed = {
            get_raw_function_info(t).name: get_raw_function_info(t).raw_schema
            for t in toolset.tools
        }
        result = await session.run(user_input="Plan a trip to Lyon for Ada")

    expect_trip_planned(result)
    first, second = server.conversation_requests
    for body in (first, second):
        assert check_conversation_request(body) is None
        assert body["model"] == "mistral-small-latest" and body["instructions"] == INSTRUCTIONS
    functions = {t["function"]["name"]: t["function"] for t in first["tools"] if "function" in t}
    assert {name: f["parameters"] for name, f in functions.items()} == {
        name: schema["parameters"] for name, schema in listed.items()
    }
    assert [t for t in first["tools"] if t["type"] != "function"] == [{"type": "web_search"}]
    entry = second["inputs"][-1]
    assert (entry["type"], entry["tool_call_id"]) == ("function.result", "Trip0Lyon")
    assert ITINERARY in entry["result"]


async def test_mcp_tool_called_by_a_mistral_agent_runs_on_the_mcp_server(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    # agent mode sends no tools (the agent's own apply); LiveKit runs the MCP tool it names
    server.queue_conversation(
        AgentReply(tool_calls=[PLAN_TRIP]), AgentReply(text="Booked: train, 2 nights.")
    )
    async with running(make_llm(model=AGENT_ID, mode="agent"), travel_toolset()) as session:
        result = await session.run(user_input="Plan a trip to Lyon for Ada")

    expect_trip_planned(result)
    first, last = server.conversation_requests
    assert "tools" not in first
    assert check_conversation_request(last, [AGENT_ID]) is None
    entry = last["inputs"][-1]
    assert (entry["type"], entry["tool_call_id"]) == ("function.result", "Trip0Lyon")
    assert ITINERARY in entry["result"]


async def test_mcp_example_runs_without_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    path = Path(__file__).parents[1] / "examples" / "mcp_tools.py"
    spec = importlib.util.spec_from_file_location("mcp_tools_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    await example.main()

    out = capsys.readouterr().out
    assert "No MISTRAL_API_KEY: using the bundled local Mistral server" in out
    assert "MCP tools: get_forecast, plan_trip" in out
    assert 'tool call: get_forecast({"city": "Paris"})' in out
    # the resolver hands the model the MCP server's text, not LiveKit's JSON dump
    assert "tool said: Forecast for Paris: sunny, 21 degrees\n" in out
    assert "assistant: Here is what I found: Forecast for Paris: sunny, 21 degrees\n" in out
