"""Every fault the local server can inject, in every request kind, over a real socket.

The matrix runs in normal mode (chat completions), agent mode and ``model-conv`` (normal mode
with a built-in tool in the call, so a model conversation); the other tests in both modes.

Each case asserts the error class, its ``retryable`` flag, a readable message, that no text is
spoken twice when LiveKit retries, a wall time bounded by ``conn_options``, and that nothing
is left behind (server streams, ``LLM.*`` tasks, pooled connections held by a response).

How errors surface: an error that is not retryable (a 4xx, or anything once output was sent)
is raised as is. A retryable one is retried; when the last attempt fails too, LiveKit raises
``APIConnectionError("failed to generate LLM completion after N attempts") from last_error``,
so the plugin's error is ``err.__cause__``. Both objects are checked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from conftest import AGENT_ID, API_KEY, until
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    llm,
)

from livekit.plugins.mistral import LLM, AgentError, MistralStatusError, tools
from livekit.plugins.mistral.testing import AgentReply, ChatReply, Fault, LocalMistral

Mode = Literal["normal", "agent", "model-conv"]
MODES: tuple[Mode, ...] = ("normal", "agent")
KINDS: tuple[Mode, ...] = ("normal", "agent", "model-conv")
CONVERSATIONS: tuple[Mode, ...] = ("agent", "model-conv")

TIMEOUT = 0.4
OPTS = APIConnectOptions(max_retry=1, retry_interval=0.05, timeout=TIMEOUT)
ATTEMPTS = OPTS.max_retry + 1
# LiveKit waits 0.1 s before the first retry, then retry_interval
INTERVALS = 0.1 + OPTS.retry_interval * max(0, ATTEMPTS - 2)
SLACK = 1.0

TEXT = "Hello there, friend."
"""Streamed in pieces of 4 characters. Chat: a role delta, 5 text deltas (the last with the
finish reason and usage), ``[DONE]``. Agent: ``conversation.response.started``, 5 text
deltas, ``conversation.response.done``. So ``after_events=1`` strikes before any output and
``after_events=3`` after "Hello th" was spoken, in both modes."""
BEFORE_OUTPUT = 1
AFTER_OUTPUT = 3
OVER_CAP = 9 * 1024 * 1024  # the SSE decoder refuses events past 8 MiB


def reply(mode: Mode) -> ChatReply | AgentReply:
    return ChatReply(text=TEXT) if mode == "normal" else AgentReply(text=TEXT)


def user_ctx(text: str = "Hello") -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=text)
    return ctx


def queue(server: LocalMistral, mode: Mode, *items: Any) -> None:
    if mode == "normal":
        server.queue_chat(*items)
    else:
        server.queue_conversation(*items)


def posts(server: LocalMistral, mode: Mode) -> list[Any]:
    return server.chat_requests if mode == "normal" else server.conversation_requests


MakeModel = Callable[..., LLM]


@pytest.fixture
def make_model(make_llm: Callable[..., LLM]) -> MakeModel:
    """``make_model(mode, **kwargs)``: conftest's ``make_llm`` in either mode."""

    def make(mode: Mode, **kwargs: Any) -> LLM:
        if mode == "agent":
            kwargs.update(model=AGENT_ID, mode="agent")
        return make_llm(**kwargs)

    return make


@dataclass
class Outcome:
    text: str
    error: BaseException | None
    elapsed: float


async def run_stream(
    model: LLM,
    ctx: llm.ChatContext | None = None,
    opts: APIConnectOptions = OPTS,
    mode: Mode = "normal",
) -> Outcome:
    """One call as the voice pipeline makes it: everything spoken, and how it ended."""
    pieces: list[str] = []
    error: BaseException | None = None
    started = time.monotonic()
    call_tools: list[llm.Tool] = [tools.WebSearch()] if mode == "model-conv" else []
    try:
        async with model.chat(
            chat_ctx=ctx or user_ctx(), conn_options=opts, tools=call_tools
        ) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    pieces.append(chunk.delta.content)
    except Exception as e:
        error = e
    return Outcome("".join(pieces), error, time.monotonic() - started)


def chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def assert_readable(err: BaseException) -> None:
    """A sentence, not a dump: no JSON or dict text, no body, a bounded length; the root
    cause named at most once (LiveKit appends it to APIConnectionError's str)."""
    for e in chain(err):
        text = str(e)
        assert text.strip(), f"empty message on {type(e).__name__}"
        assert len(text) < 500, text
        for dump in ('{"', "{'", "body=", "Body:", "[{"):
            assert dump not in text, text
    *errors, root = chain(err)
    for e in errors:
        if str(root):
            assert str(e).count(str(root)) <= 1, str(e)


async def assert_nothing_left(server: LocalMistral, model: LLM) -> None:
    """No stream still open on the server, no LLM task, no connection held by a response."""
    await until(lambda: server.open_streams == 0, timeout=1.0)
    leftover = [t for t in asyncio.all_tasks() if (t.get_name() or "").startswith("LLM.")]
    assert leftover == []
    session = model._http._session  # the plugin's own pool
    if session is not None:
        connector = session.connector
        assert connector is not None
        # a body that ends after [DONE] is read to its end in the background, then pooled
        await until(lambda: len(connector._acquired) == 0, timeout=1.0)  # no public count


# --- the matrix -----------------------------------------------------------------------------


Script = Callable[[Mode], list[Any]]


@dataclass(frozen=True)
class Case:
    """What the server answers, attempt by attempt, and how the call must end.

    ``error`` is the plugin's error for the last attempt (``MistralStatusError`` stands for
    ``AgentError`` in agent mode); ``None`` means the answer arrives whole.
    """

    script: Script
    error: type[APIError] | None
    retryable: bool = False
    spoken: Literal["none", "some", "all"] = "none"
    status: int | None = None
    modes: tuple[Mode, ...] = KINDS

    @property
    def requests(self) -> int:
        if self.error is None:
            return len(self.script("normal"))
        return ATTEMPTS if self.retryable else 1


def every_attempt(fault: Fault | Callable[[Mode], Fault]) -> Script:
    return lambda mode: [fault(mode) if callable(fault) else fault] * ATTEMPTS


def once(fault: Fault | Callable[[Mode], Fault]) -> Script:
    return lambda mode: [fault(mode) if callable(fault) else fault]


def then_answer(fault: Fault) -> Script:
    return lambda mode: [fault, reply(mode)]


def with_reply(make: Callable[..., Fault], *args: Any, **kwargs: Any) -> Callable[[Mode], Fault]:
    return lambda mode: make(*args, reply=reply(mode), **kwargs)


JSON_200 = Fault.raw_body(b'{"object": "chat.completion", "choices": []}', "application/json")

