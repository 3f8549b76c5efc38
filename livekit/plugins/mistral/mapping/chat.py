"""ChatContext -> Chat Completions ``messages`` (pure).

The history is first normalized into turns by ``to_history``, the one place where every rule
the live API enforces is settled; ``to_chat_messages`` and the Conversations mapping only
render those turns. Nothing here raises for a history's shape: histories come from live
sessions, and one odd item must not make every later turn fail.

Decisions (both endpoints):
- Preamble: the first system/developer message, when no message, tool call or tool output
  comes before it, becomes the one ``system`` message (Conversations: the instructions).
  LiveKit's per-call dynamic instructions message joins it, newline-separated, when it is
  the next conversation item (handoffs and config updates may lie between).
- Any other system/developer message (mid-conversation instructions, the per-turn
  ``generate_reply(instructions=...)``) keeps its place as a user message wrapped in
  ``<instructions>`` tags: Mistral refuses ``system`` after ``assistant`` or ``tool``.
- Content: text and ``Instructions`` as text; audio as its transcript, skipped without one
  (with ``audio_input="audio"``, a user's audio that has frames goes as an ``input_audio``
  chunk holding a base64 WAV string, the transcript when it has none or cannot be
  encoded); cache breakpoints ignored; unknown content types skipped with a debug log.
  Images (user messages only) become ``image_url`` chunks holding the URL or a data URI;
  an image that cannot be encoded is skipped with a warning; a video frame when Pillow
  (livekit-agents' ``images`` extra) is missing is skipped, with one warning per process;
  images elsewhere are skipped (debug log).
  Pure text is a plain string; adjacent text parts join with a newline.
- A message left with no content (empty, whitespace only, a reply nobody heard) is dropped.
  An interrupted assistant message is sent with the text that was heard, unmarked.
- Tool calls: an output answers the earlier call with its call id still waiting; a call
  never answered and an output answering no call (or only a later one) are dropped (normal
  after an interruption), so every call is answered exactly once. A call repeated before
  its output keeps its first copy; a second output for an answered call replaces the first
  (the newest state wins).
- Answered calls of one generation (same ``group_id``, else same ``<generation>/`` item id
  prefix) that follow each other form one assistant ``tool_calls`` message; their tool
  messages follow it in call order, wherever the outputs sat in the history.
- An assistant's text and its tool calls are separate assistant messages, in history order
  (LiveKit stores a generation's text before its calls): Mistral refuses ``content`` and
  ``tool_calls`` together.
- Call ids go through ``to_mistral_call_id``; a call id the history reuses for a later,
  separate call (some servers restart at ``call_0``) is mapped from ``<id>#<n>`` instead, so
  ids stay unique in the request (Conversations pairs results to calls by id). Arguments
  are sent as stored, ``"{}"`` when empty or not a JSON object. The tool message's ``name``
  is the call's name; an error output reads ``"Error: <output>"`` so the model knows the
  tool failed.
- Thinking (``keep_reasoning``): the thinking LiveKit stored with a turn (see
  ``reasoning.py``: on the assistant message, or on the first tool call of a turn that only
  called tools) goes first in that turn's assistant message as a ``thinking`` chunk with
  ``closed: true``, which makes its content a list. A turn that only called tools gets an
  assistant message of its own holding the thinking, right before its ``tool_calls``
  message: sending content beside ``tool_calls`` has been reported refused, and assistant
  messages in a row are accepted (text and calls already go apart). Thinking already sent
  with a turn's text is not repeated with its tool calls.
- Adjacent user messages merge into one, as do adjacent assistant texts (newline-joined,
  their thinking kept in order before the text).
- A user message right after tool results gets an ``"OK."`` assistant message before it:
  Mistral refuses ``user`` after ``tool``.
- The request must end on something to answer: when the history ends on assistant text
  (``generate_reply()`` after the agent spoke) or holds only a preamble (``generate_reply()``
  in ``on_enter``), a user message ``CONTINUE_PROMPT`` is appended and the assistant text is
  kept. An empty ChatContext maps to no messages.
- ``AgentHandoff`` and ``AgentConfigUpdate`` items are skipped; unknown item types and
  message roles are skipped with a debug log.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeGuard

from livekit.agents import llm
from livekit.agents.llm.chat_context import DYNAMIC_INSTRUCTIONS_MESSAGE_ID, Instructions

from livekit import rtc

from ..log import logger
from ..options import LLMOptions
from .ids import to_mistral_call_id
from .reasoning import stored_thinking

Part: TypeAlias = dict[str, Any]

INSTRUCTIONS_TEMPLATE = "<instructions>\n{text}\n</instructions>"
CONTINUE_PROMPT = INSTRUCTIONS_TEMPLATE.format(text="Continue the conversation.")
TOOL_RESULTS_ACKNOWLEDGEMENT = "OK."
TOOL_ERROR_TEMPLATE = "Error: {output}"

_INSTRUCTION_ROLES = ("system", "developer")
_CONVERSATION_ITEM_TYPES = ("message", "function_call", "function_call_output")


@dataclass(frozen=True)
class HistoryOptions:
    """What the history may carry besides text: stored thinking, audio frames."""

    keep_reasoning: bool = True
    audio: bool = False


def history_options(opts: LLMOptions) -> HistoryOptions:
    return HistoryOptions(keep_reasoning=opts.keep_reasoning, audio=opts.audio_input == "audio")


@dataclass
class UserTurn:
    parts: list[Part]


@dataclass
class AssistantTurn:
    text: str
    thinking: tuple[Part, ...] = ()


@dataclass(frozen=True)
class ToolExchange:
    """One answered tool call, its id already mapped."""

    call_id: str
    name: str
    arguments: str
    result: str


@dataclass
class ToolTurn:
    group: str
    exchanges: list[ToolExchange]
    thinking: tuple[Part, ...] = ()


Turn: TypeAlias = UserTurn | AssistantTurn | ToolTurn


@dataclass
class History:
    """A ChatContext reduced to what Mistral accepts: preamble text and ordered turns."""

    instructions: str | None
    turns: list[Turn]


def to_chat_messages(
    chat_ctx: llm.ChatContext, options: HistoryOptions = HistoryOptions()
) -> list[dict[str, Any]]:
    """Chat Completions ``messages`` for the whole history."""
    history = to_history(chat_ctx, options)
    messages: list[dict[str, Any]] = []
    if history.instructions is not None:
        messages.append({"role": "system", "content": history.instructions})
    for turn in history.turns:
        messages.extend(_turn_messages(turn))
    return messages


def to_history(chat_ctx: llm.ChatContext, options: HistoryOptions = HistoryOptions()) -> History:
    """The preamble and the turns of a ChatContext, every rule of the module applied."""
    instructions, items = _split_preamble(chat_ctx.items)
    turns = _acknowledge_tool_results(_merge_adjacent(_to_turns(items, options)))
    _drop_repeated_thinking(turns)
    if instructions is None and not turns:
        return History(None, [])
    if not turns or isinstance(turns[-1], AssistantTurn):
        turns.append(UserTurn([text_part(CONTINUE_PROMPT)]))
    return History(instructions, turns)


def user_content(parts: list[Part]) -> str | list[Part]:
    """A plain string for pure text, else chunks with adjacent text parts joined."""
    chunks: list[Part] = []
    for part in parts:
        if chunks and part["type"] == "text" and chunks[-1]["type"] == "text":
            chunks[-1] = text_part(f"{chunks[-1]['text']}\n{part['text']}")
        else:
            chunks.append(part)
    if len(chunks) == 1 and chunks[0]["type"] == "text":
        return str(chunks[0]["text"])
    return chunks


def text_part(text: str) -> Part:
    return {"type": "text", "text": text}


# -- preamble


def _split_preamble(items: Sequence[llm.ChatItem]) -> tuple[str | None, list[llm.ChatItem]]:
    """The preamble's text (``None`` without one), and every item that is not part of it."""
    preamble = _preamble_messages([i for i in items if i.type in _CONVERSATION_ITEM_TYPES])
    taken = {id(message) for message in preamble}
    text = "\n".join(t for t in map(_message_text, preamble) if t.strip())
    return text or None, [item for item in items if id(item) not in taken]


