"""A local index folder: Chroma generations switched atomically, the BM25 index saved in each.

Crash safety: a writer never touches the index readers use. It copies the current
generation (vectorstore/gen-N) to gen-N+1, applies the diff there, closes it, and then flips
the CURRENT file with an atomic rename. A writer killed midway leaves only an orphan folder
that the next run deletes. One writer at a time per index folder (a lock file), as Chroma
requires.

The BM25 keyword index is built by the writer from the finished collection and saved in the
same generation folder (gen-N/keywords), so it commits and rolls back with the vectors;
readers load it once per opened store (SavedKeywords).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import chromadb

from qa.config import Settings
from qa.errors import IndexMissingError
from qa.index.embeddings import Embeddings
from qa.index.keywords import KeywordIndex
from qa.index.store import KEYWORDS_DIR, ChunkStore, chroma_settings, folder_lock, open_existing

CURRENT_FILE = "CURRENT"
GENERATION_PREFIX = "gen-"


class SavedKeywords:
    """Local index: the BM25 index saved in the generation folder, loaded once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index: KeywordIndex | None = None

    def current(self) -> KeywordIndex:
        if self._index is None:
            self._index = KeywordIndex.load(self.directory)
        return self._index

    def ready(self, store: ChunkStore) -> bool:
        return (self.directory / "keywords.json").is_file()

    def replaced(self, store: ChunkStore) -> bool:
        """Never: a new generation is a new store, which readers notice by the version."""
        return False

    def write(self, store: ChunkStore) -> None:
        index = KeywordIndex.build(*store.texts())
        staging = self.directory.with_name(self.directory.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        index.save(staging)
        if self.directory.exists():
            old = self.directory.with_name(self.directory.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.directory, old)
            os.replace(staging, self.directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, self.directory)
        self._index = index


class LocalIndex:
    """The index in the folder QA_VECTORSTORE_DIR: the generation CURRENT names."""

    # A document listing is kept while the store is the same: a local index reopens on each commit.
    listing_fresh_for = float("inf")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.vectorstore_dir

    def current_generation(self) -> Path | None:
        marker = self.folder / CURRENT_FILE
        if not marker.is_file():
            return None
        directory = self.folder / marker.read_text().strip()
        return directory if directory.is_dir() else None

    def version(self) -> str:
        """The current generation's name: it changes whenever an ingest commits."""
        current = self.current_generation()
        return current.name if current else ""

    def open_for_query(self, embeddings: Embeddings, identity: str) -> ChunkStore:
        directory = self.current_generation()
        if directory is None:
            raise IndexMissingError(f"No index in {self.folder}; run `qa ingest` first.")
        client = _client(directory)
        keywords = SavedKeywords(directory / KEYWORDS_DIR)
        return open_existing(client, self.settings.collection, embeddings, keywords, identity)

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One ingest at a time per index folder; a second one is told so instead of waiting."""
        with folder_lock(self.folder):
            yield None

    @contextmanager
    def open_for_writing(
        self, embeddings: Embeddings, rebuild: bool, lock: object = None
    ) -> Iterator[ChunkStore]:
        """A new generation to write into, made current on success and deleted on failure; `lock`
        is not needed (the caller holds `writer_lock`, or writes a folder of its own)."""
        self._remove_orphans()
        current = self.current_generation()
        staging = self.folder / f"{GENERATION_PREFIX}{self._next_number():06d}"
        if current is not None and not rebuild:
            shutil.copytree(current, staging)
        keywords = SavedKeywords(staging / KEYWORDS_DIR)
        store = ChunkStore(_client(staging), self.settings.collection, embeddings, keywords)
        try:
            yield store
        except BaseException:
            store.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        store.close()
        self._commit(staging, previous=current)

    def _next_number(self) -> int:
        numbers = [
            int(path.name.removeprefix(GENERATION_PREFIX))
            for path in self.folder.glob(f"{GENERATION_PREFIX}*")
            if path.name.removeprefix(GENERATION_PREFIX).isdigit()
        ]
        return max(numbers, default=0) + 1

    def _commit(self, staging: Path, previous: Path | None) -> None:
        """Atomically point CURRENT at the new generation; keep the previous one for open readers."""
        marker = self.folder / CURRENT_FILE
        temporary = marker.with_suffix(".tmp")
        temporary.write_text(staging.name)
        with open(temporary) as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, marker)
        keep = {staging.name, previous.name if previous else ""}
        for path in self.folder.glob(f"{GENERATION_PREFIX}*"):
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def _remove_orphans(self) -> None:
        """Generations newer than CURRENT are left by a writer that was killed; drop them."""
        current = self.current_generation()
        current_number = int(current.name.removeprefix(GENERATION_PREFIX)) if current else 0
        for path in self.folder.glob(f"{GENERATION_PREFIX}*"):
            suffix = path.name.removeprefix(GENERATION_PREFIX)
            if suffix.isdigit() and int(suffix) > current_number:
                shutil.rmtree(path, ignore_errors=True)


def _client(directory: Path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(path=str(directory), settings=chroma_settings())