CASES: dict[str, Case] = {
    # error statuses, with the live API's bodies (testing/errors.py)
    **{
        f"status-{code}": Case(once(Fault.status(code)), MistralStatusError, status=code)
        for code in (400, 401, 403, 404, 409)
    },
    "status-422-envelope": Case(once(Fault.status(422)), MistralStatusError, status=422),
    "status-422-detail": Case(
        once(Fault.status(422, shape="detail")), MistralStatusError, status=422
    ),
    **{
        f"status-{code}": Case(
            every_attempt(Fault.status(code)), MistralStatusError, retryable=True, status=code
        )
        for code in (429, 500, 502, 503, 504)
    },
    **{
        f"status-{code}-then-answer": Case(then_answer(Fault.status(code)), None)
        for code in (429, 503)
    },
    # the connection
    "reset-before-headers": Case(
        every_attempt(Fault.reset_before_headers()), APIConnectionError, retryable=True
    ),
    "reset-before-headers-then-answer": Case(then_answer(Fault.reset_before_headers()), None),
    "reset-before-output": Case(
        every_attempt(with_reply(Fault.reset_mid_stream, BEFORE_OUTPUT)),
        APIConnectionError,
        retryable=True,
    ),
    "reset-after-output": Case(
        once(with_reply(Fault.reset_mid_stream, AFTER_OUTPUT)), APIConnectionError, spoken="some"
    ),
    "stall-before-headers": Case(
        every_attempt(Fault.stall_before_headers()), APITimeoutError, retryable=True
    ),
    "stall-before-headers-then-answer": Case(then_answer(Fault.stall_before_headers()), None),
    "stall-before-output": Case(
        every_attempt(with_reply(Fault.stall_mid_stream, BEFORE_OUTPUT)),
        APITimeoutError,
        retryable=True,
    ),
    "stall-after-output": Case(
        once(with_reply(Fault.stall_mid_stream, AFTER_OUTPUT)), APITimeoutError, spoken="some"
    ),
    # the body
    "html-200": Case(
        every_attempt(Fault.wrong_content_type()), MistralStatusError, retryable=True, status=200
    ),
    "json-200": Case(every_attempt(JSON_200), MistralStatusError, retryable=True, status=200),
    "cut-before-output": Case(
        every_attempt(with_reply(Fault.cut_stream, BEFORE_OUTPUT)),
        APIConnectionError,
        retryable=True,
    ),
    "cut-before-output-then-answer": Case(
        lambda mode: [Fault.cut_stream(BEFORE_OUTPUT, reply=reply(mode)), reply(mode)], None
    ),
    "cut-after-output": Case(
        once(with_reply(Fault.cut_stream, AFTER_OUTPUT)), APIConnectionError, spoken="some"
    ),
    # chat: a last chunk with finish_reason but no [DONE] is a whole answer
    "cut-only-done-chat": Case(
        once(with_reply(Fault.cut_stream, 99)), None, spoken="all", modes=("normal",)
    ),
    # conversations: everything was spoken, but without conversation.response.done the turn
    # is broken
    "cut-only-done-conversation": Case(
        once(with_reply(Fault.cut_stream, 99)),
        APIConnectionError,
        spoken="all",
        modes=CONVERSATIONS,
    ),
    "malformed-before-output": Case(
        every_attempt(with_reply(Fault.malformed_event, BEFORE_OUTPUT)),
        APIConnectionError,
        retryable=True,
    ),
    "malformed-after-output": Case(
        once(with_reply(Fault.malformed_event, AFTER_OUTPUT)), APIConnectionError, spoken="some"
    ),
    "unknown-events": Case(once(with_reply(Fault.unknown_event, 2)), None),
    "oversized-before-output": Case(
        every_attempt(with_reply(Fault.oversized_event, OVER_CAP, BEFORE_OUTPUT)),
        APIConnectionError,
        retryable=True,
    ),
    "oversized-after-output": Case(
        once(with_reply(Fault.oversized_event, OVER_CAP, AFTER_OUTPUT)),
        APIConnectionError,
        spoken="some",
    ),
    "error-event-before-output": Case(
        every_attempt(with_reply(Fault.in_stream_error, BEFORE_OUTPUT)),
        MistralStatusError,
        retryable=True,
        status=500,
    ),
    "error-event-before-output-then-answer": Case(
        lambda mode: [Fault.in_stream_error(BEFORE_OUTPUT, reply=reply(mode)), reply(mode)], None
    ),
    "error-event-after-output": Case(
        once(with_reply(Fault.in_stream_error, AFTER_OUTPUT)),
        MistralStatusError,
        spoken="some",
        status=500,
    ),
}

MATRIX = [
    pytest.param(mode, case, id=f"{mode}-{name}")
    for name, case in CASES.items()
    for mode in KINDS
    if mode in case.modes
]


def expected_class(mode: Mode, error: type[APIError]) -> type[APIError]:
    return AgentError if mode == "agent" and error is MistralStatusError else error


@pytest.mark.parametrize(("mode", "case"), MATRIX)
async def test_fault(server: LocalMistral, make_model: MakeModel, mode: Mode, case: Case) -> None:
    queue(server, mode, *case.script(mode))
    model = make_model(mode)
    outcome = await run_stream(model, mode=mode)

    assert len(posts(server, mode)) == case.requests
    assert all(body == posts(server, mode)[0] for body in posts(server, mode))  # same request
    spoken = {"none": "", "all": TEXT}.get(case.spoken if case.error else "all")
    if spoken is not None:
        assert outcome.text == spoken  # once, never twice
    else:
        assert outcome.text and TEXT.startswith(outcome.text) and outcome.text != TEXT
    # the budget: every attempt may use the whole timeout, plus LiveKit's retry intervals
    assert outcome.elapsed < case.requests * TIMEOUT + INTERVALS + SLACK

    if case.error is None:
        assert outcome.error is None, repr(outcome.error)
    else:
        assert_error(outcome.error, mode, case)
    await assert_nothing_left(server, model)


