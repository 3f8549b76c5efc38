"""Errors raised by the plugin, and the one mapping from Mistral's answers to them.

Both modes go through :func:`status_error`, so a 429 reads the same whether it came from
chat completions or from an agent. Messages are sentences pulled out of Mistral's many body
shapes, with a hint on what to do; the raw body stays on ``.body`` and never in ``str()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError

from .mapping.assembly import InStreamError
from .wire.http import ClientClosed, HTTPStatus, MalformedEvent, UsedAfterClose, WireError
from .wire.sse import SSEProtocolError

if TYPE_CHECKING:
    from .mapping.agent_tools import ToolMismatch

_HINTS: dict[int, str] = {
    401: "check MISTRAL_API_KEY (or the api_key argument)",
    403: "the API key is not allowed to use this resource",
    404: "check the model or agent id",
    409: "the conversation is busy; start a new one",
    422: "the request was refused as invalid; this is a bug worth reporting with the log",
    429: "rate limited by Mistral; slow down or raise your plan's limits",
}

_GUARDRAIL_WORDS = ("guardrail", "moderation")
_GUARDRAIL_PREFIX = "A Mistral guardrail blocked the request"
_GUARDRAIL_HINT = (
    "the guardrails= option blocked it (moderation flagged the input or output, or the "
    "moderation check failed with block_on_error); not retried"
)

_REDIRECT_HINT = "Mistral's API does not redirect; check base_url (redirects are not followed)"
# a 404 without Mistral's envelope comes from whatever else answers at a wrong path
_NO_ENDPOINT_HINT = (
    "no Mistral API answered {url}: check base_url (the server root, such as "
    "https://api.mistral.ai), then the model or agent id"
)

_REQUEST_ID_HEADERS = ("mistral-correlation-id", "x-request-id", "x-kong-request-id")


class MistralStatusError(APIStatusError):
    """Mistral answered with an error status, or an error inside a stream.

    Adds ``retry_after`` (seconds, from ``Retry-After``), ``code`` and ``error_type`` (from
    Mistral's error envelope) to LiveKit's ``APIStatusError``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: object | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            request_id=request_id,
            body=body,
            retryable=retryable,
        )
        self.retry_after = retry_after
        self.code = code
        self.error_type = error_type

    def __str__(self) -> str:
        # LiveKit's version appends the raw body; ours keeps it on .body only.
        parts = [f"{self.message} (status {self.status_code}"]
        if self.retry_after is not None:
            parts.append(f", retry after {self.retry_after:g}s")
        if self.request_id:
            parts.append(f", request id {self.request_id}")
        return "".join(parts) + ")"


class AgentError(MistralStatusError):
    """A Mistral agent (Conversations API) failed: in-stream error, unknown agent, or an error
    status. Carries ``agent_id`` and, when the server had opened one, ``conversation_id``;
    the other keyword arguments are :class:`MistralStatusError`'s."""

    def __init__(
        self,
        message: str,
        *,
        agent_id: str,
        conversation_id: str | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message, **fields)
        self.agent_id = agent_id
        self.conversation_id = conversation_id

    def __str__(self) -> str:
        where = f"agent {self.agent_id}"
        if self.conversation_id:
            where += f", conversation {self.conversation_id}"
        return f"{super().__str__()} [{where}]"


class AgentToolMismatchError(AgentError):
    """Agent mode with ``on_tool_mismatch="raise"``: the Mistral agent's function tools and
    the LiveKit tools of the call differ. Never retried; ``mismatches`` lists each difference
    and ``agent_version`` the version compared (the pinned one, else the agent's current)."""

    def __init__(
        self, mismatches: Sequence[ToolMismatch], *, agent_id: str, agent_version: int | str | None
    ) -> None:
        details = "; ".join(m.detail for m in mismatches)
        message = (
            f"the Mistral agent's function tools and the LiveKit tools differ: {details}. "
            "Push the LiveKit tools with mistral.sync_agent(...), or pass "
            "on_tool_mismatch='warn' to only log the differences"
        )
        super().__init__(message, agent_id=agent_id, status_code=-1, retryable=False)
        self.mismatches = tuple(mismatches)
        self.agent_version = agent_version

    def __str__(self) -> str:
        return f"{self.message} [agent {self.agent_id}, version {self.agent_version}]"


