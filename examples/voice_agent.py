"""A voice agent on Mistral, written as LiveKit's own examples are (AgentServer + cli.run_app).

    python examples/voice_agent.py console --text   # chat with it in this terminal
    python examples/voice_agent.py dev              # join the rooms of your LiveKit project
    python examples/voice_agent.py start            # the same, for production

Without MISTRAL_API_KEY it starts the bundled local Mistral-compatible server and says so: its
demo brain calls a tool whose name you mention ("what's the weather in Paris?", "what time is
it?") and otherwise echoes you. With MISTRAL_API_KEY it talks to Mistral (MISTRAL_MODEL picks
the model, default mistral-small-latest).

``console --text`` needs nothing else: no LiveKit server, no audio (LiveKit still checks the
audio devices: on Debian/Ubuntu ``apt-get install libportaudio2``). ``dev`` and ``start``
need LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET; speech then goes through LiveKit
Inference (the STT and TTS model strings below). To use your own speech providers instead,
install their plugins and pass instances, e.g. ``stt=deepgram.STT()``, ``tts=cartesia.TTS()``.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    cli,
    function_tool,
)

from livekit.plugins import mistral
from livekit.plugins.mistral.testing import LocalMistral

STT_MODEL = "deepgram/nova-3"
TTS_MODEL = "cartesia/sonic-3"
LOCAL_API_KEY = "local-demo-key"

# made-up numbers: a real agent would call a weather service here
_FORECASTS = {"paris": ("sunny", 21), "london": ("light rain", 14), "tokyo": ("cloudy", 18)}


class WeatherAgent(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions=(
                "You are a friendly voice assistant. Keep answers to one or two short "
                "sentences, with no markdown, since they are spoken aloud. Use your tools for "
                "the weather and the time; never make those up."
            )
        )

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Look up the current weather in a city.

        Args:
            location: The city, e.g. "Paris".
        """
        sky, celsius = _FORECASTS.get(location.strip().lower(), ("clear", 20))
        return f"{sky}, {celsius} degrees Celsius in {location}"

    @function_tool
    async def get_time(self) -> str:
        """Tell the current time in UTC; convert it to the user's time zone when you know it."""
        return datetime.now(timezone.utc).strftime("%H:%M UTC")


async def mistral_llm(ctx: JobContext) -> mistral.LLM:
    """Mistral when MISTRAL_API_KEY is set, else the bundled local server (closed with the job)."""
    model = os.environ.get("MISTRAL_MODEL", "mistral-small-latest")
    if os.environ.get("MISTRAL_API_KEY"):
        return mistral.LLM(model=model)
    local = LocalMistral(api_key=LOCAL_API_KEY)
    await local.start()
    ctx.add_shutdown_callback(local.aclose)
    print(
        f"No MISTRAL_API_KEY: using the bundled local Mistral server at {local.base_url} "
        "(a demo brain: mention 'weather' or 'time' to make it call a tool)",
        flush=True,
    )
    return mistral.LLM(model=model, api_key=local.api_key, base_url=local.base_url)


def speech() -> dict[str, Any]:
    """STT and TTS through LiveKit Inference, which needs the worker's LiveKit credentials;
    without them (``console --text``) the session runs on text alone."""
    if not os.environ.get("LIVEKIT_API_KEY"):
        return {}
    return {"stt": STT_MODEL, "tts": TTS_MODEL}


server = AgentServer()


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session: AgentSession[None] = AgentSession(llm=await mistral_llm(ctx), **speech())
    await session.start(agent=WeatherAgent(), room=ctx.room)


if __name__ == "__main__":
    cli.run_app(server)
