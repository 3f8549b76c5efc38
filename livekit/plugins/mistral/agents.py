"""Push LiveKit tools and instructions to a Mistral agent, through the mistralai SDK.

Agent mode runs the agent's own function definitions and LiveKit's ``@function_tool`` of the
same name; :func:`sync_agent` makes the two the same by writing the LiveKit tools into the
agent (a new agent version), :func:`create_agent` starts a new agent from them. Both send
the tool mapping normal mode uses (:func:`.mapping.tools.to_conversation_tools`).

These are setup calls, off the streaming hot path, so they use the SDK's typed client; it
is imported inside the functions, so importing the plugin does not load it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from livekit.agents import APIConnectionError, APITimeoutError, llm
from livekit.agents.llm.chat_context import Instructions

from .errors import status_error
from .log import logger
from .mapping.tools import to_conversation_tools
from .options import AGENT_ID, api_key_from
from .wire.http import normalize_base_url

if TYPE_CHECKING:
    from mistralai.client import Mistral, models
    from mistralai.client.types.basemodel import Unset


@dataclass(frozen=True)
class SyncedAgent:
    """What :func:`sync_agent` made: the agent and its new version."""

    agent_id: str
    version: int
    """The version just created, now the agent's current one."""
    previous_version: int
    """The version that was current before the sync."""


async def sync_agent(
    agent_id: str,
    *,
    tools: Sequence[llm.Tool | llm.Toolset],
    instructions: str | Instructions | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    description: str | None = None,
) -> SyncedAgent:
    """Write LiveKit tools (and optionally instructions) into a Mistral agent.

    The agent's function tools become exactly those of ``tools``; its built-in tools (web
    search, code interpreter, ...) and handoffs stay as they are, and Mistral built-in tools
    among ``tools`` (``mistral.tools.WebSearch()``...) are added when the agent lacks them.
    Mistral keeps the result as a new version, which becomes the agent's current one: an
    ``LLM`` pinned with ``agent_version`` (a number or an alias) keeps using its version
    until you move it.

    Args:
        agent_id: The agent, ``"ag_..."``.
        tools: The LiveKit tools, e.g. ``my_agent.tools``: ``@function_tool``s, raw function
            tools, toolsets (set up an ``MCPToolset`` first, so its tools are known) and
            Mistral's built-in tools.
        instructions: New instructions for the agent; ``None`` keeps its own.
        api_key: Defaults to the ``MISTRAL_API_KEY`` environment variable.
        base_url: The server root, default ``https://api.mistral.ai``.
        description: A new description; ``None`` keeps the agent's.

    Returns:
        The agent id, the new version and the one it replaced.

    Raises:
        ValueError: bad arguments (nothing is sent).
        AgentError: Mistral refused (unknown agent, bad key, ...).
        APIConnectionError: Mistral could not be reached.
    """
    if not isinstance(agent_id, str) or not AGENT_ID.match(agent_id):
        raise ValueError(f"agent_id must be a Mistral agent id ('ag_' + 32 hex), got {agent_id!r}")
    functions, builtins = agent_tools_of(tools)
    new_instructions = _text("instructions", instructions)
    new_description = _text("description", description)
    key = api_key_from(api_key, "sync_agent()")
    async with _client(key, base_url, agent_id) as sdk:
        current = await sdk.beta.agents.get_async(agent_id=agent_id)
        tools_sent = cast(
            "list[models.UpdateAgentRequestToolTypedDict]",
            [*_merged_builtins(_builtin_tools(current), builtins), *functions],
        )
        updated = await sdk.beta.agents.update_async(
            agent_id=agent_id,
            tools=tools_sent,
            instructions=_or_unset(new_instructions),
            description=_or_unset(new_description),
        )
    logger.info(
        "Mistral agent updated with the LiveKit tools",
        extra={
            "agent_id": agent_id,
            "agent_version": updated.version,
            "functions": [f["function"]["name"] for f in functions],
        },
    )
    return SyncedAgent(updated.id, updated.version, current.version)


