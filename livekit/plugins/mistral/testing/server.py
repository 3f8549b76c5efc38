"""``LocalMistral``: a Mistral-compatible HTTP server on 127.0.0.1, started in-process.

It speaks the wire format of Mistral's API (https://docs.mistral.ai/api/) over a real socket,
enforces the live API's request rules (:mod:`.rules`), answers with scripted replies or
faults, and records everything a test may want to assert on (requests, disconnects,
connections, open streams).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from ssl import SSLContext
from typing import Any, TypeVar, overload

from aiohttp import web
from aiohttp.typedefs import Handler

from . import errors, ids
from .agents import AgentVersion, StoredAgent, new_agent
from .brain import (
    agent_reply_for,
    chat_reply_for,
    conversation_user_text,
    conversation_user_texts,
    user_texts,
)
from .chat_wire import ChatFaultFrames, chat_completion, chat_frames, chat_usage, estimate_tokens
from .conversation_wire import (
    ConversationContext,
    ConversationFaultFrames,
    conversation_frames,
    conversation_response,
    conversation_usage,
)
from .guardrails import guardrail_block
from .prompt_cache import PromptCache
from .rules import KNOWN_MODELS, RuleViolation, check_chat_request, check_conversation_request
from .schema import (
    QueryCheck,
    create_agent_schema_errors,
    query_alias,
    query_errors,
    query_int,
    update_agent_schema_errors,
)
from .script import AgentReply, ChatReply, Fault
from .sse import Abort, FaultFrames, Stall, Step, dumps, plan_stream

CHAT_PATH = "/v1/chat/completions"
CONVERSATIONS_PATH = "/v1/conversations"
_HTML_PAGE = "<html><head><title>Maintenance</title></head><body>Back soon.</body></html>"
_SHUTDOWN_TIMEOUT = 0.5
MAX_REQUEST_BYTES = 128 * 1024 * 1024
"""The largest request body accepted (aiohttp refuses more than 1 MiB by default). Mistral
documents up to 8 images per request of up to 10 MB each (https://docs.mistral.ai/capabilities/
vision/): as base64 data URIs that is about 107 MB of JSON, plus a full 256k-token history of
text (about 1 MB). 128 MiB covers both; above it aiohttp answers 413."""
_INVALID_JSON = object()

_R = TypeVar("_R", ChatReply, AgentReply)
_T = TypeVar("_T")


class Headers(dict[str, str]):
    """Request headers: names stored lowercased, looked up in any case."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)

    @overload
    def get(self, name: str, default: None = None, /) -> str | None: ...

    @overload
    def get(self, name: str, default: str, /) -> str: ...

    @overload
    def get(self, name: str, default: _T, /) -> str | _T: ...

    def get(self, name: str, default: object = None, /) -> object:
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: Headers
    """A dict with lowercased names whose lookups ignore case."""
    body: Any
    """The parsed JSON body, or ``None`` when empty or not JSON (see ``raw``)."""
    at: float
    """``time.monotonic()`` when the request arrived."""
    raw: bytes = b""
    query: str = ""
    """The query string, e.g. ``"agent_version=2"``."""


Responder = Callable[[RecordedRequest], ChatReply | AgentReply | Fault | None]
"""Chooses the answer to a request from its content, when the route's queue is empty:
a reply or fault of the route's kind, or ``None`` for the demo brain."""


@dataclass(frozen=True)
class Disconnect:
    """A request whose client went away before the server finished answering."""

    path: str
    at: float


class _JsonFaultFrames:
    """A JSON body split in two 'frames': in-stream faults can only break it."""

    def error(self, message: str, code: int) -> list[bytes]:
        return []

    def unknown(self) -> list[bytes]:
        return []

    def oversized(self, size_bytes: int) -> bytes:
        return b" " * size_bytes


