"""The LiveKit face: ``LLM`` resolves options and hands each call to a stream."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import aiohttp
from livekit.agents import llm
from livekit.agents.llm import ToolChoice
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.utils import is_given

from .agent_stream import AgentStream, AgentTracker
from .chat_stream import LLMStream
from .errors import api_error
from .kinds import (
    AgentConversation,
    Call,
    ChatCompletions,
    ModelConversation,
    RequestKind,
)
from .log import Once, logger
from .mapping.tools import has_builtin_tool
from .models import (
    AgentInstructions,
    AudioInput,
    ChatModels,
    Mode,
    PromptMode,
    ReasoningEffort,
    ServiceTier,
    ToolMismatchPolicy,
)
from .options import (
    LLMOptions,
    PromptCacheKey,
    api_key_from,
    check_options,
    check_tool_choice,
    unsent_in_conversations,
)
from .wire.http import MistralHTTP, WireError

DEFAULT_MODEL: ChatModels = "mistral-small-latest"


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if is_given(value)}


class LLM(llm.LLM[Literal["agent_handoff", "builtin_tool"]]):
    def __init__(
        self,
        *,
        model: ChatModels | str = DEFAULT_MODEL,
        mode: Mode = "normal",
        api_key: str | None = None,
        base_url: str | None = None,
        temperature: NotGivenOr[float] = NOT_GIVEN,
        max_tokens: NotGivenOr[int] = NOT_GIVEN,
        top_p: NotGivenOr[float] = NOT_GIVEN,
        random_seed: NotGivenOr[int] = NOT_GIVEN,
        safe_prompt: NotGivenOr[bool] = NOT_GIVEN,
        presence_penalty: NotGivenOr[float] = NOT_GIVEN,
        frequency_penalty: NotGivenOr[float] = NOT_GIVEN,
        stop: NotGivenOr[str | list[str]] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        response_format: NotGivenOr[Any] = NOT_GIVEN,
        reasoning_effort: NotGivenOr[ReasoningEffort] = NOT_GIVEN,
        agent_version: NotGivenOr[int | str] = NOT_GIVEN,
        agent_instructions: NotGivenOr[AgentInstructions] = NOT_GIVEN,
        prompt_cache_key: NotGivenOr[str | None | PromptCacheKey] = NOT_GIVEN,
        guardrails: NotGivenOr[list[dict[str, Any]]] = NOT_GIVEN,
        service_tier: NotGivenOr[ServiceTier] = NOT_GIVEN,
        metadata: NotGivenOr[dict[str, str]] = NOT_GIVEN,
        prompt_mode: NotGivenOr[PromptMode] = NOT_GIVEN,
        audio_input: NotGivenOr[AudioInput] = NOT_GIVEN,
        keep_reasoning: NotGivenOr[bool] = NOT_GIVEN,
        on_tool_mismatch: NotGivenOr[ToolMismatchPolicy] = NOT_GIVEN,
        http_session: aiohttp.ClientSession | None = None,
    ) -> None:
        """Mistral chat completions (``mode="normal"``) or a Mistral agent (``mode="agent"``).

        Args:
            model: A model name such as ``"mistral-small-latest"``, or in agent mode an agent
                id (``"ag_..."``).
            mode: ``"normal"`` streams ``/v1/chat/completions``; ``"agent"`` starts a fresh
                ``/v1/conversations`` with the agent on every call.
            api_key: Defaults to the ``MISTRAL_API_KEY`` environment variable.
            base_url: The server root, default ``https://api.mistral.ai`` (``/v1`` optional).
            temperature: 0 to 1.5; at most 1 in agent mode, and on calls with Mistral
                built-in tools (``chat()`` raises then). Unset fields are not sent, so
                Mistral's defaults apply.
            max_tokens: Upper bound on generated tokens (0 or more).
            top_p: Nucleus sampling, greater than 0 and at most 1.
            random_seed: For reproducible sampling.
            safe_prompt: Prepend Mistral's safety prompt (normal mode).
            presence_penalty: -2 to 2.
            frequency_penalty: -2 to 2.
            stop: A string or list of strings that end generation.
            tool_choice: ``"auto"``, ``"required"``, ``"none"`` or a named function; used
                when ``chat()`` does not pass one.
            parallel_tool_calls: Let the model call several tools in one turn; used when
                ``chat()`` does not pass it (LiveKit's voice pipeline never does).
            response_format: A pydantic model class, a JSON schema dict, ``"text"``,
                ``"json_object"``, or a ready ``{"type": ...}`` dict.
            reasoning_effort: For reasoning models; their thinking is never spoken.
            agent_version: Pin a version of the agent (agent mode): a version number or an
                alias such as ``"production"``.
            agent_instructions: What to do with the LiveKit Agent's own instructions in agent
                mode, where Mistral refuses ``instructions`` next to ``agent_id``:
                ``"inline"`` (default) sends them as the first input entry, ``"ignore"``
                leaves only the agent's instructions (a warning says so once).
            prompt_cache_key: Mistral's prompt-cache routing key (normal mode). Unset: one
                key per conversation, derived from the ``ChatContext``'s first item (see
                ``mapping/caching.py``); a string is sent as is; ``None`` sends none.
            guardrails: Mistral guardrail configs (``{"block_on_error": ...,
                "moderation_llm_v2": {...}}``), shape-checked; a block raises a
                ``MistralStatusError`` saying a guardrail blocked the request.
            service_tier: ``"auto"`` or ``"standard_only"`` (normal mode).
            metadata: String-to-string metadata attached to the request.
            prompt_mode: ``"reasoning"``: Mistral's system prompt for reasoning models
                (normal mode).
            audio_input: ``"transcript"`` (default) sends a user's audio as its transcript;
                ``"audio"`` sends the audio frames as an ``input_audio`` chunk for models
                that take audio (Voxtral), the transcript when there are no frames.
            keep_reasoning: Keep a turn's thinking on the stored assistant message and send
                it back on later turns (default ``True``). Thinking is never spoken.
            on_tool_mismatch: Agent mode: before the first call that carries tools, the
                agent is fetched once and its function tools compared with LiveKit's.
                ``"warn"`` (default) logs one warning per difference, ``"raise"`` fails
                every call whose tools differ with ``AgentToolMismatchError`` (for CI),
                ``"ignore"`` skips the check.
            http_session: An aiohttp session to use instead of the plugin's own.
        """
        super().__init__()
        opts = LLMOptions(model=model, mode=mode)
        opts = replace(opts, **_given(locals_options(locals())))
        check_options(opts)
        key = api_key_from(api_key, "LLM()")
        self._opts = opts
        self._http = MistralHTTP(api_key=key, base_url=base_url, session=http_session)
        self._once = Once()
        self._agents = AgentTracker(self, opts.model, self._once) if mode == "agent" else None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model!r}, mode={self._opts.mode!r}, "
            f"base_url={self._http.base_url!r})"
        )

    @property
    def model(self) -> str:
        if self._agents is not None:
            return self._agents.current
        return self._opts.model

    @property
    def provider(self) -> str:
        return "mistral"

    @property
    def mode(self) -> Mode:
        return self._opts.mode

    def update_options(
        self,
        *,
        model: NotGivenOr[ChatModels | str] = NOT_GIVEN,
        temperature: NotGivenOr[float | None] = NOT_GIVEN,
        max_tokens: NotGivenOr[int | None] = NOT_GIVEN,
        top_p: NotGivenOr[float | None] = NOT_GIVEN,
        random_seed: NotGivenOr[int | None] = NOT_GIVEN,
        safe_prompt: NotGivenOr[bool | None] = NOT_GIVEN,
        presence_penalty: NotGivenOr[float | None] = NOT_GIVEN,
        frequency_penalty: NotGivenOr[float | None] = NOT_GIVEN,
        stop: NotGivenOr[str | list[str] | None] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice | None] = NOT_GIVEN,
        parallel_tool_calls: NotGivenOr[bool | None] = NOT_GIVEN,
        response_format: NotGivenOr[Any] = NOT_GIVEN,
        reasoning_effort: NotGivenOr[ReasoningEffort | None] = NOT_GIVEN,
        agent_version: NotGivenOr[int | str | None] = NOT_GIVEN,
        agent_instructions: NotGivenOr[AgentInstructions] = NOT_GIVEN,
        prompt_cache_key: NotGivenOr[str | None | PromptCacheKey] = NOT_GIVEN,
        guardrails: NotGivenOr[list[dict[str, Any]] | None] = NOT_GIVEN,
        service_tier: NotGivenOr[ServiceTier | None] = NOT_GIVEN,
        metadata: NotGivenOr[dict[str, str] | None] = NOT_GIVEN,
        prompt_mode: NotGivenOr[PromptMode | None] = NOT_GIVEN,
        audio_input: NotGivenOr[AudioInput] = NOT_GIVEN,
        keep_reasoning: NotGivenOr[bool] = NOT_GIVEN,
        on_tool_mismatch: NotGivenOr[ToolMismatchPolicy] = NOT_GIVEN,
    ) -> None:
        """Change settings for the next calls; the arguments mirror the constructor.

        ``None`` clears a setting (Mistral's default applies again); for
        ``prompt_cache_key``, ``None`` sends no key and ``PER_CONVERSATION`` restores the
        default. The mode and the key
        cannot change: make a new ``LLM``. An invalid value raises and changes nothing.
        """
        opts = replace(self._opts, **_given(locals_options(locals())))
        check_options(opts)
        self._opts = opts
        if self._agents is not None and is_given(model):
            self._agents.reset(opts.model)

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        opts = self._opts
        if is_given(tool_choice):
            check_tool_choice(tool_choice)
            opts = replace(opts, tool_choice=tool_choice)
        if is_given(parallel_tool_calls):
            opts = replace(opts, parallel_tool_calls=parallel_tool_calls)
        extra = dict(extra_kwargs) if is_given(extra_kwargs) else None
        call = Call(chat_ctx, tools or [], opts, extra)
        common: dict[str, Any] = {
            "kind": self._kind_for(call),
            "http": self._http,
            "opts": opts,
            "extra": extra,
            "chat_ctx": chat_ctx,
            "tools": call.tools,
            "conn_options": conn_options,
        }
        if self._agents is not None:
            return AgentStream(self, **common)
        return LLMStream(self, **common)

    def _kind_for(self, call: Call) -> RequestKind:
        """Where the call goes; a model conversation's rules are checked here, before any
        stream starts."""
        if self._agents is not None:
            return AgentConversation(self._agents)
        if not has_builtin_tool(call.tools):
            return ChatCompletions(call, self._once)
        kind = ModelConversation(call, self._once)
        if self._once("routed"):
            logger.info(
                "calls with Mistral built-in tools go to the Conversations API (model and "
                "tools); calls without them use chat completions, which answer sooner"
            )
        for name in unsent_in_conversations(call.opts):
            if self._once(name):
                logger.warning(
                    "%s is not sent on calls with Mistral built-in tools: the Conversations "
                    "API has no such setting",
                    name,
                )
        return kind

    async def _prewarm_impl(self) -> None:
        """Open a pooled connection with a token-free request; in agent mode, check the agent."""
        timeout = DEFAULT_API_CONNECT_OPTIONS.timeout
        if self._agents is not None:
            await self._agents.check(self._http, self._opts.agent_version, timeout=timeout)
            return
        try:
            await self._http.get_json("/v1/models", timeout=timeout)
        except WireError as e:
            raise api_error(e, output_sent=False, timeout=timeout) or e from None

    async def aclose(self) -> None:
        await super().aclose()
        await self._http.aclose()


def locals_options(values: dict[str, Any]) -> dict[str, Any]:
    """The option arguments among a signature's locals (``model`` and ``mode`` included)."""
    names = LLMOptions.names()
    return {name: value for name, value in values.items() if name in names}


__all__ = ["LLM", "logger"]