def _preamble_messages(conversation: list[llm.ChatItem]) -> list[llm.ChatMessage]:
    first = conversation[0] if conversation else None
    if not _is_instructions(first):
        return []
    second = conversation[1] if len(conversation) > 1 else None
    if _is_instructions(second) and second.id == DYNAMIC_INSTRUCTIONS_MESSAGE_ID:
        return [first, second]
    return [first]


def _is_instructions(item: llm.ChatItem | None) -> TypeGuard[llm.ChatMessage]:
    return isinstance(item, llm.ChatMessage) and item.role in _INSTRUCTION_ROLES


# -- items to turns


def _to_turns(items: Sequence[llm.ChatItem], options: HistoryOptions) -> list[Turn]:
    answers = _answers_by_call(items)
    call_id_uses: Counter[str] = Counter()
    turns: list[Turn] = []
    for item in items:
        match item:
            case llm.ChatMessage():
                if (turn := _message_turn(item, options)) is not None:
                    turns.append(turn)
            case llm.FunctionCall():
                answer = answers.get(id(item))
                if answer is None:
                    extra = {"call_id": item.call_id, "tool_name": item.name}
                    logger.debug("dropping a tool call that has no output", extra=extra)
                    continue
                call_id = _request_call_id(item.call_id, call_id_uses)
                thinking = _thinking_of(item.extra, options)
                _add_exchange(turns, item, answer, call_id, thinking)
            case llm.FunctionCallOutput() | llm.AgentHandoff() | llm.AgentConfigUpdate():
                pass  # outputs travel with their call; handoffs and config are not sent
            case _:
                extra = {"item_type": type(item).__name__}
                logger.debug("skipping an unsupported chat item", extra=extra)
    return turns


def _answers_by_call(items: Sequence[llm.ChatItem]) -> dict[int, llm.FunctionCallOutput]:
    """The output answering each answered call, keyed by the call object's ``id()``."""
    waiting: dict[str, llm.FunctionCall] = {}
    answered: dict[str, llm.FunctionCall] = {}
    answers: dict[int, llm.FunctionCallOutput] = {}
    for item in items:
        if isinstance(item, llm.FunctionCall):
            waiting.setdefault(item.call_id, item)
        elif isinstance(item, llm.FunctionCallOutput):
            call = waiting.pop(item.call_id, None)
            call = call if call is not None else answered.get(item.call_id)
            if call is None:
                extra = {"call_id": item.call_id, "tool_name": item.name}
                logger.debug("dropping a tool output that answers no call", extra=extra)
                continue
            answered[item.call_id] = call
            answers[id(call)] = item
    return answers


def _request_call_id(call_id: str, uses: Counter[str]) -> str:
    """The mapped id, kept unique in the request when a history reuses a call id."""
    earlier_uses = uses[call_id]
    uses[call_id] += 1
    return to_mistral_call_id(f"{call_id}#{earlier_uses}" if earlier_uses else call_id)


def _add_exchange(
    turns: list[Turn],
    call: llm.FunctionCall,
    output: llm.FunctionCallOutput,
    call_id: str,
    thinking: tuple[Part, ...],
) -> None:
    exchange = ToolExchange(
        call_id=call_id,
        name=call.name,
        arguments=_arguments_json(call),
        result=_result_text(output),
    )
    group = call.group_id or call.id.split("/", 1)[0]
    last = turns[-1] if turns else None
    if isinstance(last, ToolTurn) and last.group == group:
        last.exchanges.append(exchange)
        last.thinking = last.thinking or thinking
    else:
        turns.append(ToolTurn(group, [exchange], thinking))


