"""The official mistralai SDK, pointed at the local server, parses every scripted stream.

If the SDK's pydantic models accept what the server sends and hand back the scripted values,
the server speaks the live wire format (as far as the SDK models it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from mistralai.client import Mistral, errors, models

from livekit.plugins.mistral.testing import (
    AgentReply,
    ChatReply,
    Fault,
    LocalMistral,
    ToolCall,
    ToolFile,
)

KEY = "test-key"
AGENT = "ag_0680b7000e847f6e80003620e5d4d99d"
HELPER = "ag_2222b7000e847f6e80003620e5d4d99d"
MESSAGES: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]


@pytest.fixture
async def server() -> AsyncIterator[LocalMistral]:
    async with LocalMistral(api_key=KEY) as local:
        local.add_agent(AGENT, name="Concierge")
        local.add_agent(HELPER, name="Helper", model="mistral-large-latest")
        yield local


@pytest.fixture
async def client(server: LocalMistral) -> AsyncIterator[Mistral]:
    async with Mistral(api_key=KEY, server_url=server.base_url) as sdk:
        yield sdk


@dataclass
class ParsedChat:
    """What a client accumulates from a chat stream, through the SDK's models."""

    text: str = ""
    thinking: str = ""
    closed_thinking: bool = False
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: models.UsageInfo | None = None
    chunks: int = 0

    def add(self, chunk: models.CompletionChunk) -> None:
        self.chunks += 1
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            self._add_delta(choice.delta)
            if choice.finish_reason is not None:
                self.finish_reason = str(choice.finish_reason)

    def _add_delta(self, delta: models.DeltaMessage) -> None:
        content = delta.content
        if isinstance(content, str):
            self.text += content
        elif isinstance(content, list):
            for part in content:
                self._add_part(part)
        for call in delta.tool_calls or []:
            self._add_call(call)

    def _add_part(self, part: Any) -> None:
        if isinstance(part, models.ThinkChunk):
            self.closed_thinking |= bool(part.closed)
            self.thinking += "".join(
                t.text for t in part.thinking if isinstance(t, models.TextChunk)
            )
        elif isinstance(part, models.TextChunk):
            self.text += part.text
        else:
            raise AssertionError(f"unexpected content part {part!r}")

    def _add_call(self, call: models.ToolCall) -> None:
        slot = self.calls.setdefault(call.index or 0, {"id": None, "name": "", "arguments": ""})
        if call.id and call.id != "null":
            slot["id"] = slot["id"] or call.id
        slot["name"] += call.function.name
        arguments = call.function.arguments
        if isinstance(arguments, dict):
            slot["arguments"] = arguments
        else:
            slot["arguments"] += arguments


async def parse_chat(client: Mistral, server: LocalMistral, reply: ChatReply) -> ParsedChat:
    server.queue_chat(reply)
    parsed = ParsedChat()
    stream = await client.chat.stream_async(model="mistral-small-latest", messages=MESSAGES)
    async for event in stream:
        parsed.add(event.data)
    return parsed


async def test_text_stream(client: Mistral, server: LocalMistral) -> None:
    parsed = await parse_chat(client, server, ChatReply(text="It is sunny in Paris today."))
    assert parsed.text == "It is sunny in Paris today."
    assert parsed.finish_reason == "stop"
    assert parsed.usage is not None and parsed.usage.total_tokens == (
        (parsed.usage.prompt_tokens or 0) + (parsed.usage.completion_tokens or 0)
    )
    assert parsed.chunks == 1 + 7  # role chunk, then 27 characters in pieces of 4


@pytest.mark.parametrize("finish_reason", ["length", "error"])
async def test_other_finish_reasons(
    client: Mistral, server: LocalMistral, finish_reason: str
) -> None:
    reply = ChatReply(text=["cut"], finish_reason=finish_reason, text_in_final_chunk=False)
    parsed = await parse_chat(client, server, reply)
    assert (parsed.text, parsed.finish_reason) == ("cut", finish_reason)