def assert_error(raised: BaseException | None, mode: Mode, case: Case) -> None:
    assert case.error is not None and isinstance(raised, APIError), repr(raised)
    err: BaseException | None = raised
    if case.retryable:
        # LiveKit gave up after the last attempt and wrapped its error
        assert type(raised) is APIConnectionError
        assert f"after {ATTEMPTS} attempts" in raised.message
        err = raised.__cause__
    assert type(err) is expected_class(mode, case.error), repr(err)
    assert isinstance(err, APIError)
    assert err.retryable is case.retryable
    if case.status is not None:
        assert isinstance(err, APIStatusError) and err.status_code == case.status
        assert err.request_id  # mistral-correlation-id: what Mistral's support asks for
    if isinstance(err, AgentError):
        assert err.agent_id == AGENT_ID
    assert_readable(raised)
    if mode == "agent" and case.spoken == "some" and isinstance(err, AgentError):
        assert err.conversation_id and err.conversation_id.startswith("conv_")


# --- status details -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_429_retry_after_reaches_the_error(
    server: LocalMistral, make_model: MakeModel, mode: Mode
) -> None:
    queue(server, mode, *[Fault.status(429, retry_after=7)] * ATTEMPTS)
    model = make_model(mode)
    outcome = await run_stream(model)
    cause = outcome.error.__cause__ if outcome.error else None
    assert isinstance(cause, MistralStatusError)
    assert cause.retry_after == 7.0 and cause.code == "1300" and cause.error_type == "rate_limited"
    assert "retry after 7s" in str(cause) and "Rate limit exceeded" in str(cause)
    assert cause.request_id  # from mistral-correlation-id


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("code", "shape", "words"),
    [
        (400, "envelope", "Invalid model: unknown-model"),
        (401, "envelope", "Unauthorized"),
        (403, "envelope", "Forbidden"),
        (404, "envelope", "Not found"),
        (409, "envelope", "Conversation is already being processed"),
        (422, "envelope", "unexpected_field: Extra inputs are not permitted"),
        (422, "detail", "unexpected_field: Extra inputs are not permitted"),
        (500, "envelope", "Internal server error"),
        (502, "envelope", "An invalid response was received from the upstream server"),
        (503, "envelope", "Service unavailable"),
        (504, "envelope", "The upstream server is timing out"),
    ],
)
async def test_status_message_is_pulled_from_the_body(
    server: LocalMistral, make_model: MakeModel, mode: Mode, code: int, shape: Any, words: str
) -> None:
    queue(server, mode, *[Fault.status(code, shape=shape)] * ATTEMPTS)
    model = make_model(mode)
    outcome = await run_stream(model)
    err = outcome.error
    err = err.__cause__ if isinstance(err, APIError) and err.retryable else err
    assert isinstance(err, MistralStatusError)
    assert str(err).startswith(words) and f"status {code}" in str(err)
    assert err.body is not None and str(err.body) not in str(err)  # the body stays on .body


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("trigger", ["bad-key", "unknown-model-or-agent", "unknown-field"])
async def test_errors_the_server_rules_produce(
    server: LocalMistral, make_model: MakeModel, mode: Mode, trigger: str
) -> None:
    """The same statuses reached the natural way: the server refuses the request."""
    model = make_model(mode, api_key="sk-not-the-right-one" if trigger == "bad-key" else API_KEY)
    if trigger == "unknown-model-or-agent":
        unknown = "ag_ffffffffffffffffffffffffffffffff" if mode == "agent" else "mistral-tiny-x"
        model.update_options(model=unknown)
    ctx = user_ctx()
    stream_kwargs: dict[str, Any] = {}
    if trigger == "unknown-field":
        stream_kwargs["extra_kwargs"] = {"not_a_field": 1}
    started = time.monotonic()
    with pytest.raises(MistralStatusError) as info:
        async with model.chat(chat_ctx=ctx, conn_options=OPTS, **stream_kwargs) as stream:
            async for _ in stream:
                pass
    err = info.value
    expected = {
        "bad-key": 401,
        "unknown-model-or-agent": 404 if mode == "agent" else 400,
        "unknown-field": 422,
    }[trigger]
    assert err.status_code == expected and err.retryable is False
    assert type(err) is (AgentError if mode == "agent" else MistralStatusError)
    assert len(posts(server, mode)) == 1
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert_readable(err)
    await assert_nothing_left(server, model)


