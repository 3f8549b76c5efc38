"""The body schemas of the two endpoints: pydantic-style 422 errors, all reported at once.

Each error is ``{"type", "loc", "msg", "input"[, "ctx"]}`` with the type names and messages
pydantic (behind the live API) uses, e.g. ``extra_forbidden`` / "Extra inputs are not
permitted". Every field is nullable, as in the API's schema: ``null`` means "not set".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeGuard

TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
_TOOL_NAME_RE = re.compile(TOOL_NAME_PATTERN)

Loc = tuple[str | int, ...]


# --- collecting 422 errors ------------------------------------------------------------------


class _Errors:
    """Pydantic-style validation errors, gathered so one 422 lists them all."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, type_: str, loc: Loc, msg: str, value: Any, **ctx: Any) -> None:
        item: dict[str, Any] = {"type": type_, "loc": list(loc), "msg": msg, "input": value}
        if ctx:
            item["ctx"] = ctx
        self.items.append(item)

    def extra(self, obj: Mapping[str, Any], allowed: Collection[str], loc: Loc) -> None:
        for key in obj:
            if key not in allowed:
                self.add("extra_forbidden", (*loc, key), "Extra inputs are not permitted", obj[key])

    def required_object(
        self, value: Any, loc: Loc, type_: str, msg: str
    ) -> TypeGuard[dict[str, Any]]:
        """True when ``value`` is an object; else records it as missing or mistyped."""
        if isinstance(value, dict):
            return True
        if value is None:
            self.add("missing", loc, "Field required", value)
        else:
            self.add(type_, loc, msg, value)
        return False

    def empty_list(self, value: list[Any], loc: Loc) -> None:
        """An empty list where at least one item is required."""
        msg = "List should have at least 1 item after validation, not 0"
        self.add("too_short", loc, msg, value, field_type="List", min_length=1, actual_length=0)

    def missing(self, obj: Mapping[str, Any], required: Collection[str], loc: Loc) -> None:
        for key in required:
            if key not in obj:
                self.add("missing", (*loc, key), "Field required", dict(obj))


Check = Callable[[_Errors, Any, Loc], None]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounds(
    errs: _Errors,
    value: float,
    loc: Loc,
    ge: float | None,
    le: float | None,
    gt: float | None = None,
) -> None:
    if ge is not None and value < ge:
        msg = f"Input should be greater than or equal to {ge}"
        errs.add("greater_than_equal", loc, msg, value, ge=ge)
    elif gt is not None and value <= gt:  # the schema's exclusiveMinimum
        errs.add("greater_than", loc, f"Input should be greater than {gt}", value, gt=gt)
    elif le is not None and value > le:
        msg = f"Input should be less than or equal to {le}"
        errs.add("less_than_equal", loc, msg, value, le=le)


def _number(ge: float | None = None, le: float | None = None, gt: float | None = None) -> Check:
    def check(errs: _Errors, value: Any, loc: Loc) -> None:
        if not _is_number(value):
            errs.add("float_type", loc, "Input should be a valid number", value)
        else:
            _bounds(errs, value, loc, ge, le, gt)

    return check


def _integer(ge: int | None = None) -> Check:
    def check(errs: _Errors, value: Any, loc: Loc) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            errs.add("int_type", loc, "Input should be a valid integer", value)
        else:
            _bounds(errs, value, loc, ge, None)

    return check


def _of_type(kind: type | tuple[type, ...], type_: str, msg: str) -> Check:
    def check(errs: _Errors, value: Any, loc: Loc) -> None:
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
            errs.add(type_, loc, msg, value)

    return check


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_str = _of_type(str, "string_type", "Input should be a valid string")
_bool = _of_type(bool, "bool_type", "Input should be a valid boolean")
_dict = _of_type(dict, "dict_type", "Input should be a valid dictionary")
_list = _of_type(list, "list_type", "Input should be a valid list")


def _literal(*allowed: str) -> Check:
    quoted = [f"'{value}'" for value in allowed]
    expected = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]

    def check(errs: _Errors, value: Any, loc: Loc) -> None:
        if value not in allowed:
            errs.add("literal_error", loc, f"Input should be {expected}", value, expected=expected)

    return check


