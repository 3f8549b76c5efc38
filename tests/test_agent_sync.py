"""sync_agent / create_agent through the mistralai SDK, and the tool check of agent mode,
against the local server over a real socket."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from conftest import AGENT_ID, API_KEY, stream_reply
from livekit.agents import APIConnectionError, llm
from test_session_agent import WeatherAgent, running, said

from livekit.plugins import mistral
from livekit.plugins.mistral import LLM, AgentError, AgentToolMismatchError, SyncedAgent
from livekit.plugins.mistral.testing import AgentReply, LocalMistral
from livekit.plugins.mistral.tools import CodeInterpreter, WebSearch

MakeLLM = Callable[..., LLM]
LOGGER = "livekit.plugins.mistral"

WEB_SEARCH = {"type": "web_search", "tool_configuration": {"requires_confirmation": ["x"]}}
LIBRARY = {"type": "document_library", "library_ids": ["lib_1"]}
OLD_FUNCTION = {
    "type": "function",
    "function": {"name": "old_lookup", "parameters": {"type": "object", "properties": {}}},
}


@llm.function_tool
async def get_weather(location: str, unit: str = "celsius") -> str:
    """Look up the weather.

    Args:
        location: The city name.
    """
    return f"sunny in {location}"


async def _search(raw_arguments: dict[str, object]) -> str:
    return "found"


# an MCP tool arrives as a RawFunctionTool with the server's schema
SEARCH_DOCS = llm.function_tool(
    _search,
    raw_schema={
        "name": "search_docs",
        "description": "Search the docs.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
)

WEATHER_SENT = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Look up the weather.\n",
        "parameters": {
            "properties": {
                "location": {"description": "The city name.", "type": "string"},
                "unit": {"type": ["string", "null"]},
            },
            "required": ["location", "unit"],
            "type": "object",
            "additionalProperties": False,
        },
        "strict": True,
    },
}
SEARCH_SENT = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the docs.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


def requests_to(server: LocalMistral, method: str, path: str) -> list[Any]:
    return [r for r in server.requests if r.method == method and r.path == path]


async def sync(server: LocalMistral, **kwargs: Any) -> SyncedAgent:
    kwargs.setdefault("tools", [get_weather, SEARCH_DOCS])
    return await mistral.sync_agent(AGENT_ID, api_key=API_KEY, base_url=server.base_url, **kwargs)


# --- importing ------------------------------------------------------------------------------


def test_importing_the_plugin_does_not_import_the_sdk() -> None:
    code = (
        "import sys, livekit.plugins.mistral as m; "
        "assert m.sync_agent and m.create_agent; "
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'mistralai'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- sync -----------------------------------------------------------------------------------


async def test_sync_sends_the_livekit_tools_and_keeps_builtins(server: LocalMistral) -> None:
    server.update_agent(AGENT_ID, tools=[WEB_SEARCH, OLD_FUNCTION, LIBRARY], handoffs=["ag_x"])
    # Mistral built-in tools among the LiveKit tools are added when the agent lacks them
    livekit_tools = [get_weather, SEARCH_DOCS, WebSearch(), CodeInterpreter()]
    result = await sync(server, tools=livekit_tools, instructions="Be brief.")

    assert result == SyncedAgent(agent_id=AGENT_ID, version=2, previous_version=1)
    [patch] = requests_to(server, "PATCH", f"/v1/agents/{AGENT_ID}")
    assert patch.body == {
        "instructions": "Be brief.",
        "tools": [WEB_SEARCH, LIBRARY, {"type": "code_interpreter"}, WEATHER_SENT, SEARCH_SENT],
    }
    assert patch.headers["Authorization"] == f"Bearer {API_KEY}"
    stored = server.agent_version(AGENT_ID)
    assert (stored.number, stored.instructions, stored.handoffs) == (2, "Be brief.", ["ag_x"])
    assert server.agent_version(AGENT_ID, 1).tools == (WEB_SEARCH, OLD_FUNCTION, LIBRARY)


async def test_sync_without_instructions_sends_only_tools(server: LocalMistral) -> None:
    server.update_agent(AGENT_ID, instructions="Own instructions.")
    result = await sync(server, tools=[get_weather], description="Weather desk.")
    [patch] = requests_to(server, "PATCH", f"/v1/agents/{AGENT_ID}")
    assert patch.body == {"tools": [WEATHER_SENT], "description": "Weather desk."}
    assert result.version == 2
    assert server.agent_version(AGENT_ID).instructions == "Own instructions."


async def test_sync_takes_a_livekit_agent_and_its_instructions(server: LocalMistral) -> None:
    agent = WeatherAgent()
    await sync(server, tools=agent.tools, instructions=agent.instructions)
    [patch] = requests_to(server, "PATCH", f"/v1/agents/{AGENT_ID}")
    assert patch.body["instructions"] == agent.instructions
    names = [tool["function"]["name"] for tool in patch.body["tools"]]
    assert sorted(names) == ["get_local_time", "get_weather"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agent_id": "mistral-small-latest"}, "agent_id must be a Mistral agent id"),
        ({"tools": get_weather}, "tools must be a list of LiveKit tools"),
        (
            {"tools": [llm.ProviderTool(id="web")]},
            r"cannot be pushed to a Mistral agent: \['web'\]",
        ),
        ({"tools": [WebSearch(), WebSearch(premium=True)]}, "cannot be used together"),
        ({"instructions": 42}, "instructions must be a string"),
        ({"api_key": ""}, "MISTRAL_API_KEY"),
    ],
)
async def test_sync_refuses_bad_input_before_sending(
    server: LocalMistral, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], message: str
) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    args: dict[str, Any] = {
        "agent_id": AGENT_ID,
        "tools": [get_weather],
        "api_key": API_KEY,
        "base_url": server.base_url,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        await mistral.sync_agent(args.pop("agent_id"), **args)
    assert server.requests == []


async def test_sync_errors_are_the_plugins_own(server: LocalMistral) -> None:
    missing = "ag_" + "9" * 32
    with pytest.raises(AgentError) as unknown:
        await mistral.sync_agent(
            missing, tools=[get_weather], api_key=API_KEY, base_url=server.base_url
        )
    assert (unknown.value.status_code, unknown.value.agent_id) == (404, missing)
    assert str(unknown.value).startswith(f"Agent not found: {missing}; check the model")
    with pytest.raises(AgentError) as refused:
        await mistral.sync_agent(
            AGENT_ID, tools=[get_weather], api_key="sk-wrong-key-1234", base_url=server.base_url
        )
    assert refused.value.status_code == 401 and "sk-wrong" not in str(refused.value)
    base_url = server.base_url
    await server.aclose()
    with pytest.raises(APIConnectionError, match="could not reach Mistral"):
        await mistral.sync_agent(AGENT_ID, tools=[], api_key=API_KEY, base_url=base_url)


# --- create ---------------------------------------------------------------------------------


async def test_create_agent_sends_the_livekit_tools(server: LocalMistral) -> None:
    agent_id = await mistral.create_agent(
        "mistral-medium-latest",
        name="Weather desk",
        tools=[get_weather, SEARCH_DOCS, WebSearch()],
        instructions="Be brief.",
        api_key=API_KEY,
        base_url=server.base_url,
    )
    [post] = requests_to(server, "POST", "/v1/agents")
    sent = [{"type": "web_search"}, WEATHER_SENT, SEARCH_SENT]
    assert post.body == {
        "model": "mistral-medium-latest",
        "name": "Weather desk",
        "instructions": "Be brief.",
        "tools": sent,
    }
    assert agent_id.startswith("ag_") and len(agent_id) == 35
    stored = server.agent_version(agent_id)
    assert (stored.number, stored.tools) == (0, tuple(sent))


async def test_create_agent_refusals(server: LocalMistral) -> None:
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        await mistral.create_agent(
            "mistral-medium-latest", name=" ", tools=[], instructions=None, api_key=API_KEY
        )
    with pytest.raises(mistral.MistralStatusError) as bad_model:
        await mistral.create_agent(
            "gpt-4",
            name="x",
            tools=[],
            instructions=None,
            api_key=API_KEY,
            base_url=server.base_url,
        )
    assert bad_model.value.status_code == 400
    assert str(bad_model.value).startswith("Invalid model: gpt-4")


# --- the check before the first turn --------------------------------------------------------


def ctx(text: str = "Hi") -> llm.ChatContext:
    chat = llm.ChatContext()
    chat.add_message(role="user", content=text)
    return chat


def plugin_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def tool_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and hasattr(r, "function")]


AGENT_WEATHER_LOCATION = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def agent_weather(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": "get_weather", "parameters": parameters}}


MISMATCHES = [
    pytest.param(
        [AGENT_WEATHER_LOCATION, OLD_FUNCTION],
        [("agent_only_function", "old_lookup", None)],
        id="agent-function-livekit-lacks",
    ),
    pytest.param(
        [],
        [("livekit_only_function", "get_weather", None)],
        id="livekit-tool-agent-lacks",
    ),
    pytest.param(
        [agent_weather({"city": {"type": "string"}, "unit": {"type": "string"}}, ["city"])],
        [
            ("agent_only_parameter", "get_weather", "city"),
            ("livekit_only_parameter", "get_weather", "location"),
        ],
        id="renamed-parameter",
    ),
    pytest.param(
        [agent_weather({"location": {"type": "string"}, "unit": {"type": "string"}}, [])],
        [("parameter_not_required", "get_weather", "location")],
        id="required",
    ),
    pytest.param(
        [agent_weather({"location": {"type": "integer"}, "unit": {"type": "string"}}, [])],
        [
            ("parameter_not_required", "get_weather", "location"),
            ("parameter_type", "get_weather", "location"),
        ],
        id="type",
    ),
]


@pytest.mark.parametrize(("agent_tools", "expected"), MISMATCHES)
async def test_each_mismatch_is_warned_once(
    server: LocalMistral,
    make_llm: MakeLLM,
    caplog: pytest.LogCaptureFixture,
    agent_tools: list[dict[str, Any]],
    expected: list[tuple[str, str, str | None]],
) -> None:
    version = server.update_agent(AGENT_ID, tools=agent_tools)
    agent = make_llm(model=AGENT_ID, mode="agent")
    server.queue_conversation(AgentReply(text="a"), AgentReply(text="b"))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(2):
            await stream_reply(agent, ctx(), tools=[get_weather])
    warnings = tool_warnings(caplog)
    got = [(r.detail, r.function, r.parameter) for r in warnings]  # type: ignore[attr-defined]
    assert [(g[1], g[2]) for g in got] == [(e[1], e[2]) for e in expected]
    for record in warnings:
        assert (record.agent_id, record.agent_version) == (AGENT_ID, version)  # type: ignore[attr-defined]
        text = record.getMessage()  # names them in the text too, for plain logging setups
        assert text.startswith(f"Mistral agent {AGENT_ID} (version {version}): ")
        assert record.detail in text and "mistral.sync_agent" in text  # type: ignore[attr-defined]
    assert len(requests_to(server, "GET", f"/v1/agents/{AGENT_ID}")) == 1
    assert len(server.conversation_requests) == 2  # never fails the turn


@pytest.mark.parametrize(("agent_tools", "expected"), MISMATCHES)
async def test_each_mismatch_is_raised_with_raise(
    server: LocalMistral,
    make_llm: MakeLLM,
    caplog: pytest.LogCaptureFixture,
    agent_tools: list[dict[str, Any]],
    expected: list[tuple[str, str, str | None]],
) -> None:
    version = server.update_agent(AGENT_ID, tools=agent_tools)
    agent = make_llm(model=AGENT_ID, mode="agent", on_tool_mismatch="raise")
    for _ in range(2):  # every call with these tools fails, not only the first
        with pytest.raises(AgentToolMismatchError) as raised:
            await stream_reply(agent, ctx(), tools=[get_weather])
        err = raised.value
        assert [(m.kind, m.function, m.parameter) for m in err.mismatches] == expected
        assert (err.agent_id, err.agent_version, err.retryable) == (AGENT_ID, version, False)
        assert all(m.detail in str(err) for m in err.mismatches)
        assert "sync_agent" in str(err)
    assert server.conversation_requests == []
    assert tool_warnings(caplog) == []


async def test_no_warning_when_they_agree_after_a_sync(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    server.update_agent(AGENT_ID, tools=[WEB_SEARCH])
    await sync(server)
    agent = make_llm(model=AGENT_ID, mode="agent", on_tool_mismatch="raise")
    server.queue_conversation(AgentReply(text="ok"))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        _, text, _ = await stream_reply(agent, ctx(), tools=[get_weather, SEARCH_DOCS])
    assert text == "ok"
    assert plugin_warnings(caplog) == []
    [builtins] = [r for r in caplog.records if hasattr(r, "builtin_tools")]
    assert (builtins.levelno, builtins.builtin_tools) == (logging.INFO, ["web_search"])


async def test_a_pinned_version_or_alias_is_the_one_compared(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    await sync(server, tools=[get_weather])  # version 1 agrees
    server.update_agent(AGENT_ID, tools=[])  # version 2, current, has no functions
    for pin, query in ((1, "agent_version=1"), ("production", "agent_version=production")):
        if isinstance(pin, str):
            await _alias(server, pin, 1)
        agent = make_llm(model=AGENT_ID, mode="agent", agent_version=pin)
        server.queue_conversation(AgentReply(text="ok"))
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            await stream_reply(agent, ctx(), tools=[get_weather])
        assert requests_to(server, "GET", f"/v1/agents/{AGENT_ID}")[-1].query == query
    assert tool_warnings(caplog) == []
    current = make_llm(model=AGENT_ID, mode="agent")
    server.queue_conversation(AgentReply(text="ok"))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await stream_reply(current, ctx(), tools=[get_weather])
    [warning] = tool_warnings(caplog)
    assert (warning.function, warning.agent_version) == ("get_weather", 2)  # type: ignore[attr-defined]


async def _alias(server: LocalMistral, alias: str, version: int) -> None:
    from mistralai.client import Mistral

    async with Mistral(api_key=API_KEY, server_url=server.base_url) as sdk:
        await sdk.beta.agents.create_version_alias_async(
            agent_id=AGENT_ID, alias=alias, version=version
        )


async def test_prewarm_fetches_once_and_ignore_skips(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_llm(model=AGENT_ID, mode="agent")
    agent.prewarm()
    assert agent._prewarm_task is not None
    await agent._prewarm_task
    server.queue_conversation(AgentReply(text="a"))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await stream_reply(agent, ctx(), tools=[get_weather])
    assert len(requests_to(server, "GET", f"/v1/agents/{AGENT_ID}")) == 1
    assert [r.function for r in tool_warnings(caplog)] == ["get_weather"]  # type: ignore[attr-defined]

    quiet = make_llm(model=AGENT_ID, mode="agent", on_tool_mismatch="ignore")
    server.queue_conversation(AgentReply(text="b"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await stream_reply(quiet, ctx(), tools=[get_weather])
    assert len(requests_to(server, "GET", f"/v1/agents/{AGENT_ID}")) == 1
    assert tool_warnings(caplog) == []


async def test_an_agent_that_cannot_be_fetched_does_not_block_the_turn(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    from livekit.plugins.mistral.testing import Fault

    server.queue_http(f"/v1/agents/{AGENT_ID}", Fault.status(503))
    agent = make_llm(model=AGENT_ID, mode="agent", on_tool_mismatch="raise")
    server.queue_conversation(AgentReply(text="still here"))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _, text, _ = await stream_reply(agent, ctx(), tools=[get_weather])
    assert text == "still here"
    [warning] = [r for r in caplog.records if "could not be fetched" in r.getMessage()]
    assert warning.agent_id == AGENT_ID  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"on_tool_mismatch": "fail"}, "on_tool_mismatch must be one of"),
        ({"agent_version": -1}, "agent_version must be a version number"),
        ({"agent_version": "Prod"}, "agent_version must be a version number"),
        ({"agent_version": True}, "agent_version must be a version number"),
    ],
)
def test_options_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LLM(api_key="k", model=AGENT_ID, mode="agent", **kwargs)
    model = LLM(api_key="k", model=AGENT_ID, mode="agent")
    with pytest.raises(ValueError, match=message):
        model.update_options(**kwargs)


# --- a whole LiveKit session ----------------------------------------------------------------


async def test_session_after_a_sync_runs_the_livekit_tool(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    weather = WeatherAgent()
    synced = await mistral.sync_agent(
        AGENT_ID,
        tools=weather.tools,
        instructions=weather.instructions,
        api_key=API_KEY,
        base_url=server.base_url,
    )
    model = make_llm(model=AGENT_ID, mode="agent", agent_version=synced.version)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        async with running(model, weather) as session:
            result: Any = await session.run(user_input="What is the weather in Paris?")
    assert weather.calls == [("get_weather", "Paris")]
    assert said(result) == ["Here is what I found: sunny, 21 degrees in Paris"]
    assert plugin_warnings(caplog) == []
    first, second = server.conversation_requests
    assert first["agent_version"] == second["agent_version"] == synced.version


@pytest.mark.parametrize("path", ["/v1x", "/api/v1"])
async def test_a_wrong_base_url_path_is_named_by_sync_and_create(
    server: LocalMistral, path: str
) -> None:
    base_url = server.base_url + path
    with pytest.raises(AgentError, match="no Mistral API answered GET .*: check base_url"):
        await mistral.sync_agent(AGENT_ID, tools=[], api_key=API_KEY, base_url=base_url)
    with pytest.raises(mistral.MistralStatusError, match="no Mistral API answered POST"):
        await mistral.create_agent(
            "mistral-medium-latest",
            name="x",
            tools=[],
            instructions=None,
            api_key=API_KEY,
            base_url=base_url,
        )
