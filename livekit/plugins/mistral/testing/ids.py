"""Identifiers shaped like the ones the live API hands out."""

from __future__ import annotations

import secrets
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


def hex32() -> str:
    """32 lowercase hex characters, the tail of most Mistral ids."""
    return uuid.uuid4().hex


def prefixed(prefix: str) -> str:
    """An id such as ``conv_<32 hex>``, ``msg_<32 hex>`` or ``cmpl-<32 hex>``."""
    return prefix + hex32()


def tool_call_id() -> str:
    """A Mistral tool call id: exactly 9 characters of ``[a-zA-Z0-9]``."""
    return "".join(secrets.choice(_ALNUM) for _ in range(9))


def correlation_id() -> str:
    """The value of the ``mistral-correlation-id`` response header."""
    return str(uuid.uuid4())