async def test_usage_with_cached_tokens(client: Mistral, server: LocalMistral) -> None:
    usage = {"prompt_tokens": 120, "completion_tokens": 8, "total_tokens": 128}
    reply = ChatReply(text="ok", usage=usage, cached_tokens=100)
    parsed = await parse_chat(client, server, reply)
    assert parsed.usage is not None
    assert (
        parsed.usage.prompt_tokens,
        parsed.usage.completion_tokens,
        parsed.usage.total_tokens,
    ) == (120, 8, 128)
    assert parsed.usage.additional_properties["prompt_tokens_details"] == {"cached_tokens": 100}


async def test_mistral_style_tool_calls(client: Mistral, server: LocalMistral) -> None:
    reply = ChatReply(
        tool_calls=[
            ToolCall("get_weather", {"city": "Paris"}, id="wthr00001"),
            ToolCall("get_time", '{"tz": "CET"}', id="time00002"),
        ]
    )
    parsed = await parse_chat(client, server, reply)
    assert parsed.calls == {
        0: {"id": "wthr00001", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "time00002", "name": "get_time", "arguments": '{"tz": "CET"}'},
    }
    assert parsed.finish_reason == "tool_calls" and parsed.text == ""


async def test_tool_call_arguments_as_object(client: Mistral, server: LocalMistral) -> None:
    reply = ChatReply(
        tool_calls=[ToolCall("get_weather", {"city": "Paris"})], arguments_as_object=True
    )
    parsed = await parse_chat(client, server, reply)
    assert parsed.calls[0]["arguments"] == {"city": "Paris"}
    assert len(parsed.calls[0]["id"]) == 9


async def test_openai_style_tool_calls(client: Mistral, server: LocalMistral) -> None:
    reply = ChatReply(
        text="Checking.",
        tool_call_style="openai",
        tool_calls=[
            ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}),
            ToolCall("get_time", "{}", id="chatcmpl-tool-fixed"),
        ],
    )
    parsed = await parse_chat(client, server, reply)
    assert parsed.text == "Checking."
    assert parsed.calls[0]["id"].startswith("chatcmpl-tool-")
    assert (parsed.calls[0]["name"], json.loads(parsed.calls[0]["arguments"])) == (
        "get_weather",
        {"city": "Paris", "unit": "celsius"},
    )
    assert parsed.calls[1] == {"id": "chatcmpl-tool-fixed", "name": "get_time", "arguments": "{}"}
    assert parsed.finish_reason == "tool_calls"


async def test_thinking_stream(client: Mistral, server: LocalMistral) -> None:
    reply = ChatReply(thinking="The user wants weather.", text="Sunny.", cached_tokens=0)
    parsed = await parse_chat(client, server, reply)
    assert parsed.thinking == "The user wants weather."
    assert parsed.closed_thinking
    assert parsed.text == "Sunny."


async def test_unpadded_stream(client: Mistral, server: LocalMistral) -> None:
    parsed = await parse_chat(client, server, ChatReply(text="plain", padding=False))
    assert parsed.text == "plain"


async def test_demo_brain_through_the_sdk(client: Mistral, server: LocalMistral) -> None:
    tool: models.ToolTypedDict = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    parsed = ParsedChat()
    stream = await client.chat.stream_async(
        model="mistral-small-latest", messages=MESSAGES, tools=[tool]
    )
    async for event in stream:
        parsed.add(event.data)
    assert parsed.calls[0]["name"] == "get_weather"
    assert json.loads(parsed.calls[0]["arguments"]) == {"city": "Paris"}


async def test_non_streaming_completion(client: Mistral, server: LocalMistral) -> None:
    server.queue_chat(
        ChatReply(text="Hi", tool_calls=[]),
        ChatReply(tool_calls=[ToolCall("get_weather", '{"city": "Paris"}', id="wthr00001")]),
    )
    first = await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)
    assert first.choices[0].message is not None
    assert first.choices[0].message.content == "Hi"
    second = await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)
    message = second.choices[0].message
    assert message is not None and isinstance(message.tool_calls, list)
    assert (message.tool_calls[0].id, message.tool_calls[0].function.name) == (
        "wthr00001",
        "get_weather",
    )
    assert second.choices[0].finish_reason == "tool_calls"


