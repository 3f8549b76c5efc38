"""Agent mode end to end: Conversations API over a real socket against the local server."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable

import pytest
from conftest import AGENT_ID, FAST, OTHER_AGENT_ID, stream_reply
from livekit.agents import APIConnectionError, APIConnectOptions, llm

from livekit.plugins.mistral import LLM, AgentError, AgentHandoffEvent
from livekit.plugins.mistral.mapping.conversation_events import TOOL_EVENT_LOG
from livekit.plugins.mistral.testing import AgentReply, Fault, LocalMistral, ToolCall
from livekit.plugins.mistral.testing.rules import check_conversation_request

MakeLLM = Callable[..., LLM]
NO_RETRY = APIConnectOptions(max_retry=0, timeout=2.0)


def ctx_with(
    *turns: tuple[llm.ChatRole, str], system: str | None = "Speak briefly."
) -> llm.ChatContext:
    ctx = llm.ChatContext()
    if system:
        ctx.add_message(role="system", content=system)
    for role, text in turns:
        ctx.add_message(role=role, content=text)
    return ctx


@pytest.fixture
def agent(make_llm: MakeLLM) -> LLM:
    return make_llm(model=AGENT_ID, mode="agent")


async def test_text_turn_sends_a_fresh_unstored_conversation(
    server: LocalMistral, agent: LLM
) -> None:
    server.queue_conversation(
        AgentReply(text="Bonjour, how can I help?", conversation_id="conv_" + "a" * 32)
    )
    chunks, text, calls = await stream_reply(agent, ctx_with(("user", "Hi")))
    assert text == "Bonjour, how can I help?" and calls == []
    assert {c.id for c in chunks} == {"conv_" + "a" * 32}
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0

    (request,) = server.requests
    assert request.path == "/v1/conversations"
    assert request.body == {
        "agent_id": AGENT_ID,
        "inputs": [
            {
                "type": "message.input",
                "role": "user",
                "content": "<instructions>\nSpeak briefly.\n</instructions>",
            },
            {"type": "message.input", "role": "user", "content": "Hi"},
        ],
        "stream": True,
        "store": False,
    }


async def test_whole_history_goes_every_turn(server: LocalMistral, agent: LLM) -> None:
    server.queue_conversation(AgentReply(text="Second answer."))
    ctx = ctx_with(("user", "First"), ("assistant", "First answer."), ("user", "Second"))
    await stream_reply(agent, ctx)
    inputs = server.conversation_requests[0]["inputs"]
    assert [(e["type"], e.get("content")) for e in inputs[1:]] == [
        ("message.input", "First"),
        ("message.output", "First answer."),
        ("message.input", "Second"),
    ]


async def test_version_and_completion_args(server: LocalMistral, make_llm: MakeLLM) -> None:
    server.queue_conversation(AgentReply(text="ok"))
    for _ in range(3):
        server.update_agent(AGENT_ID, description="another version")
    model = make_llm(model=AGENT_ID, mode="agent", agent_version=3, temperature=0.1, max_tokens=9)
    await stream_reply(model, ctx_with(("user", "Hi"), system=None))
    body = server.conversation_requests[0]
    assert body["agent_version"] == 3
    assert body["completion_args"] == {"temperature": 0.1, "max_tokens": 9}
    assert not {"model", "instructions", "tools"} & set(body)


async def test_function_call_fragments_become_one_call_and_round_trip(
    server: LocalMistral, agent: LLM
) -> None:
    args = {"location": "Paris", "unit": "celsius", "days": 3}
    server.queue_conversation(
        AgentReply(tool_calls=[ToolCall("get_weather", args, id="fc0000001")]),
        AgentReply(text="It is sunny in Paris."),
    )
    ctx = ctx_with(("user", "Weather in Paris?"))
    chunks, text, calls = await stream_reply(agent, ctx)
    assert text == ""
    (call,) = calls
    assert (call.name, json.loads(call.arguments), call.call_id) == (
        "get_weather",
        args,
        "fc0000001",
    )
    assert len([c for c in chunks if c.delta and c.delta.tool_calls]) == 1

    # LiveKit ran the tool: the next turn carries the call and its result
    ctx.insert(
        llm.FunctionCall(
            id="gen1/fnc_0", call_id=call.call_id, name=call.name, arguments=call.arguments
        )
    )
    ctx.insert(
        llm.FunctionCallOutput(
            call_id=call.call_id, name=call.name, output="sunny, 24C", is_error=False
        )
    )
    _, text, _ = await stream_reply(agent, ctx)
    assert text == "It is sunny in Paris."
    body = server.conversation_requests[1]
    assert check_conversation_request(body, [AGENT_ID, OTHER_AGENT_ID]) is None
    entries = body["inputs"][2:]
    assert entries == [
        {
            "type": "function.call",
            "tool_call_id": "fc0000001",
            "name": "get_weather",
            "arguments": call.arguments,
        },
        {"type": "function.result", "tool_call_id": "fc0000001", "result": "sunny, 24C"},
    ]


async def test_history_ids_from_other_providers_are_mapped(
    server: LocalMistral, agent: LLM
) -> None:
    server.queue_conversation(AgentReply(text="done"))
    ctx = ctx_with(("user", "Look it up"))
    ctx.insert(
        llm.FunctionCall(id="g/fnc_0", call_id="call_abc123XYZ456", name="lookup", arguments="")
    )
    ctx.insert(
        llm.FunctionCallOutput(
            call_id="call_abc123XYZ456", name="lookup", output="42", is_error=False
        )
    )
    await stream_reply(agent, ctx)
    call, result = server.conversation_requests[0]["inputs"][2:4]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", call["tool_call_id"])
    assert call["tool_call_id"] == result["tool_call_id"]
    assert call["arguments"] == "{}"


async def test_builtin_tools_thinking_and_references_are_not_spoken(
    server: LocalMistral, agent: LLM, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue_conversation(
        AgentReply(
            text="Paris is the capital.",
            tool_executions=["web_search"],
            thinking="Search first.",
            references=True,
            connector_tokens=12,
        )
    )
    with caplog.at_level(logging.INFO, logger="livekit.plugins.mistral"):
        chunks, text, calls = await stream_reply(agent, ctx_with(("user", "Capital of France?")))
    assert text == "Paris is the capital." and calls == []
    extras = [c.delta.extra for c in chunks if c.delta and c.delta.extra]
    assert "".join(e.get("thinking", "") for e in extras) == "Search first."
    assert any("references" in e for e in extras)
    usage = chunks[-1].usage
    assert usage is not None and getattr(usage, "connector_tokens", None) == 12
    tool_logs = [r for r in caplog.records if r.msg == TOOL_EVENT_LOG]
    assert {getattr(r, "tool", None) for r in tool_logs} == {"web_search"}
    assert all(hasattr(r, "lk.pii.arguments") for r in tool_logs)


async def test_handoff_moves_the_next_turn_to_the_new_agent(
    server: LocalMistral, agent: LLM
) -> None:
    events: list[AgentHandoffEvent] = []
    agent.on("agent_handoff", events.append)
    server.queue_conversation(
        AgentReply(text="Passing you to billing.", handoff_to=OTHER_AGENT_ID),
        AgentReply(text="Billing here."),
    )
    ctx = ctx_with(("user", "I have a billing question"))
    _, text, _ = await stream_reply(agent, ctx)
    assert text == "Passing you to billing."
    assert [(e.next_agent_id, e.next_agent_name) for e in events] == [(OTHER_AGENT_ID, "billing")]
    assert agent.model == OTHER_AGENT_ID

    ctx.add_message(role="assistant", content=text)
    ctx.add_message(role="user", content="Why was I charged twice?")
    _, text, _ = await stream_reply(agent, ctx)
    assert text == "Billing here."
    assert server.conversation_requests[1]["agent_id"] == OTHER_AGENT_ID

    agent.update_options(model=AGENT_ID)  # the app can send the user back
    assert agent.model == AGENT_ID


async def test_a_model_chosen_during_a_turn_wins_over_that_turns_handoff(
    server: LocalMistral, agent: LLM
) -> None:
    events: list[AgentHandoffEvent] = []
    agent.on("agent_handoff", events.append)
    # started, handoff started/done, the first words; then a pause while the user chooses
    reply = AgentReply(text="Passing you to billing.", handoff_to=OTHER_AGENT_ID)
    server.queue_conversation(
        Fault.stall_mid_stream(after_events=4, seconds=0.5, reply=reply),
        AgentReply(text="Support again."),
    )
    ctx = ctx_with(("user", "I have a billing question"))
    async with agent.chat(chat_ctx=ctx, conn_options=NO_RETRY) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                break  # the turn is in flight, the handoff not yet applied
        agent.update_options(model=AGENT_ID)  # the app sends the user back to support
        async for _ in stream:
            pass
    assert agent.model == AGENT_ID and events == []

    ctx.add_message(role="user", content="Still there?")
    await stream_reply(agent, ctx)
    assert server.conversation_requests[1]["agent_id"] == AGENT_ID


async def test_in_stream_error_is_an_agent_error(server: LocalMistral, agent: LLM) -> None:
    server.queue_conversation(
        AgentReply(text="Let me", error=("Tool failed badly", 3000), conversation_id="conv_x"),
    )
    with pytest.raises(AgentError) as info:
        await stream_reply(agent, ctx_with(("user", "Hi")), conn_options=FAST)
    err = info.value
    assert err.agent_id == AGENT_ID and err.conversation_id == "conv_x"
    assert "Tool failed badly" in err.message
    assert err.retryable is False  # "Let me" was already spoken
    assert len(server.conversation_requests) == 1


async def test_in_stream_error_before_output_is_retried(server: LocalMistral, agent: LLM) -> None:
    server.queue_conversation(AgentReply(error=("overloaded", 3000)), AgentReply(text="Fine now."))
    _, text, _ = await stream_reply(agent, ctx_with(("user", "Hi")), conn_options=FAST)
    assert text == "Fine now."
    assert len(server.conversation_requests) == 2


async def test_unknown_agent_is_a_404_agent_error(server: LocalMistral, make_llm: MakeLLM) -> None:
    missing = "ag_" + "f" * 32
    model = make_llm(model=missing, mode="agent")
    with pytest.raises(AgentError) as info:
        await stream_reply(model, ctx_with(("user", "Hi")), conn_options=FAST)
    err = info.value
    assert (err.status_code, err.agent_id, err.retryable) == (404, missing, False)
    assert missing in str(err)
    assert len(server.conversation_requests) == 1


async def test_5xx_before_output_is_retried(server: LocalMistral, agent: LLM) -> None:
    server.queue_conversation(Fault.status(502), AgentReply(text="Back."))
    _, text, _ = await stream_reply(agent, ctx_with(("user", "Hi")), conn_options=FAST)
    assert text == "Back."


async def test_stream_cut_before_done(server: LocalMistral, agent: LLM) -> None:
    server.queue_conversation(Fault.cut_stream(after_events=3, reply=AgentReply(text="abcdefgh")))
    with pytest.raises(APIConnectionError, match="conversation.response.done"):
        await stream_reply(agent, ctx_with(("user", "Hi")), conn_options=NO_RETRY)


async def test_prewarm_checks_the_agent(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    good = make_llm(model=AGENT_ID, mode="agent")
    good.prewarm()
    assert good._prewarm_task is not None
    await good._prewarm_task
    assert server.requests[-1].path == f"/v1/agents/{AGENT_ID}"

    missing = "ag_" + "e" * 32
    bad = make_llm(model=missing, mode="agent")
    with caplog.at_level(logging.ERROR, logger="livekit.plugins.mistral"):
        bad.prewarm()
        assert bad._prewarm_task is not None
        await bad._prewarm_task
    (record,) = [r for r in caplog.records if "could not be loaded" in r.getMessage()]
    assert getattr(record, "agent_id", None) == missing
    assert getattr(record, "status", None) == 404


async def test_ignored_instructions_warn_once(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue_conversation(AgentReply(text="a"), AgentReply(text="b"))
    model = make_llm(model=AGENT_ID, mode="agent", agent_instructions="ignore")
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        await stream_reply(model, ctx_with(("user", "one")))
        await stream_reply(model, ctx_with(("user", "two")))
    warnings = [r for r in caplog.records if "instructions were not sent" in r.getMessage()]
    assert len(warnings) == 1
    assert "agent_instructions='inline'" in warnings[0].getMessage()
    for body in server.conversation_requests:
        assert body["inputs"][0]["content"] in ("one", "two")


async def test_livekit_tools_are_not_sent_and_an_unknown_one_is_named_once(
    server: LocalMistral, agent: LLM, caplog: pytest.LogCaptureFixture
) -> None:
    @llm.function_tool
    async def get_weather(location: str) -> str:
        """Weather for a city."""
        return "sunny"

    server.queue_conversation(AgentReply(text="a"), AgentReply(text="b"))
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        for _ in range(2):
            await stream_reply(agent, ctx_with(("user", "Hi")), tools=[get_weather])
    notes = [r for r in caplog.records if getattr(r, "function", None) == "get_weather"]
    assert len(notes) == 1 and "not a function of the agent" in notes[0].getMessage()
    assert all("tools" not in body for body in server.conversation_requests)


async def test_closing_the_stream_drops_the_connection(server: LocalMistral, agent: LLM) -> None:
    server.queue_conversation(AgentReply(text="word " * 100, delay=0.01))
    stream = agent.chat(chat_ctx=ctx_with(("user", "Talk")))
    async for chunk in stream:
        if chunk.delta and chunk.delta.content:
            break
    started = time.monotonic()
    await stream.aclose()
    disconnect = await server.wait_for_disconnect(timeout=2.0)
    assert disconnect.at - started < 0.5


async def test_connection_is_reused_across_agent_turns(server: LocalMistral, agent: LLM) -> None:
    for _ in range(3):
        await stream_reply(agent, ctx_with(("user", "Hi")))
    assert server.connections_opened == 1


async def test_a_handoff_in_a_failed_turn_is_not_followed(server: LocalMistral, agent: LLM) -> None:
    events: list[AgentHandoffEvent] = []
    agent.on("agent_handoff", events.append)
    server.queue_conversation(
        Fault.cut_stream(
            after_events=4, reply=AgentReply(text="abcdefgh", handoff_to=OTHER_AGENT_ID)
        )
    )
    with pytest.raises(APIConnectionError):
        await stream_reply(agent, ctx_with(("user", "Hi")), conn_options=NO_RETRY)
    assert events == [] and agent.model == AGENT_ID
    server.queue_conversation(AgentReply(text="still me"))
    await stream_reply(agent, ctx_with(("user", "Hi again")))
    assert server.conversation_requests[-1]["agent_id"] == AGENT_ID
