"""ChatContext -> Chat Completions messages: every rule and decision, on exact dicts."""

from __future__ import annotations

import base64
import logging
import re
from collections import Counter
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit.agents import llm
from livekit.agents.llm.chat_context import DYNAMIC_INSTRUCTIONS_MESSAGE_ID, Instructions

from livekit.plugins.mistral.mapping.chat import to_chat_messages
from livekit.plugins.mistral.mapping.ids import to_mistral_call_id
from livekit.plugins.mistral.testing.rules import check_chat_request

CONTINUE = "<instructions>\nContinue the conversation.\n</instructions>"
OK = {"role": "assistant", "content": "OK."}
PNG_BYTES = b"\x89PNG\r\n\x1a\n fake png payload"
PNG_DATA_URI = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()


# -- builders


def ctx(*items: llm.ChatItem) -> llm.ChatContext:
    return llm.ChatContext(list(items))


def msg(role: llm.ChatRole, *content: Any, **fields: Any) -> llm.ChatMessage:
    return llm.ChatMessage(role=role, content=list(content), **fields)


def call(
    call_id: str, name: str = "lookup", arguments: str = "{}", item_id: str | None = None, **kw: Any
) -> llm.FunctionCall:
    item_id = item_id or (call_id if "/" in call_id else f"item_{call_id}")
    return llm.FunctionCall(id=item_id, call_id=call_id, name=name, arguments=arguments, **kw)


def out(call_id: str, output: str = "done", *, is_error: bool = False) -> llm.FunctionCallOutput:
    return llm.FunctionCallOutput(call_id=call_id, name="lookup", output=output, is_error=is_error)


def tool_calls(*calls: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in calls
        ],
    }


def tool(call_id: str, content: str = "done", name: str = "lookup") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


# -- ids


@pytest.mark.parametrize(
    ("call_id", "expected"),
    [
        ("item_4f2a9c/fnc_0", "4YRPyPvoN"),  # LiveKit's voice pipeline
        ("item_4f2a9c/fnc_1", "VdAGEFihq"),
        ("call_Zx81kP0qRmT3vWc9", "gMbgi7tm0"),  # OpenAI
        ("chatcmpl-tool-8c1f4e2a9b7d4f0e", "y0EJgjOqi"),  # OpenAI-style models on Mistral
        ("", "fs7vrZOoG"),
        ("abc", "5KLfBZGgS"),
        ("aB3dE6gH9", "aB3dE6gH9"),  # already a Mistral id: kept
    ],
)
def test_call_ids_are_mapped_deterministically(call_id: str, expected: str) -> None:
    # pinned values: the mapping must not change between processes or releases
    assert to_mistral_call_id(call_id) == expected
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", to_mistral_call_id(call_id))


def test_call_and_output_share_the_mapped_id() -> None:
    messages = to_chat_messages(
        ctx(msg("user", "hi"), call("call_Zx81kP0qRmT3vWc9"), out("call_Zx81kP0qRmT3vWc9"))
    )
    assert messages == [
        user("hi"),
        tool_calls(("gMbgi7tm0", "lookup", "{}")),
        tool("gMbgi7tm0"),
    ]


# -- instructions


def test_preamble_and_dynamic_instructions_make_one_system_message() -> None:
    messages = to_chat_messages(
        ctx(
            msg("system", "You are a concierge."),
            msg("system", "Caller: +33 1 23", id=DYNAMIC_INSTRUCTIONS_MESSAGE_ID),
            msg("user", "hello"),
        )
    )
    assert messages == [
        {"role": "system", "content": "You are a concierge.\nCaller: +33 1 23"},
        user("hello"),
    ]


def test_developer_preamble_with_instructions_object_and_cache_breakpoint() -> None:
    preamble = msg("developer", "Be brief.", llm.CacheBreakpoint())
    preamble.content.append(Instructions("Speak French."))  # type: ignore[arg-type]
    assert to_chat_messages(ctx(preamble, msg("user", "salut"))) == [
        {"role": "system", "content": "Be brief.\nSpeak French."},
        user("salut"),
    ]


