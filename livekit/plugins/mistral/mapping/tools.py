"""LiveKit tools and tool choice -> Mistral ``tools`` and ``tool_choice`` (pure).

Decisions:
- ``FunctionTool``: parameters come from LiveKit's own strict builder (the one its OpenAI
  format uses): every object closed, every property required, a defaulted argument made
  nullable. LiveKit's tool runner turns a ``null`` back into the Python default, so these
  schemas are always sent with ``strict: true``.
- ``RawFunctionTool`` (MCP tools arrive as these): ``parameters`` passed verbatim
  (``$defs``/``$ref``, ``title``, ``default`` kept); missing or empty ``{}`` parameters become
  an empty object schema; ``meta`` and any other key of the raw schema are not sent.
- ``strict: true`` is sent only when the parameters allow it: every object schema inside
  (properties, items, unions, ``$defs``) has ``additionalProperties: false`` and lists all of
  its properties in ``required``. A raw schema that says ``strict: false`` is never strict.
- A description that is missing, ``None`` or empty is omitted.
- Tools that cannot be sent (``ProviderTool`` and any other non-function tool) and a second
  tool reusing a name already sent are left out and reported by name.
- Mistral built-in tools (web search, code interpreter, image generation, document library,
  connector) are ``ProviderTool``s with a ``to_dict()`` giving their Mistral JSON: ours
  (``livekit.plugins.mistral.tools``) and the official ``livekit-plugins-mistralai`` ones
  alike. Only the Conversations API runs them (:func:`to_conversation_tools`).
- Conversations' ``tool_choice`` is a string (``auto``, ``none``, ``required``; ``any`` is
  refused there): ``required`` stays ``required``, and a named function becomes
  ``required`` with that function as the only tool sent, which forces exactly that call.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from livekit.agents import llm

from ..log import logger

_EMPTY_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}}

# JSON schema keywords whose value is a map of name -> subschema
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
# JSON schema keywords whose value is a subschema or a list of subschemas
_SUBSCHEMA_LISTS = ("items", "prefixItems", "anyOf", "oneOf", "allOf")

_TOOL_CHOICE_MODES: Mapping[str, str] = {"auto": "auto", "none": "none", "required": "any"}
_CONVERSATION_TOOL_CHOICES = ("auto", "none", "required")

BUILTIN_TOOL_TYPES = frozenset(
    {
        "web_search",
        "web_search_premium",
        "code_interpreter",
        "image_generation",
        "document_library",
        "connector",
    }
)


def to_mistral_tools(tools: Sequence[llm.Tool]) -> tuple[list[dict[str, Any]], list[str]]:
    """Function schemas in Mistral's format, and the names of the tools left out."""
    schemas: list[dict[str, Any]] = []
    skipped: list[str] = []
    sent_names: set[str] = set()
    for tool in tools:
        function = _to_function(tool)
        if function is None or function["name"] in sent_names:
            logger.debug("tool not sent to Mistral", extra={"tool_name": tool.id})
            skipped.append(tool.id)
            continue
        sent_names.add(function["name"])
        schemas.append({"type": "function", "function": function})
    return schemas, skipped


def builtin_tool(tool: llm.Tool) -> dict[str, Any] | None:
    """A Mistral built-in tool's JSON (``{"type": "web_search"}``...), or ``None`` for any
    other tool."""
    if not isinstance(tool, llm.ProviderTool):
        return None
    to_dict = getattr(tool, "to_dict", None)
    spec = to_dict() if callable(to_dict) else None
    if isinstance(spec, dict) and spec.get("type") in BUILTIN_TOOL_TYPES:
        return spec
    return None


def has_builtin_tool(tools: Sequence[llm.Tool]) -> bool:
    return any(builtin_tool(tool) is not None for tool in tools)


def to_conversation_tools(
    tools: Sequence[llm.Tool], tool_choice: llm.ToolChoice | None
) -> tuple[list[dict[str, Any]], str | None, list[str]]:
    """``tools`` and ``completion_args.tool_choice`` for a model conversation, and the names
    of the tools left out. Raises ``ValueError`` for what the API would refuse."""
    functions, skipped = to_mistral_tools([tool for tool in tools if builtin_tool(tool) is None])
    builtins = [spec for tool in tools if (spec := builtin_tool(tool)) is not None]
    kinds = {spec["type"] for spec in builtins}
    if {"web_search", "web_search_premium"} <= kinds:
        raise ValueError(
            "WebSearch() and WebSearch(premium=True) cannot be used together (Mistral refuses "
            "web_search next to web_search_premium): keep one of them"
        )
    if isinstance(tool_choice, dict):
        return [named_function(tool_choice, functions)], "required", skipped
    if tool_choice is not None and tool_choice not in _CONVERSATION_TOOL_CHOICES:
        raise ValueError(
            f"tool_choice must be one of {list(_CONVERSATION_TOOL_CHOICES)} or a named function "
            f"with built-in tools (the Conversations API), got {tool_choice!r}"
        )
    return [*functions, *builtins], tool_choice, skipped


