"""A Mistral agent's tools beside the LiveKit tools of a call: what differs (pure).

In agent mode Mistral calls the agent's own function definitions and LiveKit runs the
``@function_tool`` of the same name, so the two must agree. LiveKit's side is taken from
:func:`.tools.to_mistral_tools`, the very schemas normal mode sends and ``sync_agent`` pushes.

Decisions:
- A difference is reported only where a call can go wrong: a function the agent may call
  that LiveKit cannot run; a LiveKit tool the agent does not know (it is never called); a
  parameter only one side has; a parameter LiveKit needs that the agent may leave out; a
  parameter whose JSON types differ. The agent requiring what LiveKit treats as optional is
  harmless and not reported.
- "Needed" means listed in ``required`` and not nullable: LiveKit's strict schemas list every
  parameter as required and make defaulted ones nullable (its runner turns ``null`` back into
  the default), while a hand-written agent schema leaves optional ones out of ``required``.
- Types are compared as sets of JSON type names without ``null``, read from ``type`` or from
  the branches of ``anyOf``/``oneOf``; a side without type information (``$ref``, ``{}``) is
  not compared. Nested object parameters are compared the same way, with dotted names.
- The agent's built-in tools (web search, code interpreter, ...) and unknown tool types are
  listed by type. A Mistral built-in tool among the LiveKit tools (``WebSearch()``...) that
  the agent lacks is a difference (agent mode never sends it: the agent's own tools apply);
  built-in tools are compared by type only (not by library or connector ids).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from livekit.agents import llm

from .tools import builtin_tool, to_mistral_tools

MismatchKind = Literal[
    "agent_only_function",
    "livekit_only_function",
    "livekit_only_builtin",
    "agent_only_parameter",
    "livekit_only_parameter",
    "parameter_not_required",
    "parameter_type",
]


@dataclass(frozen=True)
class ToolMismatch:
    """One difference between the agent's function tools and the LiveKit tools."""

    kind: MismatchKind
    function: str
    parameter: str | None
    detail: str
    """A sentence naming the function (and parameter) and what goes wrong."""


@dataclass(frozen=True)
class AgentTools:
    """The tools of one agent version, as ``GET /v1/agents/{id}`` returns them."""

    functions: Mapping[str, Mapping[str, Any]]
    """Function definitions (``name``, ``parameters``, ...) by name."""
    builtins: tuple[str, ...]
    """Types of the other tools: ``web_search``, ``code_interpreter``, ..."""
    version: int | None = None
    """The version the document describes."""


def agent_tools(agent: Mapping[str, Any]) -> AgentTools:
    """Split an agent document's ``tools`` into function definitions and built-in types."""
    functions: dict[str, Mapping[str, Any]] = {}
    builtins: list[str] = []
    for tool in agent.get("tools") or []:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        if tool.get("type") == "function" and isinstance(function, Mapping):
            if isinstance(function.get("name"), str):
                functions[function["name"]] = function
        else:
            builtins.append(str(tool.get("type")))
    version = agent.get("version")
    return AgentTools(functions, tuple(builtins), version if isinstance(version, int) else None)


def compare_tools(agent: AgentTools, tools: Sequence[llm.Tool]) -> list[ToolMismatch]:
    """Every difference between the agent's functions and ``tools``, sorted by function."""
    schemas, _ = to_mistral_tools(tools)
    livekit = {schema["function"]["name"]: schema["function"] for schema in schemas}
    found: list[ToolMismatch] = []
    for name in sorted(agent.functions.keys() | livekit.keys()):
        if name not in livekit:
            found.append(_function_only(name, on_agent=True))
        elif name not in agent.functions:
            found.append(_function_only(name, on_agent=False))
        else:
            parameters = _parameters(agent.functions[name]), _parameters(livekit[name])
            found.extend(_compare_object(name, "", *parameters))
    return found + _missing_builtins(agent, tools)