def test_dynamic_message_not_right_after_preamble_is_a_mid_conversation_instruction() -> None:
    messages = to_chat_messages(
        ctx(
            msg("system", "Base."),
            msg("user", "hi"),
            msg("system", "Caller: 42", id=DYNAMIC_INSTRUCTIONS_MESSAGE_ID),
        )
    )
    assert messages == [
        {"role": "system", "content": "Base."},
        user("hi\n<instructions>\nCaller: 42\n</instructions>"),
    ]


def test_per_turn_instructions_become_a_user_message_to_answer() -> None:
    # generate_reply(instructions=...) on the first turn: preamble + per-turn system message
    messages = to_chat_messages(ctx(msg("system", "Base."), msg("system", "Greet the user.")))
    assert messages == [
        {"role": "system", "content": "Base."},
        user("<instructions>\nGreet the user.\n</instructions>"),
    ]


def test_mid_conversation_instructions_keep_their_place() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "hi"),
            msg("assistant", "Hello!"),
            msg("developer", "Now ask for the order number."),
            msg("system"),  # no text: dropped
        )
    )
    assert messages == [
        user("hi"),
        assistant("Hello!"),
        user("<instructions>\nNow ask for the order number.\n</instructions>"),
    ]


def test_system_message_after_conversation_started_is_not_the_preamble() -> None:
    messages = to_chat_messages(ctx(msg("user", "hi"), msg("system", "Late.")))
    assert messages == [user("hi\n<instructions>\nLate.\n</instructions>")]


def test_preamble_only_gets_a_continue_prompt() -> None:
    # generate_reply() in on_enter: nothing but instructions in the history
    assert to_chat_messages(ctx(msg("system", "Greet callers."))) == [
        {"role": "system", "content": "Greet callers."},
        user(CONTINUE),
    ]


def test_blank_preamble_is_dropped() -> None:
    assert to_chat_messages(ctx(msg("system", "  "), msg("user", "hi"))) == [user("hi")]


def test_message_with_unsupported_role_is_skipped() -> None:
    odd = llm.ChatMessage.model_construct(role="narrator", content=["psst"])
    assert to_chat_messages(ctx(msg("user", "hi"), odd)) == [user("hi")]


def test_empty_context_maps_to_nothing() -> None:
    assert to_chat_messages(llm.ChatContext()) == []


# -- user content


def test_pure_text_user_message_is_a_string_and_parts_join_with_newline() -> None:
    assert to_chat_messages(ctx(msg("user", "one", "two"))) == [user("one\ntwo")]


def test_image_url_and_data_uri() -> None:
    message = msg(
        "user",
        "What is this?",
        llm.ImageContent(image="https://example.com/cat.jpg"),
        llm.ImageContent(image=PNG_DATA_URI),
        "And this?",
    )
    assert to_chat_messages(ctx(message)) == [
        user(
            [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": "https://example.com/cat.jpg"},
                {"type": "image_url", "image_url": PNG_DATA_URI},
                {"type": "text", "text": "And this?"},
            ]
        )
    ]


def test_image_only_user_message() -> None:
    message = msg("user", llm.ImageContent(image="https://example.com/cat.jpg"))
    assert to_chat_messages(ctx(message)) == [
        user([{"type": "image_url", "image_url": "https://example.com/cat.jpg"}])
    ]


def test_image_that_cannot_be_encoded_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bmp = "data:image/bmp;base64," + base64.b64encode(b"BM").decode()
    message = msg("user", "look", llm.ImageContent(image=bmp, id="img_1"))
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        assert to_chat_messages(ctx(message)) == [user("look")]
    record = next(r for r in caplog.records if r.name == "livekit.plugins.mistral")
    assert record.getMessage() == "skipping an image that cannot be encoded"
    assert record.__dict__["image_id"] == "img_1"


def test_audio_uses_its_transcript_or_is_skipped() -> None:
    heard = llm.AudioContent(frame=[], transcript="book a table")
    silent = llm.AudioContent(frame=[])
    assert to_chat_messages(ctx(msg("user", heard, silent, "for two"))) == [
        user("book a table\nfor two")
    ]
    assert to_chat_messages(ctx(msg("user", "hi"), msg("user", silent))) == [user("hi")]


