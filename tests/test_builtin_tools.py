"""Mistral built-in tools in normal mode: model conversations over a real socket."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from conftest import AGENT_ID, API_KEY, stream_reply
from livekit.agents import APIConnectOptions, llm

from livekit.plugins.mistral import LLM, BuiltinToolEvent, MistralStatusError, tools
from livekit.plugins.mistral.mapping.conversation_events import TOOL_EVENT_LOG
from livekit.plugins.mistral.mapping.tools import to_mistral_tools
from livekit.plugins.mistral.testing import (
    AgentReply,
    Fault,
    LocalMistral,
    ToolCall,
    ToolFile,
)

MakeLLM = Callable[..., LLM]
MODEL = "mistral-medium-latest"
NO_RETRY = APIConnectOptions(max_retry=0, timeout=5.0)


@llm.function_tool
async def get_weather(location: str) -> str:
    """Get the current weather for a city.

    Args:
        location: The city name.
    """
    return f"Sunny in {location}"


async def _lookup_order(raw_arguments: dict[str, object]) -> str:
    return "ok"


MCP_STYLE = llm.function_tool(
    _lookup_order,
    raw_schema={
        "name": "lookup_order",
        "description": "Find an order.",
        "parameters": {
            "type": "object",
            "properties": {"order": {"$ref": "#/$defs/Order"}},
            "required": ["order"],
            "$defs": {"Order": {"type": "string", "title": "Order"}},
        },
    },
)


def user_ctx(text: str = "Search the web for the Eiffel Tower") -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="Be brief.")
    ctx.add_message(role="user", content=text)
    return ctx


@pytest.fixture
def model(make_llm: MakeLLM) -> LLM:
    return make_llm(model=MODEL)


async def test_builtin_tools_alone_send_a_model_conversation(
    server: LocalMistral, model: LLM
) -> None:
    server.queue_conversation(AgentReply(text="Done."))
    builtins = [
        tools.WebSearch(),
        tools.CodeInterpreter(),
        tools.ImageGeneration(),
        tools.DocumentLibrary(library_ids=["lib_1", "lib_2"]),
        tools.Connector("conn_42"),
    ]
    _, text, _ = await stream_reply(model, user_ctx("Hi"), tools=builtins)
    assert text == "Done."
    (request,) = server.requests
    assert request.path == "/v1/conversations"
    assert request.body == {
        "model": MODEL,
        "instructions": "Be brief.",
        "tools": [
            {"type": "web_search"},
            {"type": "code_interpreter"},
            {"type": "image_generation"},
            {"type": "document_library", "library_ids": ["lib_1", "lib_2"]},
            {"type": "connector", "connector_id": "conn_42"},
        ],
        "inputs": [{"type": "message.input", "role": "user", "content": "Hi"}],
        "stream": True,
        "store": False,
    }


async def test_functions_mcp_tools_and_builtins_together(server: LocalMistral, model: LLM) -> None:
    server.queue_conversation(AgentReply(text="Done."))
    mixed = [get_weather, MCP_STYLE, tools.WebSearch(premium=True)]
    await stream_reply(model, user_ctx("Hi"), tools=mixed)
    functions, _ = to_mistral_tools([get_weather, MCP_STYLE])
    (body,) = server.conversation_requests
    # the same function schemas as chat completions, then the built-ins
    assert body["tools"] == [*functions, {"type": "web_search_premium"}]
    assert body["tools"][1]["function"]["parameters"]["$defs"] == {
        "Order": {"type": "string", "title": "Order"}
    }


async def test_official_plugin_tool_objects_are_accepted(server: LocalMistral, model: LLM) -> None:
    official = pytest.importorskip("livekit.plugins.mistralai.tools")
    server.queue_conversation(AgentReply(text="Done."))
    theirs = [
        official.WebSearch(),
        official.CodeInterpreter(),
        official.DocumentLibrary(library_ids=["lib_1"]),
        official.Connector(connector_id="conn_1"),
    ]
    await stream_reply(model, user_ctx("Hi"), tools=theirs)
    (body,) = server.conversation_requests
    assert body["tools"] == [
        {"type": "web_search"},
        {"type": "code_interpreter"},
        {"type": "document_library", "library_ids": ["lib_1"]},
        {"type": "connector", "connector_id": "conn_1"},
    ]


async def test_without_builtin_tools_the_call_stays_on_chat_completions(
    server: LocalMistral, model: LLM
) -> None:
    await stream_reply(model, user_ctx("Hi"), tools=[get_weather])
    assert [r.path for r in server.requests] == ["/v1/chat/completions"]


async def test_routing_is_said_once_at_info(
    server: LocalMistral, model: LLM, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="livekit.plugins.mistral"):
        for _ in range(2):
            await stream_reply(model, user_ctx("Hi"), tools=[tools.WebSearch()])
    said = [r for r in caplog.records if "built-in tools go to the Conversations API" in r.msg]
    assert len(said) == 1 and said[0].levelno == logging.INFO


async def test_settings_conversations_lack_are_not_sent_and_said_once(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    model = make_llm(model=MODEL, safe_prompt=True, parallel_tool_calls=True)
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        for _ in range(2):
            await stream_reply(model, user_ctx("Hi"), tools=[get_weather, tools.WebSearch()])
    assert all(
        "safe_prompt" not in body and "parallel_tool_calls" not in body
        for body in server.conversation_requests
    )
    warned = [r.getMessage() for r in caplog.records if "is not sent on calls" in r.msg]
    assert [m.split()[0] for m in warned] == ["safe_prompt", "parallel_tool_calls"]


async def test_search_events_references_and_files_are_never_spoken(
    server: LocalMistral, model: LLM, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue_conversation(
        AgentReply(
            tool_executions=["web_search", "image_generation"],
            text="The tower is 330 m tall.",
            references=True,
            files=[
                ToolFile(file_id="file_a", file_name="tower", file_type="png"),
                ToolFile(file_id="file_b", file_name="map", file_type="jpeg"),
            ],
            connector_tokens=21,
            conversation_id="conv_" + "b" * 32,
        )
    )
    events: list[BuiltinToolEvent] = []
    model.on("builtin_tool", events.append)
    with caplog.at_level(logging.INFO, logger="livekit.plugins.mistral"):
        chunks, text, calls = await stream_reply(
            model, user_ctx(), tools=[tools.WebSearch(), tools.ImageGeneration()]
        )
    assert text == "The tower is 330 m tall." and calls == []
    assert [(e.name, e.phase) for e in events] == [
        ("web_search", "started"),
        ("web_search", "done"),
        ("image_generation", "started"),
        ("image_generation", "done"),
    ]
    assert json.loads(events[1].arguments) == {"query": "Search the web for the Eiffel Tower"}
    assert {e.conversation_id for e in events} == {"conv_" + "b" * 32}
    extras = [c.delta.extra for c in chunks if c.delta and c.delta.extra]
    # each delta carries the turn's list so far: the last one is what LiveKit stores
    assert extras[-1]["files"] == [
        {"tool": "image_generation", "file_id": "file_a", "file_name": "tower", "file_type": "png"},
        {"tool": "image_generation", "file_id": "file_b", "file_name": "map", "file_type": "jpeg"},
    ]
    [references] = [e["references"] for e in extras if "references" in e]
    assert [r["tool"] for r in references] == ["web_search"]
    assert {c.id for c in chunks} == {"conv_" + "b" * 32}
    usage = chunks[-1].usage
    assert usage is not None and getattr(usage, "connector_tokens", None) == 21
    logged = [r for r in caplog.records if r.msg == TOOL_EVENT_LOG]
    assert [getattr(r, "phase", None) for r in logged] == ["started", "done"] * 2
    assert [r.getMessage() for r in logged[:2]] == [
        "Mistral built-in tool web_search started",
        "Mistral built-in tool web_search done",
    ]
    assert all("Eiffel" not in r.getMessage() for r in logged)  # user content only in extras


async def test_function_call_then_its_result_next_turn(server: LocalMistral, model: LLM) -> None:
    server.queue_conversation(
        AgentReply(
            tool_executions=["web_search"],
            tool_calls=[ToolCall("get_weather", {"location": "Paris"}, id="wthr00001")],
        ),
        AgentReply(text="Sunny in Paris."),
    )
    ctx = user_ctx("Weather in Paris?")
    _, text, calls = await stream_reply(model, ctx, tools=[get_weather, tools.WebSearch()])
    assert text == "" and [(c.call_id, c.name) for c in calls] == [("wthr00001", "get_weather")]
    ctx.insert(
        llm.FunctionCall(call_id="wthr00001", name="get_weather", arguments=calls[0].arguments)
    )
    ctx.insert(
        llm.FunctionCallOutput(
            call_id="wthr00001", name="get_weather", output="Sunny in Paris", is_error=False
        )
    )
    _, text, _ = await stream_reply(model, ctx, tools=[get_weather, tools.WebSearch()])
    assert text == "Sunny in Paris."
    second = server.conversation_requests[1]
    assert second["inputs"][1:] == [
        {
            "type": "function.call",
            "tool_call_id": "wthr00001",
            "name": "get_weather",
            "arguments": '{"location": "Paris"}',
        },
        {"type": "function.result", "tool_call_id": "wthr00001", "result": "Sunny in Paris"},
    ]


@pytest.mark.parametrize(
    ("choice", "sent_choice", "sent_tools"),
    [
        ("auto", "auto", ["get_weather", "web_search"]),
        ("none", "none", ["get_weather", "web_search"]),
        ("required", "required", ["get_weather", "web_search"]),
        ({"type": "function", "function": {"name": "get_weather"}}, "required", ["get_weather"]),
    ],
)
async def test_tool_choice_in_completion_args(
    server: LocalMistral, model: LLM, choice: Any, sent_choice: str, sent_tools: list[str]
) -> None:
    server.queue_conversation(AgentReply(text="ok"))
    await stream_reply(
        model, user_ctx("Hi"), tools=[get_weather, tools.WebSearch()], tool_choice=choice
    )
    (body,) = server.conversation_requests
    assert body["completion_args"] == {"tool_choice": sent_choice}
    names = [t["function"]["name"] if t["type"] == "function" else t["type"] for t in body["tools"]]
    assert names == sent_tools


REFUSED: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "temperature above 1": ({"temperature": 1.2}, {}, "temperature must be at most 1"),
    "both web searches": (
        {},
        {"tools": [tools.WebSearch(), tools.WebSearch(premium=True)]},
        "cannot be used together",
    ),
    "named function not in the call": (
        {},
        {"tool_choice": {"type": "function", "function": {"name": "book_flight"}}},
        "book_flight",
    ),
    "handoff_execution": ({}, {"extra_kwargs": {"handoff_execution": "server"}}, "handoff"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
async def test_refused_combinations_raise_before_sending(
    server: LocalMistral, make_llm: MakeLLM, case: str
) -> None:
    options, call, message = REFUSED[case]
    model = make_llm(model=MODEL, **options)
    call.setdefault("tools", [get_weather, tools.WebSearch()])
    with pytest.raises(ValueError, match=message):
        model.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY, **call)
    assert server.requests == []


def test_builtin_tools_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="non-empty list of library ids"):
        tools.DocumentLibrary(library_ids=[])
    with pytest.raises(ValueError, match="non-empty connector id"):
        tools.Connector(connector_id=" ")
    with pytest.raises(ValueError, match="True or False"):
        tools.WebSearch(premium="yes")  # type: ignore[arg-type]


async def test_agent_mode_does_not_send_builtin_tools(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_llm(model=AGENT_ID, mode="agent")
    server.queue_conversation(AgentReply(text="ok"))
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        await stream_reply(agent, user_ctx("Hi"), tools=[tools.WebSearch()])
    (body,) = server.conversation_requests
    assert "tools" not in body and body["agent_id"] == AGENT_ID
    [warning] = [r for r in caplog.records if getattr(r, "function", None) == "web_search"]
    assert "built-in tool 'web_search', which the agent does not have" in warning.getMessage()


async def test_in_stream_error_is_a_status_error_not_an_agent_error(
    server: LocalMistral, model: LLM
) -> None:
    server.queue_conversation(Fault.in_stream_error(after_events=1, message="Search failed"))
    with pytest.raises(MistralStatusError, match="Search failed") as raised:
        await stream_reply(model, user_ctx(), tools=[tools.WebSearch()], conn_options=NO_RETRY)
    assert type(raised.value) is MistralStatusError
    assert raised.value.request_id  # the response's mistral-correlation-id


async def test_demo_brain_searches_the_web(server: LocalMistral, model: LLM) -> None:
    events: list[BuiltinToolEvent] = []
    model.on("builtin_tool", events.append)
    chunks, text, _ = await stream_reply(model, user_ctx(), tools=[tools.WebSearch()])
    assert text.startswith("According to the web, the Eiffel Tower")
    assert [e.phase for e in events] == ["started", "done"]
    assert any(c.delta and c.delta.extra and "references" in c.delta.extra for c in chunks)


LOCAL_REFUSALS: dict[str, tuple[dict[str, Any], int, str]] = {
    "both web searches": (
        {"tools": [{"type": "web_search"}, {"type": "web_search_premium"}]},
        422,
        "cannot be used together",
    ),
    "empty library_ids": (
        {"tools": [{"type": "document_library", "library_ids": []}]},
        422,
        "at least 1 item",
    ),
    "connector without id": ({"tools": [{"type": "connector"}]}, 422, "Field required"),
    "unknown key on a built-in": (
        {"tools": [{"type": "web_search", "premium": True}]},
        422,
        "Extra inputs",
    ),
    "tool_choice any": ({"completion_args": {"tool_choice": "any"}}, 422, "tool_choice"),
    "temperature above 1": ({"completion_args": {"temperature": 1.2}}, 422, "less than or equal"),
    "handoff_execution with a model": ({"handoff_execution": "server"}, 400, "agent_id"),
}


@pytest.mark.parametrize("case", LOCAL_REFUSALS, ids=list(LOCAL_REFUSALS))
async def test_local_server_refuses_what_the_live_api_refuses(
    server: LocalMistral, case: str
) -> None:
    fields, status, message = LOCAL_REFUSALS[case]
    body = {"model": MODEL, "inputs": "hi", "stream": False, **fields}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            server.base_url + "/v1/conversations",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as response:
            assert response.status == status
            assert message in await response.text()


class OtherProvidersTool(llm.ProviderTool):
    """A provider tool of another vendor: no Mistral equivalent."""

    def __init__(self) -> None:
        super().__init__(id="openai_file_search")


async def test_tools_mistral_cannot_take_are_said_once_per_set(
    server: LocalMistral, model: LLM, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        for _ in range(3):
            await stream_reply(model, user_ctx("Hi"), tools=[get_weather, OtherProvidersTool()])
    warned = [r for r in caplog.records if "cannot take were not sent" in r.msg]
    assert [getattr(r, "tools", None) for r in warned] == [["openai_file_search"]]
    assert all(len(body["tools"]) == 1 for body in server.chat_requests)


async def test_a_named_function_the_call_lacks_is_refused_on_both_endpoints(
    server: LocalMistral, model: LLM
) -> None:
    choice = {"type": "function", "function": {"name": "book_flight"}}
    for call_tools in ([get_weather], [get_weather, tools.WebSearch()]):
        with pytest.raises(ValueError, match="'book_flight', which is not among the tools"):
            model.chat(chat_ctx=user_ctx(), tools=call_tools, tool_choice=choice)  # type: ignore[arg-type]
    assert server.requests == []
