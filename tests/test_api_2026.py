"""Mistral's API additions of 2026 over a real socket: request options, usage in full, audio
input, thinking sent back, guardrail blocks, and what the local server accepts and refuses."""

from __future__ import annotations

import base64
import io
import logging
import wave
from collections.abc import Callable
from typing import Any

import pytest
from conftest import AGENT_ID, stream_reply, thought
from livekit.agents import llm

from livekit import rtc
from livekit.plugins.mistral import LLM, PER_CONVERSATION, MistralStatusError, MistralUsage
from livekit.plugins.mistral.mapping.reasoning import REASONING_KEY
from livekit.plugins.mistral.mapping.usage import usage_from
from livekit.plugins.mistral.testing import (
    AgentReply,
    ChatReply,
    LocalMistral,
    check_chat_request,
    check_conversation_request,
)

MakeLLM = Callable[..., LLM]

GUARDRAILS: list[dict[str, Any]] = [
    {
        "block_on_error": True,
        "moderation_llm_v2": {
            "action": "block",
            "custom_category_thresholds": {"dangerous": 0.4},
            "ignore_other_categories": False,
        },
    }
]


def user_ctx(*texts: str) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="Be brief.")
    for text in texts:
        ctx.add_message(role="user", content=text)
    return ctx


def make(make_llm: MakeLLM, mode: str, **options: Any) -> LLM:
    if mode == "agent":
        return make_llm(model=AGENT_ID, mode="agent", **options)
    return make_llm(model="mistral-small-latest", **options)


def queue(server: LocalMistral, mode: str, **reply: Any) -> None:
    if mode == "agent":
        server.queue_conversation(AgentReply(**reply))
    else:
        server.queue_chat(ChatReply(**reply))


def bodies(server: LocalMistral, mode: str) -> list[Any]:
    return server.conversation_requests if mode == "agent" else server.chat_requests


# --- request bodies -------------------------------------------------------------------------


