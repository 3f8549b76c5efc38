"""HTTP to Mistral with aiohttp: one pooled session, JSON requests, event streams.

The streaming hot path lives here and in :mod:`.sse`: bytes from ``iter_any()`` go straight
into the decoder, each event's JSON is parsed once, and no model object is built per event.
:meth:`MistralHTTP.events` yields those JSON objects and raises plain wire exceptions; it
knows nothing of LiveKit. Timeouts: aiohttp's ``connect`` and ``sock_read`` bound the wait
for the headers, and one lazily re-armed timer per stream bounds every gap between events
(no ``wait_for`` task per read).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..log import logger
from ..version import __version__
from .proxy import proxy_for
from .sse import END_OF_STREAM, SSEDecoder, SSEEvent

if sys.version_info >= (3, 11):
    from asyncio import timeout as deadline
else:  # the same context manager, which aiohttp itself requires below 3.11
    from async_timeout import timeout as deadline

DEFAULT_BASE_URL = "https://api.mistral.ai"
_USER_AGENT = f"livekit-plugins-mistral/{__version__}"


def normalize_base_url(base_url: str | None) -> str:
    """The server root, like the SDK's ``server_url``; a trailing ``/v1`` is accepted."""
    url = (base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL!r}, got {base_url!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        logger.warning(
            "base_url uses plain http to a non-loopback host: the API key travels unencrypted",
            extra={"host": parts.hostname},
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MistralHTTP:
    """The plugin's connection to Mistral. Owns its aiohttp session unless one is given."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._api_key = api_key
        self.base_url = normalize_base_url(base_url)
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of our own session
        self._closed = False
        self._streams: set[_Watchdog] = set()
        self._drains: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"MistralHTTP(base_url={self.base_url!r})"

    async def session(self) -> aiohttp.ClientSession:
        """The pooled session of the running event loop, made on first use.

        A session cannot cross event loops, and one LLM may outlive its loop (an
        ``asyncio.run`` per test, a job process restarting its loop): our own session is
        replaced when the loop changed, the stale one closed as far as its loop allows.
        After :meth:`aclose`, raises :class:`UsedAfterClose` and opens nothing.
        """
        if self._closed:
            raise UsedAfterClose("the LLM was closed; make a new one")
        loop = asyncio.get_running_loop()
        current = self._session
        if current is not None and not current.closed:
            if not self._owns_session or self._loop is loop:
                return current
            await _close_session(current, self._loop)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
            proxy=proxy_for(self.base_url),
        )
        self._owns_session, self._loop = True, loop
        return self._session

    async def aclose(self) -> None:
        """End the streams still running (they raise :class:`ClientClosed`), then close the
        session if the plugin made it; any later request raises instead of opening one."""
        self._closed = True
        for watchdog in list(self._streams):
            watchdog.abort()
        for drain in list(self._drains):
            drain.cancel()
        if self._owns_session and self._session is not None and not self._session.closed:
            await _close_session(self._session, self._loop)

    def headers(self, *, stream: bool) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            "User-Agent": _USER_AGENT,
        }

    def _release_later(self, resp: aiohttp.ClientResponse) -> None:
        """Return the connection of a stream that ended on ``[DONE]`` before its body did.

        The body's last bytes (the chunked terminator) are normally already on their way;
        reading them in the background keeps the answer's end on time and the connection in
        the pool, so the next turn needs no new TCP and TLS handshake.
        """
        task = asyncio.get_running_loop().create_task(_drain(resp), name="mistral-drain")
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    def events(self, path: str, body: bytes, *, timeout: float) -> EventStream:
        """An event stream for POST ``body`` to ``path``: open it with ``async with``, then
        ``async for`` its payloads (see :class:`EventStream`)."""
        return EventStream(self, path, body, timeout)

    async def _open(self, path: str, body: bytes, timeout: float) -> aiohttp.ClientResponse:
        """POST and wait for an event stream's headers, within ``timeout`` in all: aiohttp's
        own timers restart on every byte, so a server dribbling its headers or an error body
        would hold the call long past it."""
        try:
            async with deadline(timeout):  # a timer on this task: no second task, no extra hop
                return await self._post_stream(path, body, timeout)
        except asyncio.TimeoutError:
            raise HeadersTimeout(f"no answer within {timeout:g}s") from None

    async def _post_stream(self, path: str, body: bytes, timeout: float) -> aiohttp.ClientResponse:
        resp = await (await self.session()).post(
            self.base_url + path,
            data=body,
            headers=self.headers(stream=True),
            timeout=_timeout(timeout),
            allow_redirects=False,  # never re-send the conversation to wherever a 3xx points
        )
        if resp.status == 200 and resp.headers.get("Content-Type", "").startswith(
            "text/event-stream"
        ):
            return resp
        try:
            raise await _status_error(resp)
        finally:
            resp.release()

    async def get_json(self, path: str, *, timeout: float) -> Any:
        """GET a JSON document (models list, agent details) within ``timeout`` in all; an
        error status, or a 200 that is not JSON, raises :class:`HTTPStatus`."""
        try:
            async with deadline(timeout):
                return await self._get_json(path, timeout)
        except asyncio.TimeoutError:
            raise HeadersTimeout(f"no answer within {timeout:g}s") from None

    async def _get_json(self, path: str, timeout: float) -> Any:
        async with (await self.session()).get(
            self.base_url + path,
            headers=self.headers(stream=False),
            timeout=_timeout(timeout),
            allow_redirects=False,
        ) as resp:
            if resp.status != 200:
                raise await _status_error(resp)
            raw = await _read_capped(resp, _MAX_DOCUMENT_BYTES)
            try:
                return json.loads(raw)
            except ValueError:
                ctype = resp.headers.get("Content-Type", "")
                text = raw.decode("utf-8", errors="replace")
                raise HTTPStatus(200, text, resp.headers, _request_line(resp), ctype) from None


class EventStream:
    """One streamed POST: ``async with`` opens it (an error status raises :class:`HTTPStatus`)
    and closes it, ``async for`` yields each event's JSON object as it arrives.

    ``data: [DONE]`` is yielded as ``END_OF_STREAM`` and ends the iteration. An event with
    an ``event:`` name and no ``"type"`` in its JSON gets the name as ``"type"``. Raises only
    :class:`WireError` subclasses, ``SSEProtocolError``, aiohttp's ``ClientError`` and
    ``asyncio.TimeoutError``. ``timeout`` bounds the wait for the headers (aiohttp) and every
    gap between events (a watchdog timer, so keep-alive comments cannot hold a stream open).
    Leaving the ``async with`` early closes the connection at once (a voice interruption)
    instead of draining it; a stream read to its end returns its connection to the pool.
    """

    def __init__(self, http: MistralHTTP, path: str, body: bytes, timeout: float) -> None:
        self._http = http
        self._path = path
        self._body = body
        self._timeout = timeout
        self._resp: aiohttp.ClientResponse | None = None
        self._watchdog: _Watchdog | None = None
        self._done = False
        self.headers: Mapping[str, str] = {}
        """The response's headers, once open (request ids for errors)."""

    async def __aenter__(self) -> EventStream:
        self._resp = await self._http._open(self._path, self._body, self._timeout)
        self.headers = self._resp.headers
        self._watchdog = _Watchdog(self._resp, self._timeout)
        self._http._streams.add(self._watchdog)
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        assert self._resp is not None and self._watchdog is not None
        self._watchdog.cancel()
        self._http._streams.discard(self._watchdog)
        if self._resp.content.at_eof():
            self._resp.release()
        elif self._done and exc_type is None:
            self._http._release_later(self._resp)
        else:
            self._resp.close()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._payloads()

    async def _payloads(self) -> AsyncIterator[dict[str, Any]]:
        assert self._resp is not None and self._watchdog is not None, "use async with first"
        watchdog = self._watchdog
        decoder = SSEDecoder()
        try:
            async for raw in self._resp.content.iter_any():
                batch = decoder.feed(raw)
                if not batch:
                    continue
                watchdog.feed()
                for event in batch:
                    if event.data == "[DONE]":
                        self._done = True
                        yield END_OF_STREAM
                        return
                    if event.data:  # an empty event carries nothing (some proxies send them)
                        yield _payload(event)
            for event in decoder.close():
                if event.data == "[DONE]":
                    self._done = True
                    yield END_OF_STREAM
                    return
                if event.data:
                    yield _payload(event)
        except (aiohttp.ClientError, _Stopped):
            if watchdog.reason is not None:
                raise watchdog.reason from None  # _Stopped only woke the read
            raise


# --- what the wire raises -----------------------------------------------------------------


class WireError(Exception):
    """Base of the wire layer's own exceptions; the LiveKit face maps them to APIErrors."""


class HTTPStatus(WireError):
    """An answer that is not the expected stream or document: an error status, or a 200 of
    another content type (``content_type`` says which). ``url`` is the request as
    ``METHOD url``, without credentials or query."""

    def __init__(
        self,
        status: int,
        body: object,
        headers: Mapping[str, str],
        url: str,
        content_type: str | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers
        self.url = url
        self.content_type = content_type


class MalformedEvent(WireError):
    """An event whose data is not a JSON object."""


class EventTimeout(WireError, asyncio.TimeoutError):
    """No event arrived within the timeout (bytes such as keep-alive comments do not count)."""


class HeadersTimeout(WireError, asyncio.TimeoutError):
    """No whole answer head (an event stream's headers, an error body, a document) within
    the timeout, however many bytes trickled in."""


class ClientClosed(WireError):
    """The client was closed (``aclose``) while the stream was running."""


class UsedAfterClose(ClientClosed):
    """A request after ``aclose``: nothing was opened."""


class _Stopped(Exception):
    """Set on the response's reader by the watchdog, to wake a pending read."""


class _Watchdog:
    """Ends a stream that went ``timeout`` seconds without an event, or whose client closed.

    One timer per stream, re-armed lazily: each event only moves ``deadline`` forward, and
    the timer, when it fires early, sets itself again for the new deadline. Firing sets an
    exception on the response's reader, which wakes the pending read at once (a socket timer
    would restart on every keep-alive byte, and dies with a closed session).
    """

    __slots__ = ("_resp", "_timeout", "_loop", "_handle", "deadline", "reason")

    def __init__(self, resp: aiohttp.ClientResponse, timeout: float) -> None:
        self._resp = resp
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self.deadline = self._loop.time() + timeout
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(self.deadline, self._check)
        self.reason: WireError | None = None

    def feed(self) -> None:
        self.deadline = self._loop.time() + self._timeout

    def _check(self) -> None:
        if self.deadline - self._loop.time() > 0.001:
            self._handle = self._loop.call_at(self.deadline, self._check)
            return
        self._handle = None
        self._stop(EventTimeout(f"no event for {self._timeout:g}s"))

    def abort(self) -> None:
        self.cancel()
        self._stop(ClientClosed("the client was closed while the stream was running"))

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _stop(self, reason: WireError) -> None:
        if self.reason is None:
            self.reason = reason
            self._resp.content.set_exception(_Stopped())


# --- helpers ------------------------------------------------------------------------------

_DRAIN_SECONDS = 5.0
"""How long the rest of a body after ``[DONE]`` may take before its connection is dropped."""


async def _drain(resp: aiohttp.ClientResponse) -> None:
    try:
        rest = await asyncio.wait_for(_read_capped(resp, _MAX_ERROR_BYTES + 1), _DRAIN_SECONDS)
    except asyncio.CancelledError:
        resp.close()
        raise
    except (aiohttp.ClientError, asyncio.TimeoutError):
        resp.close()
        return
    if len(rest) > _MAX_ERROR_BYTES or not resp.content.at_eof():
        resp.close()  # not a body's end: not worth keeping
    else:
        resp.release()


async def _close_session(
    session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop | None
) -> None:
    """Close a session from any loop: its own, another thread's, or one already closed.

    On a closed loop nothing can run: closing only marks the session and its pool closed
    (no "Unclosed client session" later), and the pooled sockets are freed with the loop's
    transports. A loop that is only stopped cannot close it now: it is left to the garbage
    collector.
    """
    if loop is None or loop is asyncio.get_running_loop() or loop.is_closed():
        await session.close()
    elif loop.is_running():
        asyncio.run_coroutine_threadsafe(session.close(), loop)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# NaN and Infinity, which Python's json accepts, are not JSON; letting them through turns
# token counts into floats that int() cannot take
_STRICT_JSON = json.JSONDecoder(parse_constant=_not_json)


def _payload(event: SSEEvent) -> dict[str, Any]:
    try:
        payload = _STRICT_JSON.decode(event.data)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
        payload = None
    if not isinstance(payload, dict):
        raise MalformedEvent("an event's data is not a JSON object")
    if event.event is not None and "type" not in payload:
        payload["type"] = event.event
    return payload


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)


# an error body is a sentence or two; an agent document a few KiB per tool. More is not
# Mistral talking (a proxy's page, a runaway server): read no further
_MAX_ERROR_BYTES = 64 * 1024
_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or its first ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while size < limit and (part := await resp.content.read(limit - size)):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


async def _status_error(resp: aiohttp.ClientResponse) -> HTTPStatus:
    raw = await _read_capped(resp, _MAX_ERROR_BYTES)
    text = raw.decode("utf-8", errors="replace")
    body: object
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    content_type = resp.headers.get("Content-Type", "") if resp.status == 200 else None
    return HTTPStatus(resp.status, body, resp.headers, _request_line(resp), content_type)


def _request_line(resp: aiohttp.ClientResponse) -> str:
    """``POST http://host/path`` without credentials or query, to show in a message."""
    url = resp.url.with_user(None).with_query(None).with_fragment(None)
    return f"{resp.method} {url}"
