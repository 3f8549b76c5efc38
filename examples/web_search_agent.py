"""A LiveKit agent that searches the web with Mistral's built-in tool, beside a function tool.

    .venv/bin/python examples/web_search_agent.py

It runs a real ``AgentSession`` in text mode (no audio, no LiveKit server) for three user
turns: a question the agent answers with a web search (with its citations), one it answers
with a ``@function_tool``, and one with no tool at all. While a search runs, the
``"builtin_tool"`` event is where a voice agent would say "let me look that up".

With MISTRAL_API_KEY set it talks to Mistral (mistral-medium-latest, or MISTRAL_MODEL).
Without a key it starts the bundled local Mistral-compatible server and says so, so the
script runs on a machine with no network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from livekit.agents import Agent, AgentSession, function_tool, llm

from livekit.plugins import mistral
from livekit.plugins.mistral.testing import LocalMistral

QUESTIONS = (
    "Search the web for the height of the Eiffel Tower.",
    "What's the weather in Paris?",
    "Thanks, that's all.",
)


class TravelAgent(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions="You are a concise travel assistant. Answer in one or two sentences.",
            tools=[mistral.tools.WebSearch()],
        )

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Look up the current weather in a city.

        Args:
            location: The city name.
        """
        return f"sunny, 21 degrees in {location}"


def on_builtin_tool(event: mistral.BuiltinToolEvent) -> None:
    if event.phase == "started":
        print(f"  [{event.name} started: a voice agent would say 'let me look that up']")
    else:
        print(f"  [{event.name} done]")


async def main() -> None:
    api_key = os.environ.get("MISTRAL_API_KEY")
    model = os.environ.get("MISTRAL_MODEL", "mistral-medium-latest")
    async with contextlib.AsyncExitStack() as stack:
        base_url: str | None = None
        if not api_key:
            server = await stack.enter_async_context(LocalMistral(api_key="local-demo-key"))
            api_key, base_url = server.api_key, server.base_url
            print(f"No MISTRAL_API_KEY: using the bundled local Mistral server at {base_url}")
            print("(it answers from a tiny deterministic script, not a model)")
        else:
            print("Using Mistral at https://api.mistral.ai")
        mistral_llm = mistral.LLM(model=model, api_key=api_key, base_url=base_url)
        mistral_llm.on("builtin_tool", on_builtin_tool)
        session: AgentSession[None] = AgentSession(
            llm=mistral_llm, vad=None, turn_handling={"turn_detection": None}
        )
        async with session:
            await session.start(TravelAgent())
            for question in QUESTIONS:
                print(f"\nuser:      {question}")
                result = await session.run(user_input=question)
                for event in result.events:
                    if event.type == "function_call":
                        print(f"  [function {event.item.name}({event.item.arguments})]")
                    elif event.type == "message" and event.item.role == "assistant":
                        print(f"assistant: {event.item.text_content}")
                        print_sources(event.item)
        await mistral_llm.aclose()


def print_sources(message: llm.ChatMessage) -> None:
    for reference in message.extra.get("references", []):
        print(f"  source: {reference.get('title')} <{reference.get('url')}>")


if __name__ == "__main__":
    asyncio.run(main())
