"""The bundled local Mistral server, driven over a real loopback socket with plain aiohttp."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from conftest import until

from livekit.plugins.mistral.testing import (
    AgentReply,
    ChatReply,
    Fault,
    LocalMistral,
    ToolCall,
    check_chat_request,
    check_conversation_request,
)
from livekit.plugins.mistral.testing.sse import DONE, plan_stream

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = "/v1/chat/completions"
CONV = "/v1/conversations"
AGENT = "ag_0680b7000e847f6e80003620e5d4d99d"
OTHER_AGENT = "ag_1111b7000e847f6e80003620e5d4d99d"
CALL_ID = "abcDEF123"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
                "detailed": {"type": "boolean", "default": False},
            },
            "required": ["city", "unit", "days", "detailed"],
        },
    },
}


@pytest.fixture
async def server() -> AsyncIterator[LocalMistral]:
    async with LocalMistral(api_key=KEY) as local:
        local.add_agent(AGENT, name="Concierge")
        local.add_agent(OTHER_AGENT, name="Booker")
        yield local


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def chat_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "mistral-small-latest",
        "messages": [{"role": "user", "content": "Hello there"}],
        **extra,
    }


def tool_history(call_id: str = CALL_ID, answer_id: str | None = None) -> list[dict[str, Any]]:
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": answer_id or call_id,
            "name": "get_weather",
            "content": "sunny",
        },
    ]


def conv_body(**extra: Any) -> dict[str, Any]:
    return {"inputs": "Hello there", "model": "mistral-medium-latest", "stream": True, **extra}


async def post(
    http: aiohttp.ClientSession,
    server: LocalMistral,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with http.post(
        server.base_url + path, json=body, headers=AUTH if headers is None else headers
    ) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def read_events(response: aiohttp.ClientResponse) -> list[bytes]:
    """The raw SSE events (each ending with a blank line) of a whole response."""
    data = await response.read()
    return [part + b"\n\n" for part in data.split(b"\n\n") if part]


async def http_chunks(response: aiohttp.ClientResponse) -> list[bytes]:
    """The body as the HTTP chunks the server wrote, however TCP grouped them."""
    chunks = []
    buffer = b""
    async for data, end_of_chunk in response.content.iter_chunks():
        buffer += data
        if end_of_chunk:
            chunks.append(buffer)
            buffer = b""
    assert buffer == b""
    return chunks


def chat_data(events: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(e[len(b"data: ") :]) for e in events if e != DONE]


def conv_data(events: list[bytes]) -> list[dict[str, Any]]:
    parsed = []
    for event in events:
        event_line, data_line = event.decode().strip().split("\n")
        payload = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {payload['type']}"
        parsed.append(payload)
    return parsed


async def stream_chat(
    http: aiohttp.ClientSession,
    server: LocalMistral,
    reply: ChatReply | None = None,
    **extra: Any,
) -> list[bytes]:
    if reply is not None:
        server.queue_chat(reply)
    body = chat_body(stream=True, **extra)
    async with http.post(server.base_url + CHAT, json=body, headers=AUTH) as response:
        assert response.status == 200
        return await read_events(response)


async def stream_conv(
    http: aiohttp.ClientSession,
    server: LocalMistral,
    reply: AgentReply | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    if reply is not None:
        server.queue_conversation(reply)
    async with http.post(server.base_url + CONV, json=conv_body(**extra), headers=AUTH) as resp:
        assert resp.status == 200
        return conv_data(await read_events(resp))


# --- auth and rules -------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
async def test_bad_or_missing_key_is_401(
    server: LocalMistral, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    for path in (CHAT, CONV):
        assert await post(http, server, path, chat_body(), headers) == (
            401,
            {"detail": "Unauthorized"},
        )
    async with http.get(server.base_url + "/v1/models", headers=headers) as response:
        assert response.status == 401


def _envelope(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {
        "object": "error",
        "message": message,
        "type": type_,
        "param": None,
        "code": code,
        "raw_status_code": 400,
    }


ORDER = "invalid_request_message_order"
CHAT_REFUSALS: dict[str, tuple[dict[str, Any], int, dict[str, Any] | None]] = {
    "unknown model": (
        chat_body(model="nope"),
        400,
        _envelope("Invalid model: nope", "invalid_model", "1500"),
    ),
    "bad tool call id": (
        chat_body(messages=tool_history("call_abc123")),
        400,
        _envelope(
            "Tool call id was call_abc123 but must be a-z, A-Z, 0-9, with a length of 9.",
            "invalid_function_call",
            "3280",
        ),
    ),
    "bad tool answer id": (
        chat_body(messages=tool_history(answer_id="x")),
        400,
        _envelope(
            "Tool call id was x but must be a-z, A-Z, 0-9, with a length of 9.",
            "invalid_function_call",
            "3280",
        ),
    ),
    "last is assistant": (
        chat_body(
            messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
        ),
        400,
        _envelope(
            "Expected last role User or Tool (or Assistant with prefix True) for serving "
            "but got assistant",
            ORDER,
            "3230",
        ),
    ),
    "user after tool": (
        chat_body(messages=[*tool_history(), {"role": "user", "content": "and?"}]),
        400,
        _envelope("Unexpected role 'user' after role 'tool'", ORDER, "3230"),
    ),
    "tool after user": (
        chat_body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "tool", "tool_call_id": CALL_ID, "content": "b"},
            ]
        ),
        400,
        _envelope("Unexpected role 'tool' after role 'user'", ORDER, "3230"),
    ),
    "call without answer": (chat_body(messages=tool_history()[:2]), 400, None),
    "answer to another call": (chat_body(messages=tool_history(answer_id="zzzZZZ999")), 400, None),
    "assistant with both": (
        chat_body(
            messages=[
                {"role": "user", "content": "a"},
                {**tool_history()[1], "content": "text"},
                tool_history()[2],
            ]
        ),
        400,
        _envelope(
            "Assistant message must have either content or tool_calls, but not both.",
            "invalid_request_error",
            None,
        ),
    ),
    "assistant with neither": (
        chat_body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant"},
                {"role": "user", "content": "b"},
            ]
        ),
        400,
        _envelope(
            "Assistant message must have either content or tool_calls, but not none.",
            "invalid_request_error",
            None,
        ),
    ),
}


@pytest.mark.parametrize("case", list(CHAT_REFUSALS))
async def test_chat_rule_refusals(
    server: LocalMistral, http: aiohttp.ClientSession, case: str
) -> None:
    body, status, expected = CHAT_REFUSALS[case]
    got_status, got = await post(http, server, CHAT, body)
    assert got_status == status
    if expected is not None:
        assert got == expected
    else:
        assert got["object"] == "error" and got["type"] == "invalid_request_error"
    assert check_chat_request(body) is not None


CHAT_422: dict[str, tuple[dict[str, Any], str, list[Any]]] = {
    "unknown field": ({**chat_body(), "foo": 1}, "extra_forbidden", ["body", "foo"]),
    "missing model": ({"messages": chat_body()["messages"]}, "missing", ["body", "model"]),
    "missing messages": ({"model": "mistral-small-latest"}, "missing", ["body", "messages"]),
    "temperature high": (chat_body(temperature=1.6), "less_than_equal", ["body", "temperature"]),
    "temperature low": (chat_body(temperature=-0.1), "greater_than_equal", ["body", "temperature"]),
    "top_p high": (chat_body(top_p=1.01), "less_than_equal", ["body", "top_p"]),
    "top_p zero": (chat_body(top_p=0), "greater_than", ["body", "top_p"]),
    "max_tokens negative": (chat_body(max_tokens=-1), "greater_than_equal", ["body", "max_tokens"]),
    "tool_choice word": (
        chat_body(tool_choice="sometimes"),
        "literal_error",
        ["body", "tool_choice", "ToolChoiceEnum"],
    ),
    "tool bad name": (
        chat_body(
            tools=[{"type": "function", "function": {"name": "get weather", "parameters": {}}}]
        ),
        "string_pattern_mismatch",
        ["body", "tools", 0, "function", "name"],
    ),
    "tool no parameters": (
        chat_body(tools=[{"type": "function", "function": {"name": "f"}}]),
        "missing",
        ["body", "tools", 0, "function", "parameters"],
    ),
    "tool wrong type": (
        chat_body(tools=[{"type": "retrieval", "function": {"name": "f", "parameters": {}}}]),
        "literal_error",
        ["body", "tools", 0, "type"],
    ),
    "message extra field": (
        chat_body(messages=[{"role": "user", "content": "a", "name": "bob"}]),
        "extra_forbidden",
        ["body", "messages", 0, "user", "name"],
    ),
    "unknown role": (
        chat_body(messages=[{"role": "developer", "content": "a"}]),
        "union_tag_invalid",
        ["body", "messages", 0],
    ),
}


@pytest.mark.parametrize("case", list(CHAT_422))
async def test_chat_schema_refusals_are_422(
    server: LocalMistral, http: aiohttp.ClientSession, case: str
) -> None:
    body, error_type, loc = CHAT_422[case]
    status, got = await post(http, server, CHAT, body)
    assert status == 422
    assert got["object"] == "error" and got["type"] == "invalid_request_error"
    [detail] = got["message"]["detail"]
    assert (detail["type"], detail["loc"]) == (error_type, loc)


async def test_all_schema_errors_are_reported_together() -> None:
    violation = check_chat_request({**chat_body(temperature=9, top_p=9), "foo": 1})
    assert violation is not None and violation.status == 422
    locs = [item["loc"][-1] for item in violation.body["message"]["detail"]]
    assert sorted(locs) == ["foo", "temperature", "top_p"]
    assert "temperature: Input should be less than or equal to 1.5" in violation.message


async def test_invalid_json_is_422(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    async with http.post(server.base_url + CHAT, data=b"{nope", headers=AUTH) as response:
        assert response.status == 422
        assert (await response.json())["message"]["detail"][0]["type"] == "json_invalid"


VALID_CHATS: dict[str, dict[str, Any]] = {
    "plain": chat_body(),
    "edge sampling": chat_body(temperature=1.5, top_p=1, max_tokens=0, random_seed=0),
    "tool round trip": chat_body(messages=tool_history(), tools=[WEATHER_TOOL]),
    "tool then assistant then user": chat_body(
        messages=[
            *tool_history(),
            {"role": "assistant", "content": "Sunny."},
            {"role": "user", "content": "Thanks"},
        ]
    ),
    "prefix": chat_body(
        messages=[
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b", "prefix": True},
        ]
    ),
    "tool choices": chat_body(tools=[WEATHER_TOOL], tool_choice="any", parallel_tool_calls=True),
    "named tool choice": chat_body(
        tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}}
    ),
    "chunks and nulls": chat_body(
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "Be brief"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": "data:image/png;base64,AAAA"},
                ],
            },
        ],
        temperature=None,
        response_format={"type": "json_object"},
    ),
    "arguments object": chat_body(
        messages=[
            {"role": "user", "content": "a"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": CALL_ID, "function": {"name": "f", "arguments": {"x": 1}}, "index": 0}
                ],
            },
            {"role": "tool", "tool_call_id": CALL_ID, "content": "ok"},
        ]
    ),
}


@pytest.mark.parametrize("case", list(VALID_CHATS))
async def test_valid_chat_requests_are_accepted(
    server: LocalMistral, http: aiohttp.ClientSession, case: str
) -> None:
    body = VALID_CHATS[case]
    assert check_chat_request(body) is None
    status, got = await post(http, server, CHAT, body)
    assert status == 200, got
    assert got["object"] == "chat.completion"


async def test_added_model_is_accepted(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    assert (await post(http, server, CHAT, chat_body(model="my-finetune")))[0] == 400
    server.add_model("my-finetune")
    assert (await post(http, server, CHAT, chat_body(model="my-finetune")))[0] == 200


def _conv_inputs(call_id: str = CALL_ID, answered: bool = True) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [
        {"type": "message.input", "role": "user", "content": "Weather in Paris?"},
        {
            "type": "function.call",
            "tool_call_id": call_id,
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
    ]
    if answered:
        entries.append({"type": "function.result", "tool_call_id": call_id, "result": "sunny"})
    return entries


CONV_REFUSALS: dict[str, tuple[dict[str, Any], int, str]] = {
    "agent and model": (conv_body(agent_id=AGENT), 400, "not both"),
    "neither agent nor model": ({"inputs": "hi"}, 400, "got neither"),
    "agent with instructions": (
        {"inputs": "hi", "agent_id": AGENT, "instructions": "Be nice"},
        400,
        "'instructions'",
    ),
    "agent with tools": (
        {"inputs": "hi", "agent_id": AGENT, "tools": [WEATHER_TOOL]},
        400,
        "'tools'",
    ),
    "unknown agent": ({"inputs": "hi", "agent_id": "ag_unknown"}, 404, "Agent not found"),
    "unknown model": (conv_body(model="nope"), 400, "Invalid model: nope"),
    "bad call id": (conv_body(inputs=_conv_inputs("call_1")), 400, "Tool call id was call_1"),
    "unanswered call": (
        conv_body(inputs=_conv_inputs(answered=False)),
        400,
        "Not the same number of function calls and responses",
    ),
    "unknown field": (conv_body(temperature=0.2), 422, "extra_forbidden"),
    "missing inputs": ({"model": "mistral-medium-latest"}, 422, "missing"),
    "unknown entry type": (
        conv_body(inputs=[{"type": "message.thought", "content": "x"}]),
        422,
        "union_tag_invalid",
    ),
    "completion_args range": (
        conv_body(completion_args={"temperature": 2}),
        422,
        "less_than_equal",
    ),
    "completion_args temperature above 1": (
        conv_body(completion_args={"temperature": 1.2}),
        422,
        "less_than_equal",
    ),
    "completion_args named tool_choice": (
        conv_body(completion_args={"tool_choice": {"type": "function"}}),
        422,
        "literal_error",
    ),
}


@pytest.mark.parametrize("case", list(CONV_REFUSALS))
async def test_conversation_rule_refusals(
    server: LocalMistral, http: aiohttp.ClientSession, case: str
) -> None:
    body, status, fragment = CONV_REFUSALS[case]
    got_status, got = await post(http, server, CONV, body)
    assert got_status == status
    assert fragment in json.dumps(got)
    assert check_conversation_request(body, [AGENT]) is not None


VALID_CONVERSATIONS: dict[str, dict[str, Any]] = {
    "model": conv_body(
        instructions="Be brief",
        tools=[WEATHER_TOOL, {"type": "web_search"}],
        completion_args={"temperature": 0.3, "tool_choice": "auto"},
        store=False,
    ),
    "agent": {
        "inputs": "hi",
        "agent_id": AGENT,
        "stream": True,
        "store": False,
        "completion_args": {"max_tokens": 10},
    },
    "edge completion_args": conv_body(
        completion_args={"temperature": 1, "top_p": 0, "max_tokens": 0}
    ),
    "function round trip": conv_body(inputs=_conv_inputs()),
    "sdk-style entries": conv_body(
        inputs=[
            {
                "object": "entry",
                "type": "message.input",
                "role": "user",
                "content": "hi",
                "prefix": False,
            },
            {"object": "entry", "type": "message.output", "role": "assistant", "content": "hello"},
            {"role": "user", "content": [{"type": "text", "text": "again"}]},
        ]
    ),
}


@pytest.mark.parametrize("case", list(VALID_CONVERSATIONS))
async def test_valid_conversations_are_accepted(
    server: LocalMistral, http: aiohttp.ClientSession, case: str
) -> None:
    body = VALID_CONVERSATIONS[case]
    assert check_conversation_request(body, [AGENT]) is None
    async with http.post(server.base_url + CONV, json=body, headers=AUTH) as response:
        assert response.status == 200
        events = conv_data(await read_events(response))
    assert events[-1]["type"] == "conversation.response.done"


# --- chat stream framing --------------------------------------------------------------------


async def test_chat_stream_framing_is_exact(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_chat(ChatReply(text="Hello world!", id="cmpl-fixed"))
    async with http.post(
        server.base_url + CHAT, json=chat_body(stream=True), headers=AUTH
    ) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["mistral-correlation-id"]
        http_chunks = [data async for data, _ in response.content.iter_chunks()]
    events = b"".join(http_chunks).split(b"\n\n")[:-1]
    assert events[-1] == b"data: [DONE]"
    assert all(e.startswith(b"data: {") for e in events[:-1])
    chunks = chat_data([e + b"\n\n" for e in events])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:]]
    assert pieces == ["Hell", "o wo", "rld!"]
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}  # no key: a miss
    assert final["usage"]["service_tier"] == "standard"
    assert set(final["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "service_tier",
    }
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert all("p" in c and c["id"] == "cmpl-fixed" for c in chunks)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


async def test_each_event_is_its_own_http_chunk(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_chat(ChatReply(text=["a", "b", "c"], delay=0.01))
    async with http.post(
        server.base_url + CHAT, json=chat_body(stream=True), headers=AUTH
    ) as response:
        chunks = await http_chunks(response)
    assert all(c.endswith(b"\n\n") and c.count(b"\n\n") == 1 for c in chunks)
    assert chunks[-1] == DONE


async def test_final_piece_separate_and_no_padding(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    reply = ChatReply(
        text="abcdef",
        text_in_final_chunk=False,
        padding=False,
        cached_tokens=7,
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )
    chunks = chat_data(await stream_chat(http, server, reply))
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "abcd"},
        {"content": "ef"},
        {"content": ""},
    ]
    assert not any("p" in c for c in chunks)
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 7},
    }


async def test_mistral_style_tool_calls_come_whole(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    reply = ChatReply(
        text="Let me check.",
        tool_calls=[
            ToolCall("get_weather", {"city": "Paris"}, id="aaaaaaaa1"),
            ToolCall("get_time", '{"tz": "CET"}'),
        ],
    )
    chunks = chat_data(await stream_chat(http, server, reply))
    final = chunks[-1]
    calls = final["choices"][0]["delta"]["tool_calls"]
    assert final["choices"][0]["finish_reason"] == "tool_calls" and "usage" in final
    assert [c["index"] for c in calls] == [0, 1]
    assert calls[0] == {
        "id": "aaaaaaaa1",
        "type": "function",
        "index": 0,
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    assert len(calls[1]["id"]) == 9 and calls[1]["id"].isalnum()
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "Let me check."


async def test_arguments_as_object(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    reply = ChatReply(tool_calls=[ToolCall("f", '{"a": 1}')], arguments_as_object=True)
    chunks = chat_data(await stream_chat(http, server, reply))
    assert chunks[-1]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == {"a": 1}


async def test_openai_style_tool_calls_come_in_fragments(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    reply = ChatReply(
        tool_call_style="openai",
        tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_time", "{}")],
    )
    chunks = chat_data(await stream_chat(http, server, reply))
    fragments = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    by_index: dict[int, list[dict[str, Any]]] = {}
    for fragment in fragments:
        by_index.setdefault(fragment["index"], []).append(fragment)
    first, *rest = by_index[0]
    assert first["id"].startswith("chatcmpl-tool-") and first["function"]["name"] == "get_weather"
    assert all("id" not in f and f["function"]["name"] == "" for f in rest)
    assert "".join(f["function"]["arguments"] for f in by_index[0]) == '{"city": "Paris"}'
    assert max(len(f["function"]["arguments"]) for f in rest) == 5
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}


async def test_thinking_stream_shape(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    reply = ChatReply(thinking=["Hmm", " so"], text=["Yes", " indeed"], signature="c2ln")
    chunks = chat_data(await stream_chat(http, server, reply))
    deltas = [c["choices"][0]["delta"] for c in chunks]

    def thought(text: str) -> dict[str, Any]:
        return {"type": "thinking", "thinking": [{"type": "text", "text": text}], "closed": True}

    assert deltas[1:] == [
        {"content": [thought("Hmm")]},
        {"content": [thought(" so")]},
        {
            "content": [
                {"type": "thinking", "thinking": [], "closed": True, "signature": "c2ln"},
                {"type": "text", "text": "Yes"},
            ]
        },
        {"content": " indeed"},
    ]
    # "Hmm so" is 6 characters: 2 tokens at the server's 4 characters per token
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 2}


async def test_non_streaming_chat_completion(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_chat(ChatReply(text="Hi!", finish_reason="length", id="cmpl-x"))
    status, got = await post(http, server, CHAT, chat_body())
    assert status == 200
    assert got["id"] == "cmpl-x" and got["object"] == "chat.completion"
    assert got["choices"][0]["message"]["content"] == "Hi!"
    assert got["choices"][0]["finish_reason"] == "length"


async def test_write_size_splits_frames(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    server.write_size = 3
    server.queue_chat(ChatReply(text="Ça va? Très bien 🙂"))
    async with http.post(
        server.base_url + CHAT, json=chat_body(stream=True), headers=AUTH
    ) as response:
        pieces = await http_chunks(response)
    raw = b"".join(pieces)
    assert max(map(len, pieces)) <= 3 and len(pieces) >= len(raw) // 3
    assert any(_cuts_a_character(piece) for piece in pieces)
    text = "".join(
        c["choices"][0]["delta"].get("content", "") for c in chat_data(await _split(raw))
    )
    assert text == "Ça va? Très bien 🙂"


def _cuts_a_character(piece: bytes) -> bool:
    try:
        piece.decode()
    except UnicodeDecodeError:
        return True
    return False


# --- conversation stream framing ------------------------------------------------------------


async def test_conversation_stream_framing(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_conversation(AgentReply(text="Hi there", conversation_id="conv_x"))
    async with http.post(server.base_url + CONV, json=conv_body(), headers=AUTH) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        raw = await response.read()
    assert b"[DONE]" not in raw
    events = conv_data(await _split(raw))
    assert [e["type"] for e in events] == [
        "conversation.response.started",
        "message.output.delta",
        "message.output.delta",
        "conversation.response.done",
    ]
    assert events[0]["conversation_id"] == "conv_x"
    delta = events[1]
    assert {
        k: delta[k]
        for k in ("content", "output_index", "content_index", "model", "role", "agent_id")
    } == {
        "content": "Hi t",
        "output_index": 0,
        "content_index": 0,
        "model": "mistral-medium-latest",
        "role": "assistant",
        "agent_id": None,
    }
    assert delta["id"].startswith("msg_")
    assert set(events[-1]["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


async def _split(raw: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in raw.split(b"\n\n") if part]


async def test_conversation_full_event_sequence(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    reply = AgentReply(
        handoff_to=OTHER_AGENT,
        tool_executions=["web_search"],
        thinking="hm",
        text="Done",
        references=True,
        tool_calls=[ToolCall("book", {"when": "now"}, id=CALL_ID)],
        connector_tokens=12,
    )
    events = await stream_conv(http, server, reply, model=None, agent_id=AGENT)
    types = [e["type"] for e in events]
    assert types[:3] == [
        "conversation.response.started",
        "agent.handoff.started",
        "agent.handoff.done",
    ]
    assert (
        events[1]["previous_agent_id"] == AGENT and events[1]["previous_agent_name"] == "Concierge"
    )
    assert events[2]["next_agent_id"] == OTHER_AGENT and events[2]["next_agent_name"] == "Booker"
    assert types[3] == "tool.execution.started" and "tool.execution.done" in types
    deltas = [e for e in events if e["type"] == "message.output.delta"]
    assert {d["agent_id"] for d in deltas} == {OTHER_AGENT}
    assert deltas[0]["content"]["type"] == "thinking"
    assert deltas[-1]["content"]["type"] == "tool_reference"
    calls = [e for e in events if e["type"] == "function.call.delta"]
    assert {c["tool_call_id"] for c in calls} == {CALL_ID}
    assert "".join(c["arguments"] for c in calls) == '{"when": "now"}'
    assert events[-1]["usage"]["connector_tokens"] == 12


async def test_conversation_scripted_error(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    events = await stream_conv(http, server, AgentReply(text="Hi", error=("Boom", 3000)))
    assert events[-1] == {
        "type": "conversation.response.error",
        "message": "Boom",
        "code": 3000,
        "created_at": events[-1]["created_at"],
    }
    assert "conversation.response.done" not in [e["type"] for e in events]


async def test_non_streaming_conversation(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_conversation(AgentReply(text="Hello", tool_calls=[ToolCall("f", "{}")]))
    status, got = await post(http, server, CONV, conv_body(stream=False))
    assert status == 200 and got["object"] == "conversation.response"
    assert [o["type"] for o in got["outputs"]] == ["message.output", "function.call"]
    assert got["outputs"][0]["content"] == "Hello"


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (400, {"type": "invalid_model", "code": "1500"}),
        (401, {"detail": "Unauthorized"}),
        (403, {"detail": "Forbidden"}),
        (404, {"object": "error"}),
        (409, {"object": "error"}),
        (422, {"type": "invalid_request_error"}),
        (429, {"type": "rate_limited", "code": "1300", "message": "Rate limit exceeded"}),
        (500, {"object": "error"}),
        (502, {"message": "An invalid response was received from the upstream server"}),
        (503, {"object": "error"}),
        (504, {"message": "The upstream server is timing out"}),
    ],
)
async def test_status_faults_have_live_bodies(
    server: LocalMistral, http: aiohttp.ClientSession, code: int, expected: dict[str, Any]
) -> None:
    server.queue_chat(Fault.status(code))
    async with http.post(
        server.base_url + CHAT, json=chat_body(stream=True), headers=AUTH
    ) as response:
        assert response.status == code
        assert response.content_type == "application/json"
        body = await response.json()
        assert expected.items() <= body.items()
        if code == 429:
            assert response.headers["Retry-After"] == "1"


async def test_status_fault_options(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    server.queue_chat(
        Fault.status(422, shape="detail"),
        Fault.status(503, "upstream down", retry_after=2, headers={"x-a": "b"}),
    )
    status, body = await post(http, server, CHAT, chat_body())
    assert status == 422 and body["detail"][0]["type"] == "extra_forbidden"
    async with http.post(server.base_url + CHAT, json=chat_body(), headers=AUTH) as response:
        assert (response.status, await response.text()) == (503, "upstream down")
        assert response.headers["Retry-After"] == "2" and response.headers["x-a"] == "b"
    assert (await post(http, server, CHAT, chat_body()))[0] == 200


async def test_queue_http_for_other_routes(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_http("/v1/models", Fault.status(500))
    server.queue_http("/v1/agents/", Fault.status(503))
    for path, status in [
        ("/v1/models", 500),
        ("/v1/models", 200),
        (f"/v1/agents/{AGENT}", 503),
        (f"/v1/agents/{AGENT}", 200),
    ]:
        async with http.get(server.base_url + path, headers=AUTH) as response:
            assert response.status == status


async def test_queue_http_mid_stream_fault_on_chat(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_http(CHAT, Fault.cut_stream(2, reply=ChatReply(text="abcdefghijkl")))
    events = await stream_chat(http, server)
    assert len(events) == 2 and DONE not in events


async def test_wrong_content_type(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    server.queue_chat(Fault.wrong_content_type())
    async with http.post(
        server.base_url + CHAT, json=chat_body(stream=True), headers=AUTH
    ) as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert (await response.text()).startswith("<html>")


async def test_reset_before_headers_aborts(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_chat(Fault.reset_before_headers())
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(http, server, CHAT, chat_body(stream=True))
    assert server.disconnects == []  # the server hung up, not the client
    assert (await post(http, server, CHAT, chat_body()))[0] == 200


async def test_reset_mid_stream_aborts(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    server.queue_chat(Fault.reset_mid_stream(2, reply=ChatReply(text="abcdefghijkl")))
    received: list[bytes] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(
            server.base_url + CHAT, json=chat_body(stream=True), headers=AUTH
        ) as response:
            async for line in response.content:
                received.append(line)
    assert sum(1 for line in received if line.startswith(b"data:")) == 2
    assert server.open_streams == 0


async def test_cut_stream_ends_cleanly_without_done(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_chat(Fault.cut_stream(3, reply=ChatReply(text="abcdefghijklmnop")))
    events = await stream_chat(http, server)
    assert len(events) == 3 and DONE not in events
    server.queue_conversation(Fault.cut_stream(2, reply=AgentReply(text="abcdefghijkl")))
    conv_events = await stream_conv(http, server)
    assert [e["type"] for e in conv_events] == [
        "conversation.response.started",
        "message.output.delta",
    ]


async def test_malformed_event(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    server.queue_chat(Fault.malformed_event(1))
    events = await stream_chat(http, server)
    with pytest.raises(ValueError):
        json.loads(events[1].removeprefix(b"data: "))
    assert events[-1] == DONE


async def test_in_stream_errors(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    server.queue_chat(Fault.in_stream_error(1, "Overloaded", 3505))
    events = await stream_chat(http, server)
    assert json.loads(events[1].removeprefix(b"data: ")) == {
        "object": "error",
        "message": "Overloaded",
        "type": "internal_server_error",
        "param": None,
        "code": "3505",
    }
    assert events[2:] == [DONE]
    server.queue_conversation(Fault.in_stream_error(1, "Overloaded", 3505))
    conv_events = await stream_conv(http, server)
    assert conv_events[-1]["type"] == "conversation.response.error"
    assert (conv_events[-1]["message"], conv_events[-1]["code"]) == ("Overloaded", 3505)
    assert len(conv_events) == 2


async def test_oversized_event(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    server.queue_chat(Fault.oversized_event(200_000, reply=ChatReply(text="ok")))
    events = await stream_chat(http, server)
    assert len(events[1]) > 200_000
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chat_data(events))
    assert text == "x" * 200_000 + "ok"


async def test_unknown_events(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    server.queue_chat(Fault.unknown_event(reply=ChatReply(text="ok")))
    events = await stream_chat(http, server)
    assert events[1] == b": keep-alive\n\n"
    assert json.loads(events[2].removeprefix(b"data: "))["choices"] == []
    server.queue_conversation(Fault.unknown_event(reply=AgentReply(text="ok")))
    conv_events = await stream_conv(http, server)
    assert conv_events[1]["type"] == "conversation.response.heartbeat"
    assert conv_events[-1]["type"] == "conversation.response.done"


async def test_stall_mid_stream_ends_on_client_disconnect(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_chat(Fault.stall_mid_stream(2))
    async with http.post(
        server.base_url + CHAT, json=chat_body(stream=True), headers=AUTH
    ) as response:
        await response.content.readline()
        await response.content.readline()
        await response.content.readline()
        await until(lambda: server.open_streams == 1)
        response.close()
    disconnect = await server.wait_for_disconnect(timeout=5)
    assert disconnect.path == CHAT and disconnect.at <= time.monotonic()
    await until(lambda: server.open_streams == 0)


async def test_stall_before_headers_ends_on_client_timeout(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_conversation(Fault.stall_before_headers())
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            server.base_url + CONV,
            json=conv_body(),
            headers=AUTH,
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass
    assert (await server.wait_for_disconnect(timeout=5)).path == CONV
    with pytest.raises(asyncio.TimeoutError):
        await server.wait_for_disconnect(timeout=0.05)


async def test_short_stall_then_normal_answer(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_chat(
        Fault.stall_before_headers(0.05, reply=ChatReply(text="late")),
        Fault.stall_mid_stream(1, 0.05, reply=ChatReply(text="later")),
    )
    started = time.monotonic()
    assert (await post(http, server, CHAT, chat_body()))[1]["choices"][0]["message"][
        "content"
    ] == "late"
    events = await stream_chat(http, server)
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chat_data(events)) == "later"
    )
    assert time.monotonic() - started >= 0.1


async def test_mid_stream_fault_on_non_streaming_request_breaks_body(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.queue_chat(Fault.cut_stream(0))
    status, body = await post(http, server, CHAT, chat_body())
    assert status == 200 and isinstance(body, str)  # truncated JSON


async def test_aclose_is_quick_with_stalled_handlers(http: aiohttp.ClientSession) -> None:
    server = LocalMistral(api_key=KEY)
    await server.start()
    server.queue_chat(Fault.stall_mid_stream(1), Fault.stall_before_headers())
    stream = await http.post(server.base_url + CHAT, json=chat_body(stream=True), headers=AUTH)
    await stream.content.readline()
    waiting = asyncio.ensure_future(post(http, server, CHAT, chat_body()))
    await until(lambda: len(server.requests) == 2)
    started = time.monotonic()
    await server.aclose()
    assert time.monotonic() - started < 2.0
    with pytest.raises(aiohttp.ClientError):
        await stream.content.read()
    with pytest.raises(aiohttp.ClientError):
        await waiting
    stream.close()
    assert server.disconnects == [] and server.open_streams == 0
    assert [t for t in asyncio.all_tasks() if not t.done()] == [asyncio.current_task()]


def test_plan_stream_clamps_so_the_end_is_always_hit() -> None:
    frames = [b"a", b"b", b"end"]
    steps = plan_stream(frames, Fault.cut_stream(99), _NoFrames())
    assert steps == [b"a", b"b"]
    assert plan_stream(frames, None, _NoFrames()) == frames


class _NoFrames:
    def error(self, message: str, code: int) -> list[bytes]:
        return []

    def unknown(self) -> list[bytes]:
        return []

    def oversized(self, size_bytes: int) -> bytes:
        return b""


def test_fault_reply_kind_is_checked() -> None:
    server = LocalMistral()
    with pytest.raises(TypeError):
        server.queue_chat(Fault.cut_stream(1, reply=AgentReply(text="x")))
    with pytest.raises(TypeError):
        server.queue_conversation(Fault.cut_stream(1, reply=ChatReply(text="x")))


# --- recording, connections, other routes ---------------------------------------------------


async def test_requests_are_recorded(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    await post(http, server, CHAT, chat_body(temperature=0.2))
    await post(http, server, CONV, conv_body(stream=False))
    await post(http, server, CHAT, chat_body(), headers={})
    async with http.get(server.base_url + "/v1/models", headers=AUTH):
        pass
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", CHAT),
        ("POST", CONV),
        ("POST", CHAT),
        ("GET", "/v1/models"),
    ]
    first = server.requests[0]
    assert first.headers["authorization"] == first.headers["Authorization"] == f"Bearer {KEY}"
    assert "content-type" in first.headers and first.headers.get("Content-Type")
    assert first.body == chat_body(temperature=0.2)
    assert server.requests[3].body is None
    assert [r.at for r in server.requests] == sorted(r.at for r in server.requests)
    assert server.chat_requests == [chat_body(temperature=0.2), chat_body()]
    assert server.conversation_requests == [conv_body(stream=False)]


async def test_request_bodies_of_several_mib_are_accepted(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    # aiohttp refuses bodies above 1 MiB by default; the live API takes images of several MiB
    image = "data:image/png;base64," + base64.b64encode(os.urandom(3 * 1024 * 1024)).decode()
    content = [
        {"type": "text", "text": "What differs between these two?"},
        {"type": "image_url", "image_url": image},
        {"type": "image_url", "image_url": {"url": image}},
    ]
    body = chat_body(messages=[{"role": "user", "content": content}])
    data = io.BytesIO(json.dumps(body).encode())  # aiohttp warns on large bytes bodies
    headers = {**AUTH, "Content-Type": "application/json"}
    async with http.post(server.base_url + CHAT, data=data, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["object"] == "chat.completion"
    assert len(server.requests[-1].raw) > 8 * 1024 * 1024
    assert server.chat_requests == [body]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
async def test_base_url_brackets_an_ipv6_host(http: aiohttp.ClientSession) -> None:
    async with LocalMistral(api_key=KEY, host="::1") as local:
        assert local.base_url == f"http://[::1]:{local.port}"
        async with http.get(local.base_url + "/v1/models", headers=AUTH) as response:
            assert response.status == 200
        assert [r.path for r in local.requests] == ["/v1/models"]


async def test_keep_alive_reuses_one_connection(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    await stream_chat(http, server)
    await stream_conv(http, server)
    await post(http, server, CHAT, chat_body())
    assert server.connections_opened == 1
    async with aiohttp.ClientSession() as other:
        await post(other, server, CHAT, chat_body())
    assert server.connections_opened == 2


async def test_agents_and_models_routes(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.base_url}/v1/agents/{AGENT}", headers=AUTH) as response:
        agent = await response.json()
        assert (agent["id"], agent["name"], agent["model"]) == (
            AGENT,
            "Concierge",
            "mistral-medium-latest",
        )
    async with http.get(f"{server.base_url}/v1/agents/ag_nope", headers=AUTH) as response:
        assert response.status == 404
    async with http.get(f"{server.base_url}/v1/models", headers=AUTH) as response:
        models = await response.json()
        assert models["object"] == "list"
        assert "mistral-small-latest" in {m["id"] for m in models["data"]}
    async with http.get(f"{server.base_url}/v1/nothing", headers=AUTH) as response:
        assert (response.status, await response.json()) == (404, {"detail": "Not Found"})


async def agent_call(
    http: aiohttp.ClientSession, server: LocalMistral, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with http.request(method, server.base_url + path, json=body, headers=AUTH) as response:
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"name": "x"},
            [("missing", ["body", "model"])],
            id="model-required",
        ),
        pytest.param(
            {"model": "mistral-small-latest", "name": "x", "tool": []},
            [("extra_forbidden", ["body", "tool"])],
            id="unknown-field",
        ),
        pytest.param(
            {
                "model": "mistral-small-latest",
                "name": "x",
                "tools": [
                    {"type": "document_library"},
                    {"type": "web_search", "tool_configuration": {"only": ["a"]}},
                    {"type": "function", "function": {"name": "bad name", "parameters": {}}},
                ],
            },
            [
                ("missing", ["body", "tools", 0, "document_library", "library_ids"]),
                (
                    "extra_forbidden",
                    ["body", "tools", 1, "web_search", "tool_configuration", "only"],
                ),
                ("string_pattern_mismatch", ["body", "tools", 2, "function", "function", "name"]),
            ],
            id="tools",
        ),
        pytest.param(
            {
                "model": "mistral-small-latest",
                "name": "x",
                "handoffs": [],
                "version_message": "v" * 501,
            },
            [("too_short", ["body", "handoffs"]), ("string_too_long", ["body", "version_message"])],
            id="handoffs-and-version-message",
        ),
    ],
)
async def test_create_agent_is_validated(
    server: LocalMistral,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    expected: list[tuple[str, list[Any]]],
) -> None:
    status, answer = await agent_call(http, server, "POST", "/v1/agents", body)
    assert status == 422
    assert [(item["type"], item["loc"]) for item in answer["detail"]] == expected


async def test_agent_versions_and_aliases_over_http(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    body = {"model": "mistral-small-latest", "name": "Weather", "tools": [WEATHER_TOOL]}
    status, created = await agent_call(http, server, "POST", "/v1/agents", body)
    assert status == 200 and (created["version"], created["versions"]) == (0, [0])
    path = f"/v1/agents/{created['id']}"
    status, updated = await agent_call(http, server, "PATCH", path, {"instructions": "Hi"})
    assert (status, updated["version"], updated["tools"]) == (200, 1, [WEATHER_TOOL])
    status, bad = await agent_call(http, server, "PATCH", path, {"model": "gpt-4"})
    assert (status, bad["type"]) == (400, "invalid_model")
    status, alias = await agent_call(http, server, "PUT", f"{path}/aliases?alias=prod&version=0")
    assert (status, alias["alias"], alias["version"]) == (200, "prod", 0)
    status, pinned = await agent_call(http, server, "GET", f"{path}?agent_version=prod")
    assert (status, pinned["version"], pinned["instructions"]) == (200, 0, None)
    status, missing = await agent_call(http, server, "PUT", f"{path}/aliases?alias=prod&version=9")
    assert (status, missing["type"]) == (404, "not_found_error")
    status, invalid = await agent_call(http, server, "PUT", f"{path}/aliases?version=x")
    assert status == 422
    assert [(i["type"], i["loc"]) for i in invalid["detail"]] == [
        ("missing", ["query", "alias"]),
        ("int_parsing", ["query", "version"]),
    ]
    conversation = {"agent_id": created["id"], "agent_version": "staging", "inputs": "Hi"}
    status, unknown = await agent_call(http, server, "POST", CONV, conversation)
    assert (status, unknown["message"]) == (
        404,
        f"Agent version not found: {created['id']} version staging",
    )
    status, _ = await agent_call(http, server, "DELETE", f"{path}/aliases?alias=prod")
    assert status == 204
    status, gone = await agent_call(http, server, "DELETE", f"{path}/aliases?alias=prod")
    assert (status, gone["message"]) == (404, "Agent alias not found: prod")
    assert server.agent_version(created["id"]).instructions == "Hi"
    assert server.agent_version(created["id"], 0).instructions is None


# --- demo brain -----------------------------------------------------------------------------


async def test_demo_brain_echoes(server: LocalMistral, http: aiohttp.ClientSession) -> None:
    events = await stream_chat(http, server)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chat_data(events))
    assert text == "You said: Hello there"
    assert len(chat_data(events)) > 2


async def test_demo_brain_calls_a_mentioned_tool(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    body = chat_body(
        messages=[{"role": "user", "content": "What's the weather in Paris?"}], tools=[WEATHER_TOOL]
    )
    _, got = await post(http, server, CHAT, body)
    [call] = got["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {
        "city": "Paris",
        "unit": "celsius",
        "days": 1,
        "detailed": False,
    }
    assert got["choices"][0]["finish_reason"] == "tool_calls"
    none_body = {**body, "tool_choice": "none"}
    _, got = await post(http, server, CHAT, none_body)
    assert got["choices"][0]["message"]["tool_calls"] is None


async def test_demo_brain_answers_tool_results(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    _, got = await post(http, server, CHAT, chat_body(messages=tool_history()))
    assert got["choices"][0]["message"]["content"] == "Here is what I found: sunny"
    events = await stream_conv(http, server, inputs=_conv_inputs())
    text = "".join(e["content"] for e in events if e["type"] == "message.output.delta")
    assert text == "Here is what I found: sunny"


async def test_demo_brain_uses_agent_tools(
    server: LocalMistral, http: aiohttp.ClientSession
) -> None:
    server.add_agent("ag_weather", tools=[WEATHER_TOOL["function"]])
    events = await stream_conv(
        http, server, model=None, agent_id="ag_weather", inputs="Weather in Lyon please"
    )
    calls = [e for e in events if e["type"] == "function.call.delta"]
    assert calls and calls[0]["name"] == "get_weather"
    assert json.loads("".join(c["arguments"] for c in calls))["city"] == "Lyon"


# --- runnable -------------------------------------------------------------------------------


def test_module_runs_and_serves() -> None:
    command = [
        sys.executable,
        "-m",
        "livekit.plugins.mistral.testing",
        "--port",
        "0",
        "--api-key",
        "k",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().split()[4]
            assert base_url.startswith("http://127.0.0.1:")
            assert asyncio.run(_get_status(base_url + "/v1/models", "k")) == 200
        finally:
            process.terminate()


async def _get_status(url: str, key: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {key}"}) as response,
    ):
        return response.status
