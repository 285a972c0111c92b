"""The local folder and the Chroma server are two implementations of one interface, chosen in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.config import load_settings
from qa.errors import StoreError, WriterBusyError
from qa.index.backend import index_backend
from qa.index.local import LocalIndex, SavedKeywords
from qa.index.server import ServerIndex, ServerKeywords
from qa.index.store import IndexBackend, KeywordSource
from qa.query.pipeline import Pipeline
from tests.servers import free_port


def test_the_settings_choose_the_backend_and_both_implement_the_interface(tmp_path: Path) -> None:
    local = index_backend(load_settings(vectorstore_dir=tmp_path))
    assert type(local) is LocalIndex and isinstance(local, IndexBackend)
    assert local.version() == ""  # no generation yet
    assert local.listing_fresh_for == float("inf")

    on_server = load_settings(vectorstore_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    server = index_backend(on_server)  # made without asking the server anything
    assert type(server) is ServerIndex and isinstance(server, IndexBackend)
    assert server.version() == "server"
    assert server.listing_fresh_for == 10.0


def test_both_keyword_sources_implement_the_keyword_protocol() -> None:
    assert issubclass(SavedKeywords, KeywordSource)
    assert issubclass(ServerKeywords, KeywordSource)


def test_a_local_store_is_read_from_the_current_generation_and_never_replaced(pipeline: Pipeline) -> None:
    assert type(pipeline.index) is LocalIndex
    generation = pipeline.index.current_generation()
    assert generation is not None and pipeline.index.version() == generation.name
    assert pipeline.store.replaced() is False


def test_a_second_local_writer_is_refused(tmp_path: Path) -> None:
    settings = load_settings(vectorstore_dir=tmp_path / "index")
    busy = pytest.raises(WriterBusyError, match="Another ingest is writing to")
    with index_backend(settings).writer_lock(), busy, index_backend(settings).writer_lock():
        pass
    with index_backend(settings).writer_lock():  # free again
        pass


def test_the_server_backend_says_in_one_sentence_when_no_server_answers(tmp_path: Path) -> None:
    port = free_port()
    settings = load_settings(
        vectorstore_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=port, chroma_timeout_s=2
    )
    unreachable = pytest.raises(
        StoreError, match=f"Cannot reach the Chroma server at http://127.0.0.1:{port}"
    )
    with unreachable, index_backend(settings).writer_lock():
        pass