async def create_agent(
    model: str,
    *,
    name: str,
    tools: Sequence[llm.Tool | llm.Toolset],
    instructions: str | Instructions | None,
    description: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> str:
    """Create a Mistral agent from a LiveKit agent's tools and instructions.

    Args:
        model: The model the agent runs, e.g. ``"mistral-medium-latest"``.
        name: The agent's name (shown in handoffs).
        tools: The LiveKit tools, as for :func:`sync_agent`.
        instructions: The agent's instructions, e.g. ``my_agent.instructions``.
        description: What the agent does (other agents read it to decide on handoffs).
        api_key: Defaults to the ``MISTRAL_API_KEY`` environment variable.
        base_url: The server root, default ``https://api.mistral.ai``.

    Returns:
        The new agent's id, ``"ag_..."``, for ``LLM(model=..., mode="agent")``.

    Raises:
        ValueError: bad arguments (nothing is sent).
        MistralStatusError: Mistral refused (unknown model, bad key, ...).
        APIConnectionError: Mistral could not be reached.
    """
    for label, value in (("model", model), ("name", name)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{label} must be a non-empty string, got {value!r}")
    functions, builtins = agent_tools_of(tools)
    new_instructions = _text("instructions", instructions)
    new_description = _text("description", description)
    key = api_key_from(api_key, "create_agent()")
    async with _client(key, base_url, None) as sdk:
        created = await sdk.beta.agents.create_async(
            model=model,
            name=name,
            tools=cast("list[models.CreateAgentRequestToolTypedDict]", [*builtins, *functions]),
            instructions=_or_unset(new_instructions),
            description=_or_unset(new_description),
        )
    logger.info(
        "Mistral agent created from the LiveKit tools",
        extra={"agent_id": created.id, "functions": [f["function"]["name"] for f in functions]},
    )
    agent_id: str = created.id
    return agent_id


def agent_tools_of(
    tools: Sequence[llm.Tool | llm.Toolset],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The function tools and the Mistral built-in tools (``mistral.tools.WebSearch()``...)
    among ``tools``, as Mistral takes them; any other tool is refused with ValueError."""
    if isinstance(tools, (str, bytes)) or not isinstance(tools, Sequence):
        raise ValueError(
            f"tools must be a list of LiveKit tools (e.g. agent.tools), got {type(tools).__name__}"
        )
    mapped, _, skipped = to_conversation_tools(llm.ToolContext(tools).flatten(), None)
    if skipped:
        raise ValueError(
            f"these tools cannot be pushed to a Mistral agent: {skipped} (only function tools "
            "and Mistral's built-in tools can; other providers' tools: leave them out)"
        )
    functions = [tool for tool in mapped if tool["type"] == "function"]
    return functions, [tool for tool in mapped if tool["type"] != "function"]


def _merged_builtins(
    kept: list[dict[str, Any]], wanted: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The agent's built-in tools, plus those of ``wanted`` it does not have yet."""

    def has(tool: dict[str, Any]) -> bool:
        return any(all(k.get(key) == value for key, value in tool.items()) for k in kept)

    return [*kept, *(tool for tool in wanted if not has(tool))]


def _text(label: str, value: str | Instructions | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, Instructions)):
        raise ValueError(f"{label} must be a string, got {type(value).__name__}")
    return str(value)


def _or_unset(value: str | None) -> str | Unset:
    """``None`` as the SDK's "not sent", so the agent keeps its own value."""
    from mistralai.client.types import UNSET

    return UNSET if value is None else value


def _builtin_tools(agent: Any) -> list[dict[str, Any]]:
    """The agent's tools other than functions, as the SDK serializes them."""
    kept: list[dict[str, Any]] = []
    for tool in agent.tools or []:
        kind = getattr(tool, "type", None)
        if kind == "function":
            continue
        if getattr(tool, "is_unknown", False):
            raise ValueError(
                "the agent has a tool this mistralai version does not know "
                f"({getattr(tool, 'raw', {}).get('type')!r}), so sync_agent cannot keep it; "
                "upgrade mistralai"
            )
        kept.append(tool.model_dump(mode="json", by_alias=True))
    return kept


@contextlib.asynccontextmanager
async def _client(key: str, base_url: str | None, agent_id: str | None) -> AsyncIterator[Mistral]:
    """An SDK client whose failures come out as the plugin's errors."""
    from mistralai.client import Mistral

    root = normalize_base_url(base_url)
    async with Mistral(api_key=key, server_url=root) as sdk:
        with _sdk_errors(agent_id):
            yield sdk


@contextlib.contextmanager
def _sdk_errors(agent_id: str | None) -> Iterator[None]:
    """The SDK's exceptions as the plugin's: readable message, status, request id."""
    from mistralai.client.errors import MistralError, NoResponseError

    # the SDK's own HTTP library: httpx in mistralai 2.x, its fork httpx2 in 3.x
    from mistralai.client.httpclient import httpx  # type: ignore[attr-defined]

    try:
        yield
    except MistralError as e:
        body = _parsed(e.body)
        response = e.raw_response
        request = response.request
        url = request.url.copy_with(username=None, password=None, query=None)
        err = status_error(
            e.status_code,
            body,
            response.headers,
            output_sent=False,
            agent_id=agent_id,
            url=f"{request.method} {url}",
        )
        raise err from None
    except httpx.TimeoutException as e:
        raise APITimeoutError("Mistral did not answer in time") from e
    except (httpx.HTTPError, NoResponseError) as e:
        raise APIConnectionError("could not reach Mistral; check the network and base_url") from e


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text