def _missing_builtins(agent: AgentTools, tools: Sequence[llm.Tool]) -> list[ToolMismatch]:
    wanted = {spec["type"] for tool in tools if (spec := builtin_tool(tool)) is not None}
    return [
        ToolMismatch(
            "livekit_only_builtin",
            kind,
            None,
            f"the LiveKit tools hold Mistral's built-in tool '{kind}', which the agent does "
            "not have: it is not sent (the agent's own tools apply)",
        )
        for kind in sorted(wanted - set(agent.builtins))
    ]


def _function_only(name: str, *, on_agent: bool) -> ToolMismatch:
    if on_agent:
        detail = (
            f"the agent may call function '{name}', but no LiveKit tool of that name was "
            "given: the call will fail"
        )
        return ToolMismatch("agent_only_function", name, None, detail)
    detail = f"LiveKit tool '{name}' is not a function of the agent: the agent never calls it"
    return ToolMismatch("livekit_only_function", name, None, detail)


def _parameters(function: Mapping[str, Any]) -> Mapping[str, Any]:
    parameters = function.get("parameters")
    return parameters if isinstance(parameters, Mapping) else {}


def _compare_object(
    function: str, prefix: str, agent: Mapping[str, Any], livekit: Mapping[str, Any]
) -> Iterator[ToolMismatch]:
    agent_props, livekit_props = _properties(agent), _properties(livekit)
    for name in sorted(agent_props.keys() | livekit_props.keys()):
        path = prefix + name
        if name not in livekit_props:
            detail = (
                f"function '{function}': the agent sends parameter '{path}', which the "
                "LiveKit tool does not take"
            )
            yield ToolMismatch("agent_only_parameter", function, path, detail)
        elif name not in agent_props:
            needed = _is_needed(livekit, name)
            effect = "so every call fails" if needed else "so it is never filled in"
            detail = (
                f"function '{function}': the LiveKit tool takes parameter '{path}', which the "
                f"agent does not know, {effect}"
            )
            yield ToolMismatch("livekit_only_parameter", function, path, detail)
        else:
            yield from _compare_parameter(function, path, agent, livekit, name)


def _compare_parameter(
    function: str,
    path: str,
    agent: Mapping[str, Any],
    livekit: Mapping[str, Any],
    name: str,
) -> Iterator[ToolMismatch]:
    if _is_needed(livekit, name) and not _is_needed(agent, name):
        detail = (
            f"function '{function}': the LiveKit tool needs parameter '{path}', but the "
            "agent may leave it out"
        )
        yield ToolMismatch("parameter_not_required", function, path, detail)
    agent_schema, livekit_schema = _properties(agent)[name], _properties(livekit)[name]
    agent_types, livekit_types = _types(agent_schema), _types(livekit_schema)
    if agent_types and livekit_types and agent_types != livekit_types:
        detail = (
            f"function '{function}': parameter '{path}' is {_or(agent_types)} for the agent "
            f"but {_or(livekit_types)} for the LiveKit tool"
        )
        yield ToolMismatch("parameter_type", function, path, detail)
    elif _properties(agent_schema) or _properties(livekit_schema):
        yield from _compare_object(function, path + ".", agent_schema, livekit_schema)


def _properties(schema: object) -> Mapping[str, Any]:
    if not isinstance(schema, Mapping):
        return {}
    properties = schema.get("properties")
    return properties if isinstance(properties, Mapping) else {}


def _is_needed(schema: Mapping[str, Any], name: str) -> bool:
    required = schema.get("required")
    listed = isinstance(required, list) and name in required
    return listed and "null" not in _types(_properties(schema)[name], keep_null=True)


def _types(schema: object, *, keep_null: bool = False) -> frozenset[str]:
    """The JSON types a schema allows, ``null`` left out unless ``keep_null``."""
    if not isinstance(schema, Mapping):
        return frozenset()
    kind = schema.get("type")
    names: set[str] = set()
    if isinstance(kind, str):
        names.add(kind)
    elif isinstance(kind, list):
        names.update(k for k in kind if isinstance(k, str))
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key) or []:
            names |= _types(branch, keep_null=True)
    if not keep_null:
        names.discard("null")
    return frozenset(names)


def _or(types: frozenset[str]) -> str:
    return " or ".join(sorted(types))