# --- conversations --------------------------------------------------------------------------


async def conversation_events(
    client: Mistral, server: LocalMistral, reply: AgentReply | Fault, agent_id: str = AGENT
) -> list[Any]:
    server.queue_conversation(reply)
    stream = await client.beta.conversations.start_stream_async(
        agent_id=agent_id, inputs="What's the weather in Paris?", store=False
    )
    events = []
    async for event in stream:
        assert event.event == event.data.type or event.data.type == "UNKNOWN"
        events.append(event.data)
    return events


def of_type(events: list[Any], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


async def test_agent_text(client: Mistral, server: LocalMistral) -> None:
    events = await conversation_events(
        client, server, AgentReply(text="Sunny and warm.", conversation_id="conv_fixed")
    )
    assert isinstance(events[0], models.ResponseStartedEvent)
    assert events[0].conversation_id == "conv_fixed"
    deltas = of_type(events, models.MessageOutputEvent)
    assert "".join(d.content for d in deltas) == "Sunny and warm."
    assert {(d.agent_id, d.model, d.role) for d in deltas} == {
        (AGENT, "mistral-medium-latest", "assistant")
    }
    assert isinstance(events[-1], models.ResponseDoneEvent)
    assert events[-1].usage.total_tokens == (
        (events[-1].usage.prompt_tokens or 0) + (events[-1].usage.completion_tokens or 0)
    )


async def test_agent_function_calls(client: Mistral, server: LocalMistral) -> None:
    reply = AgentReply(
        tool_calls=[
            ToolCall("get_weather", {"city": "Paris"}, id="wthr00001"),
            ToolCall("get_time", "{}"),
        ]
    )
    calls = of_type(await conversation_events(client, server, reply), models.FunctionCallEvent)
    by_id: dict[str, dict[str, str]] = {}
    for call in calls:
        slot = by_id.setdefault(call.tool_call_id, {"name": call.name, "arguments": ""})
        slot["arguments"] += call.arguments
    assert by_id["wthr00001"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    [other] = [v for k, v in by_id.items() if k != "wthr00001"]
    assert other == {"name": "get_time", "arguments": "{}"}
    assert len(calls) > 2  # arguments really come in fragments


async def test_agent_tool_executions(client: Mistral, server: LocalMistral) -> None:
    reply = AgentReply(
        tool_executions=["web_search", "code_interpreter"], text="Found it.", connector_tokens=42
    )
    events = await conversation_events(client, server, reply)
    started = of_type(events, models.ToolExecutionStartedEvent)
    done = of_type(events, models.ToolExecutionDoneEvent)
    assert [e.name for e in started] == [e.name for e in done] == ["web_search", "code_interpreter"]
    assert of_type(events, models.ToolExecutionDeltaEvent)
    first_text = events.index(of_type(events, models.MessageOutputEvent)[0])
    assert events.index(done[-1]) < first_text
    assert events[-1].usage.connector_tokens == 42
    assert events[-1].usage.connectors == {"web_search": 1, "code_interpreter": 1}


async def test_agent_handoff(client: Mistral, server: LocalMistral) -> None:
    events = await conversation_events(client, server, AgentReply(handoff_to=HELPER, text="Hi"))
    [started] = of_type(events, models.AgentHandoffStartedEvent)
    [done] = of_type(events, models.AgentHandoffDoneEvent)
    assert (started.previous_agent_id, started.previous_agent_name) == (AGENT, "Concierge")
    assert (done.next_agent_id, done.next_agent_name) == (HELPER, "Helper")
    assert {d.agent_id for d in of_type(events, models.MessageOutputEvent)} == {HELPER}


async def test_agent_thinking_and_references(client: Mistral, server: LocalMistral) -> None:
    reply = AgentReply(thinking="Look it up.", text="Sunny.", references=True)
    deltas = of_type(await conversation_events(client, server, reply), models.MessageOutputEvent)
    thoughts = [d.content for d in deltas if isinstance(d.content, models.ThinkChunk)]
    texts = [d.content for d in deltas if isinstance(d.content, str)]
    references = [d.content for d in deltas if isinstance(d.content, models.ToolReferenceChunk)]
    firsts = [t.thinking[0] for t in thoughts]
    texts_of_thoughts = [c.text for c in firsts if isinstance(c, models.TextChunk)]
    assert len(texts_of_thoughts) == len(firsts) and "".join(texts_of_thoughts) == "Look it up."
    assert "".join(texts) == "Sunny."
    assert [(r.tool, r.title) for r in references] == [("web_search", "Mistral AI")]
    assert [d.content_index for d in deltas] == sorted(d.content_index for d in deltas)


async def test_agent_error_event(client: Mistral, server: LocalMistral) -> None:
    events = await conversation_events(client, server, AgentReply(text="Hm", error=("Boom", 3000)))
    assert isinstance(events[-1], models.ResponseErrorEvent)
    assert (events[-1].message, events[-1].code) == ("Boom", 3000)


async def test_unknown_conversation_event_is_kept_as_unknown(
    client: Mistral, server: LocalMistral
) -> None:
    events = await conversation_events(
        client, server, Fault.unknown_event(reply=AgentReply(text="ok"))
    )
    assert any(getattr(e, "is_unknown", False) for e in events)
    assert isinstance(events[-1], models.ResponseDoneEvent)


async def test_model_conversation_and_non_streaming(client: Mistral, server: LocalMistral) -> None:
    server.queue_conversation(
        AgentReply(
            text="Done.",
            handoff_to=HELPER,
            tool_executions=["web_search"],
            tool_calls=[ToolCall("f", "{}", id="fcall0001")],
        )
    )
    response = await client.beta.conversations.start_async(
        model="mistral-small-latest", inputs="hi", store=False
    )
    kinds = [type(o) for o in response.outputs]
    assert kinds == [
        models.AgentHandoffEntry,
        models.ToolExecutionEntry,
        models.MessageOutputEntry,
        models.FunctionCallEntry,
    ]
    message = response.outputs[2]
    assert isinstance(message, models.MessageOutputEntry) and message.content == "Done."


async def test_model_conversation_with_builtin_tools_streams(
    client: Mistral, server: LocalMistral
) -> None:
    server.queue_conversation(
        AgentReply(
            tool_executions=["web_search", "image_generation"],
            text="Here.",
            references=True,
            files=[ToolFile(file_id="file_0001", file_name="cat", file_type="png")],
            tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="wthr00001")],
            connector_tokens=7,
        )
    )
    builtin_tools: list[models.WebSearchToolTypedDict | models.ImageGenerationToolTypedDict] = [
        {"type": "web_search"},
        {"type": "image_generation"},
    ]
    stream = await client.beta.conversations.start_stream_async(
        model="mistral-medium-latest",
        inputs="Search the web for cats and draw one",
        instructions="Be brief.",
        tools=builtin_tools,
        completion_args={"temperature": 0.3, "tool_choice": "auto"},
        store=False,
    )
    events = [event.data async for event in stream]
    started = of_type(events, models.ToolExecutionStartedEvent)
    assert [e.name for e in started] == ["web_search", "image_generation"]
    contents = [d.content for d in of_type(events, models.MessageOutputEvent)]
    [file] = [c for c in contents if isinstance(c, models.ToolFileChunk)]
    assert (file.tool, file.file_id, file.file_name, file.file_type) == (
        "image_generation",
        "file_0001",
        "cat",
        "png",
    )
    assert [c.title for c in contents if isinstance(c, models.ToolReferenceChunk)]
    assert [c.name for c in of_type(events, models.FunctionCallEvent)][0] == "get_weather"
    assert events[-1].usage.connector_tokens == 7


