"""A local, Mistral-compatible server for tests, examples and benchmarks (no key, no network).

Example::

    async with LocalMistral(api_key="test-key") as server:
        server.queue_chat(ChatReply(text="Hello!"))
        ...  # point the client at server.base_url
"""

from .rules import KNOWN_MODELS, RuleViolation, check_chat_request, check_conversation_request
from .script import AgentReply, ChatReply, Fault, ToolCall, ToolFile
from .server import Disconnect, Headers, LocalMistral, RecordedRequest, Responder

__all__ = [
    "KNOWN_MODELS",
    "AgentReply",
    "ChatReply",
    "Disconnect",
    "Fault",
    "Headers",
    "LocalMistral",
    "RecordedRequest",
    "Responder",
    "RuleViolation",
    "ToolCall",
    "ToolFile",
    "check_chat_request",
    "check_conversation_request",
]
