"""Agent mode: compare the Mistral agent's function tools with the LiveKit tools, once.

The agent is fetched over the plugin's own connection (it sits on the first turn's path, so
not through the SDK), once per agent and version; each new set of LiveKit tools is compared
once. Differences are logged, raised or ignored as ``on_tool_mismatch`` says; failing to
fetch the agent never fails a turn (the turn itself reports what is wrong with the agent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from livekit.agents import APIError, llm

from .errors import AgentToolMismatchError, api_error, cause_of
from .log import logger
from .mapping.agent_tools import AgentTools, MismatchKind, ToolMismatch, agent_tools, compare_tools
from .options import LLMOptions
from .wire.http import MistralHTTP

_WARNINGS: Mapping[MismatchKind, str] = {
    "agent_only_function": (
        "Mistral agent tools: the agent may call a function that no LiveKit tool provides, "
        "so that call will fail; add the @function_tool, or remove the function from the "
        "agent (mistral.sync_agent pushes the LiveKit tools)"
    ),
    "livekit_only_function": (
        "Mistral agent tools: a LiveKit tool is not a function of the agent, so the agent "
        "never calls it; push the LiveKit tools with mistral.sync_agent"
    ),
    "livekit_only_builtin": (
        "Mistral agent tools: a Mistral built-in tool was given to an agent-mode call, but the "
        "agent does not have it and agent mode does not send it; add it to the agent "
        "(mistral.sync_agent adds it)"
    ),
    "agent_only_parameter": (
        "Mistral agent tools: the agent sends a parameter the LiveKit tool does not take; "
        "rename it on one side, or push the LiveKit tools with mistral.sync_agent"
    ),
    "livekit_only_parameter": (
        "Mistral agent tools: the LiveKit tool takes a parameter the agent does not know; "
        "rename it on one side, or push the LiveKit tools with mistral.sync_agent"
    ),
    "parameter_not_required": (
        "Mistral agent tools: the LiveKit tool needs a parameter the agent may leave out; "
        "give it a default in the tool, or push the LiveKit tools with mistral.sync_agent"
    ),
    "parameter_type": (
        "Mistral agent tools: a parameter has different types for the agent and the LiveKit "
        "tool; align them, or push the LiveKit tools with mistral.sync_agent"
    ),
}

_AgentKey = tuple[str, int | str | None]


class AgentToolCheck:
    """What was fetched and compared for one ``LLM``, so each happens once."""

    def __init__(self) -> None:
        self._agents: dict[_AgentKey, AgentTools | None] = {}
        self._compared: dict[tuple[_AgentKey, tuple[str, ...]], list[ToolMismatch]] = {}

    async def load(
        self, http: MistralHTTP, agent_id: str, version: int | str | None, *, timeout: float
    ) -> AgentTools:
        """Fetch the agent (the pinned version, if any); failures raise LiveKit's APIErrors
        (``AgentError`` for an error status)."""
        try:
            document = await http.get_json(agent_path(agent_id, version), timeout=timeout)
        except Exception as e:
            err = api_error(e, output_sent=False, timeout=timeout, agent_id=agent_id)
            if err is None:
                raise
            raise err from cause_of(e, err)
        tools = agent_tools(document if isinstance(document, Mapping) else {})
        self._agents[(agent_id, version)] = tools
        if tools.builtins:
            logger.info(
                "the Mistral agent has built-in tools it runs on its own",
                extra=_where(agent_id, version, tools) | {"builtin_tools": list(tools.builtins)},
            )
        return tools

    async def before_turn(
        self,
        http: MistralHTTP,
        agent_id: str,
        opts: LLMOptions,
        tools: Sequence[llm.Tool],
        *,
        timeout: float,
    ) -> None:
        """Compare once per agent version and tool set; raise with ``"raise"``."""
        if opts.on_tool_mismatch == "ignore" or not tools:
            return
        agent_key = (agent_id, opts.agent_version)
        key = (agent_key, tuple(sorted(tool.id for tool in tools)))
        if (mismatches := self._compared.get(key)) is None:
            agent = await self._agent(http, agent_key, timeout=timeout)
            mismatches = compare_tools(agent, tools) if agent is not None else []
            self._compared[key] = mismatches
            if opts.on_tool_mismatch == "warn":
                for mismatch in mismatches:
                    extra = _where(agent_id, opts.agent_version, agent) | _about(mismatch)
                    logger.warning(_WARNINGS[mismatch.kind], extra=extra)
        if mismatches and opts.on_tool_mismatch == "raise":
            version = _where(agent_id, opts.agent_version, self._agents.get(agent_key))
            raise AgentToolMismatchError(
                mismatches, agent_id=agent_id, agent_version=version["agent_version"]
            )

    async def _agent(
        self, http: MistralHTTP, key: _AgentKey, *, timeout: float
    ) -> AgentTools | None:
        if key in self._agents:
            return self._agents[key]
        try:
            return await self.load(http, *key, timeout=timeout)
        except APIError as e:
            self._agents[key] = None  # once: the turn itself says what is wrong
            logger.warning(
                "the Mistral agent could not be fetched, so its tools were not compared with "
                "the LiveKit tools",
                extra={"agent_id": key[0], "agent_version": key[1], "reason": e.message},
            )
            return None


def agent_path(agent_id: str, version: int | str | None) -> str:
    path = f"/v1/agents/{quote(agent_id, safe=':')}"
    if version is None:
        return path
    return f"{path}?{urlencode({'agent_version': version})}"


def _where(agent_id: str, version: int | str | None, agent: AgentTools | None) -> dict[str, Any]:
    shown = version if version is not None else (agent.version if agent else None)
    return {"agent_id": agent_id, "agent_version": shown}


def _about(mismatch: ToolMismatch) -> dict[str, object]:
    return {
        "function": mismatch.function,
        "parameter": mismatch.parameter,
        "detail": mismatch.detail,
    }
