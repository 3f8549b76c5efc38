"""Mistral's prompt cache as the local server acts it out (pure, deterministic).

What the live API documents and peers recorded: cached input is reported in
``usage.prompt_tokens_details.cached_tokens``, a multiple of 64, 0 on a miss; prompts under
64 tokens never hit; ``prompt_cache_key`` routes the turns of one conversation to the same
cache. Here: each key remembers the last prompt sent under it; the next prompt under the
same key reports its common prefix with that one as cached, rounded down to 64 tokens (at
the server's estimate of four characters per token). A request without a key never hits:
the key is what makes hits reproducible in tests. The memory keeps the newest keys only.
"""

from __future__ import annotations

import os
from collections import OrderedDict

from .chat_wire import estimate_tokens

CACHE_BLOCK_TOKENS = 64
CHARS_PER_TOKEN = 4


class PromptCache:
    def __init__(self, max_keys: int = 1024) -> None:
        self._prompts: OrderedDict[str, str] = OrderedDict()
        self._max_keys = max_keys

    def cached_tokens(self, key: str | None, prompt: str) -> int:
        """Tokens of ``prompt`` served from the cache under ``key``; remembers ``prompt``."""
        if key is None:
            return 0
        previous = self._prompts.pop(key, "")
        self._prompts[key] = prompt
        if len(self._prompts) > self._max_keys:
            self._prompts.popitem(last=False)
        if estimate_tokens(prompt) < CACHE_BLOCK_TOKENS:
            return 0
        prefix_tokens = len(os.path.commonprefix([previous, prompt])) // CHARS_PER_TOKEN
        return prefix_tokens // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS
