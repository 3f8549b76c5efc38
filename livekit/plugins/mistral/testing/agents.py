"""Agents as the Agents API keeps them: numbered versions, a current one, and aliases.

Decisions (the live API documents the shapes, not every behaviour):
- A new agent is version 0. Every update (``PATCH /v1/agents/{id}``) copies the current
  version, applies the fields sent, and becomes the new current version (max + 1).
  ``PATCH /v1/agents/{id}/version`` makes an existing version current again.
- ``agent_version`` (conversations, ``GET /v1/agents/{id}``) and the ``{version}`` path of
  ``GET .../versions/{version}`` take a number or an alias; an unknown one is a 404
  ``not_found_error``, as an unknown agent is.
- An alias points at one version; ``PUT`` creates or moves it, an unknown version is a 404.
- ``GET .../versions`` lists the versions newest first, ``page``/``page_size`` paginated.
- 422 answers use the plain ``{"detail": [...]}`` shape the OpenAPI document gives these
  endpoints (``HTTPValidationError``), not the envelope chat completions use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .brain import function_specs
from .conversation_wire import now_iso

# fields an update may change, copied from the current version otherwise
_VERSIONED = (
    "model",
    "name",
    "instructions",
    "tools",
    "completion_args",
    "guardrails",
    "description",
    "handoffs",
    "metadata",
)


@dataclass(frozen=True)
class AgentVersion:
    """One version of an agent: what a conversation pinned to it uses."""

    number: int
    model: str
    name: str
    created_at: str
    instructions: str | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    completion_args: Mapping[str, Any] = field(default_factory=dict)
    guardrails: list[Any] | None = None
    description: str | None = None
    handoffs: list[str] | None = None
    metadata: Mapping[str, Any] | None = None
    version_message: str | None = None


@dataclass
class Alias:
    version: int
    created_at: str
    updated_at: str

    def to_json(self, name: str) -> dict[str, Any]:
        return {
            "alias": name,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def normalize_tools(tools: Any) -> tuple[Mapping[str, Any], ...]:
    """Tools as the API stores them: function tools as ``{"type": "function", ...}``
    (bare function schemas are wrapped), built-in tools unchanged."""
    out: list[Mapping[str, Any]] = []
    for tool in tools or ():
        if isinstance(tool, Mapping) and tool.get("type", "function") != "function":
            out.append(dict(tool))
        else:
            out += [{"type": "function", "function": spec} for spec in function_specs([tool])]
    return tuple(out)


class StoredAgent:
    """An agent with all of its versions and aliases."""

    def __init__(self, agent_id: str, first: AgentVersion) -> None:
        self.id = agent_id
        self.created_at = first.created_at
        self.versions: list[AgentVersion] = [first]
        self.current = 0
        self.aliases: dict[str, Alias] = {}
        self.deployment_chat = False

    @property
    def name(self) -> str:
        return self.versions[self.current].name

    def resolve(self, ref: int | str | None) -> AgentVersion | None:
        """The version a number or an alias names; the current one for ``None``."""
        if ref is None:
            return self.versions[self.current]
        if isinstance(ref, str) and ref in self.aliases:
            ref = self.aliases[ref].version
        elif isinstance(ref, str) and ref.isdigit():
            ref = int(ref)
        if isinstance(ref, int) and 0 <= ref < len(self.versions):
            return self.versions[ref]
        return None

    def update(self, body: Mapping[str, Any]) -> AgentVersion:
        """A new current version: the current one with the fields ``body`` sets."""
        changes: dict[str, Any] = {k: body[k] for k in _VERSIONED if body.get(k) is not None}
        if "tools" in changes:
            changes["tools"] = normalize_tools(changes["tools"])
        if body.get("deployment_chat") is not None:
            self.deployment_chat = bool(body["deployment_chat"])
        version = replace(
            self.versions[self.current],
            number=len(self.versions),
            created_at=now_iso(),
            version_message=body.get("version_message"),
            **changes,
        )
        self.versions.append(version)
        self.current = version.number
        return version

    def set_alias(self, name: str, version: int) -> Alias:
        stamp = now_iso()
        alias = self.aliases.get(name)
        if alias is None:
            alias = self.aliases[name] = Alias(version, stamp, stamp)
        else:
            alias.version, alias.updated_at = version, stamp
        return alias

    def to_json(self, version: AgentVersion | None = None) -> dict[str, Any]:
        """The ``Agent`` object for ``version`` (default: the current one)."""
        v = version or self.versions[self.current]
        return {
            "object": "agent",
            "id": self.id,
            "name": v.name,
            "model": v.model,
            "instructions": v.instructions,
            "tools": [dict(tool) for tool in v.tools],
            "completion_args": dict(v.completion_args),
            "guardrails": v.guardrails,
            "description": v.description,
            "handoffs": v.handoffs,
            "metadata": None if v.metadata is None else dict(v.metadata),
            "version": v.number,
            "versions": [version.number for version in self.versions],
            "created_at": self.created_at,
            "updated_at": v.created_at,
            "deployment_chat": self.deployment_chat,
            "source": "api",
            "version_message": v.version_message,
        }


def new_agent(agent_id: str, body: Mapping[str, Any]) -> StoredAgent:
    """An agent from a (valid) ``POST /v1/agents`` body."""
    first = AgentVersion(
        number=0,
        model=body["model"],
        name=body["name"],
        created_at=now_iso(),
        instructions=body.get("instructions"),
        tools=normalize_tools(body.get("tools")),
        completion_args=body.get("completion_args") or {},
        guardrails=body.get("guardrails"),
        description=body.get("description"),
        handoffs=body.get("handoffs"),
        metadata=body.get("metadata"),
        version_message=body.get("version_message"),
    )
    return StoredAgent(agent_id, first)