# --- before any byte: refused, unresolvable ---------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def loopback_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Name resolution that never leaves the process: ``*.invalid`` fails as NXDOMAIN would.

    The machine's resolver is a network server (``/etc/resolv.conf``), so a real lookup of a
    ``.invalid`` name would still send a query. aiohttp's default resolver calls
    ``loop.getaddrinfo`` (IP literals skip it), which is replaced here; any other name fails
    the test instead of reaching the network.
    """
    asked: list[str] = []
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise AssertionError(f"a test tried to resolve {name!r}")

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["refused", "unresolvable"])
async def test_cannot_connect(
    server: LocalMistral, make_model: MakeModel, loopback_dns: list[str], mode: Mode, where: str
) -> None:
    if where == "refused":
        base_url = f"http://127.0.0.1:{closed_port()}"
    else:
        base_url = "https://api.mistral.invalid"
    model = make_model(mode, base_url=base_url)
    outcome = await run_stream(model)
    raised = outcome.error
    assert type(raised) is APIConnectionError and f"after {ATTEMPTS} attempts" in raised.message
    err = raised.__cause__
    assert type(err) is APIConnectionError and err.retryable is True
    assert "could not connect to Mistral" in str(err) and "base_url" in str(err)
    host = "api.mistral.invalid:443" if where == "unresolvable" else "127.0.0.1:"
    assert host in str(err)
    assert outcome.text == ""
    assert outcome.elapsed < ATTEMPTS * TIMEOUT + INTERVALS + SLACK
    assert (loopback_dns == ["api.mistral.invalid"] * ATTEMPTS) == (where == "unresolvable")
    assert_readable(raised)
    await assert_nothing_left(server, model)


# --- unknown events ---------------------------------------------------------------------------

UNKNOWN_CHAT = b'data: {"object": "chat.completion.heartbeat", "created": 1}\n\n'
UNKNOWN_AGENT = (
    b"event: conversation.response.heartbeat\n"
    b'data: {"type": "conversation.response.heartbeat", "created_at": "2025-01-01T00:00:00Z"}\n\n'
)


@pytest.mark.parametrize("mode", MODES)
async def test_unknown_events_are_ignored_and_logged_once(
    server: LocalMistral, make_model: MakeModel, mode: Mode, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = UNKNOWN_CHAT if mode == "normal" else UNKNOWN_AGENT
    queue(server, mode, Fault.inject(2, unknown * 3, reply=reply(mode)))
    model = make_model(mode)
    with caplog.at_level(logging.DEBUG, logger="livekit.plugins.mistral"):
        outcome = await run_stream(model)
    assert outcome.error is None and outcome.text == TEXT
    warnings = [
        r
        for r in caplog.records
        if r.name == "livekit.plugins.mistral" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "ignoring" in warnings[0].getMessage()


@pytest.mark.parametrize("mode", MODES)
async def test_a_large_event_under_the_cap_passes(
    server: LocalMistral, make_model: MakeModel, mode: Mode
) -> None:
    queue(server, mode, Fault.oversized_event(1024 * 1024, after_events=1, reply=reply(mode)))
    model = make_model(mode)
    outcome = await run_stream(model)
    assert outcome.error is None
    assert outcome.text == "x" * (1024 * 1024) + TEXT


# --- the server's own hooks used above --------------------------------------------------------


async def test_raw_body_is_served_verbatim_in_pieces(
    server: LocalMistral, make_model: MakeModel
) -> None:
    server.write_size = 3
    body = b'data: {"choices": [{"delta": {"content": "h\xc3\xa9"}}]}\n\ndata: [DONE]\n\n'
    server.queue_chat(Fault.raw_body(body))
    model = make_model("normal")
    outcome = await run_stream(model)
    assert outcome.error is None and outcome.text == "hé"


async def test_responder_answers_once_the_queue_is_empty(
    server: LocalMistral, make_model: MakeModel
) -> None:
    seen: list[str] = []

    def responder(request: Any) -> ChatReply | Fault | None:
        text = request.body["messages"][-1]["content"]
        seen.append(text)
        return Fault.status(503) if text == "fail" else ChatReply(text=f"echo {text}")

    server.responder = responder
    server.queue_chat(ChatReply(text="queued first"))
    model = make_model("normal")
    assert (await run_stream(model, user_ctx("a"))).text == "queued first"
    assert (await run_stream(model, user_ctx("b"))).text == "echo b"
    failed = await run_stream(model, user_ctx("fail"), APIConnectOptions(max_retry=0))
    assert isinstance(failed.error, MistralStatusError) and failed.error.status_code == 503
    assert seen == ["b", "fail"]


async def test_responder_must_answer_the_route_kind(
    server: LocalMistral, make_model: MakeModel
) -> None:
    server.responder = lambda request: AgentReply(text="wrong endpoint")
    model = make_model("normal")
    outcome = await run_stream(model, opts=APIConnectOptions(max_retry=0))
    assert isinstance(outcome.error, MistralStatusError) and outcome.error.status_code == 500


# --- valid JSON, unexpected shapes --------------------------------------------------------------

ODD_CHAT_EVENTS = [
    b'{"choices": [1]}',
    b'{"choices": "x"}',
    b'{"choices": [{"delta": "text"}]}',
    b'{"choices": [{"delta": {"tool_calls": [1]}}]}',
    b'{"choices": [], "usage": 5}',
    b'{"choices": [], "usage": {"prompt_tokens": "many"}}',
]
ODD_AGENT_EVENTS = [
    (b"conversation.response.done", b'{"usage": {"prompt_tokens": "many"}}'),
    (b"message.output.delta", b'{"content": {"type": "thinking", "thinking": 5}}'),
]


@pytest.mark.parametrize(
    ("mode", "frame"),
    [
        pytest.param("normal", b"data: " + data + b"\n\n", id=f"chat-{n}")
        for n, data in enumerate(ODD_CHAT_EVENTS)
    ]
    + [
        pytest.param("agent", b"event: " + kind + b"\ndata: " + data + b"\n\n", id=f"agent-{n}")
        for n, (kind, data) in enumerate(ODD_AGENT_EVENTS)
    ],
)
async def test_events_of_an_unexpected_shape_are_api_errors(
    server: LocalMistral, make_model: MakeModel, mode: Mode, frame: bytes
) -> None:
    """Before the fix these escaped as AttributeError / TypeError / ValueError."""
    queue(server, mode, Fault.inject(AFTER_OUTPUT, frame, reply=reply(mode)))
    model = make_model(mode)
    outcome = await run_stream(model)
    err = outcome.error
    assert type(err) is APIConnectionError, repr(err)
    assert err.retryable is False and "cannot read" in err.message
    assert outcome.text == "Hello th"
    assert_readable(err)
    await assert_nothing_left(server, model)


# --- interruptions and keep-alives --------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_an_interruption_drops_the_connection_and_leaves_nothing(
    server: LocalMistral, make_model: MakeModel, mode: Mode
) -> None:
    slow = ChatReply(text="word " * 100, delay=0.01)
    queue(server, mode, slow if mode == "normal" else AgentReply(text="word " * 100, delay=0.01))
    model = make_model(mode)
    stream = model.chat(chat_ctx=user_ctx(), conn_options=OPTS)
    async for chunk in stream:
        if chunk.delta and chunk.delta.content:
            break  # the user spoke over the agent
    started = time.monotonic()
    await stream.aclose()
    disconnect = await server.wait_for_disconnect(timeout=2.0)
    assert disconnect.at - started < 0.5
    await assert_nothing_left(server, model)
    assert len(posts(server, mode)) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_keep_alive_comments_alone_do_not_hold_the_call_past_the_timeout(
    server: LocalMistral, make_model: MakeModel, mode: Mode
) -> None:
    trickle = Fault.keep_alive(AFTER_OUTPUT, every=TIMEOUT / 4, seconds=2.0, reply=reply(mode))
    queue(server, mode, trickle)
    model = make_model(mode)
    outcome = await run_stream(model)
    assert outcome.elapsed < 2 * TIMEOUT + 0.3  # the last event came before the comments
    assert isinstance(outcome.error, APITimeoutError) and outcome.error.retryable is False


async def test_a_last_chat_chunk_without_its_blank_line_still_counts(
    server: LocalMistral, make_model: MakeModel
) -> None:
    def chunk(text: str, finish: str | None) -> str:
        choice = {"index": 0, "delta": {"content": text}, "finish_reason": finish}
        return "data: " + json.dumps({"id": "c", "choices": [choice]})

    body = chunk("Hello ", None) + "\n\n" + chunk("world", "stop")  # no blank line, no [DONE]
    server.queue_chat(Fault.raw_body(body.encode()))
    outcome = await run_stream(make_model("normal"))
    assert outcome.error is None and outcome.text == "Hello world"
