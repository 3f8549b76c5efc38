"""The API key stays secret, TLS stays verified, user content stays under ``lk.pii.*``."""

from __future__ import annotations

import json
import logging
import ssl
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import AGENT_ID
from livekit.agents import APIConnectionError, APIConnectOptions, llm
from test_faults import (
    CASES,
    MODES,
    OPTS,
    Mode,
    chain,
    closed_port,
    loopback_dns,  # noqa: F401  (a fixture, used by name)
    queue,
)
from test_mapping_chat import call, out

from livekit.plugins.mistral import LLM
from livekit.plugins.mistral.testing import AgentReply, ChatReply, Fault, LocalMistral, ToolCall

SECRET = "sk-SECRET-4f1c9e7a2b6d8035"
WRONG_SECRET = "sk-WRONG-0b9d2c7e5a1f3864"
LOGGERS = ["livekit", "livekit.agents", "livekit.plugins.mistral", "aiohttp", "asyncio"]


class Captured(logging.Handler):
    """Every record from every logger, kept whole (message, extras, exception)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> Iterator[str]:
        for record in self.records:
            yield self._formatter.format(record)  # message, and the traceback if any
            yield repr(record.__dict__)  # args, extras, exc_info


@pytest.fixture
def logs() -> Iterator[Captured]:
    """All loggers at DEBUG (LiveKit's, the plugin's, aiohttp's, asyncio's) into one list."""
    handler = Captured()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ["", *LOGGERS]}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


class Seen:
    """Everything a user of the plugin can look at, as text."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.caught: list[BaseException] = []

    def watch(self, model: LLM) -> LLM:
        self.texts.append(repr(model))
        self.texts.append(repr(model._http))
        model.on("metrics_collected", lambda m: self.texts.append(m.model_dump_json()))
        model.on("error", lambda e: self.texts.append(repr(e)))
        return model

    def error(self, err: BaseException) -> None:
        self.caught.append(err)
        self.texts.append("".join(traceback.format_exception(err)))  # causes and contexts
        for e in chain(err):
            self.texts += [str(e), repr(e), repr(getattr(e, "body", None))]
            if e.__context__ is not None:
                self.texts += [str(e.__context__), repr(e.__context__)]

    async def run(self, model: LLM, ctx: llm.ChatContext | None = None, **kwargs: Any) -> str:
        if ctx is None:
            ctx = llm.ChatContext()
            ctx.add_message(role="user", content="Hello")
        kwargs.setdefault("conn_options", OPTS)
        text: list[str] = []
        try:
            async with model.chat(chat_ctx=ctx, **kwargs) as stream:
                self.texts.append(repr(stream))
                async for chunk in stream:
                    self.texts.append(chunk.model_dump_json())
                    if chunk.delta is not None:
                        text.append(chunk.delta.content or "")
                self.texts.append(repr(stream))
        except Exception as e:
            self.error(e)
        return "".join(text)


def make(mode: Mode, base_url: str, api_key: str = SECRET, **kwargs: Any) -> LLM:
    if mode == "agent":
        kwargs.update(model=AGENT_ID, mode="agent")
    return LLM(api_key=api_key, base_url=base_url, **kwargs)


@pytest.fixture
async def server() -> AsyncIterator[LocalMistral]:
    async with LocalMistral(api_key=SECRET) as srv:
        srv.add_agent(AGENT_ID, name="support")
        yield srv


# --- the API key ----------------------------------------------------------------------------


def orphan_call() -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="Hello")
    ctx.items.append(call("item_b/fnc_0"))  # interrupted before its output: dropped
    ctx.add_message(role="user", content="Are you there?")
    return ctx