def _result_text(output: llm.FunctionCallOutput) -> str:
    return TOOL_ERROR_TEMPLATE.format(output=output.output) if output.is_error else output.output


def _arguments_json(call: llm.FunctionCall) -> str:
    if _is_json_object(call.arguments):
        return call.arguments
    if not call.arguments.strip():
        return "{}"
    extra = {"call_id": call.call_id, "lk.pii.arguments": call.arguments}
    logger.warning("stored tool call arguments are not a JSON object, sending {}", extra=extra)
    return "{}"


@functools.lru_cache(maxsize=4096)  # the same stored arguments come back on every turn
def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


# -- messages to turns


def _message_turn(message: llm.ChatMessage, options: HistoryOptions) -> Turn | None:
    to_turn = _TURN_BY_ROLE.get(message.role)
    if to_turn is None:
        logger.debug("skipping a message with an unsupported role", extra={"role": message.role})
        return None
    return to_turn(message, options)


def _user_turn(message: llm.ChatMessage, options: HistoryOptions) -> UserTurn | None:
    parts = [p for p in (_content_part(c, options.audio) for c in message.content) if p]
    has_content = any(p["type"] != "text" or p["text"].strip() for p in parts)
    return UserTurn(parts) if has_content else None


def _assistant_turn(message: llm.ChatMessage, options: HistoryOptions) -> AssistantTurn | None:
    text = _message_text(message)
    return AssistantTurn(text, _thinking_of(message.extra, options)) if text.strip() else None


def _thinking_of(extra: Mapping[str, Any], options: HistoryOptions) -> tuple[Part, ...]:
    chunk = stored_thinking(extra) if options.keep_reasoning else None
    return (chunk,) if chunk is not None else ()


def _instructions_turn(message: llm.ChatMessage, _options: HistoryOptions) -> UserTurn | None:
    text = _message_text(message)
    if not text.strip():
        return None
    return UserTurn([text_part(INSTRUCTIONS_TEMPLATE.format(text=text))])


_TURN_BY_ROLE: Mapping[str, Callable[[llm.ChatMessage, HistoryOptions], Turn | None]] = {
    "user": _user_turn,
    "assistant": _assistant_turn,
    "system": _instructions_turn,
    "developer": _instructions_turn,
}


def _message_text(message: llm.ChatMessage) -> str:
    """The text of a message that is sent as text only (assistant, system, developer)."""
    if any(isinstance(content, llm.ImageContent) for content in message.content):
        logger.debug("skipping images outside user messages", extra={"role": message.role})
    return "\n".join(text for text in map(_content_text, message.content) if text)


def _content_part(content: object, audio: bool) -> Part | None:
    if isinstance(content, llm.ImageContent):
        return _image_part(content)
    if audio and isinstance(content, llm.AudioContent) and content.frame:
        if (part := _audio_part(content)) is not None:
            return part
    text = _content_text(content)
    return text_part(text) if text else None


def _content_text(content: object) -> str | None:
    match content:
        case str():
            return content
        case Instructions():
            return str(content)
        case llm.AudioContent():
            return content.transcript
        case llm.ImageContent() | llm.CacheBreakpoint():
            return None
        case _:
            extra = {"content_type": type(content).__name__}
            logger.debug("skipping an unsupported chat content", extra=extra)
            return None


