"""Property tests: the SSE decoder, whatever arrives on the wire, and the requests we send.

- the decoder yields the events a spec-following reader expects, for any split of the bytes;
- any bytes served as a 200 event stream end the call normally or with a LiveKit
  ``APIError``, never anything else, in both modes (a real socket, the real plugin);
- histories of any shape become requests the local server's rules (the live API's) accept,
  as the plugin sends them in both modes, tools and agent instructions included.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import AGENT_ID, API_KEY
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from livekit.agents import APIConnectOptions, APIError, llm
from livekit.agents.llm.chat_context import DYNAMIC_INSTRUCTIONS_MESSAGE_ID
from test_mapping_chat import PNG_DATA_URI, call, chat_histories, msg, out

from livekit.plugins.mistral import LLM
from livekit.plugins.mistral.mapping.chat import to_chat_messages
from livekit.plugins.mistral.testing import Fault, LocalMistral
from livekit.plugins.mistral.wire.sse import SSEDecoder, SSEEvent

# --- the SSE decoder --------------------------------------------------------------------------

# any character but the line breaks (surrogates cannot be encoded): multi-byte UTF-8 included
line_text = st.text(
    alphabet=st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=12
)
line_end = st.sampled_from(["\n", "\r\n"])


def _field(draw: st.DrawFn, name: str) -> tuple[str, str]:
    """A ``name: value`` line, with or without the space, and the value a reader sees."""
    value = draw(line_text)
    if draw(st.booleans()):
        return f"{name}: {value}", value
    return f"{name}:{value}", value[1:] if value.startswith(" ") else value


@st.composite
def event_streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    """A stream of events with comments, ``event:`` names, multi-line data, ignored fields,
    CRLF or LF endings and stray blank lines; and the events it holds."""
    lines: list[str] = []
    expected: list[SSEEvent] = []
    for _ in range(draw(st.integers(0, 5))):
        data = [_field(draw, "data") for _ in range(draw(st.integers(1, 3)))]
        fields = [line for line, _ in data]
        others = [":" + draw(line_text) for _ in range(draw(st.integers(0, 2)))]
        others += draw(
            st.lists(st.sampled_from(["id: 7", "retry: 10", "x-unknown: y"]), max_size=2)
        )
        name = None
        if draw(st.booleans()):
            line, name = _field(draw, "event")
            others.append(line)
        for line in others:  # anywhere among the data lines, which keep their order
            fields.insert(draw(st.integers(0, len(fields))), line)
        lines += fields
        lines += [""] * draw(st.integers(1, 2))  # the blank line that ends it, maybe one more
        expected.append(SSEEvent("\n".join(value for _, value in data), name))
    unterminated = draw(st.booleans())
    if lines and unterminated:
        while lines and lines[-1] == "":
            lines.pop()  # the last event without its blank line is flushed at close
    wire = "".join(line + draw(line_end) for line in lines).encode()
    return wire, expected


def decode(pieces: Iterator[bytes] | list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    return events + decoder.close()


@settings(max_examples=300, deadline=None)
@given(event_streams(), st.lists(st.integers(min_value=0), max_size=30))
def test_decoder_reads_any_split_of_any_stream(
    stream: tuple[bytes, list[SSEEvent]], cuts: list[int]
) -> None:
    wire, expected = stream
    bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    pieces = [wire[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert decode([wire]) == expected
    assert decode(pieces) == expected
    assert decode(wire[i : i + 1] for i in range(len(wire))) == expected


def test_the_generator_makes_what_it_claims() -> None:
    """The property is only as good as its generator: the hard cases do come up."""
    seen: set[str] = set()

    @settings(max_examples=150, deadline=None, database=None)
    @given(event_streams())
    def look(stream: tuple[bytes, list[SSEEvent]]) -> None:
        wire, expected = stream
        seen.update(
            name
            for name, hit in [
                ("crlf", b"\r\n" in wire),
                ("comment", b"\n:" in wire or wire.startswith(b":")),
                ("multi-line", any("\n" in e.data for e in expected)),
                ("multi-byte", any(b > 0x7F for b in wire)),
                ("named", any(e.event is not None for e in expected)),
                ("no trailing blank", bool(expected) and not wire.endswith((b"\n\n", b"\n\r\n"))),
            ]
            if hit
        )

    look()
    assert seen == {"crlf", "comment", "multi-line", "multi-byte", "named", "no trailing blank"}


# --- a real socket, shared by the examples ------------------------------------------------------


@dataclass
class Wire:
    """One event loop, server and pair of models for every hypothesis example of a test."""

    loop: asyncio.AbstractEventLoop
    server: LocalMistral
    models: dict[str, LLM]

    def run(
        self, mode: str, ctx: llm.ChatContext, **kwargs: Any
    ) -> tuple[str, BaseException | None]:
        return self.loop.run_until_complete(self._collect(self.models[mode], ctx, **kwargs))

    @staticmethod
    async def _collect(
        model: LLM, ctx: llm.ChatContext, **kwargs: Any
    ) -> tuple[str, BaseException | None]:
        text: list[str] = []
        try:
            async with model.chat(chat_ctx=ctx, **kwargs) as stream:
                async for chunk in stream:
                    if chunk.delta is not None:
                        text.append(chunk.delta.content or "")
        except Exception as e:
            return "".join(text), e
        return "".join(text), None


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    """Sync on purpose: hypothesis drives sync tests, and each example runs on this loop."""
    loop = asyncio.new_event_loop()
    server = LocalMistral(api_key=API_KEY)

    async def start() -> dict[str, LLM]:
        await server.start()
        server.add_agent(AGENT_ID, name="fuzz")
        return {
            "normal": LLM(api_key=API_KEY, base_url=server.base_url),
            "agent": LLM(model=AGENT_ID, mode="agent", api_key=API_KEY, base_url=server.base_url),
        }

    models = loop.run_until_complete(start())
    yield Wire(loop, server, models)

    async def stop() -> None:
        for model in models.values():
            await model.aclose()
        await server.aclose()

    loop.run_until_complete(stop())
    loop.close()


SHARED = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # the fixture is module-scoped and shared on purpose


# --- whatever arrives on the wire -----------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
text_parts = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "thinking", "tool_reference", "image_url"])},
        optional={"text": json_values, "thinking": json_values | st.lists(json_values, max_size=2)},
    ),
    max_size=2,
)
tool_call_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "index": st.integers(-1, 3) | json_values,
        "type": st.just("function"),
        "function": json_values
        | st.fixed_dictionaries({}, optional={"name": json_values, "arguments": json_values}),
    },
)
usage_like = json_values | st.fixed_dictionaries(
    {},
    optional={
        name: st.integers(0, 10**6) | json_values
        for name in ("prompt_tokens", "completion_tokens", "total_tokens", "connector_tokens")
    },
)
chat_chunk_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "object": st.sampled_from(["chat.completion.chunk", "error"]) | json_values,
        "choices": json_values
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "index": json_values,
                    "finish_reason": st.sampled_from(
                        [None, "stop", "length", "tool_calls", "error"]
                    )
                    | json_values,
                    "delta": json_values
                    | st.fixed_dictionaries(
                        {},
                        optional={
                            "role": json_values,
                            "content": st.text(max_size=8) | text_parts | json_values,
                            "tool_calls": json_values | st.lists(tool_call_like, max_size=2),
                        },
                    ),
                },
            ),
            max_size=2,
        ),
        "usage": usage_like,
        "message": json_values,
        "code": json_values,
    },
)
AGENT_EVENTS = [
    "conversation.response.started",
    "message.output.delta",
    "function.call.delta",
    "tool.execution.started",
    "tool.execution.done",
    "agent.handoff.started",
    "agent.handoff.done",
    "conversation.response.done",
    "conversation.response.error",
    "conversation.response.heartbeat",
]
agent_event_like = st.fixed_dictionaries(
    {"type": st.sampled_from(AGENT_EVENTS) | json_values},
    optional={
        "conversation_id": json_values,
        "content": st.text(max_size=8) | text_parts.map(lambda p: p[0] if p else {}) | json_values,
        "tool_call_id": json_values,
        "name": json_values,
        "arguments": json_values,
        "next_agent_id": st.just(AGENT_ID) | json_values,
        "usage": usage_like,
        "message": json_values,
        "code": json_values,
    },
)


def _data(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def _event(payload: Any) -> bytes:
    kind = payload.get("type") if isinstance(payload, dict) else None
    head = f"event: {kind}\n".encode() if isinstance(kind, str) else b""
    return head + _data(payload)


frames = st.one_of(
    chat_chunk_like.map(_data),
    agent_event_like.map(_event),
    json_values.map(_data),
    st.sampled_from(
        [
            b"data: [DONE]\n\n",
            b": keep-alive\n\n",
            b"\n",
            b"\r\n",
            b"data: \xff\xfe\n\n",  # not UTF-8
            b'data: {"choices": [], "usage": {"prompt_tokens": Infinity}}\n\n',
            b'data: {"choices": [], "usage": {"prompt_tokens": NaN}}\n\n',
            b'event: conversation.response.done\ndata: {"usage": {"total_tokens": -Infinity}}\n\n',
            b"data: " + b"[" * 3000 + b"]" * 3000 + b"\n\n",  # deeper than json's recursion limit
            b"data: 1" + b"0" * 5000 + b"\n\n",  # past Python's int digits limit
        ]
    ),
    st.binary(max_size=40),
)


@settings(SHARED, max_examples=200)
@given(
    mode=st.sampled_from(["normal", "agent"]),
    body=st.lists(frames, max_size=6).map(b"".join),
    write_size=st.sampled_from([None, 5, 256]),
)
def test_any_bytes_end_normally_or_with_an_api_error(
    wire: Wire, mode: str, body: bytes, write_size: int | None
) -> None:
    wire.server.write_size = write_size
    queue = wire.server.queue_chat if mode == "normal" else wire.server.queue_conversation
    queue(Fault.raw_body(body))
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="hi")
    _, error = wire.run(mode, ctx, conn_options=APIConnectOptions(max_retry=0, timeout=2.0))
    assert error is None or isinstance(error, APIError), repr(error)


# --- the requests we send ----------------------------------------------------------------------


@st.composite
def voice_histories(draw: st.DrawFn) -> llm.ChatContext:
    """The mapping tests' random histories, plus what a voice session adds: dynamic and
    per-turn instructions, transcripts, images, a call interrupted before its output."""
    base = draw(chat_histories())
    extras: list[llm.ChatItem] = [
        msg("system", "Caller: +33 1 23 45 67 89", id=DYNAMIC_INSTRUCTIONS_MESSAGE_ID),
        msg("system", "Greet the user."),
        msg("user", llm.AudioContent(frame=[], transcript="what did I say")),
        msg("user", "look", llm.ImageContent(image=PNG_DATA_URI)),
        msg("developer", "Be brief."),
        msg("assistant", "I was saying", interrupted=True),
        call("item_zz/fnc_0", arguments='{"q": 1}'),  # interrupted: never answered
        out("call_never_made"),
    ]
    items = list(base.items)
    for extra in draw(st.lists(st.sampled_from(extras), max_size=4)):
        items.insert(draw(st.integers(0, len(items))), extra)
    return llm.ChatContext(items)


def test_the_histories_reach_the_hard_cases() -> None:
    """The property below is only as good as its generator: mapped requests do hold tool
    exchanges, images, instructions and several turns."""
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(voice_histories())
    def look(ctx: llm.ChatContext) -> None:
        messages = to_chat_messages(ctx)
        roles = [m["role"] for m in messages]
        seen.update(role for role in ("system", "tool") if role in roles)
        if any(m.get("tool_calls") for m in messages):
            seen.add("calls")
        if any(isinstance(m.get("content"), list) for m in messages):
            seen.add("image")
        if roles.count("user") >= 3:
            seen.add("long")

    look()
    assert seen == {"system", "tool", "calls", "image", "long"}


@llm.function_tool
async def lookup(q: int) -> str:
    """Look something up.

    Args:
        q: what to look up.
    """
    return str(q)


@settings(SHARED, max_examples=100)
@given(
    mode=st.sampled_from(["normal", "agent"]),
    ctx=voice_histories(),
    tool_choice=st.sampled_from([None, "auto", "required", "none"]),
)
def test_every_history_is_a_request_the_api_accepts(
    wire: Wire, mode: str, ctx: llm.ChatContext, tool_choice: str | None
) -> None:
    assume(to_chat_messages(ctx))  # an empty context is refused before any request
    kwargs: dict[str, Any] = {"tools": [lookup], "conn_options": APIConnectOptions(max_retry=0)}
    if tool_choice is not None:
        kwargs["tool_choice"] = tool_choice

    def posts() -> list[Any]:  # agent mode also GETs the agent once, for the tool check
        return [r for r in wire.server.requests if r.method == "POST"]

    before = len(posts())
    _, error = wire.run(mode, ctx, **kwargs)
    assert error is None, f"{error!r}\n{posts()[-1].body}"
    assert len(posts()) == before + 1
