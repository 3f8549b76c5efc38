"""HTTP to Mistral with aiohttp: one pooled session, JSON requests, event streams.

The streaming hot path lives here and in :mod:`.sse`: bytes from ``iter_any()`` go straight
into the decoder, each event's JSON is parsed once by the caller, and no model object is
built per event. Timeouts use aiohttp's ``sock_read`` (an idle timer reset on every read, so
it bounds both the wait for the first byte and the gap between events) instead of a
``wait_for`` task per read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from livekit.agents import APIConnectionError, APITimeoutError

from ..errors import MistralStatusError, status_error
from ..log import logger
from ..version import __version__
from .proxy import proxy_for
from .sse import SSEDecoder, SSEEvent, SSEProtocolError

DEFAULT_BASE_URL = "https://api.mistral.ai"
CLOSED_MESSAGE = "the LLM was closed; make a new one"
_USER_AGENT = f"livekit-plugins-mistral/{__version__}"


class AttemptState(Protocol):
    """What error mapping needs to know about the attempt in flight."""

    @property
    def output_sent(self) -> bool: ...


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

    def __repr__(self) -> str:
        return f"MistralHTTP(base_url={self.base_url!r})"

    async def session(self) -> aiohttp.ClientSession:
        """The pooled session of the running event loop, made on first use.

        A session cannot cross event loops, and one LLM may outlive its loop (an
        ``asyncio.run`` per test, a job process restarting its loop): our own session is
        replaced when the loop changed, the stale one closed as far as its loop allows.
        """
        if self._closed:
            raise APIConnectionError(CLOSED_MESSAGE, retryable=False)
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
        """Close our own session; any later request raises instead of opening a new one."""
        self._closed = True
        if self._owns_session and self._session is not None and not self._session.closed:
            await _close_session(self._session, self._loop)

    def headers(self, *, stream: bool) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            "User-Agent": _USER_AGENT,
        }

    @contextlib.asynccontextmanager
    async def stream(
        self,
        path: str,
        body: bytes,
        *,
        timeout: float,
        state: AttemptState,
        agent_id: str | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST ``body`` and yield the 200 event-stream response; any other answer raises.

        The response is closed on the way out unless it was read to the end, so a cancelled
        stream (a voice interruption) drops its connection at once instead of draining it.
        """
        resp = await (await self.session()).post(
            self.base_url + path,
            data=body,
            headers=self.headers(stream=True),
            timeout=_timeout(timeout),
            allow_redirects=False,  # never re-send the conversation to wherever a 3xx points
        )
        try:
            if resp.status != 200:
                raise await _error_from(resp, state, agent_id)
            ctype = resp.headers.get("Content-Type", "")
            if not ctype.startswith("text/event-stream"):
                raise await _not_a_stream(resp, ctype, state, agent_id)
            yield resp
        finally:
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    async def get_json(self, path: str, *, timeout: float, agent_id: str | None = None) -> Any:
        """GET a JSON document (models list, agent details); error statuses raise."""
        async with (await self.session()).get(
            self.base_url + path,
            headers=self.headers(stream=False),
            timeout=_timeout(timeout),
            allow_redirects=False,
        ) as resp:
            if resp.status != 200:
                raise await _error_from(resp, _NOTHING_SENT, agent_id)
            return await resp.json(content_type=None)


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


class UnreadableEvent(Exception):
    """Valid JSON of a shape the plugin cannot read (a string where an object belongs...)."""


# what reading an event of an unexpected shape raises from the mapping code
_SHAPE_ERRORS = (AttributeError, IndexError, KeyError, TypeError, ValueError)


async def pump_events(
    resp: aiohttp.ClientResponse,
    handle: Callable[[SSEEvent], bool],
    *,
    timeout: float,
) -> bool:
    """Feed every event of ``resp`` to ``handle`` until it returns True (an end marker).

    Returns True when ``handle`` ended the stream, False at EOF. The socket's idle timer
    restarts on any byte, keep-alive comments included, so an event deadline is kept here
    too: a stream that only trickles comments still times out after ``timeout``.
    """
    decoder = SSEDecoder()
    clock = asyncio.get_running_loop().time
    deadline = clock() + timeout
    async for raw in resp.content.iter_any():
        events = decoder.feed(raw)
        if not events:
            if clock() > deadline:
                raise asyncio.TimeoutError
            continue
        deadline = clock() + timeout
        if _dispatch(handle, events):
            return True
    return _dispatch(handle, decoder.close())