async def test_agents_and_models_parse(client: Mistral, server: LocalMistral) -> None:
    agent = await client.beta.agents.get_async(agent_id=HELPER)
    assert (agent.id, agent.name, agent.model) == (HELPER, "Helper", "mistral-large-latest")
    listed = await client.models.list_async()
    known = (models.BaseModelCard, models.FTModelCard)
    cards = [m for m in listed.data or [] if isinstance(m, known)]
    assert "mistral-small-latest" in {m.id for m in cards}


# --- agents: create, update, versions, aliases ---------------------------------------------

WEATHER_FUNCTION: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME_FUNCTION: Any = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


async def test_agent_create_update_versions_and_aliases_parse(client: Mistral) -> None:
    agents = client.beta.agents
    created = await agents.create_async(
        model="mistral-medium-latest",
        name="Weather",
        instructions="Be brief.",
        tools=[WEATHER_FUNCTION, {"type": "web_search"}],
    )
    assert created.id.startswith("ag_") and len(created.id) == 35
    assert (created.version, created.versions, created.instructions) == (0, [0], "Be brief.")
    function, builtin = created.tools or []
    assert isinstance(function, models.FunctionTool) and function.function.strict is True
    assert isinstance(builtin, models.WebSearchTool)

    updated = await agents.update_async(agent_id=created.id, tools=[TIME_FUNCTION])
    assert (updated.version, updated.versions, updated.instructions) == (1, [0, 1], "Be brief.")
    assert [t.function.name for t in updated.tools or [] if isinstance(t, models.FunctionTool)] == [
        "get_time"
    ]

    alias = await agents.create_version_alias_async(
        agent_id=created.id, alias="production", version=0
    )
    assert (alias.alias, alias.version) == ("production", 0)
    pinned = await agents.get_async(agent_id=created.id, agent_version="production")
    by_number = await agents.get_async(agent_id=created.id, agent_version=1)
    by_path = await agents.get_version_async(agent_id=created.id, version="0")
    assert (pinned.version, by_number.version, by_path.version) == (0, 1, 0)
    assert [v.version for v in await agents.list_versions_async(agent_id=created.id)] == [1, 0]

    moved = await agents.create_version_alias_async(
        agent_id=created.id, alias="production", version=1
    )
    assert moved.version == 1 and moved.updated_at >= moved.created_at
    listed = await agents.list_version_aliases_async(agent_id=created.id)
    assert [(a.alias, a.version) for a in listed] == [("production", 1)]
    switched = await agents.update_version_async(agent_id=created.id, version=0)
    assert (switched.version, switched.versions) == (0, [0, 1])
    await agents.delete_version_alias_async(agent_id=created.id, alias="production")
    assert await agents.list_version_aliases_async(agent_id=created.id) == []