def test_unknown_content_type_is_skipped_with_a_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = msg("user", "hi")
    message.content.append(object())  # type: ignore[arg-type]  # bypasses validation
    with caplog.at_level(logging.DEBUG, logger="livekit.plugins.mistral"):
        assert to_chat_messages(ctx(message)) == [user("hi")]
    assert [r.getMessage() for r in caplog.records if r.name == "livekit.plugins.mistral"] == [
        "skipping an unsupported chat content"
    ]


def test_empty_and_blank_user_messages_are_dropped() -> None:
    assert to_chat_messages(ctx(msg("user", "hi"), msg("user"), msg("user", "  "))) == [user("hi")]


# -- assistant


def test_interrupted_assistant_keeps_heard_text_and_empty_ones_are_dropped() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "tell me a story"),
            msg("assistant", "Once upon a", interrupted=True),
            msg("user", "stop"),
            msg("assistant", "", interrupted=True),
            msg("assistant", " "),
            msg("user", "thanks"),
        )
    )
    assert messages == [
        user("tell me a story"),
        assistant("Once upon a"),
        user("stop\nthanks"),
    ]


def test_images_in_assistant_messages_are_skipped() -> None:
    image = llm.ImageContent(image="https://example.com/x.png")
    assert to_chat_messages(ctx(msg("user", "hi"), msg("assistant", "Look", image))) == [
        user("hi"),
        assistant("Look"),
        user(CONTINUE),
    ]


def test_text_and_tool_calls_of_one_generation_are_separate_messages() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "weather in Paris?"),
            msg("assistant", "Let me check.", id="item_gen1"),
            call("item_gen1/fnc_0", "weather", '{"city": "Paris"}'),
            out("item_gen1/fnc_0", "sunny"),
            msg("assistant", "It is sunny."),
        )
    )
    call_id = to_mistral_call_id("item_gen1/fnc_0")
    assert messages == [
        user("weather in Paris?"),
        assistant("Let me check."),
        tool_calls((call_id, "weather", '{"city": "Paris"}')),
        tool(call_id, "sunny", name="weather"),
        assistant("It is sunny."),
        user(CONTINUE),
    ]


def test_trailing_assistant_is_kept_and_followed_by_a_continue_prompt() -> None:
    # generate_reply() after the agent spoke ends the history on assistant
    assert to_chat_messages(ctx(msg("user", "hi"), msg("assistant", "Hello!"))) == [
        user("hi"),
        assistant("Hello!"),
        user(CONTINUE),
    ]


def test_adjacent_messages_of_one_role_merge() -> None:
    image = llm.ImageContent(image="https://example.com/x.png")
    messages = to_chat_messages(
        ctx(
            msg("user", "first"),
            msg("user", image),
            msg("user", "third"),
            msg("assistant", "a"),
            msg("assistant", "b"),
            msg("user", "ok"),
        )
    )
    assert messages == [
        user(
            [
                {"type": "text", "text": "first"},
                {"type": "image_url", "image_url": "https://example.com/x.png"},
                {"type": "text", "text": "third"},
            ]
        ),
        assistant("a\nb"),
        user("ok"),
    ]


# -- tool calls


def test_parallel_calls_of_one_generation_share_one_assistant_message() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "weather in Paris and Lyon"),
            call("item_g/fnc_0", "weather", '{"city":"Paris"}'),
            call("item_g/fnc_1", "weather", '{"city":"Lyon"}'),
            out("item_g/fnc_1", "rain"),
            out("item_g/fnc_0", "sun"),
        )
    )
    paris, lyon = to_mistral_call_id("item_g/fnc_0"), to_mistral_call_id("item_g/fnc_1")
    assert messages == [
        user("weather in Paris and Lyon"),
        tool_calls((paris, "weather", '{"city":"Paris"}'), (lyon, "weather", '{"city":"Lyon"}')),
        tool(paris, "sun", name="weather"),
        tool(lyon, "rain", name="weather"),
    ]