class LocalMistral:
    """A local Mistral API for tests, examples and benchmarks.

    Use as ``async with LocalMistral() as server:`` (or ``await server.start()`` /
    ``await server.aclose()``) and point a client at ``server.base_url``.

    Args:
        api_key: the only bearer token accepted.
        host: the interface to listen on.
        port: the port; 0 picks a free one.
        padding: add the ``"p"`` padding field to the demo brain's chat chunks.
        write_size: when set, every SSE frame is written in pieces of this many bytes (each
            its own HTTP chunk), so clients meet lines and UTF-8 characters split anywhere.
        responder: picks the answer to a chat or conversation request from the request
            itself once the queue is empty (see :data:`Responder`): a deterministic script
            for concurrent clients, where a FIFO queue cannot say which request gets what.
            Settable later as ``server.responder``.
        ssl: serve HTTPS with this context (``base_url`` then starts with ``https://``),
            e.g. to check that a client verifies certificates.

    Guardrails and prompt caching are acted out deterministically (see :mod:`.guardrails`
    and :mod:`.prompt_cache`); set ``moderation_down`` to make every moderation check fail.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        padding: bool = True,
        write_size: int | None = None,
        responder: Responder | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.padding = padding
        self.write_size = write_size
        self.responder = responder
        self.ssl = ssl
        self.moderation_down = False
        self.prompt_cache = PromptCache()
        self.requests: list[RecordedRequest] = []
        self.usage_reports: list[dict[str, Any]] = []  # the usage of every answer, in order
        self.disconnects: list[Disconnect] = []
        self.open_streams = 0
        self.connections_opened = 0
        self._models: set[str] = set(KNOWN_MODELS)
        self._agents: dict[str, StoredAgent] = {}
        self._chat_queue: deque[ChatReply | Fault] = deque()
        self._conversation_queue: deque[AgentReply | Fault] = deque()
        self._http_faults: dict[str, deque[Fault]] = {}
        self._disconnects_taken = 0
        self._disconnect_event = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` with ``ssl``, ``[::1]`` for an IPv6 host):
        the root, without ``/v1``."""
        if self._listener is None:
            raise RuntimeError("LocalMistral is not started")
        scheme = "https" if self.ssl is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post(CHAT_PATH, self._route(self._chat))
        app.router.add_post(CONVERSATIONS_PATH, self._route(self._conversation))
        app.router.add_post("/v1/agents", self._route(self._create_agent))
        app.router.add_get("/v1/agents/{agent_id}", self._route(self._get_agent))
        app.router.add_patch("/v1/agents/{agent_id}", self._route(self._update_agent))
        app.router.add_patch("/v1/agents/{agent_id}/version", self._route(self._switch_version))
        app.router.add_get("/v1/agents/{agent_id}/versions", self._route(self._list_versions))
        app.router.add_get(
            "/v1/agents/{agent_id}/versions/{version}", self._route(self._get_version)
        )
        app.router.add_put("/v1/agents/{agent_id}/aliases", self._route(self._put_alias))
        app.router.add_get("/v1/agents/{agent_id}/aliases", self._route(self._list_aliases))
        app.router.add_delete("/v1/agents/{agent_id}/aliases", self._route(self._delete_alias))
        app.router.add_get("/v1/models", self._route(self._list_models))
        app.router.add_route("*", "/{tail:.*}", self._route(self._unknown_route))
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            self._new_connection, self.host, self.port, ssl=self.ssl
        )
        self.port = self._listener.sockets[0].getsockname()[1]

    def _new_connection(self) -> asyncio.BaseProtocol:
        """Protocol factory: counts connections, then hands them to aiohttp."""
        assert self._runner is not None and self._runner.server is not None
        self.connections_opened += 1
        return self._runner.server()

    async def aclose(self) -> None:
        """Stop at once: stalled and streaming handlers abort their connections."""
        self._closing.set()
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._listener = None

    async def __aenter__(self) -> LocalMistral:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- scripting ------------------------------------------------------------------------

    def queue_chat(self, *replies: ChatReply | Fault) -> None:
        """Answer the next chat completions requests with these, in order."""
        for reply in replies:
            _check_fault_reply(reply, ChatReply)
        self._chat_queue.extend(replies)

    def queue_conversation(self, *replies: AgentReply | Fault) -> None:
        """Answer the next ``POST /v1/conversations`` requests with these, in order."""
        for reply in replies:
            _check_fault_reply(reply, AgentReply)
        self._conversation_queue.extend(replies)

    def queue_http(self, path_prefix: str, *faults: Fault) -> None:
        """Serve these faults, in order, to the next requests whose path starts with
        ``path_prefix`` (before auth and rules; any route)."""
        self._http_faults.setdefault(path_prefix, deque()).extend(faults)

    def add_model(self, name: str) -> None:
        """Accept ``name`` as a model id."""
        self._models.add(name)

    def add_agent(
        self,
        agent_id: str,
        *,
        name: str = "Local agent",
        model: str = "mistral-medium-latest",
        tools: Sequence[Mapping[str, Any]] = (),
        instructions: str | None = None,
    ) -> None:
        """Register an agent (as version 0); conversations with an unknown ``agent_id`` get
        404. Agents can also be created, updated and aliased over HTTP, as on the live API.

        Args:
            agent_id: the id, e.g. ``"ag_" + 32 hex``.
            name: its name, shown in handoff events.
            model: the model it runs.
            tools: function tools the demo brain may call for it, as
                ``{"type": "function", "function": {...}}`` or the bare function schema.
            instructions: its instructions (returned by ``GET /v1/agents/{id}``).
        """
        body = {"model": model, "name": name, "tools": list(tools), "instructions": instructions}
        self._agents[agent_id] = new_agent(agent_id, body)

    def update_agent(self, agent_id: str, **fields: Any) -> int:
        """Update an agent as ``PATCH /v1/agents/{id}`` does (a new current version, whose
        number is returned); ``fields`` are the body's (``tools``, ``instructions``, ...)."""
        return self._agents[agent_id].update(fields).number

    def agent_version(self, agent_id: str, version: int | str | None = None) -> AgentVersion:
        """A stored agent's version (by number or alias; default the current one)."""
        found = self._agents[agent_id].resolve(version)
        if found is None:
            raise KeyError(f"agent {agent_id} has no version {version!r}")
        return found

    # --- inspection -----------------------------------------------------------------------

    @property
    def chat_requests(self) -> list[Any]:
        """Bodies of every ``POST /v1/chat/completions``, in order."""
        return [r.body for r in self.requests if r.method == "POST" and r.path == CHAT_PATH]

    @property
    def conversation_requests(self) -> list[Any]:
        """Bodies of every ``POST /v1/conversations``, in order."""
        return [
            r.body for r in self.requests if r.method == "POST" and r.path == CONVERSATIONS_PATH
        ]

    async def wait_for_disconnect(self, timeout: float) -> Disconnect:
        """The next disconnect not returned by an earlier call (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self._disconnects_taken >= len(self.disconnects):
            self._disconnect_event.clear()
            remaining = deadline - time.monotonic()
            await asyncio.wait_for(self._disconnect_event.wait(), max(0.0, remaining))
        self._disconnects_taken += 1
        return self.disconnects[self._disconnects_taken - 1]

    # --- every route: record, authenticate, queued HTTP faults ----------------------------

    def _route(self, handler: _RouteHandler) -> Handler:
        """Wrap a route: record the request, check the key, serve queued HTTP faults, and
        note a disconnect when the client leaves before the answer is complete."""

        async def handle(request: web.Request) -> web.StreamResponse:
            exchange = await self._record(request)
            try:
                if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                    return _json(401, errors.UNAUTHORIZED)
                exchange.fault = self._pop_http_fault(request.path)
                if exchange.fault is not None and not exchange.fault.is_mid_stream:
                    fault, exchange.fault = exchange.fault, None
                    if (response := await self._serve_fault(exchange, fault)) is not None:
                        return response
                return await handler(exchange)
            except asyncio.CancelledError:
                if not self._closing.is_set() and not exchange.aborted:
                    self._note_disconnect(request.path)
                raise

        return handle

    async def _record(self, request: web.Request) -> _Exchange:
        raw = await request.read()
        body = _parse_json(raw)
        recorded = RecordedRequest(
            request.method,
            request.path,
            Headers(request.headers.items()),
            None if body is _INVALID_JSON else body,
            time.monotonic(),
            raw,
            request.query_string,
        )
        self.requests.append(recorded)
        return _Exchange(request, body, recorded)

    def _pop_http_fault(self, path: str) -> Fault | None:
        matches = [p for p, q in self._http_faults.items() if q and path.startswith(p)]
        if not matches:
            return None
        return self._http_faults[max(matches, key=len)].popleft()

    def _note_disconnect(self, path: str) -> None:
        self.disconnects.append(Disconnect(path, time.monotonic()))
        self._disconnect_event.set()

    # --- routes ---------------------------------------------------------------------------

    async def _chat(self, exchange: _Exchange) -> web.StreamResponse:
        body = exchange.body
        if (refused := _refuse_json(body)) is not None:
            return refused
        if (violation := check_chat_request(body, models=self._models)) is not None:
            return _violation(violation)
        if (blocked := self._guardrails(body, user_texts(body["messages"]))) is not None:
            return blocked
        fault, reply = _next(exchange, self._chat_queue, ChatReply, self.responder)
        if fault is not None and not fault.is_mid_stream:
            if (response := await self._serve_fault(exchange, fault)) is not None:
                return response
        reply = reply or chat_reply_for(body, padding=self.padding)
        prompt = dumps(body["messages"])
        sizes: dict[str, Any] = {
            "prompt_tokens": estimate_tokens(prompt),
            "cached_tokens": self.prompt_cache.cached_tokens(body.get("prompt_cache_key"), prompt),
            # "auto" may use Priority Tier when eligible: the local server always finds it so
            "service_tier": "priority" if body.get("service_tier") == "auto" else "standard",
        }
        model = body["model"]
        self.usage_reports.append(chat_usage(reply, **sizes))
        if body.get("stream") is True:
            frames = chat_frames(reply, model=model, **sizes)
            steps = plan_stream(frames, fault, ChatFaultFrames(model))
            return await self._stream(exchange, steps, reply.delay)
        answer = chat_completion(reply, model=model, **sizes)
        return await self._json_answer(exchange, answer, fault)

    async def _conversation(self, exchange: _Exchange) -> web.StreamResponse:
        body = exchange.body
        if (refused := _refuse_json(body)) is not None:
            return refused
        violation = check_conversation_request(body, self._agents, models=self._models)
        if violation is not None:
            return _violation(violation)
        if (blocked := self._guardrails(body, conversation_user_texts(body["inputs"]))) is not None:
            return blocked
        fault, reply = _next(exchange, self._conversation_queue, AgentReply, self.responder)
        if fault is not None and not fault.is_mid_stream:
            if (response := await self._serve_fault(exchange, fault)) is not None:
                return response
        agent = self._agents.get(body.get("agent_id") or "")
        version = agent.resolve(body.get("agent_version")) if agent else None
        if agent is not None and version is None:
            return _json(404, _version_not_found(agent.id, body.get("agent_version")))
        reply = reply or agent_reply_for(body, version.tools if version else ())
        ctx = self._conversation_context(body, version)
        self.usage_reports.append(conversation_usage(reply, ctx))
        if body.get("stream") is True:
            frames = conversation_frames(reply, ctx)
            steps = plan_stream(frames, fault, ConversationFaultFrames(ctx))
            return await self._stream(exchange, steps, reply.delay)
        if reply.error is not None:
            message, code = reply.error
            error = errors.envelope(
                message, type="internal_server_error", code=str(code), status=500
            )
            return _json(500, error)
        return await self._json_answer(exchange, conversation_response(reply, ctx), fault)

    def _guardrails(self, body: Mapping[str, Any], texts: list[str]) -> web.Response | None:
        """403 when the request's guardrails block it (see :mod:`.guardrails`)."""
        refusal = guardrail_block(
            body.get("guardrails"), texts, moderation_down=self.moderation_down
        )
        return None if refusal is None else _json(403, refusal)

    def _conversation_context(
        self, body: Mapping[str, Any], version: AgentVersion | None
    ) -> ConversationContext:
        return ConversationContext(
            model=version.model if version else str(body.get("model")),
            agent_id=body.get("agent_id") if version else None,
            agent_names={a.id: a.name for a in self._agents.values()},
            user_text=conversation_user_text(body["inputs"]),
            prompt_tokens=estimate_tokens(dumps(body["inputs"])),
        )

    # --- agents: versions and aliases -------------------------------------------------------

    def _agent_of(self, exchange: _Exchange) -> StoredAgent | web.Response:
        agent_id = exchange.request.match_info["agent_id"]
        agent = self._agents.get(agent_id)
        if agent is None:
            return _json(404, errors.not_found(f"Agent not found: {agent_id}"))
        return agent

    async def _create_agent(self, exchange: _Exchange) -> web.StreamResponse:
        body = exchange.body
        if (refused := _refuse_json(body)) is not None:
            return refused
        if schema_errors := create_agent_schema_errors(body):
            return _agent_422(schema_errors)
        if body["model"] not in self._models:
            return _json(400, errors.invalid_model(body["model"]))
        agent = new_agent(ids.prefixed("ag_"), body)
        self._agents[agent.id] = agent
        return _json(200, agent.to_json())

    async def _get_agent(self, exchange: _Exchange) -> web.StreamResponse:
        return self._agent_answer(exchange, {"agent_version": _VERSION_REF}, "agent_version")

    async def _get_version(self, exchange: _Exchange) -> web.StreamResponse:
        ref = exchange.request.match_info["version"]
        return self._agent_answer(exchange, {}, None, ref)

    def _agent_answer(
        self,
        exchange: _Exchange,
        params: Mapping[str, tuple[QueryCheck, bool]],
        ref_param: str | None,
        ref: str | None = None,
    ) -> web.Response:
        """One version of an agent, named by a query parameter or a path segment."""
        agent = self._agent_of(exchange)
        if isinstance(agent, web.Response):
            return agent
        query, errs = query_errors(exchange.request.query, params)
        if errs:
            return _agent_422(errs)
        if ref_param is not None:
            ref = query.get(ref_param)
        version = agent.resolve(ref)
        if version is None:
            return _json(404, _version_not_found(agent.id, ref))
        return _json(200, agent.to_json(version))

    async def _update_agent(self, exchange: _Exchange) -> web.StreamResponse:
        agent = self._agent_of(exchange)
        if isinstance(agent, web.Response):
            return agent
        body = exchange.body
        if (refused := _refuse_json(body)) is not None:
            return refused
        if schema_errors := update_agent_schema_errors(body):
            return _agent_422(schema_errors)
        if body.get("model") is not None and body["model"] not in self._models:
            return _json(400, errors.invalid_model(body["model"]))
        return _json(200, agent.to_json(agent.update(body)))

    async def _switch_version(self, exchange: _Exchange) -> web.StreamResponse:
        agent = self._agent_of(exchange)
        if isinstance(agent, web.Response):
            return agent
        query, errs = query_errors(exchange.request.query, {"version": (query_int(), True)})
        if errs:
            return _agent_422(errs)
        version = agent.resolve(query["version"])
        if version is None:
            return _json(404, _version_not_found(agent.id, query["version"]))
        agent.current = version.number
        return _json(200, agent.to_json())

    async def _list_versions(self, exchange: _Exchange) -> web.StreamResponse:
        agent = self._agent_of(exchange)
        if isinstance(agent, web.Response):
            return agent
        params = {"page": (query_int(ge=0), False), "page_size": (query_int(ge=1, le=100), False)}
        query, errs = query_errors(exchange.request.query, params)
        if errs:
            return _agent_422(errs)
        page, size = query.get("page", 0), query.get("page_size", 20)
        newest_first = list(reversed(agent.versions))[page * size : (page + 1) * size]
        return _json(200, [agent.to_json(version) for version in newest_first])

    async def _put_alias(self, exchange: _Exchange) -> web.StreamResponse:
        agent = self._agent_of(exchange)
        if isinstance(agent, web.Response):
            return agent
        params = {"alias": (query_alias, True), "version": (query_int(), True)}
        query, errs = query_errors(exchange.request.query, params)
        if errs:
            return _agent_422(errs)
        if agent.resolve(query["version"]) is None:
            return _json(404, _version_not_found(agent.id, query["version"]))
        alias = agent.set_alias(query["alias"], query["version"])
        return _json(200, alias.to_json(query["alias"]))

    async def _list_aliases(self, exchange: _Exchange) -> web.StreamResponse:
        agent = self._agent_of(exchange)
        if isinstance(agent, web.Response):
            return agent
        return _json(200, [alias.to_json(name) for name, alias in agent.aliases.items()])

    async def _delete_alias(self, exchange: _Exchange) -> web.StreamResponse:
        agent = self._agent_of(exchange)
        if isinstance(agent, web.Response):
            return agent
        query, errs = query_errors(exchange.request.query, {"alias": (query_alias, True)})
        if errs:
            return _agent_422(errs)
        if agent.aliases.pop(query["alias"], None) is None:
            message = f"Agent alias not found: {query['alias']}"
            return _json(404, errors.not_found(message))
        return web.Response(status=204, headers=_base_headers())

    async def _list_models(self, exchange: _Exchange) -> web.StreamResponse:
        data = [_model_card(name) for name in sorted(self._models)]
        return _json(200, {"object": "list", "data": data})

    async def _unknown_route(self, exchange: _Exchange) -> web.StreamResponse:
        return _json(404, {"detail": "Not Found"})

    # --- answering ------------------------------------------------------------------------

    async def _serve_fault(self, exchange: _Exchange, fault: Fault) -> web.StreamResponse | None:
        """Act out a fault that strikes before the headers; ``None`` means answer normally
        (a stall that ran its course)."""
        if fault.kind == "status":
            return _fault_response(fault)
        if fault.kind == "wrong_content_type":
            return web.Response(
                status=200, text=_HTML_PAGE, content_type="text/html", headers=_base_headers()
            )
        if fault.kind == "raw_body":
            return await self._stream(exchange, [fault.body], 0.0, fault.content_type)
        if fault.kind == "stall_before_headers":
            if await self._pause(fault.seconds):
                return None
        return await _abort(exchange)

    async def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; ``False`` if the server started closing meanwhile.

        A client disconnect cancels the handler (``handler_cancellation``) and ends it too.
        """
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except asyncio.TimeoutError:
            return True
        return False

    async def _stream(
        self,
        exchange: _Exchange,
        steps: Sequence[Step],
        delay: float,
        content_type: str = "text/event-stream",
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=_base_headers())
        response.content_type = content_type
        response.headers["Cache-Control"] = "no-cache"
        await response.prepare(exchange.request)
        self.open_streams += 1
        try:
            for n, step in enumerate(steps):
                if isinstance(step, Abort) or not await self._run_step(response, step):
                    return await _abort(exchange)
                if delay and n < len(steps) - 1 and not await self._pause(delay):
                    return await _abort(exchange)
            await response.write_eof()
        except ConnectionResetError:
            if not self._closing.is_set():
                self._note_disconnect(exchange.request.path)
        finally:
            self.open_streams -= 1
        return response

    async def _run_step(self, response: web.StreamResponse, step: bytes | Stall) -> bool:
        """Write a frame or stall; ``False`` when the server is closing."""
        if isinstance(step, Stall):
            return await self._pause(step.seconds)
        size = self.write_size or len(step) or 1
        for start in range(0, len(step), size):
            await response.write(step[start : start + size])
            if size < len(step):
                await asyncio.sleep(0)  # let the client read this piece on its own
        return True

    async def _json_answer(
        self, exchange: _Exchange, answer: Mapping[str, Any], fault: Fault | None
    ) -> web.StreamResponse:
        """A JSON answer; a mid-stream fault breaks the body after its first half."""
        if fault is None:
            return _json(200, answer)
        data = dumps(answer).encode()
        halves = [data[: len(data) // 2], data[len(data) // 2 :]]
        dialect: FaultFrames = _JsonFaultFrames()
        steps = plan_stream(halves, _at_least_one(fault), dialect)
        return await self._stream(exchange, steps, 0.0, "application/json")


@dataclass
class _Exchange:
    """One request being answered, with what the route wrapper learned about it."""

    request: web.Request
    body: Any
    recorded: RecordedRequest
    fault: Fault | None = None
    aborted: bool = False
    """True once the server itself reset the connection (not a client disconnect)."""


_RouteHandler = Callable[[_Exchange], Awaitable[web.StreamResponse]]


def _next(
    exchange: _Exchange, queue: deque[_R | Fault], kind: type[_R], responder: Responder | None
) -> tuple[Fault | None, _R | None]:
    """The fault and reply for this request: a queued HTTP fault, else the queue's head,
    else what the responder picks."""
    item: _R | Fault | None = exchange.fault
    if item is None and queue:
        item = queue.popleft()
    if item is None and responder is not None:
        item = _checked(responder(exchange.recorded), kind)
    if isinstance(item, Fault):
        return item, item.reply if isinstance(item.reply, kind) else None
    return None, item


async def _abort(exchange: _Exchange) -> web.StreamResponse:
    """Reset the connection; aiohttp then cancels the handler (``handler_cancellation``)."""
    exchange.aborted = True
    if exchange.request.transport is not None:
        exchange.request.transport.abort()
    await asyncio.Future()  # never completes: the cancellation arrives first
    raise AssertionError("unreachable")


def _at_least_one(fault: Fault) -> Fault:
    return replace(fault, after_events=max(1, fault.after_events))


def _checked(item: object, kind: type[_R]) -> _R | Fault | None:
    """A responder's answer, refused loudly when it does not fit the route."""
    if item is None or isinstance(item, kind):
        return item
    if isinstance(item, Fault):
        _check_fault_reply(item, kind)
        return item
    raise TypeError(f"the responder must answer {kind.__name__}, Fault or None, got {item!r}")


