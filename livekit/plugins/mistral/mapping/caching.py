"""The ``prompt_cache_key`` a request carries (pure).

Mistral's prompt cache serves a repeated prompt prefix at 10% of the input price; the key is
a routing hint that sends the turns of one conversation to the same cache. Decisions:
- An explicit string is sent as is; ``None`` sends no key.
- The default (``PER_CONVERSATION``) derives the key from the conversation's own identity:
  the id and creation time of the first item of the ``ChatContext``. In a LiveKit
  ``AgentSession`` that item is the agent's instructions message, whose id is the same in
  every session but whose creation time is kept across instruction updates and history
  copies; so the key is stable over every turn of a session and differs between sessions.
  Neither value is secret nor user content, and they are hashed (SHA-256, 32 hex digits) so
  the key has one short shape. A new agent after a handoff starts a new key (its prompt is
  a new prefix anyway). An empty ``ChatContext`` sends no key.
"""

from __future__ import annotations

import hashlib

from livekit.agents import llm

from ..options import PromptCacheKey

KEY_PREFIX = "lk-"


def prompt_cache_key(setting: str | None | PromptCacheKey, chat_ctx: llm.ChatContext) -> str | None:
    """The key to send for this request, or ``None`` for no key."""
    if setting is PromptCacheKey.PER_CONVERSATION:
        return conversation_key(chat_ctx)
    return setting if isinstance(setting, str) else None


def conversation_key(chat_ctx: llm.ChatContext) -> str | None:
    """A key stable for one conversation: a hash of its first item's id and creation time."""
    if not chat_ctx.items:
        return None
    first = chat_ctx.items[0]
    identity = f"{first.id}\n{first.created_at!r}".encode()
    return KEY_PREFIX + hashlib.sha256(identity).hexdigest()[:32]