@pytest.mark.usefixtures("loopback_dns")
async def test_the_key_appears_nowhere(server: LocalMistral, logs: Captured) -> None:
    seen = Seen()
    models: list[LLM] = []

    def model(mode: Mode, base_url: str = server.base_url, **kwargs: Any) -> LLM:
        models.append(seen.watch(make(mode, base_url, **kwargs)))
        return models[-1]

    for mode in MODES:
        # every fault of the matrix
        for case in CASES.values():
            if mode in case.modes:
                queue(server, mode, *case.script(mode))
                await seen.run(model(mode))
        # answers with tools, prewarm, refused requests, no server at all
        reply = ChatReply(text="Sure.", tool_calls=[ToolCall("lookup", {"q": 1})])
        queue(server, mode, reply if mode == "normal" else AgentReply(text="Sure."))
        await seen.run(model(mode))
        prewarmed = model(mode)
        await prewarmed._prewarm_impl()
        await seen.run(model(mode, api_key=WRONG_SECRET))
        await seen.run(model(mode), extra_kwargs={"not_a_field": 1})
        await seen.run(model(mode), orphan_call())  # logs at DEBUG
        await seen.run(model(mode, base_url=f"http://127.0.0.1:{closed_port()}"))
        await seen.run(model(mode, base_url="https://api.mistral.invalid"))
    unknown_agent = model("agent")
    unknown_agent.update_options(model="ag_ffffffffffffffffffffffffffffffff")
    await seen.run(unknown_agent)
    try:
        await unknown_agent._prewarm_impl()
    except Exception as e:
        seen.error(e)
    for m in models:
        await m.aclose()

    everything = [*seen.texts, *logs.texts()]
    levels = {(r.name, r.levelno) for r in logs.records}
    assert ("livekit.agents", logging.WARNING) in levels  # LiveKit's retry warnings
    assert ("livekit.plugins.mistral", logging.DEBUG) in levels  # DEBUG is captured too
    assert any("Traceback" in text for text in everything)  # errors were captured whole
    assert any('"type":"llm_metrics"' in text for text in seen.texts)  # and metrics
    for secret in (SECRET, WRONG_SECRET):
        leaks = [text for text in everything if secret in text]
        assert leaks == [], leaks[0][:2000]
    # the key did travel where it must: to the server, in the header
    assert {r.headers["Authorization"] for r in server.requests} == {
        f"Bearer {SECRET}",
        f"Bearer {WRONG_SECRET}",
    }


@pytest.mark.parametrize("mode", MODES)
async def test_a_redirect_is_not_followed_and_says_why(server: LocalMistral, mode: Mode) -> None:
    async with LocalMistral(api_key=SECRET) as elsewhere:
        elsewhere.add_agent(AGENT_ID)
        path = "/v1/chat/completions" if mode == "normal" else "/v1/conversations"
        redirect = Fault.status(307, body="", headers={"Location": elsewhere.base_url + path})
        queue(server, mode, redirect)
        seen = Seen()
        model = make(mode, server.base_url)
        await seen.run(model, conn_options=APIConnectOptions(max_retry=0))
        await model.aclose()
    assert elsewhere.requests == []  # neither the key nor the conversation went there
    (err,) = seen.caught
    assert getattr(err, "status_code", None) == 307
    assert getattr(err, "retryable", None) is False
    assert "check base_url" in str(err)


def test_the_key_is_not_in_a_repr_of_the_options() -> None:
    model = LLM(api_key=SECRET, base_url="http://127.0.0.1:1")
    assert SECRET not in repr(model) and SECRET not in repr(model._http)
    assert SECRET not in repr(model._opts)


# --- TLS ------------------------------------------------------------------------------------

