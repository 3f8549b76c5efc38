"""A :class:`ChatReply` rendered as the live API renders completions: stream chunks or JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from . import ids
from .script import ChatReply, ToolCall
from .sse import COMMENT, DONE, data_frame

_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_OPENAI_FRAGMENT_CHARS = 5


def split_text(text: str | Sequence[str], size: int) -> list[str]:
    """A string in pieces of ``size`` characters; a list is kept as given."""
    if not isinstance(text, str):
        return list(text)
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def estimate_tokens(text: str) -> int:
    """Roughly four characters per token, at least one."""
    return max(1, (len(text) + 3) // 4)


def _arguments_text(call: ToolCall) -> str:
    return call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)


def _arguments_object(call: ToolCall) -> Any:
    if not isinstance(call.arguments, str):
        return call.arguments
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments


def _full_text(reply: ChatReply) -> str:
    return "".join(split_text(reply.text, reply.chunk_chars))


def _thinking_text(reply: ChatReply) -> str:
    return "".join(split_text(reply.thinking or "", reply.chunk_chars))


def chat_usage(
    reply: ChatReply, prompt_tokens: int, cached_tokens: int = 0, service_tier: str = "standard"
) -> dict[str, Any]:
    """The usage object: the scripted one, or one computed from the sizes, as 2026 traffic
    shapes it (cached tokens always, reasoning tokens when the model thought, the tier)."""
    if reply.usage is not None:
        usage = dict(reply.usage)
    else:
        produced = _full_text(reply) + _thinking_text(reply)
        produced += "".join(_arguments_text(call) for call in reply.tool_calls)
        completion = estimate_tokens(produced)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
            "service_tier": service_tier,
        }
        if reply.thinking is not None:
            reasoning = estimate_tokens(_thinking_text(reply))
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    if reply.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    return usage


def finish_reason_of(reply: ChatReply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def _mistral_call(call: ToolCall, index: int, as_object: bool) -> dict[str, Any]:
    arguments = _arguments_object(call) if as_object else _arguments_text(call)
    return {
        "id": call.id or ids.tool_call_id(),
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
        "index": index,
    }


def _thinking_chunk(text: str) -> dict[str, Any]:
    # every live thinking delta carries closed: true (see mistral-api.md)
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}], "closed": True}


class _Chunks:
    """Builds the chunk objects of one completion, in order."""

    def __init__(self, reply: ChatReply, model: str, created: int) -> None:
        self.reply = reply
        self.head = {
            "id": reply.id or ids.prefixed("cmpl-"),
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self.deltas: list[dict[str, Any]] = []

    def text_deltas(self) -> None:
        pieces = split_text(self.reply.text, self.reply.chunk_chars)
        if self.reply.thinking is not None:
            for piece in split_text(self.reply.thinking, self.reply.chunk_chars):
                self.deltas.append({"content": [_thinking_chunk(piece)]})
            closing_chunk = _thinking_chunk("")
            closing_chunk["thinking"] = []
            if self.reply.signature is not None:
                closing_chunk["signature"] = self.reply.signature
            closing: list[dict[str, Any]] = [closing_chunk]
            if pieces:
                closing.append({"type": "text", "text": pieces.pop(0)})
            self.deltas.append({"content": closing})
        self.deltas.extend({"content": piece} for piece in pieces)

    def tool_call_deltas(self) -> None:
        calls = self.reply.tool_calls
        if not calls:
            return
        if self.reply.tool_call_style == "mistral":
            as_object = self.reply.arguments_as_object
            self.deltas.append(
                {"tool_calls": [_mistral_call(c, i, as_object) for i, c in enumerate(calls)]}
            )
            return
        for index, call in enumerate(calls):
            self.deltas.extend(_openai_call_deltas(call, index))

    def objects(
        self, prompt_tokens: int, cached_tokens: int = 0, service_tier: str = "standard"
    ) -> list[dict[str, Any]]:
        """Every chunk; the finish reason and usage go on the last delta when it may carry them."""
        deltas = [{"role": "assistant", "content": ""}, *self.deltas]
        last = deltas[-1]
        mistral_calls = "tool_calls" in last and self.reply.tool_call_style == "mistral"
        text_last = "content" in last and len(deltas) > 1 and not self.reply.tool_calls
        if not (mistral_calls or (text_last and self.reply.text_in_final_chunk)):
            deltas.append({} if self.reply.tool_calls else {"content": ""})
        chunks = [self._chunk(delta, None, None, n) for n, delta in enumerate(deltas[:-1])]
        final = self._chunk(
            deltas[-1],
            finish_reason_of(self.reply),
            chat_usage(self.reply, prompt_tokens, cached_tokens, service_tier),
            len(deltas) - 1,
        )
        return [*chunks, final]

    def _chunk(
        self, delta: dict[str, Any], finish: str | None, usage: dict[str, Any] | None, n: int
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            **self.head,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage is not None:
            chunk["usage"] = usage
        if self.reply.padding:
            chunk["p"] = _PADDING[: 1 + (n * 7) % len(_PADDING)]
        return chunk


def _openai_call_deltas(call: ToolCall, index: int) -> list[dict[str, Any]]:
    """An OpenAI-style call: id and name on the first fragment, then argument fragments."""
    first = {
        "index": index,
        "id": call.id or "chatcmpl-tool-" + ids.hex32(),
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }
    deltas: list[dict[str, Any]] = [{"tool_calls": [first]}]
    for piece in split_text(_arguments_text(call), _OPENAI_FRAGMENT_CHARS):
        fragment = {"index": index, "function": {"name": "", "arguments": piece}}
        deltas.append({"tool_calls": [fragment]})
    return deltas


def chat_chunks(
    reply: ChatReply,
    *,
    model: str,
    prompt_tokens: int,
    created: int | None = None,
    cached_tokens: int = 0,
    service_tier: str = "standard",
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects streamed for ``reply``, in order."""
    chunks = _Chunks(reply, model, created if created is not None else int(time.time()))
    chunks.text_deltas()
    chunks.tool_call_deltas()
    return chunks.objects(prompt_tokens, cached_tokens, service_tier)


