"""The three kinds of request a stream can make, as data for the one stream loop.

A kind says where the request goes (``path``), how its body is built from the call, which
assembler reads its events (and so its end rule), whether its errors are ``AgentError``s
(``agent_id``), and what happens after a normal end (``completed``).

- :class:`ChatCompletions`: normal mode without built-in tools.
- :class:`ModelConversation`: normal mode with at least one Mistral built-in tool; the
  Conversations API with ``model``, ``instructions`` and ``tools``.
- :class:`AgentConversation`: agent mode; the Conversations API with ``agent_id``.

Both conversation kinds start a new, unstored conversation on every call with the whole
history: Mistral locks a conversation for about 90 s while a request runs, so appending to
it after a voice interruption fails with 409.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from livekit.agents import llm

from .log import Once, logger
from .mapping.assembly import Assembler
from .mapping.caching import prompt_cache_key
from .mapping.chat import INSTRUCTIONS_TEMPLATE, history_options, to_chat_messages
from .mapping.completion import CompletionAssembler
from .mapping.conversation_events import BuiltinToolEvent, ConversationAssembler
from .mapping.conversations import to_conversation_inputs
from .mapping.request import chat_body, conversation_body, model_conversation_body
from .mapping.tools import to_conversation_tools, to_mistral_tool_choice, to_mistral_tools
from .options import LLMOptions, check_conversation_options

if TYPE_CHECKING:
    from .agent_stream import AgentTracker
    from .wire.http import MistralHTTP

CHAT_PATH = "/v1/chat/completions"
CONVERSATIONS_PATH = "/v1/conversations"

OnTool = Callable[[BuiltinToolEvent], None]


@dataclass(frozen=True)
class Call:
    """What one ``chat()`` call asks for."""

    chat_ctx: llm.ChatContext
    tools: list[llm.Tool]
    opts: LLMOptions
    extra: dict[str, Any] | None


class RequestKind(Protocol):
    @property
    def path(self) -> str: ...

    @property
    def agent_id(self) -> str | None:
        """The agent addressed: its errors are ``AgentError``s."""

    def body(self, call: Call) -> dict[str, Any]:
        """The JSON body (no I/O); ``ValueError`` for a call that cannot be sent."""

    def assembler(self, on_tool: OnTool, keep_reasoning: bool) -> Assembler: ...

    async def prepare(self, call: Call, http: MistralHTTP, *, timeout: float) -> None:
        """Before each attempt's request (agent mode: the tool check); may raise APIError."""

    def completed(self, assembler: Assembler) -> None:
        """After a normal end, before the final chunks are sent."""


def _note_unsent_tools(once: Once, skipped: list[str], message: str) -> None:
    """Warn once per set of tools left out, not on every call of a session."""
    if skipped and once("unsent-tools:" + message + ",".join(sorted(skipped))):
        logger.warning(message, extra={"tools": skipped})


class ChatCompletions:
    path = CHAT_PATH
    agent_id = None

    def __init__(self, call: Call, once: Once) -> None:
        """Maps the tools when the call is made: a refused ``tool_choice`` raises there."""
        self._tools, skipped = to_mistral_tools(call.tools)
        _note_unsent_tools(
            once, skipped, "tools Mistral chat completions cannot take were not sent"
        )
        choice = call.opts.tool_choice
        self._choice = to_mistral_tool_choice(choice, self._tools) if choice is not None else None

    def body(self, call: Call) -> dict[str, Any]:
        body = chat_body(
            call.opts,
            to_chat_messages(call.chat_ctx, history_options(call.opts)),
            self._tools,
            self._choice,
            call.opts.parallel_tool_calls,
            call.extra,
            prompt_cache_key=prompt_cache_key(call.opts.prompt_cache_key, call.chat_ctx),
        )
        if not body["messages"]:
            raise ValueError("the chat context holds no message to send to Mistral")
        return body

    def assembler(self, on_tool: OnTool, keep_reasoning: bool) -> Assembler:
        return CompletionAssembler(keep_reasoning)

    async def prepare(self, call: Call, http: MistralHTTP, *, timeout: float) -> None:
        pass

    def completed(self, assembler: Assembler) -> None:
        pass


class ModelConversation:
    """Normal mode with built-in tools. Made when the call is made: its rules are checked
    and its tools mapped then, so a refused call raises before any stream starts."""

    path = CONVERSATIONS_PATH
    agent_id = None

    def __init__(self, call: Call, once: Once) -> None:
        check_conversation_options(call.opts)
        if call.extra and "handoff_execution" in call.extra:
            # the live API refuses it next to a model (https://docs.mistral.ai/api/)
            raise ValueError(
                "handoff_execution cannot be sent with a model (only agents hand off): "
                "remove it from extra_kwargs"
            )
        self._tools, self._choice, skipped = to_conversation_tools(
            call.tools, call.opts.tool_choice
        )
        _note_unsent_tools(
            once, skipped, "tools the Mistral Conversations API cannot take were not sent"
        )

    def body(self, call: Call) -> dict[str, Any]:
        inputs, instructions = to_conversation_inputs(
            call.chat_ctx, keep_reasoning=call.opts.keep_reasoning
        )
        if not inputs:
            raise ValueError("the chat context holds nothing to send to Mistral")
        return model_conversation_body(
            call.opts, inputs, instructions, self._tools, self._choice, call.extra
        )

    def assembler(self, on_tool: OnTool, keep_reasoning: bool) -> Assembler:
        return ConversationAssembler(on_tool, keep_reasoning)

    async def prepare(self, call: Call, http: MistralHTTP, *, timeout: float) -> None:
        pass

    def completed(self, assembler: Assembler) -> None:
        pass


class AgentConversation:
    path = CONVERSATIONS_PATH

    def __init__(self, agents: AgentTracker) -> None:
        self._agents = agents.for_turn()  # made with the stream: see AgentTracker
        self._tool_check = agents.tool_check
        self.agent_id: str = agents.current

    def body(self, call: Call) -> dict[str, Any]:
        inputs, instructions = to_conversation_inputs(
            call.chat_ctx, keep_reasoning=call.opts.keep_reasoning
        )
        if instructions:
            inputs = self._apply_instructions(call.opts, inputs, instructions)
        if not inputs:
            raise ValueError("the chat context holds nothing to send to the Mistral agent")
        return conversation_body(call.opts, self.agent_id, inputs, call.extra)

    def assembler(self, on_tool: OnTool, keep_reasoning: bool) -> Assembler:
        return ConversationAssembler(on_tool, keep_reasoning)

    async def prepare(self, call: Call, http: MistralHTTP, *, timeout: float) -> None:
        """The agent's function tools against the call's LiveKit tools (:mod:`.agent_check`)."""
        await self._tool_check.before_turn(
            http, self.agent_id, call.opts, call.tools, timeout=timeout
        )

    def completed(self, assembler: Assembler) -> None:
        assert isinstance(assembler, ConversationAssembler)
        for handoff in assembler.handoffs:
            self._agents.handoff(handoff, assembler.conversation_id)

    def _apply_instructions(
        self, opts: LLMOptions, inputs: list[dict[str, Any]], instructions: str
    ) -> list[dict[str, Any]]:
        if opts.agent_instructions == "ignore":
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
            "content": INSTRUCTIONS_TEMPLATE.format(text=instructions),
        }
        return [entry, *inputs]