def _stop(errs: _Errors, value: Any, loc: Loc) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            _str(errs, item, (*loc, "list[str]", i))
    elif not isinstance(value, str):
        errs.add("string_type", (*loc, "str"), "Input should be a valid string", value)


def _response_format(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, dict):
        _dict(errs, value, loc)
        return
    errs.extra(value, {"type", "json_schema"}, loc)
    kind = value.get("type", "text")
    _literal("text", "json_object", "json_schema")(errs, kind, (*loc, "type"))
    if kind != "json_schema":
        return
    schema = value.get("json_schema")
    sloc = (*loc, "json_schema")
    if not errs.required_object(schema, sloc, "dict_type", "Input should be a valid dictionary"):
        return
    errs.missing(schema, ("name", "schema"), sloc)


def _check_fields(
    errs: _Errors, body: Mapping[str, Any], table: Mapping[str, Check], loc: Loc
) -> None:
    """Run the table's check on every field present and not null (all are nullable)."""
    for key, check in table.items():
        value = body.get(key)
        if value is not None:
            check(errs, value, (*loc, key))


# Ranges of Mistral's OpenAPI document (openapi-public-doc.yaml): ChatCompletionRequest here,
# CompletionArgs (Conversations' completion_args) in _COMPLETION_ARGS_RANGES.
_SAMPLING_FIELDS: dict[str, Check] = {
    "temperature": _number(ge=0, le=1.5),
    "top_p": _number(gt=0, le=1),
    "max_tokens": _integer(ge=0),
    "random_seed": _integer(ge=0),
    "stop": _stop,
    "presence_penalty": _number(ge=-2, le=2),
    "frequency_penalty": _number(ge=-2, le=2),
    "prediction": _dict,
    "response_format": _response_format,
    "reasoning_effort": _literal("none", "minimal", "low", "medium", "high", "xhigh"),
}

_TOOL_CHOICES = ("auto", "none", "any", "required")


# --- tools ----------------------------------------------------------------------------------


def _tool_name(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, str):
        _str(errs, value, loc)
    elif not _TOOL_NAME_RE.match(value):
        errs.add(
            "string_pattern_mismatch",
            loc,
            f"String should match pattern '{TOOL_NAME_PATTERN}'",
            value,
            pattern=TOOL_NAME_PATTERN,
        )


def _function_tool(errs: _Errors, tool: Mapping[str, Any], loc: Loc) -> None:
    errs.extra(tool, {"type", "function"}, loc)
    function = tool.get("function")
    floc = (*loc, "function")
    if not errs.required_object(function, floc, "model_type", "Input should be an object"):
        return
    errs.extra(function, {"name", "description", "parameters", "strict"}, floc)
    errs.missing(function, ("name", "parameters"), floc)
    if "name" in function:
        _tool_name(errs, function["name"], (*floc, "name"))
    _check_fields(errs, function, {"description": _str, "parameters": _dict, "strict": _bool}, floc)


def _chat_tools(errs: _Errors, tools: Any, loc: Loc) -> None:
    if not isinstance(tools, list):
        _list(errs, tools, loc)
        return
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            _dict(errs, tool, (*loc, i))
            continue
        _literal("function")(errs, tool.get("type", "function"), (*loc, i, "type"))
        _function_tool(errs, tool, (*loc, i))


def _tool_choice(errs: _Errors, value: Any, loc: Loc) -> None:
    if isinstance(value, str):
        _literal(*_TOOL_CHOICES)(errs, value, (*loc, "ToolChoiceEnum"))
        return
    if not isinstance(value, dict):
        errs.add("model_type", (*loc, "ToolChoice"), "Input should be an object", value)
        return
    tloc = (*loc, "ToolChoice")
    errs.extra(value, {"type", "function"}, tloc)
    _literal("function")(errs, value.get("type", "function"), (*tloc, "type"))
    function = value.get("function")
    if not isinstance(function, dict):
        errs.add("missing", (*tloc, "function"), "Field required", value)
        return
    errs.extra(function, {"name"}, (*tloc, "function"))
    errs.missing(function, ("name",), (*tloc, "function"))
    if "name" in function:
        _str(errs, function["name"], (*tloc, "function", "name"))


