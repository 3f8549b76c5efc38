"""Mistral's built-in tools, for ``Agent(tools=[...])`` beside ``@function_tool``s and MCP.

They run on Mistral's side (a web search, a sandboxed Python run, an image, a search of your
document libraries, a connector), through the Conversations API: in normal mode a call that
holds one goes to ``POST /v1/conversations`` with the model, instead of chat completions.
The tools of ``livekit-plugins-mistralai`` (``livekit.plugins.mistralai.tools``) are
accepted too.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from livekit.agents import llm

__all__ = [
    "BuiltinTool",
    "CodeInterpreter",
    "Connector",
    "DocumentLibrary",
    "ImageGeneration",
    "WebSearch",
]


class BuiltinTool(llm.ProviderTool):
    """A tool Mistral runs itself; ``to_dict()`` is its entry in the request's ``tools``."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


class WebSearch(BuiltinTool):
    """Search the web; answers cite their sources in ``delta.extra["references"]``.

    Args:
        premium: Use ``web_search_premium`` (news agencies and more sources, billed as such).
    """

    def __init__(self, premium: bool = False) -> None:
        if not isinstance(premium, bool):
            raise ValueError(f"WebSearch(premium=...) takes True or False, got {premium!r}")
        self.premium = premium
        super().__init__(id="mistral_web_search_premium" if premium else "mistral_web_search")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "web_search_premium" if self.premium else "web_search"}


class CodeInterpreter(BuiltinTool):
    """Run Python in Mistral's sandbox; produced files come in ``delta.extra["files"]``."""

    def __init__(self) -> None:
        super().__init__(id="mistral_code_interpreter")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "code_interpreter"}


class ImageGeneration(BuiltinTool):
    """Generate images; each comes as a file in ``delta.extra["files"]``."""

    def __init__(self) -> None:
        super().__init__(id="mistral_image_generation")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "image_generation"}


class DocumentLibrary(BuiltinTool):
    """Search document libraries uploaded to Mistral.

    Args:
        library_ids: The ids of the libraries to search (at least one).
    """

    def __init__(self, library_ids: list[str]) -> None:
        ids = list(library_ids) if isinstance(library_ids, (list, tuple)) else None
        if not ids or not all(isinstance(i, str) and i.strip() for i in ids):
            raise ValueError(
                "DocumentLibrary(library_ids=...) takes a non-empty list of library ids "
                f"(strings), got {library_ids!r}"
            )
        self.library_ids = ids
        super().__init__(id="mistral_document_library_" + ",".join(ids))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "document_library", "library_ids": list(self.library_ids)}


class Connector(BuiltinTool):
    """A connector set up on La Plateforme (its tools run on Mistral's side).

    Args:
        connector_id: The connector's id.
    """

    def __init__(self, connector_id: str) -> None:
        if not isinstance(connector_id, str) or not connector_id.strip():
            raise ValueError(
                f"Connector(connector_id=...) takes a non-empty connector id, got {connector_id!r}"
            )
        self.connector_id = connector_id
        super().__init__(id=f"mistral_connector_{connector_id}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "connector", "connector_id": self.connector_id}
