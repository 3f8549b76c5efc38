"""A Mistral agent's function tools beside LiveKit tools: every kind of difference (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import llm

from livekit.plugins.mistral.mapping.agent_tools import (
    AgentTools,
    ToolMismatch,
    agent_tools,
    compare_tools,
)
from livekit.plugins.mistral.mapping.tools import to_mistral_tools


@llm.function_tool
async def get_weather(city: str, unit: str = "celsius") -> str:
    """Weather in a city."""
    return "sunny"


@llm.function_tool
async def hang_up() -> None:
    return None


def agent_with(*functions: dict[str, Any], builtins: tuple[str, ...] = ()) -> AgentTools:
    tools: list[dict[str, Any]] = [{"type": "function", "function": f} for f in functions]
    tools += [{"type": kind} for kind in builtins]
    return agent_tools({"tools": tools, "version": 2})


def weather_function(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


HAND_WRITTEN = weather_function(
    {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    ["city"],
)


def test_the_schemas_livekit_sends_agree_with_themselves() -> None:
    schemas, _ = to_mistral_tools([get_weather, hang_up])
    agent = agent_with(*(s["function"] for s in schemas))
    assert compare_tools(agent, [get_weather, hang_up]) == []


def test_a_hand_written_schema_with_optional_parameters_agrees() -> None:
    # LiveKit's strict schema lists "unit" as required but nullable: the same call shape
    assert compare_tools(agent_with(HAND_WRITTEN), [get_weather]) == []


def test_builtins_and_version_are_read_and_never_compared() -> None:
    agent = agent_with(HAND_WRITTEN, builtins=("web_search", "code_interpreter"))
    assert (agent.builtins, agent.version) == (("web_search", "code_interpreter"), 2)
    assert list(agent.functions) == ["get_weather"]
    assert compare_tools(agent, [get_weather]) == []


@pytest.mark.parametrize(
    ("agent_function", "expected"),
    [
        pytest.param(
            {"name": "transfer_call", "parameters": {"type": "object", "properties": {}}},
            [
                ("livekit_only_function", "get_weather", None, "not a function of the agent"),
                ("agent_only_function", "transfer_call", None, "no LiveKit tool of that name"),
            ],
            id="functions",
        ),
        pytest.param(
            weather_function({"location": {"type": "string"}, "unit": {"type": "string"}}, []),
            [
                ("livekit_only_parameter", "get_weather", "city", "so every call fails"),
                ("agent_only_parameter", "get_weather", "location", "does not take"),
            ],
            id="renamed-parameter",
        ),
        pytest.param(
            weather_function({"city": {"type": "string"}}, ["city"]),
            [("livekit_only_parameter", "get_weather", "unit", "never filled in")],
            id="optional-parameter-unknown-to-agent",
        ),
        pytest.param(
            weather_function({"city": {"type": "string"}, "unit": {"type": "string"}}, []),
            [("parameter_not_required", "get_weather", "city", "may leave it out")],
            id="required",
        ),
        pytest.param(
            weather_function(
                {"city": {"type": "integer"}, "unit": {"anyOf": [{"type": "string"}]}}, ["city"]
            ),
            [("parameter_type", "get_weather", "city", "integer for the agent but string")],
            id="type",
        ),
    ],
)
def test_each_kind_of_difference(
    agent_function: dict[str, Any], expected: list[tuple[str, str, str | None, str]]
) -> None:
    found = compare_tools(agent_with(agent_function), [get_weather])
    assert [(m.kind, m.function, m.parameter) for m in found] == [e[:3] for e in expected]
    for mismatch, (*_, words) in zip(found, expected, strict=True):
        assert words in mismatch.detail and mismatch.function in mismatch.detail


def test_nested_object_parameters_are_compared_with_dotted_names() -> None:
    raw = llm.function_tool(
        _noop,
        raw_schema={
            "name": "ship",
            "parameters": {
                "type": "object",
                "properties": {
                    "address": {
                        "type": "object",
                        "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
                        "required": ["street", "zip"],
                    }
                },
                "required": ["address"],
            },
        },
    )
    agent = agent_with(
        {
            "name": "ship",
            "parameters": {
                "type": "object",
                "properties": {
                    "address": {
                        "type": "object",
                        "properties": {"street": {"type": "string"}},
                        "required": ["street"],
                    }
                },
                "required": ["address"],
            },
        }
    )
    [mismatch] = compare_tools(agent, [raw])
    assert mismatch == ToolMismatch(
        "livekit_only_parameter",
        "ship",
        "address.zip",
        "function 'ship': the LiveKit tool takes parameter 'address.zip', which the agent "
        "does not know, so every call fails",
    )


async def _noop(raw_arguments: dict[str, object]) -> None:
    return None


def test_a_mistral_builtin_the_agent_lacks_is_a_difference() -> None:
    from livekit.plugins.mistral.tools import CodeInterpreter, WebSearch

    agent = agent_with(HAND_WRITTEN, builtins=("web_search",))
    found = compare_tools(agent, [get_weather, WebSearch(), CodeInterpreter()])
    assert [(m.kind, m.function) for m in found] == [("livekit_only_builtin", "code_interpreter")]
    assert "built-in tool 'code_interpreter'" in found[0].detail


def test_untyped_parameters_are_not_compared() -> None:
    agent = agent_with(weather_function({"city": {"$ref": "#/$defs/City"}}, ["city"]))
    found = compare_tools(agent, [get_weather])
    assert [m.kind for m in found] == ["livekit_only_parameter"]  # only "unit"


def test_an_agent_document_of_odd_shape_has_no_tools() -> None:
    odd = agent_tools({"tools": ["web_search", {"type": "function", "function": "x"}]})
    assert (odd.functions, odd.builtins, odd.version) == ({}, ("function",), None)
