"""The local server's side of Mistral's 2026 API additions: the new fields with their 422
bodies, chunks accepted exactly where Mistral's OpenAPI document puts them, the prompt cache,
usage in full and guardrail blocks."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import AGENT_ID, API_KEY, thought

from livekit.plugins.mistral.testing import (
    ChatReply,
    LocalMistral,
    check_chat_request,
    check_conversation_request,
)
from livekit.plugins.mistral.testing.prompt_cache import PromptCache

# --- what the local server accepts and refuses ----------------------------------------------


def chat(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"model": "mistral-small-latest", "messages": messages, **fields}


def errors_of(body: dict[str, Any]) -> list[tuple[str, ...]]:
    violation = check_chat_request(body)
    assert violation is not None and violation.status == 422
    return [
        (item["type"], ".".join(map(str, item["loc"])))
        for item in violation.body["message"]["detail"]
    ]


USER = {"role": "user", "content": "Hi"}


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": [thought("x", "sig"), {"type": "text", "text": "y"}]},
        {"role": "assistant", "content": [thought("x")], "tool_calls": None},
        {"role": "system", "content": [thought("x"), {"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": "UklGRg=="}]},
    ],
)
def test_server_accepts_chunks_where_the_spec_allows(message: dict[str, Any]) -> None:
    assert (
        check_chat_request(chat([message, USER] if message["role"] != "user" else [message]))
        is None
    )


def test_server_takes_thinking_before_tool_calls_not_beside_them() -> None:
    call = {"id": "aB3dE5gH7", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    answer = {"role": "tool", "tool_call_id": "aB3dE5gH7", "name": "f", "content": "ok"}
    calls = {"role": "assistant", "tool_calls": [call]}
    thinking = {"role": "assistant", "content": [thought("x")]}
    assert check_chat_request(chat([USER, thinking, calls, answer])) is None
    for content in ([thought("x")], "I will call f."):  # content beside tool_calls: refused
        violation = check_chat_request(chat([USER, {**calls, "content": content}, answer]))
        assert violation is not None and violation.status == 400


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"role": "system", "content": [{"type": "image_url", "image_url": "http://x/y.png"}]},
            [("union_tag_invalid", "body.messages.0.system.content.list.0")],
        ),
        (
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]},
            [("string_type", "body.messages.0.user.content.list.0.input_audio.input_audio")],
        ),
        (
            {"role": "user", "content": [{"type": "thinking", "thinking": [thought("x")]}]},
            [("union_tag_invalid", "body.messages.0.user.content.list.0.thinking.thinking.0")],
        ),
        (
            {"role": "user", "content": [{"type": "thinking", "closed": "yes"}]},
            [
                ("missing", "body.messages.0.user.content.list.0.thinking.thinking"),
                ("bool_type", "body.messages.0.user.content.list.0.thinking.closed"),
            ],
        ),
        (
            {"role": "user", "content": [{"type": "thinking", "thinking": [], "mood": "calm"}]},
            [("extra_forbidden", "body.messages.0.user.content.list.0.thinking.mood")],
        ),
    ],
)
def test_server_refuses_chunks_the_spec_does_not_allow(
    message: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert errors_of(chat([message, USER])) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"service_tier": "priority"}, [("literal_error", "body.service_tier")]),
        ({"prompt_mode": "fast"}, [("literal_error", "body.prompt_mode")]),
        ({"prompt_cache_key": 42}, [("string_type", "body.prompt_cache_key")]),
        ({"guardrails": {"block_on_error": True}}, [("list_type", "body.guardrails")]),
        (
            {"guardrails": [{"block_on_error": 1, "moderation_llm_v2": {"action": "stop"}}]},
            [
                ("bool_type", "body.guardrails.0.block_on_error"),
                ("literal_error", "body.guardrails.0.moderation_llm_v2.action"),
            ],
        ),
        (
            {"guardrails": [{"moderation_llm_v1": {"custom_category_thresholds": {"pii": "x"}}}]},
            [("float_type", "body.guardrails.0.moderation_llm_v1.custom_category_thresholds.pii")],
        ),
    ],
)
def test_server_checks_the_new_fields(
    fields: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert errors_of(chat([USER], **fields)) == expected


def test_conversations_refuse_chat_only_fields_and_audio() -> None:
    body = {
        "agent_id": AGENT_ID,
        "inputs": [
            {
                "type": "message.input",
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": "UklGRg=="}],
            }
        ],
        "prompt_cache_key": "k",
        "service_tier": "auto",
    }
    violation = check_conversation_request(body, [AGENT_ID])
    assert violation is not None and violation.status == 422
    found = {(i["type"], ".".join(map(str, i["loc"]))) for i in violation.body["message"]["detail"]}
    assert found == {
        ("extra_forbidden", "body.prompt_cache_key"),
        ("extra_forbidden", "body.service_tier"),
        (
            "union_tag_invalid",
            "body.inputs.list[InputEntries].0.message.input.content.list.0",
        ),
    }


def test_prompt_cache_reports_multiples_of_64_under_one_key() -> None:
    cache = PromptCache()
    prompt = "x" * 1000  # 250 tokens
    assert cache.cached_tokens("k", prompt) == 0  # first sight
    assert cache.cached_tokens("k", prompt + "more") == 192  # 250 shared tokens, in 64s
    assert cache.cached_tokens("other", prompt) == 0
    assert cache.cached_tokens(None, prompt) == 0
    assert cache.cached_tokens("short", "y" * 200) == 0
    assert cache.cached_tokens("short", "y" * 250) == 0  # under 64 tokens never hits


async def post_chat(server: LocalMistral, body: dict[str, Any]) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            server.base_url + "/v1/chat/completions", json=body, headers=headers
        ) as r:
            return r.status, await r.json()


async def test_usage_reports_cached_reasoning_tokens_and_tier(server: LocalMistral) -> None:
    messages = [{"role": "user", "content": "Tell me about the sea. " * 40}]
    server.queue_chat(ChatReply(text="Waves."), ChatReply(text="Tides.", thinking="Hmm, tides."))
    _, first = await post_chat(server, chat(messages, prompt_cache_key="sea"))
    messages += [{"role": "assistant", "content": "Waves."}, {"role": "user", "content": "More"}]
    _, second = await post_chat(server, chat(messages, prompt_cache_key="sea"))
    assert first["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert "completion_tokens_details" not in first["usage"]
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    # the shared prefix is the first prompt's JSON up to its last "]": 949 characters, 237
    # tokens at four characters each, reported in whole blocks of 64
    assert cached == 192
    assert second["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}
    assert first["usage"]["service_tier"] == second["usage"]["service_tier"] == "standard"
    assert server.usage_reports == [first["usage"], second["usage"]]
    server.queue_chat(ChatReply(text="Fast."))
    _, priority = await post_chat(server, chat(messages, service_tier="auto"))
    assert priority["usage"]["service_tier"] == "priority"


async def test_guardrail_block_is_the_documented_403(server: LocalMistral) -> None:
    guardrails: list[dict[str, Any]] = [
        {"moderation_llm_v2": {"action": "block", "custom_category_thresholds": {"pii": 0.2}}}
    ]
    messages = [{"role": "user", "content": "Tell me [flag:criminal] things"}]
    status, body = await post_chat(server, chat(messages, guardrails=guardrails))
    assert status == 403
    decisions = body["guardrails"]["results"]["moderation_llm_v2"].pop("decisions")
    assert body == {
        "error": {"message": "Content blocked by guardrail", "status": 403},
        "guardrails": {
            "results": {
                "moderation_llm_v2": {
                    "model_name": "mistral-moderation-2603",
                    "violated": True,
                    "action": "block",
                }
            }
        },
    }
    assert decisions["criminal"] == {"threshold": 0.5, "score": 0.99, "violated": True}
    assert decisions["pii"] == {"threshold": 0.2, "score": 0.0, "violated": False}
    assert [name for name, d in decisions.items() if d["violated"]] == ["criminal"]

    server.queue_chat(ChatReply(text="ok"))
    guardrails[0]["moderation_llm_v2"]["ignore_other_categories"] = True
    status, _ = await post_chat(server, chat(messages, guardrails=guardrails))
    assert status == 200  # only pii is watched


async def test_block_on_error_is_the_documented_403(server: LocalMistral) -> None:
    server.moderation_down = True
    guardrails = [{"block_on_error": True, "moderation_llm_v2": {"action": "none"}}]
    status, body = await post_chat(server, chat([USER], guardrails=guardrails))
    assert status == 403
    assert body["object"] == "Error" and body["code"] == 3201
    assert body["message"].startswith("Request blocked due to error in guardrail evaluation")
    server.queue_chat(ChatReply(text="ok"))
    guardrails[0]["block_on_error"] = False
    status, _ = await post_chat(server, chat([USER], guardrails=guardrails))
    assert status == 200
