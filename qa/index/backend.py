"""Which index the settings name: the one place that chooses between the local folder and a Chroma server."""

from __future__ import annotations

from qa.config import Settings
from qa.index.local import LocalIndex
from qa.index.server import ServerIndex
from qa.index.store import IndexBackend


def index_backend(settings: Settings) -> IndexBackend:
    """A Chroma server when QA_CHROMA_HOST is set, else the local index folder."""
    if settings.chroma_host:
        return ServerIndex(settings, settings.chroma_host)
    return LocalIndex(settings)