async def test_agent_errors_parse(client: Mistral) -> None:
    agents = client.beta.agents
    with pytest.raises(errors.SDKError) as unknown:
        await agents.get_async(agent_id="ag_" + "0" * 32)
    assert unknown.value.status_code == 404 and "Agent not found" in unknown.value.body
    with pytest.raises(errors.SDKError) as no_version:
        await agents.get_async(agent_id=AGENT, agent_version=7)
    assert no_version.value.status_code == 404
    with pytest.raises(errors.HTTPValidationError) as bad_alias:
        await agents.create_version_alias_async(agent_id=AGENT, alias="Prod!", version=0)
    [detail] = bad_alias.value.data.detail or []
    assert (detail.loc, detail.type) == (["query", "alias"], "string_pattern_mismatch")
    with pytest.raises(errors.HTTPValidationError) as bad_page:
        await agents.list_versions_async(agent_id=AGENT, page_size=101)
    assert [d.type for d in bad_page.value.data.detail or []] == ["less_than_equal"]


async def test_a_pinned_version_serves_its_own_tools(client: Mistral, server: LocalMistral) -> None:
    server.update_agent(AGENT, tools=[WEATHER_FUNCTION])
    server.update_agent(AGENT, tools=[TIME_FUNCTION])
    await client.beta.agents.create_version_alias_async(agent_id=AGENT, alias="stable", version=1)
    called = {}
    for pin in (1, "stable", 2, None):
        stream = await client.beta.conversations.start_stream_async(
            agent_id=AGENT,
            agent_version=pin,
            inputs="What is the weather and the time in Paris?",
            store=False,
        )
        names = {e.data.name async for e in stream if isinstance(e.data, models.FunctionCallEvent)}
        called[pin] = names
    assert called == {
        1: {"get_weather"},
        "stable": {"get_weather"},
        2: {"get_time"},
        None: {"get_time"},
    }