def named_function(choice: Mapping[str, Any], functions: list[dict[str, Any]]) -> dict[str, Any]:
    """The function schema a named ``tool_choice`` forces; ``ValueError`` when the call has
    no function of that name (Mistral would refuse the request)."""
    name = choice["function"]["name"]
    for function in functions:
        if function["function"]["name"] == name:
            return function
    raise ValueError(
        f"tool_choice names the function {name!r}, which is not among the tools of this call"
    )


def to_mistral_tool_choice(
    choice: llm.ToolChoice, functions: list[dict[str, Any]]
) -> str | dict[str, Any]:
    """``auto`` and ``none`` unchanged, ``required`` as ``any``, a named function kept (it
    must be one of ``functions``, the call's function schemas)."""
    if isinstance(choice, dict):
        if functions:
            named_function(choice, functions)
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    try:
        return _TOOL_CHOICE_MODES[choice]
    except KeyError:
        raise ValueError(f"unsupported tool_choice: {choice!r}") from None


def is_strict_compatible(schema: object) -> bool:
    """Whether every object schema inside is closed and requires all of its properties."""
    if isinstance(schema, list):
        return all(is_strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if _is_object_schema(schema) and not _is_closed_object(schema):
        return False
    subschemas: list[object] = []
    for key in _SUBSCHEMA_MAPS:
        if isinstance(named := schema.get(key), dict):
            subschemas.extend(named.values())
    subschemas.extend(schema[key] for key in _SUBSCHEMA_LISTS if key in schema)
    return all(is_strict_compatible(subschema) for subschema in subschemas)


# Building a FunctionTool's schema costs milliseconds (LiveKit builds a pydantic model each
# time) and tools outlive many turns: keep each tool's schema while the tool lives. The
# cached dicts are shared between requests and must never be mutated.
_FUNCTIONS: weakref.WeakKeyDictionary[llm.Tool, dict[str, Any] | None] = weakref.WeakKeyDictionary()


def _to_function(tool: llm.Tool) -> dict[str, Any] | None:
    try:
        return _FUNCTIONS[tool]
    except (KeyError, TypeError):  # TypeError: a tool that cannot be weakly referenced
        pass
    function = _build_function(tool)
    with contextlib.suppress(TypeError):
        _FUNCTIONS[tool] = function
    return function


def _build_function(tool: llm.Tool) -> dict[str, Any] | None:
    match tool:
        case llm.FunctionTool():
            return _function_tool_function(tool)
        case llm.RawFunctionTool():
            return _raw_tool_function(tool)
        case _:
            return None


def _function_tool_function(tool: llm.FunctionTool[Any, Any]) -> dict[str, Any]:
    strict_schema = llm.utils.build_strict_openai_schema(tool)
    parameters: dict[str, Any] = strict_schema["function"]["parameters"]
    return _function(tool.info.name, tool.info.description, parameters, may_be_strict=True)


def _raw_tool_function(tool: llm.RawFunctionTool[Any, Any]) -> dict[str, Any]:
    raw = tool.info.raw_schema
    parameters = raw.get("parameters") or dict(_EMPTY_PARAMETERS)
    may_be_strict = raw.get("strict") is not False
    return _function(tool.info.name, raw.get("description"), parameters, may_be_strict)


def _function(
    name: str, description: str | None, parameters: dict[str, Any], may_be_strict: bool
) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if description:
        function["description"] = description
    function["parameters"] = parameters
    if may_be_strict and is_strict_compatible(parameters):
        function["strict"] = True
    return function


def _is_object_schema(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    is_object_type = kind == "object" or (isinstance(kind, list) and "object" in kind)
    return is_object_type or "properties" in schema


def _is_closed_object(schema: dict[str, Any]) -> bool:
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    return schema.get("additionalProperties") is False and set(properties) <= set(required)