def _dispatch(handle: Callable[[SSEEvent], bool], events: list[SSEEvent]) -> bool:
    try:
        for event in events:
            if handle(event):
                return True
        return False
    except _SHAPE_ERRORS as e:
        # LiveKit's contract allows only APIErrors out of _run, and only they are retried
        raise UnreadableEvent("an event's JSON has a shape the plugin cannot read") from e


@contextlib.contextmanager
def transport_errors(state: AttemptState, *, timeout: float) -> Iterator[None]:
    """Translate aiohttp/asyncio failures and unreadable events into LiveKit's APIError family.

    Nothing is retryable once output was sent: a retry would make the agent say it twice.
    Messages do not repeat the cause: LiveKit's ``APIConnectionError.__str__`` appends the
    root of the ``from e`` chain.
    """
    try:
        yield
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as e:
        raise APITimeoutError(
            f"Mistral sent nothing for {timeout:g}s (conn_options.timeout); "
            "the request was abandoned",
            retryable=not state.output_sent,
        ) from e
    except aiohttp.ClientConnectorError as e:
        raise APIConnectionError(
            f"could not connect to Mistral at {e.host}:{e.port}; check the network and base_url",
            retryable=not state.output_sent,
        ) from e
    except SSEProtocolError as e:
        raise APIConnectionError(
            "Mistral sent a malformed event stream; the stream was abandoned",
            retryable=not state.output_sent,
        ) from e
    except aiohttp.ClientError as e:
        raise APIConnectionError(
            "the connection to Mistral broke before the answer was complete",
            retryable=not state.output_sent,
        ) from e
    except UnreadableEvent as e:
        raise APIConnectionError(
            "Mistral sent an event the plugin cannot read; the stream was abandoned",
            retryable=not state.output_sent,
        ) from e


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# NaN and Infinity, which Python's json accepts, are not JSON; letting them through turns
# token counts into floats that int() cannot take
_STRICT_JSON = json.JSONDecoder(parse_constant=_not_json)


def parse_event(data: str, state: AttemptState) -> dict[str, Any]:
    """One event's JSON object; anything else abandons the stream."""
    try:
        payload = _STRICT_JSON.decode(data)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
        payload = None
    if not isinstance(payload, dict):
        raise APIConnectionError(
            "Mistral sent an event that is not a JSON object; the stream was abandoned",
            retryable=not state.output_sent,
        )
    return payload


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)


class _NothingSent:
    output_sent = False


_NOTHING_SENT = _NothingSent()


async def _read_body(resp: aiohttp.ClientResponse) -> object:
    raw = await resp.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _error_from(
    resp: aiohttp.ClientResponse, state: AttemptState, agent_id: str | None
) -> MistralStatusError:
    body = await _read_body(resp)
    return status_error(
        resp.status,
        body,
        resp.headers,
        output_sent=state.output_sent,
        agent_id=agent_id,
        url=_request_line(resp),
    )


def _request_line(resp: aiohttp.ClientResponse) -> str:
    """``POST http://host/path`` without credentials or query, to show in a message."""
    url = resp.url.with_user(None).with_query(None).with_fragment(None)
    return f"{resp.method} {url}"


async def _not_a_stream(
    resp: aiohttp.ClientResponse, ctype: str, state: AttemptState, agent_id: str | None
) -> MistralStatusError:
    body = await _read_body(resp)
    err = status_error(
        resp.status, body, resp.headers, output_sent=state.output_sent, agent_id=agent_id
    )
    err.message = (
        f"Mistral answered {ctype or 'no content type'} instead of an event stream; "
        "check that base_url points at the Mistral API"
    )
    return err
