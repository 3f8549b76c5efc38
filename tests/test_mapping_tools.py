"""LiveKit tools and tool choice -> Mistral ``tools`` / ``tool_choice``, on exact dicts."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import llm
from pydantic import BaseModel

from livekit.plugins.mistral.mapping.tools import (
    is_strict_compatible,
    to_mistral_tool_choice,
    to_mistral_tools,
)
from livekit.plugins.mistral.testing.rules import check_chat_request


@llm.function_tool
async def book_table(party_size: int, time: str, notes: str | None = None) -> str:
    """Book a table at the restaurant.

    Args:
        party_size: how many guests
        time: when, e.g. 19:30
    """
    return "booked"


@llm.function_tool
async def hang_up() -> None:
    return None


class Address(BaseModel):
    street: str
    city: str = "Paris"


@llm.function_tool(description="Ship a parcel.")
async def ship(address: Address) -> str:
    return "shipped"


MCP_SCHEMA: dict[str, Any] = {
    "name": "search_docs",
    "description": None,
    "parameters": {
        "type": "object",
        "title": "search_docsArguments",
        "$defs": {
            "Filter": {
                "type": "object",
                "properties": {"lang": {"type": "string", "default": "en"}},
            }
        },
        "properties": {
            "query": {"type": "string", "title": "Query"},
            "filter": {"$ref": "#/$defs/Filter", "default": None},
        },
        "required": ["query"],
    },
    "meta": {"_fastmcp": {"tags": ["docs"]}},
}


def raw_tool(schema: dict[str, Any]) -> llm.RawFunctionTool[Any, Any]:
    async def handler(raw_arguments: dict[str, object]) -> str:
        return "ok"

    return llm.function_tool(handler, raw_schema=schema)


def test_function_tool_uses_livekit_strict_schema_and_is_strict() -> None:
    schemas, skipped = to_mistral_tools([book_table])
    assert skipped == []
    assert schemas == [
        {
            "type": "function",
            "function": {
                "name": "book_table",
                "description": "Book a table at the restaurant.\n",
                "parameters": {
                    "properties": {
                        "party_size": {"description": "how many guests", "type": "integer"},
                        "time": {"description": "when, e.g. 19:30", "type": "string"},
                        "notes": {"type": ["string", "null"]},
                    },
                    "required": ["party_size", "time", "notes"],
                    "type": "object",
                    "additionalProperties": False,
                },
                "strict": True,
            },
        }
    ]


def test_function_tool_without_description_or_arguments() -> None:
    schemas, _ = to_mistral_tools([hang_up])
    assert schemas == [
        {
            "type": "function",
            "function": {
                "name": "hang_up",
                "parameters": {"properties": {}, "type": "object", "additionalProperties": False},
                "strict": True,
            },
        }
    ]


def test_function_tool_with_nested_model_stays_strict() -> None:
    schemas, _ = to_mistral_tools([ship])
    function = schemas[0]["function"]
    assert function["description"] == "Ship a parcel."
    assert function["strict"] is True
    assert function["parameters"]["$defs"]["Address"] == {
        "properties": {"street": {"type": "string"}, "city": {"type": ["string", "null"]}},
        "required": ["street", "city"],
        "type": "object",
        "additionalProperties": False,
    }


def test_raw_mcp_schema_is_passed_verbatim_without_meta_or_null_description() -> None:
    schemas, skipped = to_mistral_tools([raw_tool(MCP_SCHEMA)])
    assert skipped == []
    assert schemas == [
        {
            "type": "function",
            "function": {"name": "search_docs", "parameters": MCP_SCHEMA["parameters"]},
        }
    ]


@pytest.mark.parametrize("parameters", [{}, None])
def test_raw_schema_with_empty_parameters_gets_an_empty_object(parameters: Any) -> None:
    schema = {"name": "ping", "description": "Ping.", "parameters": parameters}
    schemas, _ = to_mistral_tools([raw_tool(schema)])
    assert schemas == [
        {
            "type": "function",
            "function": {
                "name": "ping",
                "description": "Ping.",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]


CLOSED = {
    "type": "object",
    "properties": {"id": {"type": "string"}},
    "required": ["id"],
    "additionalProperties": False,
}


def test_raw_schema_that_allows_strict_is_sent_strict_unless_it_opts_out() -> None:
    schemas, _ = to_mistral_tools(
        [
            raw_tool({"name": "closed", "parameters": CLOSED}),
            raw_tool({"name": "opted_out", "parameters": CLOSED, "strict": False}),
        ]
    )
    assert schemas == [
        {"type": "function", "function": {"name": "closed", "parameters": CLOSED, "strict": True}},
        {"type": "function", "function": {"name": "opted_out", "parameters": CLOSED}},
    ]


@pytest.mark.parametrize(
    ("schema", "strict"),
    [
        (CLOSED, True),
        ({**CLOSED, "additionalProperties": True}, False),
        ({**CLOSED, "required": []}, False),
        ({k: v for k, v in CLOSED.items() if k != "additionalProperties"}, False),
        ({**CLOSED, "properties": {"tags": {"type": "array", "items": {"type": "object"}}}}, False),
        ({**CLOSED, "properties": {"x": {"anyOf": [{"type": "null"}, {"properties": {}}]}}}, False),
        ({**CLOSED, "$defs": {"Open": {"type": "object", "properties": {"a": {}}}}}, False),
        ({**CLOSED, "$defs": {"Shut": CLOSED}}, True),
        ({"type": "string"}, True),
    ],
)
def test_strict_only_when_every_object_is_closed_and_fully_required(
    schema: dict[str, Any], strict: bool
) -> None:
    assert is_strict_compatible(schema) is strict


def test_provider_tools_and_duplicate_names_are_reported() -> None:
    duplicate = raw_tool({"name": "book_table", "parameters": {}})
    schemas, skipped = to_mistral_tools(
        [book_table, llm.ProviderTool(id="web_search"), duplicate, hang_up]
    )
    assert [s["function"]["name"] for s in schemas] == ["book_table", "hang_up"]
    assert skipped == ["web_search", "book_table"]


def test_no_tools() -> None:
    assert to_mistral_tools([]) == ([], [])


def test_mapped_tools_pass_the_request_rules() -> None:
    tools, _ = to_mistral_tools([book_table, hang_up, ship, raw_tool(MCP_SCHEMA)])
    body = {
        "model": "mistral-small-latest",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": tools,
        "tool_choice": to_mistral_tool_choice("required", tools),
    }
    assert check_chat_request(body) is None


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "any"),
        (
            {"type": "function", "function": {"name": "book_table"}},
            {"type": "function", "function": {"name": "book_table"}},
        ),
    ],
)
def test_tool_choice_table(choice: llm.ToolChoice, expected: Any) -> None:
    tools, _ = to_mistral_tools([book_table, hang_up])
    assert to_mistral_tool_choice(choice, tools) == expected


def test_unknown_tool_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported tool_choice"):
        to_mistral_tool_choice("sometimes", [])  # type: ignore[arg-type]


def test_a_named_function_the_call_lacks_is_refused() -> None:
    tools, _ = to_mistral_tools([book_table])
    with pytest.raises(ValueError, match="'hang_up', which is not among the tools"):
        to_mistral_tool_choice({"type": "function", "function": {"name": "hang_up"}}, tools)
