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

# what to do about each kind of difference; the record's text also names the agent, its
# version and the difference itself (plain logging.basicConfig() shows no extras)
_ADVICE: Mapping[MismatchKind, str] = {
    "agent_only_function": "add that @function_tool, or remove the function from the agent",
    "livekit_only_function": "add the function to the agent",
    "livekit_only_builtin": "add the built-in tool to the agent",
    "agent_only_parameter": "rename the parameter on one side",
    "livekit_only_parameter": "rename the parameter on one side",
    "parameter_not_required": "give the parameter a default in the LiveKit tool",
    "parameter_type": "make the types agree",
}
_WARNING = (
    "Mistral agent %s (version %s): %s; %s, or push the LiveKit tools with mistral.sync_agent"
)

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
            where = _where(agent_id, version, tools)
            logger.info(
                "the Mistral agent %s (version %s) has built-in tools it runs on its own: %s",
                agent_id,
                where["agent_version"],
                ", ".join(tools.builtins),
                extra=where | {"builtin_tools": list(tools.builtins)},
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
                _warn(mismatches, _where(agent_id, opts.agent_version, agent))
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
                "the Mistral agent %s could not be fetched (%s), so its tools were not "
                "compared with the LiveKit tools",
                key[0],
                e.message,
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


def _warn(mismatches: list[ToolMismatch], where: dict[str, Any]) -> None:
    for m in mismatches:
        extra = where | _about(m)
        version = where["agent_version"]
        logger.warning(_WARNING, where["agent_id"], version, m.detail, _ADVICE[m.kind], extra=extra)


def _about(mismatch: ToolMismatch) -> dict[str, object]:
    return {
        "function": mismatch.function,
        "parameter": mismatch.parameter,
        "detail": mismatch.detail,
    }