async def test_chat_body_carries_every_new_option(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(ChatReply(text="ok"))
    model = make_llm(
        prompt_cache_key="support-line-42",
        guardrails=GUARDRAILS,
        service_tier="standard_only",
        metadata={"team": "voice", "call": "7"},
        prompt_mode="reasoning",
        reasoning_effort="high",
    )
    await stream_reply(model, user_ctx("Hi"))
    assert server.chat_requests == [
        {
            "model": "mistral-small-latest",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            "stream": True,
            "reasoning_effort": "high",
            "guardrails": GUARDRAILS,
            "service_tier": "standard_only",
            "metadata": {"team": "voice", "call": "7"},
            "prompt_mode": "reasoning",
            "prompt_cache_key": "support-line-42",
        }
    ]


async def test_conversation_body_carries_guardrails_and_metadata_only(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_conversation(AgentReply(text="ok"))
    model = make(make_llm, "agent", guardrails=GUARDRAILS, metadata={"team": "voice"})
    await stream_reply(model, user_ctx("Hi"))
    assert server.conversation_requests == [
        {
            "agent_id": AGENT_ID,
            "inputs": [
                {
                    "type": "message.input",
                    "role": "user",
                    "content": "<instructions>\nBe brief.\n</instructions>",
                },
                {"type": "message.input", "role": "user", "content": "Hi"},
            ],
            "stream": True,
            "store": False,
            "guardrails": GUARDRAILS,
            "metadata": {"team": "voice"},
        }
    ]


@pytest.mark.parametrize("mode", ["normal", "agent"])
async def test_unset_options_are_not_sent(
    server: LocalMistral, make_llm: MakeLLM, mode: str
) -> None:
    queue(server, mode, text="ok")
    model = make(make_llm, mode, prompt_cache_key=None)
    await stream_reply(model, user_ctx("Hi"))
    (body,) = bodies(server, mode)
    sent = set(body)
    assert sent.isdisjoint(
        {"prompt_cache_key", "guardrails", "service_tier", "metadata", "prompt_mode"}
    )
    assert "completion_args" not in body


async def test_update_options_sets_and_clears(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(ChatReply(text="one"), ChatReply(text="two"), ChatReply(text="three"))
    model = make_llm(prompt_cache_key="k1")
    await stream_reply(model, user_ctx("Hi"))
    model.update_options(
        prompt_cache_key="k2", service_tier="auto", metadata={"a": "b"}, guardrails=GUARDRAILS
    )
    await stream_reply(model, user_ctx("Hi"))
    model.update_options(prompt_cache_key=None, service_tier=None, metadata=None, guardrails=None)
    await stream_reply(model, user_ctx("Hi"))
    first, second, third = server.chat_requests
    assert first["prompt_cache_key"] == "k1"
    assert {k: second[k] for k in ("prompt_cache_key", "service_tier", "metadata")} == {
        "prompt_cache_key": "k2",
        "service_tier": "auto",
        "metadata": {"a": "b"},
    }
    assert second["guardrails"] == GUARDRAILS
    assert set(third) == {"model", "messages", "stream"}


async def test_per_conversation_key_is_restored_by_update_options(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(ChatReply(text="one"), ChatReply(text="two"))
    model = make_llm(prompt_cache_key=None)
    ctx = user_ctx("Hi")
    await stream_reply(model, ctx)
    model.update_options(prompt_cache_key=PER_CONVERSATION)
    await stream_reply(model, ctx)
    first, second = server.chat_requests
    assert "prompt_cache_key" not in first
    assert second["prompt_cache_key"].startswith("lk-") and len(second["prompt_cache_key"]) == 35


BAD_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"service_tier": "priority"}, "service_tier must be one of"),
    ({"prompt_mode": "thinking"}, "prompt_mode must be one of"),
    ({"audio_input": "wav"}, "audio_input must be one of"),
    ({"keep_reasoning": "yes"}, "keep_reasoning must be True or False"),
    ({"prompt_cache_key": ""}, "prompt_cache_key must be a non-empty string"),
    ({"prompt_cache_key": 42}, "prompt_cache_key must be a non-empty string"),
    ({"metadata": {"call": 7}}, "metadata must be a dict of strings to strings"),
    ({"metadata": ["a"]}, "metadata must be a dict of strings to strings"),
    ({"guardrails": {"block_on_error": True}}, "guardrails must be a list"),
    ({"guardrails": ["strict"]}, r"guardrails\[0\] must be a dict"),
    ({"guardrails": [{"moderation_llm_v3": {}}]}, r"guardrails\[0\] has unknown keys"),
    ({"guardrails": [{"block_on_error": "yes"}]}, r"block_on_error must be True or False"),
    (
        {"guardrails": [{"moderation_llm_v2": {"action": "refuse"}}]},
        r"guardrails\[0\]\.moderation_llm_v2\.action must be one of",
    ),
    (
        {"guardrails": [{"moderation_llm_v1": {"custom_category_thresholds": {"sexual": "hi"}}}]},
        "custom_category_thresholds must map category names to numbers",
    ),
    (
        {"guardrails": [{"moderation_llm_v2": {"threshold": 0.2}}]},
        r"moderation_llm_v2 has unknown keys \['threshold'\]",
    ),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
async def test_bad_options_raise_before_sending(
    server: LocalMistral, make_llm: MakeLLM, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_llm(**options)
    model = make_llm()
    with pytest.raises(ValueError, match=message):
        model.update_options(**options)
    assert server.requests == []


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"prompt_cache_key": "k"}, "prompt_cache_key"),
        ({"service_tier": "auto"}, "service_tier"),
        ({"prompt_mode": "reasoning"}, "prompt_mode"),
        ({"audio_input": "audio"}, "audio_input='audio'"),
        ({"safe_prompt": True}, "safe_prompt"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ],
)
def test_agent_mode_refuses_what_conversations_do_not_take(
    make_llm: MakeLLM, options: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=f"{name} is not available in agent mode"):
        make(make_llm, "agent", **options)