# --- chat messages --------------------------------------------------------------------------

_ROLES = ("assistant", "system", "tool", "user")
_MESSAGE_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content"}),
    "user": frozenset({"role", "content"}),
    "assistant": frozenset({"role", "content", "tool_calls", "prefix"}),
    "tool": frozenset({"role", "content", "tool_call_id", "name"}),
}
_REQUIRED_CONTENT = frozenset({"system", "user", "tool"})
# Content chunk types by place, from Mistral's OpenAPI document: ContentChunk (user,
# assistant and tool messages), SystemMessageContentChunks, MessageInputContentChunks and
# MessageOutputContentChunks (Conversations entries), and ThinkChunk.thinking.
CHAT_CHUNKS = (
    "text",
    "image_url",
    "document_url",
    "reference",
    "file",
    "thinking",
    "input_audio",
)
SYSTEM_CHUNKS = ("text", "thinking")
INPUT_ENTRY_CHUNKS = ("text", "image_url", "tool_file", "document_url", "thinking")
OUTPUT_ENTRY_CHUNKS = (*INPUT_ENTRY_CHUNKS, "tool_reference")
_THINKING_PARTS = ("text", "tool_reference", "reference")


def _content(
    errs: _Errors,
    value: Any,
    loc: Loc,
    *,
    nullable: bool = True,
    allowed: tuple[str, ...] = CHAT_CHUNKS,
) -> None:
    if (value is None and nullable) or isinstance(value, str):
        return
    if not isinstance(value, list):
        errs.add("string_type", (*loc, "str"), "Input should be a valid string", value)
        return
    for i, chunk in enumerate(value):
        _content_chunk(errs, chunk, (*loc, "list", i), allowed)


def _tag_error(errs: _Errors, chunk: Any, loc: Loc, allowed: tuple[str, ...]) -> None:
    tag = chunk.get("type") if isinstance(chunk, dict) else None
    expected = ", ".join(f"'{t}'" for t in allowed)
    errs.add(
        "union_tag_invalid",
        loc,
        f"Input tag '{tag}' found using 'type' does not match any of the expected tags: {expected}",
        chunk,
    )


def _content_chunk(errs: _Errors, chunk: Any, loc: Loc, allowed: tuple[str, ...]) -> None:
    if not isinstance(chunk, dict) or chunk.get("type") not in allowed:
        _tag_error(errs, chunk, loc, allowed)
        return
    kind = chunk["type"]
    if (check := _CHUNK_CHECKS.get(kind)) is not None:
        check(errs, chunk, (*loc, kind))


def _text_chunk(errs: _Errors, chunk: dict[str, Any], loc: Loc) -> None:
    errs.extra(chunk, {"type", "text"}, loc)
    errs.missing(chunk, ("text",), loc)
    _check_fields(errs, chunk, {"text": _str}, loc)


def _image_url_chunk(errs: _Errors, chunk: dict[str, Any], loc: Loc) -> None:
    errs.missing(chunk, ("image_url",), loc)
    url = chunk.get("image_url")
    if url is not None and not isinstance(url, str | dict):
        errs.add("string_type", (*loc, "image_url"), "Input should be a valid string", url)


def _input_audio_chunk(errs: _Errors, chunk: dict[str, Any], loc: Loc) -> None:
    """AudioChunk: ``input_audio`` is a string (base64 audio or a URL), not an object."""
    errs.extra(chunk, {"type", "input_audio"}, loc)
    errs.missing(chunk, ("input_audio",), loc)
    _check_fields(errs, chunk, {"input_audio": _str}, loc)


def _thinking_chunk(errs: _Errors, chunk: dict[str, Any], loc: Loc) -> None:
    """ThinkChunk: ``thinking`` (text or reference chunks), ``signature``, ``closed``."""
    errs.extra(chunk, {"type", "thinking", "signature", "closed"}, loc)
    errs.missing(chunk, ("thinking",), loc)
    _check_fields(errs, chunk, {"signature": _str, "closed": _bool}, loc)
    parts = chunk.get("thinking")
    if parts is None:
        return
    if not isinstance(parts, list):
        _list(errs, parts, (*loc, "thinking"))
        return
    for i, part in enumerate(parts):
        _content_chunk(errs, part, (*loc, "thinking", i), _THINKING_PARTS)