def test_interleaved_calls_and_outputs_group_by_group_id() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "go"),
            call("call_a", item_id="item_1", group_id="resp_1"),
            out("call_a", "A"),
            call("call_b", item_id="item_2", group_id="resp_1"),
            out("call_b", "B"),
        )
    )
    a, b = to_mistral_call_id("call_a"), to_mistral_call_id("call_b")
    assert messages == [
        user("go"),
        tool_calls((a, "lookup", "{}"), (b, "lookup", "{}")),
        tool(a, "A"),
        tool(b, "B"),
    ]


def test_calls_of_different_generations_stay_separate() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "go"),
            call("item_1/fnc_0"),
            out("item_1/fnc_0", "first"),
            call("item_2/fnc_0"),
            out("item_2/fnc_0", "second"),
        )
    )
    one, two = to_mistral_call_id("item_1/fnc_0"), to_mistral_call_id("item_2/fnc_0")
    assert messages == [
        user("go"),
        tool_calls((one, "lookup", "{}")),
        tool(one, "first"),
        tool_calls((two, "lookup", "{}")),
        tool(two, "second"),
    ]


def test_orphans_are_dropped() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "go"),
            call("item_g/fnc_0"),  # interrupted before it ran: no output
            call("item_g/fnc_1"),
            out("item_g/fnc_1", "kept"),
            out("call_nobody_made", "lost"),
        )
    )
    kept = to_mistral_call_id("item_g/fnc_1")
    assert messages == [user("go"), tool_calls((kept, "lookup", "{}")), tool(kept, "kept")]


def test_duplicate_output_keeps_the_last_and_duplicate_call_keeps_the_first() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "go"),
            call("item_g/fnc_0", arguments='{"n": 1}'),
            call("item_g/fnc_0", arguments='{"n": 2}', item_id="item_g/fnc_0_copy"),
            out("item_g/fnc_0", "pending"),
            out("item_g/fnc_0", "final"),
        )
    )
    call_id = to_mistral_call_id("item_g/fnc_0")
    assert messages == [
        user("go"),
        tool_calls((call_id, "lookup", '{"n": 1}')),
        tool(call_id, "final"),
    ]


def test_reused_call_id_in_later_generation_is_a_new_call_with_its_own_id() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "go"),
            call("call_0", item_id="item_1/fnc_0"),
            out("call_0", "first"),
            msg("assistant", "Done once."),
            call("call_0", item_id="item_2/fnc_0"),
            out("call_0", "second"),
        )
    )
    first, second = to_mistral_call_id("call_0"), to_mistral_call_id("call_0#1")
    assert first != second
    assert messages == [
        user("go"),
        tool_calls((first, "lookup", "{}")),
        tool(first, "first"),
        assistant("Done once."),
        tool_calls((second, "lookup", "{}")),
        tool(second, "second"),
    ]


def test_output_before_its_call_is_dropped_with_the_call() -> None:
    assert to_chat_messages(ctx(msg("user", "go"), out("call_x"), call("call_x"))) == [user("go")]


def test_error_output_is_prefixed() -> None:
    messages = to_chat_messages(
        ctx(
            msg("user", "go"), call("aB3dE6gH9"), out("aB3dE6gH9", "order not found", is_error=True)
        )
    )
    assert messages == [
        user("go"),
        tool_calls(("aB3dE6gH9", "lookup", "{}")),
        tool("aB3dE6gH9", "Error: order not found"),
    ]


@pytest.mark.parametrize(
    ("stored", "sent"),
    [("", "{}"), ("  ", "{}"), ("{broken", "{}"), ("[1, 2]", "{}"), ('{"a": 1}', '{"a": 1}')],
)
def test_arguments_are_a_json_object_string(stored: str, sent: str) -> None:
    messages = to_chat_messages(
        ctx(msg("user", "go"), call("aB3dE6gH9", arguments=stored), out("aB3dE6gH9"))
    )
    assert messages[1] == tool_calls(("aB3dE6gH9", "lookup", sent))