def status_error(
    status: int,
    body: object,
    headers: Mapping[str, str],
    *,
    output_sent: bool,
    agent_id: str | None = None,
    conversation_id: str | None = None,
    content_type: str | None = None,
    url: str | None = None,
) -> MistralStatusError:
    """Map an error answer (status, parsed body, headers) to the exception to raise.

    Retryable follows LiveKit's rule (5xx, 408 and 429) and is always off once output reached
    the user, because a retry would repeat speech. With ``agent_id`` set the error is an
    :class:`AgentError`. ``content_type`` names what a 200 that was not an event stream
    carried. ``url`` is the request's method and URL (no credentials), named when a 404
    does not come from Mistral.
    """
    redirected = 300 <= status < 400
    if content_type is not None:
        message = (
            f"Mistral answered {content_type or 'no content type'} instead of an event stream; "
            "check that base_url points at the Mistral API"
        )
    else:
        message = error_message(body, status)
        hint = _REDIRECT_HINT if redirected else _HINTS.get(status)
        if status == 404 and url is not None and not _is_mistral_envelope(body):
            hint = _NO_ENDPOINT_HINT.format(url=url)
        if is_guardrail_block(status, body):
            message, hint = _guardrail_message(body, message), _GUARDRAIL_HINT
        if hint:
            message = f"{message}; {hint}"
    fields: dict[str, Any] = {
        "status_code": status,
        "request_id": request_id_from(headers, body),
        "body": body,
        "retryable": False if output_sent or redirected else None,
        "retry_after": _retry_after(headers),
        "code": _str_or_none(_field(body, "code")),
        "error_type": _str_or_none(_field(body, "type")),
    }
    if agent_id is not None:
        return AgentError(message, agent_id=agent_id, conversation_id=conversation_id, **fields)
    return MistralStatusError(message, **fields)


def is_guardrail_block(status: int, body: object) -> bool:
    """A refusal by the request's guardrails: a 4xx carrying guardrail results, or whose
    error names a guardrail or moderation.

    Mistral's moderation docs show a block as 403 ``{"error": {"message": "Content blocked by
    guardrail"}, "guardrails": {"results": ...}}`` and a failed check with
    ``block_on_error`` as 403 with ``code`` 3201 and a ``guardrails`` list.
    """
    if not 400 <= status < 500 or status in (401, 404, 429):
        return False
    if isinstance(body, Mapping) and "guardrails" in body:
        return True
    text = f"{_message_from(body) or ''} {_field(body, 'type') or ''}".lower()
    return any(word in text for word in _GUARDRAIL_WORDS)


def _guardrail_message(body: object, message: str) -> str:
    """``A Mistral guardrail blocked the request (moderation_llm_v2: sexual): <message>``."""
    results = _field(_field(body, "guardrails"), "results")
    flagged = [
        f"{name}: {', '.join(_violated(result))}"
        for name, result in (results.items() if isinstance(results, Mapping) else ())
        if _violated(result)
    ]
    where = f" ({'; '.join(flagged)})" if flagged else ""
    return f"{_GUARDRAIL_PREFIX}{where}: {message}"


def _violated(result: object) -> list[str]:
    decisions = _field(result, "decisions")
    if not isinstance(decisions, Mapping):
        return []
    return [str(k) for k, v in decisions.items() if _field(v, "violated") is True]


class UnreadableEvent(Exception):
    """Valid JSON of a shape the plugin cannot read (a string where an object belongs...)."""


class CutShort(Exception):
    """The stream ended without its end marker (``[DONE]``, a finish reason or
    ``conversation.response.done``)."""


_CONNECTION_MESSAGES: tuple[tuple[type[BaseException], str], ...] = (
    (UsedAfterClose, "the LLM was closed; make a new one"),
    (ClientClosed, "the LLM was closed while the answer was streaming"),
    (SSEProtocolError, "Mistral sent a malformed event stream; the stream was abandoned"),
    (MalformedEvent, "Mistral sent an event that is not a JSON object; the stream was abandoned"),
    (UnreadableEvent, "Mistral sent an event the plugin cannot read; the stream was abandoned"),
    (aiohttp.ClientError, "the connection to Mistral broke before the answer was complete"),
)