_CHUNK_CHECKS: dict[str, Callable[[_Errors, dict[str, Any], Loc], None]] = {
    "text": _text_chunk,
    "image_url": _image_url_chunk,
    "input_audio": _input_audio_chunk,
    "thinking": _thinking_chunk,
}


def _tool_calls(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, list):
        _list(errs, value, loc)
        return
    for i, call in enumerate(value):
        cloc = (*loc, i)
        if not isinstance(call, dict):
            _dict(errs, call, cloc)
            continue
        errs.extra(call, {"id", "type", "function", "index"}, cloc)
        errs.missing(call, ("function",), cloc)
        _check_fields(
            errs, call, {"id": _str, "type": _literal("function"), "index": _integer()}, cloc
        )
        function = call.get("function")
        if isinstance(function, dict):
            floc = (*cloc, "function")
            errs.extra(function, {"name", "arguments"}, floc)
            errs.missing(function, ("name", "arguments"), floc)
            _check_fields(errs, function, {"name": _str, "arguments": _arguments}, floc)
        elif function is not None:
            _dict(errs, function, (*cloc, "function"))


def _arguments(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, str | dict):
        errs.add("string_type", (*loc, "str"), "Input should be a valid string", value)


def _message(errs: _Errors, message: Any, loc: Loc) -> None:
    if not isinstance(message, dict):
        errs.add(
            "model_attributes_type", loc, "Input should be a valid dictionary or object", message
        )
        return
    role = message.get("role")
    if role not in _ROLES:
        expected = ", ".join(f"'{r}'" for r in _ROLES)
        errs.add(
            "union_tag_invalid",
            loc,
            f"Input tag '{role}' found using 'role' does not match any of the expected "
            f"tags: {expected}",
            message,
        )
        return
    mloc = (*loc, role)
    errs.extra(message, _MESSAGE_KEYS[role], mloc)
    if role in _REQUIRED_CONTENT:
        errs.missing(message, ("content",), mloc)
    if "content" in message:
        allowed = SYSTEM_CHUNKS if role == "system" else CHAT_CHUNKS
        content_loc = (*mloc, "content")
        _content(errs, message["content"], content_loc, nullable=role != "system", allowed=allowed)
    extra_checks: dict[str, Check] = {
        "tool_calls": _tool_calls,
        "prefix": _bool,
        "tool_call_id": _str,
        "name": _str,
    }
    _check_fields(errs, message, extra_checks, mloc)


def _messages(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, list):
        _list(errs, value, loc)
        return
    if not value:
        errs.empty_list(value, loc)
    for i, message in enumerate(value):
        _message(errs, message, (*loc, i))


# --- guardrails (GuardrailConfig; these schemas do not forbid extra keys) -----------------

_V1_CATEGORIES = (
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
)
_V2_CATEGORIES = (
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous",
    "criminal",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
    "jailbreaking",
)
MODERATION_CATEGORIES: dict[str, tuple[str, ...]] = {
    "moderation_llm_v1": _V1_CATEGORIES,
    "moderation_llm_v2": _V2_CATEGORIES,
}


def _moderation(categories: tuple[str, ...]) -> Check:
    def check(errs: _Errors, value: Any, loc: Loc) -> None:
        if not isinstance(value, dict):
            errs.add("model_type", loc, "Input should be an object", value)
            return
        thresholds = value.get("custom_category_thresholds")
        table: dict[str, Check] = {
            "model_name": _str,
            "ignore_other_categories": _bool,
            "action": _literal("none", "block"),
        }
        _check_fields(errs, value, table, loc)
        if thresholds is None:
            return
        tloc = (*loc, "custom_category_thresholds")
        if not isinstance(thresholds, dict):
            errs.add("model_type", tloc, "Input should be an object", thresholds)
            return
        _check_fields(errs, thresholds, dict.fromkeys(categories, _number()), tloc)

    return check


_GUARDRAIL_FIELDS: dict[str, Check] = {
    "block_on_error": _bool,
    **{name: _moderation(categories) for name, categories in MODERATION_CATEGORIES.items()},
}