def _image_part(image: llm.ImageContent) -> Part | None:
    try:
        serialized = llm.utils.serialize_image(image)
    except ValueError:
        logger.warning("skipping an image that cannot be encoded", extra={"image_id": image.id})
        return None
    except ImportError:  # a video frame needs Pillow, from livekit-agents' "images" extra
        _warn_images_extra_missing()
        return None
    if serialized.external_url:
        return {"type": "image_url", "image_url": serialized.external_url}
    data = base64.b64encode(serialized.data_bytes or b"").decode("ascii")
    return {"type": "image_url", "image_url": f"data:{serialized.mime_type};base64,{data}"}


def _audio_part(audio: llm.AudioContent) -> Part | None:
    """An ``input_audio`` chunk: the frames as one WAV file, base64, as a plain string."""
    try:
        wav = rtc.combine_audio_frames(audio.frame).to_wav_bytes()
    except ValueError:
        logger.warning("sending the transcript of audio whose frames cannot be combined")
        return None
    return {"type": "input_audio", "input_audio": base64.b64encode(wav).decode("ascii")}


@functools.cache  # the frames stay in the history: once per process, not once per turn
def _warn_images_extra_missing() -> None:
    logger.warning(
        "skipping video frame images: they need Pillow, from livekit-agents' 'images' extra "
        "(pip install 'livekit-agents[images]')"
    )


# -- turn order fixes


def _merge_adjacent(turns: Iterable[Turn]) -> list[Turn]:
    merged: list[Turn] = []
    for turn in turns:
        previous = merged[-1] if merged else None
        if isinstance(previous, UserTurn) and isinstance(turn, UserTurn):
            merged[-1] = UserTurn([*previous.parts, *turn.parts])
        elif isinstance(previous, AssistantTurn) and isinstance(turn, AssistantTurn):
            thinking = (*previous.thinking, *turn.thinking)
            merged[-1] = AssistantTurn(f"{previous.text}\n{turn.text}", thinking)
        else:
            merged.append(turn)
    return merged


def _drop_repeated_thinking(turns: list[Turn]) -> None:
    """A turn's thinking rides with its text; its tool calls then do not repeat it."""
    for previous, turn in itertools.pairwise(turns):
        if isinstance(turn, ToolTurn) and isinstance(previous, AssistantTurn):
            if all(chunk in previous.thinking for chunk in turn.thinking):
                turn.thinking = ()


def _acknowledge_tool_results(turns: Iterable[Turn]) -> list[Turn]:
    fixed: list[Turn] = []
    for turn in turns:
        if isinstance(turn, UserTurn) and fixed and isinstance(fixed[-1], ToolTurn):
            fixed.append(AssistantTurn(TOOL_RESULTS_ACKNOWLEDGEMENT))
        fixed.append(turn)
    return fixed


# -- rendering


def _turn_messages(turn: Turn) -> list[dict[str, Any]]:
    match turn:
        case UserTurn(parts=parts):
            return [{"role": "user", "content": user_content(parts)}]
        case AssistantTurn(text=text, thinking=thinking):
            return [{"role": "assistant", "content": assistant_content(text, thinking)}]
        case ToolTurn(exchanges=exchanges, thinking=thinking):
            reasoning = [{"role": "assistant", "content": list(thinking)}] if thinking else []
            return [*reasoning, _tool_calls_message(exchanges), *map(_tool_message, exchanges)]


def assistant_content(text: str, thinking: tuple[Part, ...]) -> str | list[Part]:
    """Plain text, or the turn's thinking chunks then its text when it has thinking."""
    return [*thinking, text_part(text)] if thinking else text


def _tool_calls_message(exchanges: list[ToolExchange]) -> dict[str, Any]:
    calls = [
        {
            "id": exchange.call_id,
            "type": "function",
            "function": {"name": exchange.name, "arguments": exchange.arguments},
        }
        for exchange in exchanges
    ]
    return {"role": "assistant", "tool_calls": calls}


def _tool_message(exchange: ToolExchange) -> dict[str, Any]:
    return {
        "role": "tool",
        "tool_call_id": exchange.call_id,
        "name": exchange.name,
        "content": exchange.result,
    }