def api_error(
    exc: BaseException,
    *,
    output_sent: bool,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    agent_id: str | None = None,
    conversation_id: str | None = None,
) -> APIError | None:
    """The LiveKit error for anything the wire or an assembler raised (``None``: not ours).
    ``headers`` are the stream's response headers, for the request id of in-stream errors.

    Nothing is retryable once output was sent, because a retry would make the agent say it
    twice; a client closed by ``aclose`` is never retried. Messages do not repeat the cause:
    LiveKit's ``APIConnectionError.__str__`` appends the root of the ``from`` chain.
    """
    retryable = not output_sent
    if isinstance(exc, CutShort):
        return APIConnectionError(str(exc), retryable=retryable)
    if isinstance(exc, (HTTPStatus, InStreamError)):
        return status_error(
            exc.status,
            exc.body,
            exc.headers if isinstance(exc, HTTPStatus) else headers or {},
            output_sent=output_sent,
            agent_id=agent_id,
            conversation_id=conversation_id,
            content_type=exc.content_type if isinstance(exc, HTTPStatus) else None,
            url=exc.url if isinstance(exc, HTTPStatus) else None,
        )
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return APITimeoutError(
            f"Mistral sent nothing for {timeout:g}s (conn_options.timeout); "
            "the request was abandoned",
            retryable=retryable,
        )
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return APIConnectionError(
            f"could not connect to the HTTP proxy at {exc.host}:{exc.port}; check HTTPS_PROXY / "
            "HTTP_PROXY (or the LiveKit worker's http_proxy), or list the host in NO_PROXY",
            retryable=retryable,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"could not connect to Mistral at {exc.host}:{exc.port}; check the network and "
            "base_url",
            retryable=retryable,
        )
    for kind, message in _CONNECTION_MESSAGES:
        if isinstance(exc, kind):
            closed = issubclass(kind, ClientClosed)
            return APIConnectionError(message, retryable=retryable and not closed)
    return None


def cause_of(exc: BaseException, err: APIError) -> BaseException | None:
    """What ``err`` is raised from: nothing for a status error (the cause would hold the raw
    body, already on ``err.body``) or for the plugin's own exceptions, whose sentence ``err``
    already says (LiveKit would append it a second time); aiohttp's, kept."""
    own = isinstance(exc, (CutShort, WireError))
    return None if isinstance(err, APIStatusError) or own else exc


def error_message(body: object, status: int) -> str:
    """A readable sentence from any of Mistral's error body shapes."""
    text = _message_from(body)
    if text:
        return text
    if isinstance(body, str) and body.strip():
        snippet = " ".join(body.split())
        return f"Mistral answered HTTP {status}: {snippet[:200]}"
    return f"Mistral answered HTTP {status}"


def request_id_from(headers: Mapping[str, str], body: object = None) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return _str_or_none(_field(body, "request_id"))


def _message_from(body: object) -> str | None:
    if isinstance(body, str):
        return None
    if isinstance(body, list):
        return _validation_details(body)
    if not isinstance(body, Mapping):
        return None
    for key in ("message", "detail", "error"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, (Mapping, list)):
            nested = _message_from(value)
            if nested:
                return nested
    return None


def _validation_details(items: list[Any]) -> str | None:
    """422 bodies list pydantic errors: ``body.messages.0.role: Input should be ...``."""
    lines: list[str] = []
    for item in items[:5]:
        if not isinstance(item, Mapping):
            continue
        loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
        msg = str(item.get("msg", "invalid value"))
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines) or None


def _is_mistral_envelope(body: object) -> bool:
    """Mistral's own error body: ``{"object": "error", "message": ..., "type": ...}``."""
    return isinstance(body, Mapping) and body.get("object") == "error"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; rare from Mistral and not worth a parser here


def _field(body: object, key: str) -> object:
    return body.get(key) if isinstance(body, Mapping) else None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)