def _check_fault_reply(item: object, kind: type) -> None:
    if isinstance(item, Fault) and item.reply is not None and not isinstance(item.reply, kind):
        raise TypeError(f"this queue takes {kind.__name__} replies, got {item.reply!r}")


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


def _refuse_json(body: Any) -> web.Response | None:
    """422 for a body that is not JSON, as FastAPI answers."""
    if body is _INVALID_JSON or body is None:
        error = {
            "type": "json_invalid",
            "loc": ["body", 0],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": "Expecting value"},
        }
        return _json(422, errors.validation_error([error]))
    return None


def _base_headers() -> dict[str, str]:
    return {"mistral-correlation-id": ids.correlation_id()}


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=dumps(body),
        content_type="application/json",
        headers={**_base_headers(), **(headers or {})},
    )


def _violation(violation: RuleViolation) -> web.Response:
    return _json(violation.status, violation.body)


def _fault_response(fault: Fault) -> web.Response:
    if isinstance(fault.body, str | bytes):
        kind = "text/plain" if isinstance(fault.body, str) else "application/octet-stream"
        data = fault.body.encode() if isinstance(fault.body, str) else fault.body
        return web.Response(
            status=fault.status_code,
            body=data,
            content_type=kind,
            headers={**_base_headers(), **fault.headers},
        )
    return _json(fault.status_code, fault.body, fault.headers)


def _version_ref(errs: Any, text: str, loc: Any) -> int | str:
    """``agent_version`` as a query parameter: a number or an alias (any text parses)."""
    return int(text) if text.isdigit() else text


_VERSION_REF: tuple[QueryCheck, bool] = (_version_ref, False)


def _agent_422(items: list[dict[str, Any]]) -> web.Response:
    """The agents endpoints answer 422 in the OpenAPI's ``HTTPValidationError`` shape."""
    return _json(422, errors.validation_error(items, shape="detail"))


def _version_not_found(agent_id: str, ref: object) -> dict[str, Any]:
    return errors.not_found(f"Agent version not found: {agent_id} version {ref}")


def _model_card(name: str) -> dict[str, Any]:
    capabilities = {
        "completion_chat": True,
        "function_calling": True,
        "vision": False,
        "reasoning": name.startswith("magistral"),
    }
    return {
        "id": name,
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "mistralai",
        "name": name,
        "capabilities": capabilities,
        "max_context_length": 131072,
        "aliases": [],
        "type": "base",
    }
