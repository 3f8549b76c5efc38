"""Mistral AI LLM plugin for LiveKit Agents.

``LLM(model=..., mode="normal")`` streams chat completions (or, when a call holds one of
Mistral's built-in ``tools``, a model conversation); ``LLM(model="ag_...", mode="agent")``
drives a Mistral agent through the Conversations API; ``sync_agent`` and ``create_agent``
write LiveKit tools into a Mistral agent.
"""

from livekit.agents import Plugin

from . import tools
from .agent_stream import AgentHandoffEvent, AgentStream
from .agents import SyncedAgent, create_agent, sync_agent
from .chat_stream import LLMStream
from .errors import AgentError, AgentToolMismatchError, MistralStatusError
from .llm import LLM
from .log import logger
from .mapping.conversation_events import BuiltinToolEvent
from .mapping.usage import MistralUsage
from .models import ChatModels
from .options import PER_CONVERSATION
from .version import __version__

__all__ = [
    "LLM",
    "LLMStream",
    "AgentStream",
    "AgentError",
    "AgentToolMismatchError",
    "AgentHandoffEvent",
    "BuiltinToolEvent",
    "MistralUsage",
    "MistralStatusError",
    "ChatModels",
    "PER_CONVERSATION",
    "SyncedAgent",
    "create_agent",
    "sync_agent",
    "tools",
    "__version__",
]


class MistralPlugin(Plugin):
    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__, logger)


Plugin.register_plugin(MistralPlugin())