def _guardrails(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, list):
        _list(errs, value, loc)
        return
    for i, guardrail in enumerate(value):
        if not isinstance(guardrail, dict):
            errs.add("model_type", (*loc, i), "Input should be an object", guardrail)
        else:
            _check_fields(errs, guardrail, _GUARDRAIL_FIELDS, (*loc, i))


_CHAT_FIELDS: dict[str, Check] = {
    "model": _str,
    "messages": _messages,
    **_SAMPLING_FIELDS,
    "stream": _bool,
    "metadata": _dict,
    "tools": _chat_tools,
    "tool_choice": _tool_choice,
    "n": _integer(ge=1),
    "parallel_tool_calls": _bool,
    "prompt_mode": _literal("reasoning"),
    "guardrails": _guardrails,
    "prompt_cache_key": _str,
    "service_tier": _literal("auto", "standard_only"),
    "safe_prompt": _bool,
}
CHAT_FIELDS: frozenset[str] = frozenset(_CHAT_FIELDS)
"""Every body field ``POST /v1/chat/completions`` accepts; others get 422 extra_forbidden."""


def chat_schema_errors(body: Any) -> list[dict[str, Any]]:
    """The 422 errors of a ``POST /v1/chat/completions`` body (empty: valid)."""
    return _body_errors(body, ("model", "messages"), _CHAT_FIELDS)


def _body_errors(
    body: Any, required: tuple[str, ...], fields: dict[str, Check]
) -> list[dict[str, Any]]:
    errs = _Errors()
    if not isinstance(body, dict):
        errs.add(
            "model_attributes_type", ("body",), "Input should be a valid dictionary or object", body
        )
        return errs.items
    errs.missing(body, required, ("body",))
    errs.extra(body, fields, ("body",))
    _check_fields(errs, body, fields, ("body",))
    return errs.items


# --- conversation entries and fields -----------------------------------------------------

_ENTRY_COMMON = frozenset({"object", "type", "created_at", "completed_at", "id"})
_ENTRY_KEYS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    # type: (allowed keys besides the common ones, required keys)
    "message.input": (frozenset({"role", "content", "prefix"}), ("role", "content")),
    "message.output": (frozenset({"role", "content", "agent_id", "model"}), ("content",)),
    "function.call": (
        frozenset(
            {"tool_call_id", "name", "arguments", "agent_id", "model", "confirmation_status"}
        ),
        ("tool_call_id", "name", "arguments"),
    ),
    "function.result": (frozenset({"tool_call_id", "result"}), ("tool_call_id", "result")),
    "agent.handoff": (
        frozenset({"previous_agent_id", "previous_agent_name", "next_agent_id", "next_agent_name"}),
        ("previous_agent_id", "previous_agent_name", "next_agent_id", "next_agent_name"),
    ),
    "tool.execution": (
        frozenset({"name", "arguments", "agent_id", "model", "info"}),
        ("name", "arguments"),
    ),
}
_ENTRY_FIELDS: dict[str, Check] = {
    "role": _literal("user", "assistant"),
    "tool_call_id": _str,
    "name": _str,
    "arguments": _arguments,
    "result": _str,
    "prefix": _bool,
}


def entry_type(entry: Mapping[str, Any]) -> str | None:
    """The entry's type; the SDK always sends one, but the schema lets it default."""
    if "type" in entry:
        kind = entry["type"]
        return kind if isinstance(kind, str) else None
    if "result" in entry:
        return "function.result"
    if "tool_call_id" in entry:
        return "function.call"
    return "message.input" if "role" in entry else None


def _entry(errs: _Errors, entry: Any, loc: Loc) -> None:
    if not isinstance(entry, dict):
        _dict(errs, entry, loc)
        return
    kind = entry_type(entry)
    if kind not in _ENTRY_KEYS:
        expected = ", ".join(f"'{t}'" for t in _ENTRY_KEYS)
        errs.add(
            "union_tag_invalid",
            loc,
            f"Input tag '{kind}' found using 'type' does not match any of the expected "
            f"tags: {expected}",
            entry,
        )
        return
    allowed, required = _ENTRY_KEYS[kind]
    eloc = (*loc, kind)
    errs.extra(entry, allowed | _ENTRY_COMMON, eloc)
    errs.missing(entry, required, eloc)
    if "content" in entry:
        chunks = OUTPUT_ENTRY_CHUNKS if kind == "message.output" else INPUT_ENTRY_CHUNKS
        _content(errs, entry["content"], (*eloc, "content"), nullable=False, allowed=chunks)
    _check_fields(errs, entry, _ENTRY_FIELDS, eloc)


