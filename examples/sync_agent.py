"""A Mistral agent made from a LiveKit Agent: create it (or sync an existing one) with the
agent's tools and instructions, then talk to it in agent mode, where LiveKit runs the tools.

    python examples/sync_agent.py

With MISTRAL_API_KEY it talks to Mistral: it syncs the agent in MISTRAL_AGENT_ID if set,
else creates a new agent (and prints its id, to put in MISTRAL_AGENT_ID next time). Without
a key it starts the bundled local Mistral server and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from livekit.agents import Agent, AgentSession, function_tool

from livekit.plugins import mistral
from livekit.plugins.mistral.testing import LocalMistral

FORECASTS = {"Paris": "sunny, 21 degrees", "Lyon": "cloudy, 17 degrees"}


class WeatherDesk(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You tell callers the weather. Answer in one sentence.")

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Look up today's weather in a city.

        Args:
            location: The city name, e.g. Paris.
        """
        print(f"  (LiveKit runs get_weather({location!r}))")
        return FORECASTS.get(location, "clear, 20 degrees")


async def agent_for(
    desk: WeatherDesk, agent_id: str | None, api_key: str | None, base_url: str | None
) -> tuple[str, int]:
    """Push the desk's tools and instructions; returns the agent and the version to pin."""
    if agent_id is None:
        agent_id = await mistral.create_agent(
            "mistral-medium-latest",
            name="LiveKit weather desk",
            tools=desk.tools,
            instructions=desk.instructions,
            api_key=api_key,
            base_url=base_url,
        )
        print(f"created Mistral agent {agent_id} (set MISTRAL_AGENT_ID={agent_id} to reuse it)")
    synced = await mistral.sync_agent(
        agent_id,
        tools=desk.tools,
        instructions=desk.instructions,
        api_key=api_key,
        base_url=base_url,
    )
    print(f"synced {synced.agent_id}: version {synced.previous_version} -> {synced.version}")
    return agent_id, synced.version


async def main() -> None:
    api_key: str | None = None
    base_url: str | None = None
    agent_id = os.environ.get("MISTRAL_AGENT_ID")
    async with contextlib.AsyncExitStack() as stack:
        if not os.environ.get("MISTRAL_API_KEY"):
            local = await stack.enter_async_context(LocalMistral(api_key="local-demo-key"))
            api_key, base_url, agent_id = local.api_key, local.base_url, None
            print(f"No MISTRAL_API_KEY: using the bundled local Mistral server at {base_url}")
        desk = WeatherDesk()
        agent_id, version = await agent_for(desk, agent_id, api_key, base_url)

        model = mistral.LLM(
            model=agent_id,
            mode="agent",
            agent_version=version,  # production pins a version (or an alias)
            on_tool_mismatch="raise",  # the sync just made them agree
            api_key=api_key,
            base_url=base_url,
        )
        stack.push_async_callback(model.aclose)
        session: AgentSession[None] = AgentSession(
            llm=model,
            vad=None,
            turn_handling={"turn_detection": None},  # text only
        )
        await stack.enter_async_context(session)
        await session.start(desk)
        question = "What is the weather in Paris?"
        print("user:     ", question)
        result = await session.run(user_input=question)
        for event in result.events:
            if event.type == "message" and event.item.role == "assistant":
                print("assistant:", event.item.text_content)


if __name__ == "__main__":
    asyncio.run(main())
