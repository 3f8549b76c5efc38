"""The plugin's own HTTP session in deployments: proxies, use after close, more than one loop.

Every request goes over real sockets: through a real forward proxy on loopback where one is
configured, to the local Mistral server.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager

import aiohttp
import pytest
from aiohttp import web
from conftest import AGENT_ID, API_KEY, stream_reply
from livekit.agents import APIConnectionError, APIConnectOptions, llm
from livekit.agents.job import JobExecutorType, JobProcess
from livekit.agents.testing import fake_job_context

from livekit.plugins.mistral import LLM
from livekit.plugins.mistral.testing import AgentReply, ChatReply, LocalMistral

MakeLLM = Callable[..., LLM]
MODES = ("normal", "agent")
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
# hop-by-hop headers a proxy does not forward (RFC 9110 7.6.1), and lengths it recomputes
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "content-length"}
)


class ForwardProxy:
    """A plain HTTP forward proxy on 127.0.0.1: it forwards absolute-URI requests, streaming
    the answer back, and records each request line's target."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._runner: web.ServerRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        assert self._runner is not None
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> ForwardProxy:
        self._client = aiohttp.ClientSession()
        self._runner = web.ServerRunner(web.Server(self._forward), handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._client is not None
        await self._runner.cleanup()
        await self._client.close()

    async def _forward(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._client is not None
        target = request.raw_path  # absolute-form, e.g. http://127.0.0.1:1234/v1/models
        self.targets.append(target)
        if not target.startswith("http://"):
            return web.Response(status=400, text="not a proxy request")
        async with self._client.request(
            request.method,
            target,
            headers=_end_to_end(request.headers),
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            answer = web.StreamResponse(
                status=upstream.status, headers=_end_to_end(upstream.headers)
            )
            await answer.prepare(request)
            async for chunk in upstream.content.iter_any():
                await answer.write(chunk)
            await answer.write_eof()
            return answer


def _end_to_end(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as forward:
        yield forward


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable set, in either case: the machine's own settings must not leak in."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def ctx(text: str = "Hello") -> llm.ChatContext:
    chat_ctx = llm.ChatContext()
    chat_ctx.add_message(role="user", content=text)
    return chat_ctx


def model_for(make_llm: MakeLLM, server: LocalMistral, mode: str) -> LLM:
    if mode == "agent":
        server.queue_conversation(AgentReply(text="Via the proxy."))
        return make_llm(model=AGENT_ID, mode="agent")
    server.queue_chat(ChatReply(text="Via the proxy."))
    return make_llm()


async def prewarmed(model: LLM) -> None:
    model.prewarm()
    assert model._prewarm_task is not None
    await model._prewarm_task


@contextmanager
def job_with_worker_proxy(proxy_url: str) -> Iterator[None]:
    """A LiveKit job context as a worker started with ``http_proxy=proxy_url`` runs it."""
    with fake_job_context() as job:
        job._proc = JobProcess(
            executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=proxy_url
        )
        try:
            yield
        finally:
            job._tempdir.cleanup()  # a worker's job runner does this at shutdown


# --- proxies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_turns_and_prewarm_go_through_the_environment_proxy(
    server: LocalMistral,
    make_llm: MakeLLM,
    proxy: ForwardProxy,
    no_env_proxy: pytest.MonkeyPatch,
    mode: str,
) -> None:
    no_env_proxy.setenv("HTTP_PROXY", proxy.url)
    model = model_for(make_llm, server, mode)
    await prewarmed(model)
    _, text, _ = await stream_reply(model, ctx())
    assert text == "Via the proxy."
    assert proxy.targets == [server.base_url + r.path for r in server.requests]
    assert len(proxy.targets) == 2  # the prewarm GET and the turn's POST


@pytest.mark.parametrize("mode", MODES)
async def test_turns_and_prewarm_go_through_the_livekit_worker_proxy(
    server: LocalMistral,
    make_llm: MakeLLM,
    proxy: ForwardProxy,
    no_env_proxy: pytest.MonkeyPatch,
    mode: str,
) -> None:
    with job_with_worker_proxy(proxy.url):
        model = model_for(make_llm, server, mode)
        await prewarmed(model)
        _, text, _ = await stream_reply(model, ctx())
    assert text == "Via the proxy."
    assert proxy.targets == [server.base_url + r.path for r in server.requests]
    assert len(proxy.targets) == 2


async def test_no_proxy_hosts_are_reached_directly_whatever_set_the_proxy(
    server: LocalMistral,
    make_llm: MakeLLM,
    proxy: ForwardProxy,
    no_env_proxy: pytest.MonkeyPatch,
) -> None:
    no_env_proxy.setenv("HTTP_PROXY", proxy.url)
    no_env_proxy.setenv("NO_PROXY", "example.com,127.0.0.1")
    with job_with_worker_proxy(proxy.url):
        model = model_for(make_llm, server, "normal")
        _, text, _ = await stream_reply(model, ctx())
    assert text == "Via the proxy." and len(server.requests) == 1
    assert proxy.targets == []


async def test_a_dead_proxy_is_named_as_the_proxy(
    server: LocalMistral, make_llm: MakeLLM, no_env_proxy: pytest.MonkeyPatch
) -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    no_env_proxy.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    model = make_llm()
    with pytest.raises(APIConnectionError, match=f"HTTP proxy at 127.0.0.1:{port}; check"):
        await stream_reply(model, ctx(), conn_options=APIConnectOptions(max_retry=0))
    assert server.requests == []


# --- use after aclose() ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_use_after_aclose_raises_and_opens_nothing(
    server: LocalMistral, make_llm: MakeLLM, mode: str
) -> None:
    model = model_for(make_llm, server, mode)
    await stream_reply(model, ctx())
    await model.aclose()
    opened, requests = server.connections_opened, len(server.requests)

    with pytest.raises(APIConnectionError, match="the LLM was closed; make a new one") as caught:
        await stream_reply(model, ctx())
    assert caught.value.retryable is False
    assert str(caught.value).count("the LLM was closed") == 1  # said once, not again as cause
    await prewarmed(model)  # prewarm swallows the error, and must not open a session either

    assert (server.connections_opened, len(server.requests)) == (opened, requests)
    assert model._http._session is not None and model._http._session.closed


# --- one LLM, several event loops --------------------------------------------------------------


@contextmanager
def server_in_thread() -> Iterator[LocalMistral]:
    """A LocalMistral on its own loop in a background thread, outliving the test's loops."""
    started = threading.Event()
    stop: list[Callable[[], object]] = []
    holder: list[LocalMistral] = []

    async def serve() -> None:
        async with LocalMistral(api_key=API_KEY) as srv:
            srv.add_agent(AGENT_ID)
            done = asyncio.Event()
            loop = asyncio.get_running_loop()
            stop.append(lambda: loop.call_soon_threadsafe(done.set))
            holder.append(srv)
            started.set()
            await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10), "the local server did not start"
    try:
        yield holder[0]
    finally:
        stop[0]()
        thread.join(10)


@pytest.mark.parametrize("mode", MODES)
def test_one_llm_serves_turns_from_two_event_loops(mode: str) -> None:
    with server_in_thread() as server:
        kwargs = {"model": AGENT_ID, "mode": "agent"} if mode == "agent" else {}
        model = LLM(api_key=API_KEY, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]

        async def turn() -> str:
            _, text, _ = await stream_reply(model, ctx("Say hi"))
            return text

        # a loop that ends with the LLM open leaves idle sockets nothing can close any more
        # (no loop to run on): the garbage collector frees them with a ResourceWarning
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            first = asyncio.run(turn())
            stale = model._http._session
            second = asyncio.run(turn())  # a new loop: before the fix, a bare RuntimeError
            assert first == second != ""
            assert stale is not None and stale.closed and model._http._session is not stale
            asyncio.run(model.aclose())
            del stale
            gc.collect()
        unclosed = [str(w.message) for w in seen if "Unclosed" in str(w.message)]
        assert unclosed == []  # aiohttp's "Unclosed client session" / "Unclosed connector"
        assert len(server.requests) == 2
