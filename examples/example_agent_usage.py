"""livekit-plugins-mistral in four short scenes: normal mode, agent mode, a multi-turn agent
conversation, and AgentError handling.

    python examples/example_agent_usage.py

With MISTRAL_API_KEY set it talks to Mistral (the agent scenes need MISTRAL_AGENT_ID too).
Without a key it starts the bundled local Mistral-compatible server and says so, so the
whole script runs on a machine with no network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from livekit.agents import llm

from livekit.plugins.mistral import LLM, AgentError
from livekit.plugins.mistral.testing import LocalMistral

LOCAL_AGENT_ID = "ag_0680b7000e847f6e80003620e5d4d99d"
MISSING_AGENT_ID = "ag_00000000000000000000000000000000"


async def reply_text(model: LLM, chat_ctx: llm.ChatContext) -> str:
    """Stream one answer and return its text (what a voice agent would speak)."""
    parts: list[str] = []
    async with model.chat(chat_ctx=chat_ctx) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                parts.append(chunk.delta.content)
    return "".join(parts)


async def normal_mode(base_url: str | None, api_key: str) -> None:
    print("\n== normal mode: chat completions ==")
    async with LLM(model="mistral-small-latest", api_key=api_key, base_url=base_url) as model:
        ctx = llm.ChatContext()
        ctx.add_message(role="system", content="You are a concise voice assistant.")
        ctx.add_message(role="user", content="Say hello to LiveKit in one short sentence.")
        print("assistant:", await reply_text(model, ctx))


async def agent_mode(base_url: str | None, api_key: str, agent_id: str) -> None:
    print("\n== agent mode: one turn, then a multi-turn conversation ==")
    async with LLM(model=agent_id, mode="agent", api_key=api_key, base_url=base_url) as agent:
        ctx = llm.ChatContext()
        for question in ("Hi! What can you help me with?", "Thanks. Summarise that in 5 words."):
            ctx.add_message(role="user", content=question)
            answer = await reply_text(agent, ctx)
            ctx.add_message(role="assistant", content=answer)  # stateless: we keep the history
            print("user:     ", question)
            print("assistant:", answer)


async def agent_error(base_url: str | None, api_key: str) -> None:
    print("\n== AgentError: an agent that does not exist ==")
    async with LLM(
        model=MISSING_AGENT_ID, mode="agent", api_key=api_key, base_url=base_url
    ) as agent:
        ctx = llm.ChatContext()
        ctx.add_message(role="user", content="Hello?")
        try:
            await reply_text(agent, ctx)
        except AgentError as e:
            print(f"AgentError: status={e.status_code} agent={e.agent_id} retryable={e.retryable}")
            print(f"  message: {e.message}")


async def main() -> None:
    api_key = os.environ.get("MISTRAL_API_KEY")
    agent_id = os.environ.get("MISTRAL_AGENT_ID")
    async with contextlib.AsyncExitStack() as stack:
        base_url: str | None = None
        if not api_key:
            server = await stack.enter_async_context(LocalMistral(api_key="local-demo-key"))
            server.add_agent(LOCAL_AGENT_ID, name="demo agent")
            api_key, base_url, agent_id = server.api_key, server.base_url, LOCAL_AGENT_ID
            print(f"No MISTRAL_API_KEY: using the bundled local Mistral server at {base_url}")
            print("(it answers from a tiny deterministic script, not a model)")
        else:
            print("Using Mistral at https://api.mistral.ai")
        await normal_mode(base_url, api_key)
        if agent_id:
            await agent_mode(base_url, api_key, agent_id)
        else:
            print("\n(set MISTRAL_AGENT_ID to run the agent scenes against your own agent)")
        await agent_error(base_url, api_key)


if __name__ == "__main__":
    asyncio.run(main())