# A self-signed certificate for 127.0.0.1 and its throwaway key, made for this test only
# (openssl req -x509 -newkey ec ... -days 36500); it protects nothing.
CERT = """-----BEGIN CERTIFICATE-----
MIIBkTCCATagAwIBAgIUFfH+RU7ksoufSFgvdNuL3vR5oCswCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMDIzNTkyMVoYDzIxMjYxMDI3
MjM1OTIxWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATUOEL51Oz6WMjyZ8iLpLwmejPX3Dcc/IM6d34A8AZUwhxSHL5hbtMR
tIMKZFUcTia/IIC9HpV1nXlxzfrEykjKo2QwYjAdBgNVHQ4EFgQUtRxXCT5Hpo53
xUr55uSRtiqtEIUwHwYDVR0jBBgwFoAUtRxXCT5Hpo53xUr55uSRtiqtEIUwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0kAMEYC
IQD9VqEDSslQaN2ceHnAUP02ygcVN1SWd8KVWO43gUkwrQIhAO1FQ3/rm1GBgTDv
okCsLopKrEy80lEwHHeOxDiqRlpI
-----END CERTIFICATE-----
"""
KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDYGxMwVsC3tRXIAS
el3vfxJ1eHeco+TPwv8oiOV1b5ChRANCAATUOEL51Oz6WMjyZ8iLpLwmejPX3Dcc
/IM6d34A8AZUwhxSHL5hbtMRtIMKZFUcTia/IIC9HpV1nXlxzfrEykjK
-----END PRIVATE KEY-----
"""


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[LocalMistral]:
    (tmp_path / "cert.pem").write_text(CERT)
    (tmp_path / "key.pem").write_text(KEY)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    async with LocalMistral(api_key=SECRET, ssl=context) as srv:
        srv.add_agent(AGENT_ID)
        yield srv


@pytest.mark.parametrize("mode", MODES)
async def test_an_untrusted_certificate_is_refused(tls_server: LocalMistral, mode: Mode) -> None:
    seen = Seen()
    model = make(mode, tls_server.base_url)
    assert tls_server.base_url.startswith("https://127.0.0.1:")
    await seen.run(model, conn_options=APIConnectOptions(max_retry=0, timeout=2.0))
    await model.aclose()
    (err,) = seen.caught
    assert isinstance(err, APIConnectionError)
    assert "could not connect to Mistral" in str(err)
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in chain(err))
    assert tls_server.requests == []  # nothing, the key least of all, was sent


@pytest.mark.parametrize("mode", MODES)
async def test_the_same_server_works_once_trusted(tls_server: LocalMistral, mode: Mode) -> None:
    """The control: the refusal above is certificate verification, nothing else."""
    trusting = ssl.create_default_context(cadata=CERT)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting)) as session:
        model = make(mode, tls_server.base_url, http_session=session)
        queue(
            tls_server,
            mode,
            ChatReply(text="Secure.") if mode == "normal" else AgentReply(text="Secure."),
        )
        assert await Seen().run(model) == "Secure."
        await model.aclose()


async def test_the_plugin_session_verifies_certificates() -> None:
    model = LLM(api_key=SECRET)
    connector = (await model._http.session()).connector
    assert isinstance(connector, aiohttp.TCPConnector)
    assert connector._ssl is True  # aiohttp's default: verify against the system's CAs
    await model.aclose()


@pytest.mark.parametrize(
    ("base_url", "warns"),
    [
        ("http://mistral.internal.example:8080", True),
        ("http://10.0.0.12", True),
        ("http://127.0.0.1:8765", False),
        ("http://localhost:8765/v1", False),
        ("http://[::1]:8765", False),
        ("https://mistral.internal.example", False),
        ("https://api.mistral.ai", False),
    ],
)
def test_plain_http_to_another_host_warns(
    base_url: str, warns: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        LLM(api_key=SECRET, base_url=base_url)
    warnings = [r for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == int(warns)
    if warns:
        assert "unencrypted" in warnings[0].getMessage()
        assert SECRET not in caplog.text


# --- user content under lk.pii.* only ---------------------------------------------------------

MARK = "zq7731private"
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def private_history() -> llm.ChatContext:
    """User text, tool arguments and tool results, all carrying the marker; one stored call
    has arguments that are not a JSON object (logged, under lk.pii.arguments)."""
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="Be brief.")
    ctx.add_message(role="user", content=f"My card is {MARK}-user")
    ctx.items += [
        call("item_a/fnc_0", arguments=json.dumps({"card": f"{MARK}-args"})),
        out("item_a/fnc_0", f"{MARK}-result"),
        call("item_a/fnc_1", arguments=f"{{{MARK}-not-json"),
        out("item_a/fnc_1", f"{MARK}-result2"),
    ]
    ctx.add_message(role="user", content=f"And {MARK}-again")
    return ctx


@pytest.mark.parametrize("mode", MODES)
async def test_user_content_is_logged_only_under_pii_extras(
    server: LocalMistral, logs: Captured, mode: Mode
) -> None:
    calls = [ToolCall("lookup", {"card": f"{MARK}-call"})]
    if mode == "normal":
        answer: Any = ChatReply(thinking=f"{MARK}-thinking", text=f"{MARK}-reply", tool_calls=calls)
        cut: Any = ChatReply(text=f"{MARK}-reply-cut")
    else:
        answer = AgentReply(
            text=f"{MARK}-reply",
            tool_executions=["web_search"],  # its arguments quote the user's text
            thinking=f"{MARK}-thinking",
            tool_calls=calls,
            references=True,
        )
        cut = AgentReply(text=f"{MARK}-reply-cut")
    # a retried 503, then the answer; an error event after output; a reset after output
    queue(server, mode, Fault.status(503), answer)
    queue(server, mode, Fault.in_stream_error(3, reply=cut))
    queue(server, mode, Fault.reset_mid_stream(3, reply=cut))
    model = make(mode, server.base_url)
    seen = Seen()
    heard = [await seen.run(model, private_history()) for _ in range(3)]
    await model.aclose()
    assert heard[0] == f"{MARK}-reply"  # content flowed while the logs were listening
    assert len(seen.caught) == 2

    pii = [r for r in logs.records if any(k.startswith("lk.pii.") for k in vars(r))]
    assert any(MARK in repr(vars(r)) for r in pii)  # the control: content was logged, as pii
    for record in logs.records:
        assert MARK not in record.getMessage(), record.getMessage()
        extras = {k: v for k, v in vars(record).items() if k not in STANDARD}
        public = {k: v for k, v in extras.items() if not k.startswith("lk.pii.")}
        assert MARK not in repr(public), (record.getMessage(), public)
