"""Agent mode: one fresh, unstored Conversations API call per attempt.

Stateless on purpose: Mistral locks a conversation for about 90 s while a request runs, so
appending to it after a voice interruption fails with 409. Every call starts a new
conversation with the whole history rebuilt from the ``ChatContext`` and ``store: false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livekit.agents import APIConnectionError

from .agent_check import AgentToolCheck
from .errors import AgentError, status_error
from .log import logger
from .mapping.conversation_events import AgentStreamError, ConversationAssembler, Handoff
from .mapping.conversations import to_conversation_inputs
from .mapping.request import conversation_body
from .stream import MistralStream
from .wire.http import MistralHTTP, parse_event, pump_events, transport_errors
from .wire.sse import SSEEvent

if TYPE_CHECKING:
    from .llm import LLM

CONVERSATIONS_PATH = "/v1/conversations"


@dataclass(frozen=True)
class AgentHandoffEvent:
    """Emitted as ``"agent_handoff"`` on the ``LLM`` when a Mistral agent hands off."""

    previous_agent_id: str | None
    next_agent_id: str
    next_agent_name: str | None
    conversation_id: str | None


class AgentTracker:
    """Which agent the next turn talks to, and the warnings that must be said only once."""

    def __init__(self, llm_: LLM, agent_id: str) -> None:
        self._llm = llm_
        self.configured = agent_id
        self.current = agent_id
        self._said: set[str] = set()
        self.tool_check = AgentToolCheck()

    def reset(self, agent_id: str) -> None:
        self.configured = self.current = agent_id

    def handoff(self, handoff: Handoff, conversation_id: str | None) -> None:
        if handoff.next_agent_id == self.current:
            return
        previous = self.current
        self.current = handoff.next_agent_id
        logger.info(
            "Mistral agent handed off; the next turns talk to the new agent",
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

    def once(self, key: str) -> bool:
        """True the first time ``key`` is seen: for warnings that would repeat every turn."""
        if key in self._said:
            return False
        self._said.add(key)
        return True

    async def check(self, http: MistralHTTP, version: int | str | None, *, timeout: float) -> None:
        """Prewarm: open the pooled connection, make sure the agent exists, keep its tools."""
        try:
            await self.tool_check.load(http, self.current, version, timeout=timeout)
        except AgentError as e:
            logger.error(
                "the Mistral agent could not be loaded; calls to it will fail",
                extra={"agent_id": self.current, "status": e.status_code, "reason": e.message},
            )
            raise


class AgentStream(MistralStream):
    """Streams one agent turn into LiveKit ``ChatChunk`` deltas; failures are ``AgentError``."""

    def __init__(self, llm_: LLM, *, agents: AgentTracker, **kwargs: Any) -> None:
        self._agents = agents
        self._agent_id = agents.current
        super().__init__(llm_, **kwargs)

    def __repr__(self) -> str:
        return f"AgentStream(agent_id={self._agent_id!r}, output_sent={self.output_sent})"

    def _build_request(self) -> dict[str, Any]:
        inputs, instructions = to_conversation_inputs(self._chat_ctx)
        if instructions:
            inputs = self._apply_instructions(inputs, instructions)
        if not inputs:
            raise ValueError("the chat context holds nothing to send to the Mistral agent")
        return conversation_body(self._opts, self._agent_id, inputs, self._extra)

    def _apply_instructions(
        self, inputs: list[dict[str, Any]], instructions: str
    ) -> list[dict[str, Any]]:
        if self._opts.agent_instructions == "ignore":
            if self._agents.once("instructions-ignored"):
                logger.warning(
                    "agent mode: the LiveKit Agent's instructions were not sent (Mistral refuses "
                    "instructions next to agent_id), only the Mistral agent's own apply; pass "
                    "agent_instructions='inline' to send them as the first input entry"
                )
            return inputs
        if self._agents.once("instructions-inline"):
            logger.info(
                "agent mode: the LiveKit Agent's instructions are sent as the first input entry "
                "(Mistral refuses instructions next to agent_id); pass "
                "agent_instructions='ignore' to rely on the Mistral agent's own only"
            )
        entry = {
            "type": "message.input",
            "role": "user",
            "content": f"<instructions>\n{instructions}\n</instructions>",
        }
        return [entry, *inputs]

    async def _run(self) -> None:
        body = self._request_body()
        timeout = self._conn_options.timeout
        await self._agents.tool_check.before_turn(
            self._http, self._agent_id, self._opts, self._tools, timeout=timeout
        )
        assembler = ConversationAssembler()

        def handle(event: SSEEvent) -> bool:
            chunk = assembler.feed(event.event, parse_event(event.data, self))
            if chunk is not None:
                self._send(chunk)
            return False  # no end marker: the server closes the stream after the last event

        try:
            with transport_errors(self, timeout=timeout):
                async with self._http.stream(
                    CONVERSATIONS_PATH, body, timeout=timeout, state=self, agent_id=self._agent_id
                ) as resp:
                    try:
                        await pump_events(resp, handle, timeout=timeout)
                    except AgentStreamError as e:
                        raise self._agent_error(e, resp.headers, assembler) from None
        except AgentError as e:
            if e.conversation_id is None:
                e.conversation_id = assembler.conversation_id or None
            raise
        if not assembler.done:
            raise APIConnectionError(
                "the Mistral agent's stream ended before conversation.response.done",
                retryable=not self.output_sent,
            )
        for handoff in assembler.handoffs:
            self._agents.handoff(handoff, assembler.conversation_id or None)
        for chunk in assembler.finish():
            self._send(chunk)

    def _agent_error(
        self, e: AgentStreamError, headers: Mapping[str, str], assembler: ConversationAssembler
    ) -> AgentError:
        err = status_error(
            e.status,
            e.body,
            headers,
            output_sent=self.output_sent,
            agent_id=self._agent_id,
            conversation_id=assembler.conversation_id or None,
        )
        assert isinstance(err, AgentError)
        return err