def chat_frames(
    reply: ChatReply,
    *,
    model: str,
    prompt_tokens: int,
    cached_tokens: int = 0,
    service_tier: str = "standard",
) -> list[bytes]:
    """The SSE frames of ``reply``: one ``data:`` frame per chunk, then ``data: [DONE]``."""
    chunks = chat_chunks(
        reply,
        model=model,
        prompt_tokens=prompt_tokens,
        cached_tokens=cached_tokens,
        service_tier=service_tier,
    )
    return [*(data_frame(chunk) for chunk in chunks), DONE]


def chat_completion(
    reply: ChatReply,
    *,
    model: str,
    prompt_tokens: int,
    cached_tokens: int = 0,
    service_tier: str = "standard",
) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object for ``reply``."""
    text = _full_text(reply)
    content: Any = text
    if reply.thinking is not None:
        content = [_thinking_chunk(_thinking_text(reply)), {"type": "text", "text": text}]
    calls = [
        _mistral_call(call, i, reply.arguments_as_object) for i, call in enumerate(reply.tool_calls)
    ]
    message = {
        "role": "assistant",
        "content": content,
        "tool_calls": calls or None,
        "prefix": False,
    }
    return {
        "id": reply.id or ids.prefixed("cmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason_of(reply)}],
        "usage": chat_usage(reply, prompt_tokens, cached_tokens, service_tier),
    }


class ChatFaultFrames:
    """How a chat stream acts out in-stream faults."""

    def __init__(self, model: str) -> None:
        self.model = model

    def error(self, message: str, code: int) -> list[bytes]:
        """An error object in the stream, then ``[DONE]`` so a client ignoring it looks done."""
        error = {
            "object": "error",
            "message": message,
            "type": "internal_server_error",
            "param": None,
            "code": str(code),
        }
        return [data_frame(error), DONE]

    def unknown(self) -> list[bytes]:
        """A comment line and a chunk without choices: both must be skipped, not fatal."""
        chunk = {
            "id": ids.prefixed("cmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": [],
        }
        return [COMMENT, data_frame(chunk)]

    def oversized(self, size_bytes: int) -> bytes:
        reply = ChatReply(text=["x" * size_bytes], padding=False, text_in_final_chunk=False)
        delta_chunk = chat_chunks(reply, model=self.model, prompt_tokens=1)[1]
        return data_frame(delta_chunk)
