"""ChatContext -> Conversations API input entries and instructions, on exact dicts."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from hypothesis import given, settings
from livekit.agents import llm
from livekit.agents.llm.chat_context import DYNAMIC_INSTRUCTIONS_MESSAGE_ID

# the history strategy and builders live with the chat mapping tests (tests/ is on sys.path)
from test_mapping_chat import CONTINUE, call, chat_histories, ctx, msg, out

from livekit.plugins.mistral.mapping.conversations import to_conversation_inputs
from livekit.plugins.mistral.mapping.ids import to_mistral_call_id
from livekit.plugins.mistral.testing.rules import check_conversation_request


def user_entry(content: Any) -> dict[str, Any]:
    return {"type": "message.input", "role": "user", "content": content}


def assistant_entry(content: str) -> dict[str, Any]:
    return {"type": "message.output", "role": "assistant", "content": content}


def call_entry(call_id: str, name: str = "lookup", arguments: str = "{}") -> dict[str, Any]:
    return {"type": "function.call", "tool_call_id": call_id, "name": name, "arguments": arguments}


def result_entry(call_id: str, result: str = "done") -> dict[str, Any]:
    return {"type": "function.result", "tool_call_id": call_id, "result": result}


def test_preamble_becomes_instructions_and_messages_become_entries() -> None:
    entries, instructions = to_conversation_inputs(
        ctx(
            msg("system", "You are a concierge."),
            msg("system", "Caller: 42", id=DYNAMIC_INSTRUCTIONS_MESSAGE_ID),
            msg("user", "hello"),
            msg("assistant", "Hi! How can I help?"),
            msg("user", "a table"),
        )
    )
    assert instructions == "You are a concierge.\nCaller: 42"
    assert entries == [
        user_entry("hello"),
        assistant_entry("Hi! How can I help?"),
        user_entry("a table"),
    ]


def test_no_instructions() -> None:
    assert to_conversation_inputs(ctx(msg("user", "hi"))) == ([user_entry("hi")], None)


def test_empty_context() -> None:
    assert to_conversation_inputs(llm.ChatContext()) == ([], None)


def test_instructions_only_get_a_continue_entry() -> None:
    entries, instructions = to_conversation_inputs(ctx(msg("developer", "Greet callers.")))
    assert instructions == "Greet callers."
    assert entries == [user_entry(CONTINUE)]


def test_mid_conversation_instructions_stay_in_place_as_user_entries() -> None:
    entries, instructions = to_conversation_inputs(
        ctx(
            msg("system", "Base."),
            msg("user", "hi"),
            msg("assistant", "Hey"),
            msg("system", "Be brief."),
        )
    )
    assert instructions == "Base."
    assert entries == [
        user_entry("hi"),
        assistant_entry("Hey"),
        user_entry("<instructions>\nBe brief.\n</instructions>"),
    ]


def test_images_are_chunks() -> None:
    entries, _ = to_conversation_inputs(
        ctx(msg("user", "what is it?", llm.ImageContent(image="https://example.com/cat.jpg")))
    )
    assert entries == [
        user_entry(
            [
                {"type": "text", "text": "what is it?"},
                {"type": "image_url", "image_url": "https://example.com/cat.jpg"},
            ]
        )
    ]


def test_parallel_calls_then_results_with_mapped_ids() -> None:
    entries, _ = to_conversation_inputs(
        ctx(
            msg("user", "weather in Paris and Lyon"),
            msg("assistant", "Checking.", id="item_g"),
            call("item_g/fnc_0", "weather", '{"city":"Paris"}'),
            call("item_g/fnc_1", "weather", '{"city":"Lyon"}'),
            out("item_g/fnc_0", "sun"),
            out("item_g/fnc_1", "rain", is_error=True),
        )
    )
    paris, lyon = to_mistral_call_id("item_g/fnc_0"), to_mistral_call_id("item_g/fnc_1")
    assert entries == [
        user_entry("weather in Paris and Lyon"),
        assistant_entry("Checking."),
        call_entry(paris, "weather", '{"city":"Paris"}'),
        call_entry(lyon, "weather", '{"city":"Lyon"}'),
        result_entry(paris, "sun"),
        result_entry(lyon, "Error: rain"),
    ]


def test_orphans_are_dropped() -> None:
    entries, _ = to_conversation_inputs(
        ctx(
            msg("user", "go"),
            call("call_lost"),
            out("call_never_made"),
            call("aB3dE6gH9"),
            out("aB3dE6gH9"),
        )
    )
    assert entries == [user_entry("go"), call_entry("aB3dE6gH9"), result_entry("aB3dE6gH9")]


def test_user_after_results_gets_an_acknowledgement() -> None:
    entries, _ = to_conversation_inputs(
        ctx(msg("user", "go"), call("aB3dE6gH9"), out("aB3dE6gH9"), msg("user", "next"))
    )
    assert entries == [
        user_entry("go"),
        call_entry("aB3dE6gH9"),
        result_entry("aB3dE6gH9"),
        assistant_entry("OK."),
        user_entry("next"),
    ]


def test_trailing_assistant_is_kept_and_followed_by_a_continue_entry() -> None:
    entries, _ = to_conversation_inputs(ctx(msg("user", "hi"), msg("assistant", "Hello!")))
    assert entries == [user_entry("hi"), assistant_entry("Hello!"), user_entry(CONTINUE)]


def test_handoffs_are_skipped() -> None:
    entries, _ = to_conversation_inputs(
        ctx(
            msg("user", "hi"),
            llm.AgentHandoff(old_agent_id="a", new_agent_id="b"),
            msg("user", "there"),
        )
    )
    assert entries == [user_entry("hi\nthere")]


# -- property: every produced input list obeys the rules

CALL_ID_RE = re.compile(r"[a-zA-Z0-9]{9}")
_FUNCTION_TYPES = ("function.call", "function.result")


def conversation_rule_violation(entries: list[dict[str, Any]]) -> str | None:
    """The Conversations form of the chat rules, checked on produced input entries."""
    if not entries:
        return None
    if entries[-1]["type"] not in ("message.input", "function.result"):
        return "last entry is not one the agent answers"
    for previous, current in zip(entries, entries[1:], strict=False):
        if previous["type"] == "function.result" and current["type"] == "message.input":
            return "user entry directly after a function result"
    for entry in entries:
        if entry["type"] in _FUNCTION_TYPES and not CALL_ID_RE.fullmatch(entry["tool_call_id"]):
            return "tool call id is not 9 alphanumerics"
        if entry["type"] == "message.output" and not entry["content"]:
            return "empty assistant entry"
    return _unanswered_call(entries)


def _unanswered_call(entries: list[dict[str, Any]]) -> str | None:
    """Each run of function entries: calls first, then exactly one result per call."""
    run: list[dict[str, Any]] = []
    for entry in [*entries, {"type": "end"}]:
        if entry["type"] in _FUNCTION_TYPES:
            run.append(entry)
            continue
        calls = [e["tool_call_id"] for e in run if e["type"] == "function.call"]
        results = [e["tool_call_id"] for e in run if e["type"] == "function.result"]
        if Counter(calls) != Counter(results):
            return "function calls not answered exactly once"
        run = []
    return None


@settings(max_examples=300, deadline=None)
@given(chat_histories())
def test_every_mapped_history_obeys_the_rules(chat_ctx: llm.ChatContext) -> None:
    entries, instructions = to_conversation_inputs(chat_ctx)
    assert conversation_rule_violation(entries) is None, entries
    assert instructions is None or instructions.strip()
    if entries:
        body: dict[str, Any] = {"model": "mistral-small-latest", "inputs": entries, "store": False}
        if instructions is not None:
            body["instructions"] = instructions
        assert check_conversation_request(body) is None, entries


def test_rule_check_catches_each_violation() -> None:
    good_call = [call_entry("aB3dE6gH9"), result_entry("aB3dE6gH9")]
    assert conversation_rule_violation([user_entry("a"), assistant_entry("b")]) is not None
    assert conversation_rule_violation([user_entry("a"), *good_call, user_entry("c")]) is not None
    assert conversation_rule_violation([user_entry("a"), call_entry("aB3dE6gH9")]) is not None
    assert (
        conversation_rule_violation([user_entry("a"), call_entry("call_1"), result_entry("call_1")])
        is not None
    )
    assert conversation_rule_violation([user_entry("a"), *good_call, result_entry("aB3dE6gH9")])
    assert conversation_rule_violation([user_entry("a"), *good_call]) is None