async def test_calls_with_builtin_tools_say_which_options_they_cannot_send(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    from livekit.plugins.mistral import tools

    model = make_llm(
        prompt_cache_key="k",
        service_tier="auto",
        prompt_mode="reasoning",
        audio_input="audio",
        guardrails=GUARDRAILS,
        metadata={"team": "voice"},
    )
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        for _ in range(2):
            await stream_reply(model, user_ctx("Hi"), tools=[tools.WebSearch()])
    for body in server.conversation_requests:
        assert body["guardrails"] == GUARDRAILS and body["metadata"] == {"team": "voice"}
        assert body.keys().isdisjoint({"prompt_cache_key", "service_tier", "prompt_mode"})
    notes = [r for r in caplog.records if "is not sent on calls" in r.msg]
    warned = sorted(str(r.args[0]) for r in notes if isinstance(r.args, tuple))
    assert warned == ["audio_input", "prompt_cache_key", "prompt_mode", "service_tier"]


# --- usage ----------------------------------------------------------------------------------


async def test_normal_mode_usage_in_full_from_the_server(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    long_history = user_ctx("Tell me about the sea. " * 40)
    server.queue_chat(ChatReply(text="Waves."), ChatReply(thinking="Let me see.", text="Tides."))
    model = make_llm(prompt_cache_key="sea")
    first, _, _ = await stream_reply(model, long_history)
    long_history.add_message(role="assistant", content="Waves.")
    long_history.add_message(role="user", content="And tides?")
    second, _, _ = await stream_reply(model, long_history)

    reports = server.usage_reports
    first_usage, second_usage = first[-1].usage, second[-1].usage
    assert isinstance(first_usage, MistralUsage) and isinstance(second_usage, MistralUsage)
    assert reports[0]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert first_usage.prompt_cached_tokens == 0
    cached = reports[1]["prompt_tokens_details"]["cached_tokens"]
    assert cached > 0 and cached % 64 == 0 and cached <= reports[1]["prompt_tokens"]
    assert second_usage.prompt_cached_tokens == cached
    assert (
        second_usage.reasoning_tokens
        == reports[1]["completion_tokens_details"]["reasoning_tokens"]
        == 3
    )  # "Let me see." is 11 characters
    assert first_usage.service_tier == second_usage.service_tier == "standard"
    assert second_usage.prompt_tokens == reports[1]["prompt_tokens"]


async def test_agent_mode_usage_in_full(server: LocalMistral, make_llm: MakeLLM) -> None:
    usage = {
        "prompt_tokens": 300,
        "completion_tokens": 20,
        "total_tokens": 320,
        "prompt_tokens_details": {"cached_tokens": 256},
        "completion_tokens_details": {"reasoning_tokens": 12},
        "service_tier": "priority",
        "connector_tokens": 5,
    }
    server.queue_conversation(AgentReply(text="ok", usage=usage))
    chunks, _, _ = await stream_reply(make(make_llm, "agent"), user_ctx("Hi"))
    assert chunks[-1].usage == MistralUsage(
        prompt_tokens=300,
        completion_tokens=20,
        total_tokens=320,
        prompt_cached_tokens=256,
        reasoning_tokens=12,
        service_tier="priority",
        connector_tokens=5,
    )


@pytest.mark.parametrize(
    ("raw", "cached"),
    [
        ({"prompt_tokens_details": {"cached_tokens": 128}}, 128),
        ({"prompt_token_details": {"cached_tokens": 64}}, 64),
        ({"num_cached_tokens": 192}, 192),
        ({"prompt_tokens_details": {"cached_tokens": 0}, "num_cached_tokens": 64}, 0),
        ({"prompt_tokens_details": None, "num_cached_tokens": 64}, 64),
        ({}, 0),
    ],
)
def test_cached_tokens_come_from_the_first_shape_present(raw: dict[str, Any], cached: int) -> None:
    usage = usage_from({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, **raw})
    assert usage.prompt_cached_tokens == cached


@pytest.mark.parametrize(
    "raw",
    [5, {"prompt_tokens": "many"}, {"prompt_tokens_details": "x"}, {"num_cached_tokens": [1]}],
)
def test_unreadable_usage_raises_as_any_unreadable_event(raw: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        usage_from(raw)


def test_usage_keeps_audio_seconds_reachable() -> None:
    usage = usage_from({"prompt_tokens": 9, "prompt_audio_seconds": 3})
    assert usage.prompt_audio_seconds == 3.0
    assert usage_from({}).prompt_audio_seconds is None


# --- audio input ----------------------------------------------------------------------------


def audio_content(transcript: str | None, samples: int = 320) -> llm.AudioContent:
    pcm = bytes(range(256)) * (samples * 2 // 256) + bytes(samples * 2 % 256)
    frame = rtc.AudioFrame(data=pcm, sample_rate=16000, num_channels=1, samples_per_channel=samples)
    return llm.AudioContent(frame=[frame, frame], transcript=transcript)


def audio_ctx(content: llm.AudioContent) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=["Listen:", content])
    return ctx


async def test_audio_goes_as_input_audio_base64_wav(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(ChatReply(text="Heard."))
    content = audio_content("hello there")
    await stream_reply(make_llm(audio_input="audio", prompt_cache_key=None), audio_ctx(content))
    (body,) = server.chat_requests
    (message,) = body["messages"]
    text, audio = message["content"]
    assert text == {"type": "text", "text": "Listen:"}
    assert set(audio) == {"type", "input_audio"} and audio["type"] == "input_audio"
    assert isinstance(audio["input_audio"], str)
    with wave.open(io.BytesIO(base64.b64decode(audio["input_audio"]))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        pcm = wav.readframes(wav.getnframes())
    assert pcm == b"".join(bytes(frame.data) for frame in content.frame)


@pytest.mark.parametrize(
    ("audio_input", "content", "expected"),
    [
        ("transcript", audio_content("hello there"), "Listen:\nhello there"),
        ("audio", llm.AudioContent(frame=[], transcript="no frames"), "Listen:\nno frames"),
    ],
)
async def test_audio_falls_back_to_its_transcript(
    server: LocalMistral,
    make_llm: MakeLLM,
    audio_input: str,
    content: llm.AudioContent,
    expected: str,
) -> None:
    server.queue_chat(ChatReply(text="Heard."))
    await stream_reply(make_llm(audio_input=audio_input, prompt_cache_key=None), audio_ctx(content))
    assert server.chat_requests[0]["messages"] == [{"role": "user", "content": expected}]


async def test_agent_mode_sends_the_transcript(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_conversation(AgentReply(text="Heard."))
    await stream_reply(make(make_llm, "agent"), audio_ctx(audio_content("hello there")))
    (body,) = server.conversation_requests
    assert body["inputs"] == [
        {"type": "message.input", "role": "user", "content": "Listen:\nhello there"}
    ]


async def test_unknown_content_is_skipped_with_a_log(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue_chat(ChatReply(text="ok"))
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=["Hi", llm.CacheBreakpoint()])
    message = ctx.items[-1]
    assert isinstance(message, llm.ChatMessage)
    message.content.append(object())  # type: ignore[arg-type]  # what a newer LiveKit may add
    with caplog.at_level(logging.DEBUG, logger="livekit.plugins.mistral"):
        _, text, _ = await stream_reply(make_llm(prompt_cache_key=None), ctx)
    assert text == "ok"
    assert server.chat_requests[0]["messages"] == [{"role": "user", "content": "Hi"}]
    assert "skipping an unsupported chat content" in caplog.messages


# --- thinking kept and sent back --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["normal", "agent"])
async def test_a_turn_emits_its_whole_thinking_once_at_the_end(
    server: LocalMistral, make_llm: MakeLLM, mode: str
) -> None:
    reply: dict[str, Any] = {"thinking": "First, the sea.", "text": "Waves."}
    if mode == "normal":
        reply["signature"] = "c2lnLTE="
    queue(server, mode, **reply)
    chunks, text, _ = await stream_reply(make(make_llm, mode), user_ctx("Hi"))
    assert text == "Waves."
    records = [
        c.delta.extra[REASONING_KEY]
        for c in chunks
        if c.delta and c.delta.extra and REASONING_KEY in c.delta.extra
    ]
    expected = {"text": "First, the sea."}
    if mode == "normal":
        expected["signature"] = "c2lnLTE="
    assert records == [expected]
    assert all(not (c.delta and c.delta.content and "sea" in c.delta.content) for c in chunks)


@pytest.mark.parametrize("mode", ["normal", "agent"])
async def test_keep_reasoning_false_emits_no_record(
    server: LocalMistral, make_llm: MakeLLM, mode: str
) -> None:
    queue(server, mode, thinking="Hidden.", text="Waves.")
    chunks, _, _ = await stream_reply(make(make_llm, mode, keep_reasoning=False), user_ctx("Hi"))
    assert not any(c.delta and c.delta.extra and REASONING_KEY in c.delta.extra for c in chunks)


def history_with_thinking() -> llm.ChatContext:
    ctx = user_ctx("Weather in Paris?")
    ctx.items.append(
        llm.FunctionCall(
            id="gen1/fnc_0",
            call_id="aB3dE5gH7",
            name="get_weather",
            arguments='{"location": "Paris"}',
            extra={REASONING_KEY: {"text": "Need the weather.", "signature": "s1"}},
        )
    )
    ctx.items.append(
        llm.FunctionCallOutput(
            call_id="aB3dE5gH7", name="get_weather", output="sunny", is_error=False
        )
    )
    ctx.add_message(
        role="assistant",
        content="Sunny in Paris.",
        extra={REASONING_KEY: {"text": "Say it short."}},
    )
    ctx.add_message(role="user", content="Thanks")
    return ctx


async def test_chat_history_sends_thinking_back(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_chat(ChatReply(text="You're welcome."))
    await stream_reply(make_llm(prompt_cache_key=None), history_with_thinking())
    (body,) = server.chat_requests
    assert body["messages"][2:] == [
        {"role": "assistant", "content": [thought("Need the weather.", "s1")]},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "aB3dE5gH7",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "aB3dE5gH7", "name": "get_weather", "content": "sunny"},
        {
            "role": "assistant",
            "content": [thought("Say it short."), {"type": "text", "text": "Sunny in Paris."}],
        },
        {"role": "user", "content": "Thanks"},
    ]
    assert check_chat_request(body) is None


async def test_conversation_history_sends_thinking_back(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_conversation(AgentReply(text="You're welcome."))
    await stream_reply(make(make_llm, "agent"), history_with_thinking())
    (body,) = server.conversation_requests
    assert body["inputs"][2:] == [
        {
            "type": "message.output",
            "role": "assistant",
            "content": [thought("Need the weather.", "s1")],
        },
        {
            "type": "function.call",
            "tool_call_id": "aB3dE5gH7",
            "name": "get_weather",
            "arguments": '{"location": "Paris"}',
        },
        {"type": "function.result", "tool_call_id": "aB3dE5gH7", "result": "sunny"},
        {
            "type": "message.output",
            "role": "assistant",
            "content": [thought("Say it short."), {"type": "text", "text": "Sunny in Paris."}],
        },
        {"type": "message.input", "role": "user", "content": "Thanks"},
    ]
    assert check_conversation_request(body, [AGENT_ID]) is None


@pytest.mark.parametrize("mode", ["normal", "agent"])
async def test_keep_reasoning_false_sends_no_thinking_back(
    server: LocalMistral, make_llm: MakeLLM, mode: str
) -> None:
    queue(server, mode, text="ok")
    await stream_reply(make(make_llm, mode, keep_reasoning=False), history_with_thinking())
    (body,) = bodies(server, mode)
    assert "thinking" not in str(body)


async def test_thinking_of_an_unknown_shape_is_skipped(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_chat(ChatReply(text="ok"))
    ctx = user_ctx("Hi")
    ctx.add_message(role="assistant", content="Hello.", extra={REASONING_KEY: "free text"})
    ctx.add_message(role="user", content="Again")
    await stream_reply(make_llm(prompt_cache_key=None), ctx)
    assert server.chat_requests[0]["messages"][2] == {"role": "assistant", "content": "Hello."}


# --- guardrail blocks -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["normal", "agent"])
async def test_a_guardrail_block_is_a_clear_final_error(
    server: LocalMistral, make_llm: MakeLLM, mode: str
) -> None:
    model = make(make_llm, mode, guardrails=GUARDRAILS)
    with pytest.raises(MistralStatusError) as caught:
        await stream_reply(model, user_ctx("How do I [flag:dangerous] things?"))
    error = caught.value
    assert error.status_code == 403 and error.retryable is False
    assert error.message.startswith(
        "A Mistral guardrail blocked the request (moderation_llm_v2: dangerous): "
        "Content blocked by guardrail; "
    )
    assert len(bodies(server, mode)) == 1  # not retried


@pytest.mark.parametrize(("block_on_error", "blocked"), [(True, True), (False, False)])
async def test_block_on_error_when_moderation_fails(
    server: LocalMistral, make_llm: MakeLLM, block_on_error: bool, blocked: bool
) -> None:
    server.moderation_down = True
    server.queue_chat(ChatReply(text="ok"))
    guardrails = [{"block_on_error": block_on_error, "moderation_llm_v1": {"action": "block"}}]
    model = make_llm(guardrails=guardrails)
    if blocked:
        with pytest.raises(MistralStatusError, match="guardrail blocked the request"):
            await stream_reply(model, user_ctx("Hi"))
    else:
        _, text, _ = await stream_reply(model, user_ctx("Hi"))
        assert text == "ok"


async def test_an_ordinary_403_is_not_called_a_guardrail(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    from livekit.plugins.mistral.testing import Fault

    server.queue_chat(Fault.status(403))
    with pytest.raises(MistralStatusError) as caught:
        await stream_reply(make_llm(), user_ctx("Hi"))
    assert "guardrail" not in caught.value.message
    assert "not allowed to use this resource" in caught.value.message