def _inputs(errs: _Errors, value: Any, loc: Loc) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, list):
        errs.add("string_type", (*loc, "str"), "Input should be a valid string", value)
        return
    for i, entry in enumerate(value):
        _entry(errs, entry, (*loc, "list[InputEntries]", i))


def _string_list(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, list):
        _list(errs, value, loc)
        return
    for i, item in enumerate(value):
        _str(errs, item, (*loc, i))


def _library_ids(errs: _Errors, value: Any, loc: Loc) -> None:
    _string_list(errs, value, loc)
    if isinstance(value, list) and not value:
        errs.empty_list(value, loc)


def _tool_configuration(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, dict):
        _dict(errs, value, loc)
        return
    table = dict.fromkeys(("exclude", "include", "requires_confirmation"), _string_list)
    errs.extra(value, table, loc)
    _check_fields(errs, value, table, loc)


# type: (field checks besides "type", required fields), from Mistral's OpenAPI document
# (WebSearchTool, WebSearchPremiumTool, CodeInterpreterTool, ImageGenerationTool,
# DocumentLibraryTool with library_ids minItems 1, CustomConnector); all closed objects
_BUILTIN_TOOLS: dict[str, tuple[dict[str, Check], tuple[str, ...]]] = {
    "web_search": ({"tool_configuration": _tool_configuration}, ()),
    "web_search_premium": ({"tool_configuration": _tool_configuration}, ()),
    "code_interpreter": ({"tool_configuration": _tool_configuration}, ()),
    "image_generation": ({"tool_configuration": _tool_configuration}, ()),
    "document_library": (
        {"tool_configuration": _tool_configuration, "library_ids": _library_ids},
        ("library_ids",),
    ),
    "connector": (
        {"tool_configuration": _tool_configuration, "connector_id": _str, "authorization": _dict},
        ("connector_id",),
    ),
}


def _conversation_tools(errs: _Errors, tools: Any, loc: Loc) -> None:
    """Function tools and built-in tools, as conversations and agents take them."""
    if not isinstance(tools, list):
        _list(errs, tools, loc)
        return
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            _dict(errs, tool, (*loc, i))
            continue
        kind = tool.get("type")
        if kind == "function":
            _function_tool(errs, tool, (*loc, i, "function"))
        elif kind in _BUILTIN_TOOLS:
            table, required = _BUILTIN_TOOLS[kind]
            tloc = (*loc, i, kind)
            errs.extra(tool, {"type", *table}, tloc)
            errs.missing(tool, required, tloc)
            _check_fields(errs, tool, table, tloc)
        else:
            _literal("function", *_BUILTIN_TOOLS)(errs, kind, (*loc, i, "type"))


# Conversations take a plain-string tool_choice, and the live API refuses "any" there
# (https://docs.mistral.ai/api/); CompletionArgs: temperature at most 1, top_p minimum 0
_COMPLETION_ARGS_FIELDS: dict[str, Check] = {
    **_SAMPLING_FIELDS,
    "temperature": _number(ge=0, le=1),
    "top_p": _number(ge=0, le=1),
    "tool_choice": _literal("auto", "none", "required"),
}


def _completion_args(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, dict):
        _dict(errs, value, loc)
        return
    errs.extra(value, _COMPLETION_ARGS_FIELDS, loc)
    _check_fields(errs, value, _COMPLETION_ARGS_FIELDS, loc)


