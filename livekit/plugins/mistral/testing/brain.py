"""The deterministic "demo brain" that answers when no reply is queued.

It lets examples run with no key: it calls a tool whose name the user mentions, answers a
tool result with "Here is what I found: ...", and otherwise echoes "You said: ...". In a
conversation whose tools include Mistral's web search, "search the web for X" (or "look up
X") runs a scripted search and answers with a citation; with image generation, "draw X"
(or "an image of X") makes a scripted image file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import entry_type
from .script import AgentReply, ChatReply, ToolCall, ToolFile

_IGNORED_WORDS = frozenset(
    {
        "get",
        "set",
        "the",
        "a",
        "an",
        "of",
        "to",
        "for",
        "and",
        "or",
        "is",
        "my",
        "by",
        "in",
        "on",
        "with",
        "current",
        "tool",
        "function",
        "do",
        "make",
        "fetch",
        "find",
        "list",
    }
)
_CAPITALISED = re.compile(r"\b[A-Z][\w'-]*")
_SEARCH_REQUEST = re.compile(r"\b(?:search the web for|look up)\s+(.+)", re.IGNORECASE)
_IMAGE_REQUEST = re.compile(r"\b(?:draw|an image of|a picture of)\s+(.+)", re.IGNORECASE)


def text_of(content: Any) -> str:
    """The text of a message content: a string, or the text chunks of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(chunk.get("text", ""))
            for chunk in content
            if isinstance(chunk, dict) and chunk.get("type") == "text"
        )
    return ""


def words_of(text: str) -> list[str]:
    """Words streamed one per chunk, each with its trailing space."""
    return re.findall(r"\S+\s*", text) or [text]


def function_specs(tools: Sequence[Any]) -> list[dict[str, Any]]:
    """The ``{"name", "parameters", ...}`` part of function tools, in either spelling
    (``{"type":"function","function":{...}}`` or the bare function)."""
    specs: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function") if "function" in tool else tool
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            specs.append(spec)
    return specs


def _name_words(name: str) -> set[str]:
    return {word for word in re.split(r"[_\-]", name.lower()) if word} - _IGNORED_WORDS


def pick_tool(
    specs: Sequence[Mapping[str, Any]], user_text: str, tool_choice: Any = None
) -> Mapping[str, Any] | None:
    """The tool the demo brain calls, if any, honouring ``tool_choice``."""
    if not specs or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict):
        wanted = (tool_choice.get("function") or {}).get("name")
        return next((spec for spec in specs if spec["name"] == wanted), None)
    said = set(re.findall(r"[a-z0-9]+", user_text.lower()))
    mentioned = next((spec for spec in specs if _name_words(spec["name"]) & said), None)
    if mentioned is None and tool_choice in ("any", "required"):
        return specs[0]
    return mentioned


def last_capitalised_word(text: str) -> str | None:
    words = _CAPITALISED.findall(text)
    return words[-1].strip("'-") if words else None


def _value_for(schema: Mapping[str, Any], user_text: str) -> Any:
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    values: dict[str, Any] = {"number": 1, "integer": 1, "boolean": True, "array": [], "object": {}}
    if kind in values:
        return values[kind]
    return last_capitalised_word(user_text) or "unknown"


def arguments_for(parameters: Any, user_text: str) -> dict[str, Any]:
    """Arguments for the required properties of a JSON schema, built from the user text."""
    if not isinstance(parameters, dict):
        return {}
    properties = parameters.get("properties") or {}
    required = parameters.get("required") or []
    return {
        name: _value_for(properties.get(name) or {}, user_text)
        for name in required
        if isinstance(name, str)
    }


def _tool_call(spec: Mapping[str, Any], user_text: str) -> ToolCall:
    return ToolCall(name=spec["name"], arguments=arguments_for(spec.get("parameters"), user_text))


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def chat_reply_for(body: Mapping[str, Any], *, padding: bool = True) -> ChatReply:
    """The demo brain's answer to a valid chat completions body."""
    messages: list[Mapping[str, Any]] = body["messages"]
    last = messages[-1]
    if last.get("role") == "tool":
        text = "Here is what I found: " + text_of(last.get("content"))
        return ChatReply(text=words_of(text), padding=padding)
    user_text = _last_user_text(messages)
    if last.get("role") == "user":
        specs = function_specs(body.get("tools") or [])
        spec = pick_tool(specs, user_text, body.get("tool_choice"))
        if spec is not None:
            return ChatReply(tool_calls=[_tool_call(spec, user_text)], padding=padding)
    return ChatReply(text=words_of("You said: " + user_text), padding=padding)


def user_texts(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The text of every user message of a chat completions body."""
    return [text_of(m.get("content")) for m in messages if m.get("role") == "user"]


def conversation_user_texts(inputs: Any) -> list[str]:
    """The text of every user input entry of a conversation body."""
    if isinstance(inputs, str):
        return [inputs]
    return [
        text_of(entry.get("content"))
        for entry in (inputs if isinstance(inputs, list) else [])
        if isinstance(entry, dict)
        and entry_type(entry) == "message.input"
        and entry.get("role") == "user"
    ]


def conversation_user_text(inputs: Any) -> str:
    """The text of the last user input of a conversation request."""
    if isinstance(inputs, str):
        return inputs
    for entry in reversed(inputs if isinstance(inputs, list) else []):
        if entry_type(entry) == "message.input" and entry.get("role") == "user":
            return text_of(entry.get("content"))
    return ""


def agent_reply_for(body: Mapping[str, Any], agent_tools: Sequence[Any] = ()) -> AgentReply:
    """The demo brain's answer to a valid conversation body.

    Args:
        body: the request body.
        agent_tools: the tools of the agent addressed (a model conversation uses the body's).
    """
    inputs = body["inputs"]
    last = inputs[-1] if isinstance(inputs, list) and inputs else None
    if isinstance(last, dict) and entry_type(last) == "function.result":
        return AgentReply(text=words_of("Here is what I found: " + str(last.get("result"))))
    user_text = conversation_user_text(inputs)
    tools = agent_tools if body.get("agent_id") else body.get("tools") or []
    if (builtin := _builtin_reply(tools, user_text)) is not None:
        return builtin
    tool_choice = (body.get("completion_args") or {}).get("tool_choice")
    spec = pick_tool(function_specs(tools), user_text, tool_choice)
    if spec is not None:
        return AgentReply(tool_calls=[_tool_call(spec, user_text)])
    return AgentReply(text=words_of("You said: " + user_text))


def _builtin_reply(tools: Sequence[Any], user_text: str) -> AgentReply | None:
    """A scripted web search or image when the tools allow it and the user asks."""
    kinds = {tool.get("type") for tool in tools if isinstance(tool, dict)}
    search = _SEARCH_REQUEST.search(user_text)
    engine = next((k for k in ("web_search", "web_search_premium") if k in kinds), None)
    if search and engine:
        topic = search.group(1).strip(" ?.!")
        text = f"According to the web, {topic} is well documented; see the cited source."
        return AgentReply(text=words_of(text), tool_executions=[engine], references=True)
    image = _IMAGE_REQUEST.search(user_text)
    if image and "image_generation" in kinds:
        topic = image.group(1).strip(" ?.!")
        return AgentReply(
            text=words_of(f"Here is an image of {topic}."),
            tool_executions=["image_generation"],
            files=[ToolFile()],
        )
    return None
