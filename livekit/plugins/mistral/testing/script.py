"""What a test scripts the local server to answer: replies and faults.

A :class:`ChatReply` scripts one ``POST /v1/chat/completions`` answer, an :class:`AgentReply`
one ``POST /v1/conversations`` answer, and a :class:`Fault` replaces an answer with a failure
(an error status, a stall, a reset, a broken stream...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import default_error_body

ToolCallStyle = Literal["mistral", "openai"]
"""How tool calls are streamed: whole in one delta (Mistral) or in fragments (OpenAI)."""

FaultKind = Literal[
    "status",
    "stall_before_headers",
    "stall_mid_stream",
    "reset_before_headers",
    "reset_mid_stream",
    "malformed_event",
    "wrong_content_type",
    "cut_stream",
    "in_stream_error",
    "oversized_event",
    "unknown_event",
    "inject",
    "raw_body",
    "keep_alive",
]

MID_STREAM_KINDS: frozenset[FaultKind] = frozenset(
    {
        "stall_mid_stream",
        "reset_mid_stream",
        "malformed_event",
        "cut_stream",
        "in_stream_error",
        "oversized_event",
        "unknown_event",
        "inject",
        "keep_alive",
    }
)
"""Faults that act on a streamed answer after some events went out."""


@dataclass
class ToolCall:
    """One tool call the model makes.

    Args:
        name: the function name.
        arguments: JSON arguments, as a string (sent verbatim) or a dict (serialized).
        id: the call id; ``None`` picks a fresh one (9 characters for Mistral style,
            ``chatcmpl-tool-<hex>`` for OpenAI style). Give one to assert on it.
    """

    name: str
    arguments: str | dict[str, Any] = "{}"
    id: str | None = None


@dataclass
class ToolFile:
    """A file a built-in tool produced (a generated image, code output), streamed as a
    ``tool_file`` content chunk after the text.

    Args:
        tool: the tool that made it.
        file_name: its name.
        file_type: its type (extension).
        file_id: ``None`` picks a fresh uuid.
    """

    tool: str = "image_generation"
    file_name: str = "image_generated_0"
    file_type: str = "png"
    file_id: str | None = None


@dataclass
class ChatReply:
    """One scripted chat completion.

    Args:
        text: a string (split in pieces of ``chunk_chars``) or a list of pieces sent as given.
        tool_calls: calls made after the text.
        tool_call_style: ``"mistral"`` (whole calls in one delta, with ``finish_reason`` and
            usage) or ``"openai"`` (id on the first fragment only, arguments in fragments).
        thinking: reasoning streamed first as thinking chunks (a string is split like text).
        signature: sent on the closing thinking chunk, as Mistral's key to replay reasoning.
        usage: the usage object; ``None`` computes one from the request and reply sizes.
        cached_tokens: adds ``prompt_tokens_details.cached_tokens`` to the usage.
        finish_reason: ``None`` picks ``"tool_calls"`` when there are calls, else ``"stop"``.
        id: the completion id; ``None`` picks ``"cmpl-" + 32 hex``.
        delay: seconds slept between chunks.
        padding: add the ``"p"`` padding field the live API puts on its chunks.
        arguments_as_object: send Mistral-style arguments as a JSON object, as seen live.
        chunk_chars: piece size when ``text`` or ``thinking`` is a string.
        text_in_final_chunk: put the last text piece in the chunk that carries
            ``finish_reason`` and usage (catches clients that drop it).
    """

    text: str | list[str] = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_style: ToolCallStyle = "mistral"
    thinking: str | list[str] | None = None
    signature: str | None = None
    usage: dict[str, Any] | None = None
    cached_tokens: int | None = None
    finish_reason: str | None = None
    id: str | None = None
    delay: float = 0.0
    padding: bool = True
    arguments_as_object: bool = False
    chunk_chars: int = 4
    text_in_final_chunk: bool = True


@dataclass
class AgentReply:
    """One scripted conversation (Agents API) answer.

    Args:
        text: a string (split in pieces of ``chunk_chars``) or a list of pieces sent as given.
        tool_calls: function calls, streamed as ``function.call.delta`` fragments.
        tool_executions: built-in tools run server-side (``"web_search"``...), announced with
            ``tool.execution.started/delta/done`` before the text.
        handoff_to: an agent id; emits ``agent.handoff.started/done`` first and attributes the
            rest of the answer to that agent.
        thinking: reasoning sent as thinking chunks before the text.
        references: add a ``tool_reference`` content chunk after the text.
        files: ``tool_file`` content chunks sent after the text (and references).
        usage: the usage object; ``None`` computes one.
        connector_tokens: adds ``connector_tokens`` (and ``connectors``) to the usage.
        error: ``(message, code)``: emits ``conversation.response.error`` after the text,
            instead of ``conversation.response.done``.
        delay: seconds slept between events.
        conversation_id: ``None`` picks ``"conv_" + 32 hex``.
        chunk_chars: piece size when ``text`` or ``thinking`` is a string.
    """

    text: str | list[str] = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_executions: list[str] = field(default_factory=list)
    handoff_to: str | None = None
    thinking: str | list[str] | None = None
    references: bool = False
    files: list[ToolFile] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    connector_tokens: int | None = None
    error: tuple[str, int] | None = None
    delay: float = 0.0
    conversation_id: str | None = None
    chunk_chars: int = 4


Reply = ChatReply | AgentReply


@dataclass(frozen=True)
class Fault:
    """A failure served instead of (or in the middle of) a normal answer.

    Build one with the class methods; the fields are the server's business. Mid-stream faults
    count ``after_events`` whole SSE events (for chat, the ``data:`` chunks) before acting, and
    take the ``reply`` to stream (``None``: the demo brain answers).
    """

    kind: FaultKind
    status_code: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_events: int = 0
    message: str = ""
    code: int = 0
    size_bytes: int = 0
    reply: Reply | None = None
    content_type: str = "text/event-stream"
    every: float = 0.0

    @classmethod
    def status(
        cls,
        code: int,
        body: Any = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        shape: Literal["envelope", "detail"] = "envelope",
    ) -> Fault:
        """Answer with an error status.

        Args:
            code: the HTTP status.
            body: a dict/list (sent as JSON), a str (sent as text) or ``None`` for the live
                API's body for that status (see ``errors.default_error_body``).
            retry_after: ``Retry-After`` seconds; 429 gets ``1`` when not given.
            headers: extra response headers.
            shape: for 422 without a body: the ``"envelope"`` or plain ``"detail"`` form.
        """
        all_headers = dict(headers or {})
        if retry_after is None and code == 429:
            retry_after = 1
        if retry_after is not None:
            all_headers["Retry-After"] = _format_seconds(retry_after)
        if code == 429:
            all_headers.setdefault("x-ratelimit-limit-req-minute", "60")
            all_headers.setdefault("x-ratelimit-remaining-req-minute", "0")
        if body is None:
            body = default_error_body(code, shape=shape)
        return cls("status", status_code=code, body=body, headers=all_headers)

    @classmethod
    def stall_before_headers(cls, seconds: float = 3600, reply: Reply | None = None) -> Fault:
        """Send nothing for ``seconds`` (or until the client leaves), then answer normally."""
        return cls("stall_before_headers", seconds=seconds, reply=reply)

    @classmethod
    def stall_mid_stream(
        cls, after_events: int, seconds: float = 3600, reply: Reply | None = None
    ) -> Fault:
        """Stream ``after_events`` events, go silent for ``seconds``, then finish the stream."""
        return cls("stall_mid_stream", seconds=seconds, after_events=after_events, reply=reply)

    @classmethod
    def reset_before_headers(cls) -> Fault:
        """Abort the TCP connection without answering."""
        return cls("reset_before_headers")

    @classmethod
    def reset_mid_stream(cls, after_events: int, reply: Reply | None = None) -> Fault:
        """Stream ``after_events`` events, then abort the TCP connection (no clean close)."""
        return cls("reset_mid_stream", after_events=after_events, reply=reply)

    @classmethod
    def malformed_event(cls, after_events: int, reply: Reply | None = None) -> Fault:
        """Insert an event whose data is not valid JSON after ``after_events`` events."""
        return cls("malformed_event", after_events=after_events, reply=reply)

    @classmethod
    def wrong_content_type(cls) -> Fault:
        """Answer 200 with an HTML page instead of JSON or an event stream."""
        return cls("wrong_content_type")

    @classmethod
    def cut_stream(cls, after_events: int, reply: Reply | None = None) -> Fault:
        """Stream ``after_events`` events, then end the body cleanly without the final
        ``[DONE]`` / ``conversation.response.done``."""
        return cls("cut_stream", after_events=after_events, reply=reply)

    @classmethod
    def in_stream_error(
        cls,
        after_events: int,
        message: str = "Internal server error",
        code: int = 3000,
        reply: Reply | None = None,
    ) -> Fault:
        """Stream ``after_events`` events, then an error event (chat: an ``"object":"error"``
        chunk followed by ``[DONE]``; conversations: ``conversation.response.error``)."""
        return cls(
            "in_stream_error", after_events=after_events, message=message, code=code, reply=reply
        )

    @classmethod
    def oversized_event(
        cls, size_bytes: int, after_events: int = 1, reply: Reply | None = None
    ) -> Fault:
        """Insert one valid text event of about ``size_bytes`` bytes, then the normal reply."""
        return cls("oversized_event", size_bytes=size_bytes, after_events=after_events, reply=reply)

    @classmethod
    def unknown_event(cls, after_events: int = 1, reply: Reply | None = None) -> Fault:
        """Insert events a client does not know, then the normal reply (chat: a comment line
        and a chunk with empty ``choices``; conversations: an unknown event type)."""
        return cls("unknown_event", after_events=after_events, reply=reply)

    @classmethod
    def inject(cls, after_events: int, data: bytes, reply: Reply | None = None) -> Fault:
        """Stream ``after_events`` events, write ``data`` verbatim (any bytes: several events,
        a half event, garbage), then the rest of the reply."""
        return cls("inject", body=bytes(data), after_events=after_events, reply=reply)

    @classmethod
    def keep_alive(
        cls, after_events: int, every: float, seconds: float, reply: Reply | None = None
    ) -> Fault:
        """Stream ``after_events`` events, then only keep-alive comments (one every
        ``every`` seconds) for ``seconds``, then the rest of the reply: bytes keep flowing
        while no event does."""
        return cls(
            "keep_alive", after_events=after_events, seconds=seconds, every=every, reply=reply
        )

    @classmethod
    def raw_body(cls, data: bytes, content_type: str = "text/event-stream") -> Fault:
        """Answer 200 with ``data`` as the whole body (split by ``write_size`` like any
        stream), e.g. bytes a fuzzer made up."""
        return cls("raw_body", body=bytes(data), content_type=content_type)

    @property
    def is_mid_stream(self) -> bool:
        return self.kind in MID_STREAM_KINDS


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