def test_user_after_tool_gets_an_assistant_acknowledgement() -> None:
    messages = to_chat_messages(
        ctx(msg("user", "go"), call("aB3dE6gH9"), out("aB3dE6gH9"), msg("user", "and now?"))
    )
    assert messages == [
        user("go"),
        tool_calls(("aB3dE6gH9", "lookup", "{}")),
        tool("aB3dE6gH9"),
        OK,
        user("and now?"),
    ]


def test_instructions_after_tool_also_get_the_acknowledgement() -> None:
    messages = to_chat_messages(
        ctx(msg("user", "go"), call("aB3dE6gH9"), out("aB3dE6gH9"), msg("system", "Summarize."))
    )
    assert messages[-2:] == [OK, user("<instructions>\nSummarize.\n</instructions>")]


def test_user_between_call_and_output_keeps_the_pair_together() -> None:
    # an output committed after the user spoke again (insertion by created_at)
    messages = to_chat_messages(
        ctx(msg("user", "book it"), call("aB3dE6gH9"), msg("user", "hurry"), out("aB3dE6gH9"))
    )
    assert messages == [
        user("book it"),
        tool_calls(("aB3dE6gH9", "lookup", "{}")),
        tool("aB3dE6gH9"),
        OK,
        user("hurry"),
    ]


def test_handoffs_and_config_updates_are_skipped() -> None:
    messages = to_chat_messages(
        ctx(
            msg("system", "Base."),
            llm.AgentConfigUpdate(instructions="Base."),
            msg("user", "hi"),
            llm.AgentHandoff(new_agent_id="billing"),
            msg("assistant", "Billing here."),
            msg("user", "hello"),
        )
    )
    assert messages == [
        {"role": "system", "content": "Base."},
        user("hi"),
        assistant("Billing here."),
        user("hello"),
    ]


# -- property: every produced request obeys the live API's rules

CALL_ID_RE = re.compile(r"[a-zA-Z0-9]{9}")

foreign_call_ids = st.one_of(
    st.builds(
        "item_{}/fnc_{}".format, st.from_regex(r"[a-z0-9]{6}", fullmatch=True), st.integers(0, 3)
    ),
    st.from_regex(r"call_[A-Za-z0-9]{8,24}", fullmatch=True),
    st.from_regex(r"chatcmpl-tool-[0-9a-f]{16}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]{9}", fullmatch=True),
    st.sampled_from(["", "call_0", "call_1"]),  # empty, and ids some servers reuse
)
texts = st.one_of(st.sampled_from(["", " ", "hi", "Bonjour !", "two\nlines"]), st.text(max_size=12))


@st.composite
def chat_histories(draw: st.DrawFn) -> llm.ChatContext:
    """Random interleavings of messages, tool calls with and without outputs, interruptions."""
    items: list[llm.ChatItem] = []
    later: list[llm.ChatItem] = []  # outputs that land after whatever comes next
    if draw(st.booleans()):
        items.append(msg(draw(st.sampled_from(["system", "developer"])), draw(texts)))
    for generation in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(ITEM_KINDS))
        if kind == "calls":
            items.extend(_draw_calls(draw, generation, later))
            continue
        items.extend(later)
        later.clear()
        items.extend(_draw_item(draw, kind))
    items.extend(later)
    return ctx(*items)


ItemKind = Literal["user", "assistant", "system", "calls", "orphan", "other"]
ITEM_KINDS: list[ItemKind] = ["user", "assistant", "system", "calls", "orphan", "other"]


def _draw_item(draw: st.DrawFn, kind: ItemKind) -> list[llm.ChatItem]:
    if kind == "user" and draw(st.booleans()):
        return [msg("user", draw(texts), llm.ImageContent(image="https://example.com/a.png"))]
    if kind == "user" or kind == "system":
        return [msg(kind, draw(texts))]
    if kind == "assistant":
        return [msg("assistant", draw(texts), interrupted=draw(st.booleans()))]
    if kind == "orphan":
        return [out(draw(foreign_call_ids), draw(texts))]
    other: list[llm.ChatItem] = [llm.AgentHandoff(new_agent_id="b"), llm.AgentConfigUpdate()]
    return [draw(st.sampled_from(other))]


