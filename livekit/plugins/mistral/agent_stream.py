"""Agent mode: one fresh, unstored Conversations API call per attempt (see :mod:`.kinds`),
and the tracker of which agent the next turn talks to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .agent_check import AgentToolCheck
from .errors import AgentError
from .log import Once, logger
from .mapping.conversation_events import Handoff
from .stream import MistralStream
from .wire.http import MistralHTTP

if TYPE_CHECKING:
    from .llm import LLM


@dataclass(frozen=True)
class AgentHandoffEvent:
    """Emitted as ``"agent_handoff"`` on the ``LLM`` when a Mistral agent hands off."""

    previous_agent_id: str | None
    next_agent_id: str
    next_agent_name: str | None
    conversation_id: str | None


class AgentTracker:
    """Which agent the next turn talks to, and the warnings that must be said only once.

    A handoff moves the next turns to the new agent, unless the user chose an agent
    (``update_options(model=...)``) after the turn that saw it began: the explicit choice
    wins. Each stream works through its own :meth:`for_turn` view to know which came first.
    """

    def __init__(self, llm_: LLM, agent_id: str, once: Once) -> None:
        self._llm = llm_
        self.configured = agent_id
        self.current = agent_id
        self.choices = 0  # how many times the user chose an agent
        self.once = once
        self.tool_check = AgentToolCheck()

    def reset(self, agent_id: str) -> None:
        self.configured = self.current = agent_id
        self.choices += 1

    def for_turn(self) -> AgentTurn:
        return AgentTurn(self, self.choices)

    def handoff(self, handoff: Handoff, conversation_id: str | None) -> None:
        if handoff.next_agent_id == self.current:
            return
        previous = self.current
        self.current = handoff.next_agent_id
        logger.info(
            "Mistral agent %s handed off to %s; the next turns talk to %s",
            previous,
            self.current,
            self.current,
            extra={
                "from_agent": previous,
                "to_agent": self.current,
                "conversation": conversation_id,
            },
        )
        self._llm.emit(
            "agent_handoff",
            AgentHandoffEvent(previous, self.current, handoff.next_agent_name, conversation_id),
        )

    async def check(self, http: MistralHTTP, version: int | str | None, *, timeout: float) -> None:
        """Prewarm: open the pooled connection, make sure the agent exists, keep its tools."""
        try:
            await self.tool_check.load(http, self.current, version, timeout=timeout)
        except AgentError as e:
            # the id and status in the text too: plain logging.basicConfig() shows no extras
            logger.error(
                "the Mistral agent %s could not be loaded (status %s: %s); calls to it will fail",
                self.current,
                e.status_code,
                e.message,
                extra={"agent_id": self.current, "status": e.status_code, "reason": e.message},
            )
            raise


class AgentTurn:
    """The tracker as one turn sees it: its handoffs are dropped once the user has chosen an
    agent after the turn began."""

    def __init__(self, tracker: AgentTracker, choices: int) -> None:
        self._tracker = tracker
        self._choices = choices

    def once(self, key: str) -> bool:
        return self._tracker.once(key)

    def handoff(self, handoff: Handoff, conversation_id: str | None) -> None:
        if self._tracker.choices != self._choices:
            logger.info(
                "a Mistral agent handoff was not followed: the agent was chosen with "
                "update_options(model=...) while the turn that saw it was running",
                extra={"to_agent": handoff.next_agent_id, "conversation": conversation_id},
            )
            return
        self._tracker.handoff(handoff, conversation_id)


class AgentStream(MistralStream):
    """Streams one agent turn into LiveKit ``ChatChunk`` deltas; failures are ``AgentError``."""