_CONVERSATION_FIELDS: dict[str, Check] = {
    "inputs": _inputs,
    "stream": _bool,
    "store": _bool,
    "handoff_execution": _literal("server", "client"),
    "instructions": _str,
    "tools": _conversation_tools,
    "completion_args": _completion_args,
    "guardrails": _guardrails,
    "name": _str,
    "description": _str,
    "metadata": _dict,
    "agent_id": _str,
    "agent_version": _of_type((int, str), "int_type", "Input should be a valid integer"),
    "model": _str,
}
CONVERSATION_FIELDS: frozenset[str] = frozenset(_CONVERSATION_FIELDS)
"""Every body field ``POST /v1/conversations`` accepts; others get 422 extra_forbidden."""


def conversation_schema_errors(body: Any) -> list[dict[str, Any]]:
    """The 422 errors of a ``POST /v1/conversations`` body (empty: valid)."""
    return _body_errors(body, ("inputs",), _CONVERSATION_FIELDS)


# --- agents (``POST /v1/agents``, ``PATCH /v1/agents/{id}``) ---------------------------------


def _handoffs(errs: _Errors, value: Any, loc: Loc) -> None:
    _string_list(errs, value, loc)
    if isinstance(value, list) and not value:
        errs.empty_list(value, loc)


def _version_message(errs: _Errors, value: Any, loc: Loc) -> None:
    if not isinstance(value, str):
        _str(errs, value, loc)
    elif len(value) > 500:
        errs.add(
            "string_too_long",
            loc,
            "String should have at most 500 characters",
            value,
            max_length=500,
        )


_AGENT_FIELDS: dict[str, Check] = {
    "instructions": _str,
    "tools": _conversation_tools,
    "completion_args": _completion_args,
    "guardrails": _list,
    "model": _str,
    "name": _str,
    "description": _str,
    "handoffs": _handoffs,
    "metadata": _dict,
    "version_message": _version_message,
}
_UPDATE_AGENT_FIELDS: dict[str, Check] = {**_AGENT_FIELDS, "deployment_chat": _bool}


def create_agent_schema_errors(body: Any) -> list[dict[str, Any]]:
    """The 422 errors of a ``POST /v1/agents`` body (empty: valid)."""
    return _body_errors(body, ("model", "name"), _AGENT_FIELDS)


def update_agent_schema_errors(body: Any) -> list[dict[str, Any]]:
    """The 422 errors of a ``PATCH /v1/agents/{id}`` body (empty: valid)."""
    return _body_errors(body, (), _UPDATE_AGENT_FIELDS)


# --- query parameters -----------------------------------------------------------------------

ALIAS_PATTERN = r"^[a-z]([a-z0-9_-]*[a-z0-9])?$"
_ALIAS_RE = re.compile(ALIAS_PATTERN)

QueryCheck = Callable[[_Errors, str, Loc], Any]


def query_int(ge: int | None = None, le: int | None = None) -> QueryCheck:
    """An integer query parameter: parsed from its text, then bounded."""

    def check(errs: _Errors, text: str, loc: Loc) -> int | None:
        try:
            value = int(text)
        except ValueError:
            msg = "Input should be a valid integer, unable to parse string as an integer"
            errs.add("int_parsing", loc, msg, text)
            return None
        before = len(errs.items)
        _bounds(errs, value, loc, ge, le)
        return value if len(errs.items) == before else None

    return check


def query_alias(errs: _Errors, text: str, loc: Loc) -> str | None:
    """A version alias: 1 to 64 characters of Mistral's alias pattern."""
    if len(text) > 64:
        msg = "String should have at most 64 characters"
        errs.add("string_too_long", loc, msg, text, max_length=64)
    elif not _ALIAS_RE.match(text):
        msg = f"String should match pattern '{ALIAS_PATTERN}'"
        errs.add("string_pattern_mismatch", loc, msg, text, pattern=ALIAS_PATTERN)
    else:
        return text
    return None


def query_errors(
    query: Mapping[str, str],
    params: Mapping[str, tuple[QueryCheck, bool]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Parse query parameters by ``{name: (check, required)}``: the values, and 422 errors.

    Unknown parameters are ignored, as FastAPI does.
    """
    errs = _Errors()
    values: dict[str, Any] = {}
    for name, (check, required) in params.items():
        if name not in query:
            if required:
                errs.add("missing", ("query", name), "Field required", None)
            continue
        values[name] = check(errs, query[name], ("query", name))
    return values, errs.items