def _draw_calls(draw: st.DrawFn, generation: int, later: list[llm.ChatItem]) -> list[llm.ChatItem]:
    calls: list[llm.ChatItem] = []
    now: list[llm.ChatItem] = []
    for n in range(draw(st.integers(1, 3))):
        call_id = draw(foreign_call_ids)
        calls.append(
            call(
                call_id,
                arguments=draw(st.sampled_from(["", "{}", '{"a":1}', "{x"])),
                item_id=f"item_{generation}/fnc_{n}",
            )
        )
        answer = out(call_id, draw(texts), is_error=draw(st.booleans()))
        fate = draw(st.sampled_from(["now", "later", "never", "twice"]))
        {"now": now, "later": later, "never": [], "twice": now}[fate].append(answer)
        if fate == "twice":
            now.append(out(call_id, "again"))
    return [*calls, *now]


def chat_rule_violation(messages: list[dict[str, Any]]) -> str | None:
    """Mistral's message-order rules, checked on a produced ``messages`` list."""
    if not messages:
        return None
    if any(m["role"] == "system" for m in messages[1:]):
        return "system message after the first position"
    if messages[-1]["role"] not in ("user", "tool"):
        return "last message is not user or tool"
    for previous, current in zip(messages, messages[1:], strict=False):
        if previous["role"] == "tool" and current["role"] == "user":
            return "user directly after tool"
    for index, message in enumerate(messages):
        if (problem := _message_violation(message, messages[index + 1 :])) is not None:
            return problem
    return None


def _message_violation(message: dict[str, Any], following: list[dict[str, Any]]) -> str | None:
    if message["role"] == "assistant" and bool(message.get("content")) == bool(
        message.get("tool_calls")
    ):
        return "assistant message without exactly one of content and tool_calls"
    if message["role"] == "tool" and not CALL_ID_RE.fullmatch(message["tool_call_id"]):
        return "tool message id is not 9 alphanumerics"
    call_ids = [c["id"] for c in message.get("tool_calls", [])]
    if any(not CALL_ID_RE.fullmatch(i) for i in call_ids):
        return "tool call id is not 9 alphanumerics"
    answers = []
    for reply in following:
        if reply["role"] != "tool":
            break
        answers.append(reply["tool_call_id"])
    if call_ids and Counter(answers) != Counter(call_ids):
        return "tool calls not answered exactly once by the tool messages after them"
    return None


@settings(max_examples=300, deadline=None)
@given(chat_histories())
def test_every_mapped_history_obeys_the_api_rules(chat_ctx: llm.ChatContext) -> None:
    messages = to_chat_messages(chat_ctx)
    assert chat_rule_violation(messages) is None, messages
    orphan_tools = sum(m["role"] == "tool" for m in messages) - sum(
        len(m.get("tool_calls", [])) for m in messages
    )
    assert orphan_tools == 0
    call_ids = [c["id"] for m in messages for c in m.get("tool_calls", [])]
    assert len(set(call_ids)) == len(call_ids), "call ids must be unique in a request"
    if messages:
        body = {"model": "mistral-small-latest", "messages": messages}
        assert check_chat_request(body) is None, messages


def test_rule_check_catches_each_violation() -> None:
    # the property test is only as good as its checker
    call_msg = tool_calls(("aB3dE6gH9", "f", "{}"))
    assert chat_rule_violation([user("a"), assistant("b")]) is not None
    assert chat_rule_violation([user("a"), call_msg, tool("aB3dE6gH9"), user("c")]) is not None
    assert chat_rule_violation([user("a"), call_msg, user("c")]) is not None
    assert (
        chat_rule_violation([user("a"), tool_calls(("call_1", "f", "{}")), tool("call_1")])
        is not None
    )
    assert (
        chat_rule_violation([user("a"), {**call_msg, "content": "x"}, tool("aB3dE6gH9")])
        is not None
    )
    assert (
        chat_rule_violation([user("a"), {"role": "system", "content": "s"}, user("b")]) is not None
    )
    assert (
        chat_rule_violation([user("a"), call_msg, tool("aB3dE6gH9"), tool("aB3dE6gH9")]) is not None
    )
