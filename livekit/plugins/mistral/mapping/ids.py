"""Tool call ids in the only shape Mistral accepts: exactly 9 characters of ``[a-zA-Z0-9]``."""

from __future__ import annotations

import functools
import hashlib
import re
import string

_MISTRAL_CALL_ID = re.compile(r"[a-zA-Z0-9]{9}")
_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 9


@functools.lru_cache(maxsize=8192)  # a history maps the same ids again on every turn
def to_mistral_call_id(call_id: str) -> str:
    """Map any tool call id to a valid Mistral one, the same way in every process.

    An id that is already valid (Mistral's own) is kept. Any other id (LiveKit's
    ``<generation id>/fnc_<n>``, OpenAI's ``call_...``, ``chatcmpl-tool-<hex>``, ``""``)
    becomes 9 alphanumerics taken from its SHA-256 digest, so a call and the output that
    answers it map to the same id in every turn and every worker.
    """
    if _MISTRAL_CALL_ID.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest(), "big")
    characters: list[str] = []
    for _ in range(_LENGTH):
        number, index = divmod(number, len(_ALPHABET))
        characters.append(_ALPHABET[index])
    return "".join(characters)
