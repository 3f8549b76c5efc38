"""MCP tools on Mistral: a real MCP server, spoken to over stdio, gives its tools to a LiveKit
agent through ``MCPToolset``; two text turns run in an in-process ``AgentSession``.

    .venv/bin/pip install -e ".[mcp]" && .venv/bin/python examples/mcp_tools.py

The MCP server is ``tests/mcp_servers/travel.py`` (the ``mcp`` package, which this package's
``mcp`` extra installs through ``livekit-agents[mcp]``). With MISTRAL_API_KEY it talks to
Mistral; without, it starts the bundled local Mistral server and says so, whose demo brain
calls the tool named in the question ("forecast").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from livekit.agents import Agent, AgentSession
from livekit.agents.llm.mcp import MCPServerStdio, MCPToolResultContext, MCPToolset
from livekit.agents.voice.run_result import RunResult

from livekit.plugins import mistral
from livekit.plugins.mistral.testing import LocalMistral

TRAVEL_SERVER = Path(__file__).parents[1] / "tests" / "mcp_servers" / "travel.py"
QUESTIONS = ("What's the forecast for Paris?", "Thanks, that is all.")


def text_result(ctx: MCPToolResultContext) -> str:
    """Give the model the tool's text, not LiveKit's default JSON dump of MCP content."""
    return "\n".join(part.text for part in ctx.result.content if part.type == "text")


async def main() -> None:
    async with contextlib.AsyncExitStack() as stack:
        if os.environ.get("MISTRAL_API_KEY"):
            model = mistral.LLM(model="mistral-small-latest")
        else:
            local = await stack.enter_async_context(LocalMistral(api_key="local-demo-key"))
            print(f"No MISTRAL_API_KEY: using the bundled local Mistral server at {local.base_url}")
            model = mistral.LLM(api_key=local.api_key, base_url=local.base_url)
        stack.push_async_callback(model.aclose)

        travel = MCPToolset(
            id="travel",
            mcp_server=MCPServerStdio(
                sys.executable, [str(TRAVEL_SERVER)], tool_result_resolver=text_result
            ),
        )
        session: AgentSession[None] = AgentSession(
            llm=model,
            vad=None,
            turn_handling={"turn_detection": None},  # text only
        )
        await stack.enter_async_context(session)
        await session.start(Agent(instructions="You help plan trips. Be brief.", tools=[travel]))
        print("MCP tools:", ", ".join(sorted(tool.id for tool in travel.tools)))

        for question in QUESTIONS:
            print("\nuser:     ", question)
            result: RunResult[None] = await session.run(user_input=question)
            for event in result.events:
                if event.type == "function_call":
                    print(f"tool call: {event.item.name}({event.item.arguments})")
                elif event.type == "function_call_output":
                    print("tool said:", event.item.output)
                elif event.type == "message" and event.item.role == "assistant":
                    print("assistant:", event.item.text_content)


if __name__ == "__main__":
    asyncio.run(main())
