"""A Chroma collection of chunks and what it records, behind the interface both index backends implement.

The manifest lives in the collection's metadata (format version, embedder, chunking), so it
travels with the data to a Chroma server too. Every chunk records its document's version
(content hash + chunking), which is what makes re-ingest a diff: unchanged documents are
skipped, changed ones get their new chunks added and their stale chunks removed.

Where the collection lives is an IndexBackend: a local folder (local.py) or a Chroma server
(server.py), chosen in backend.py. Each brings its own KeywordSource, the BM25 index a
ChunkStore answers with.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from qa.errors import IndexMismatchError, IndexMissingError, WriterBusyError
from qa.index.embeddings import Embeddings
from qa.index.keywords import KeywordIndex
from qa.records import Chunk

if TYPE_CHECKING:
    from langchain_chroma import Chroma

FORMAT_VERSION = 1
LOCK_FILE = ".ingest.lock"
KEYWORDS_DIR = "keywords"
PAGE = 5000  # records a request (one get of 100,000 ids overflows Chroma's SQL)


def chroma_settings() -> ChromaSettings:
    """A new object each time: chromadb's HttpClient writes its server address into the one it gets."""
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


@runtime_checkable
class KeywordSource(Protocol):
    """Where a ChunkStore's BM25 index comes from (local.SavedKeywords, server.ServerKeywords)."""

    def current(self) -> KeywordIndex:
        """The index to answer with now."""
        ...

    def ready(self, store: ChunkStore) -> bool:
        """Whether the index is complete, so an ingest that changes nothing may skip writing."""
        ...

    def write(self, store: ChunkStore) -> None:
        """Rebuild the index from the whole collection (and commit the write, where that is a step)."""
        ...

    def replaced(self, store: ChunkStore) -> bool:
        """Whether the collection was deleted and made anew since this source followed it."""
        ...


@runtime_checkable
class IndexBackend(Protocol):
    """Where the index lives, and how it is opened for reading and for writing."""

    @property
    def listing_fresh_for(self) -> float:
        """Seconds a document listing read from one opened store stays current."""
        ...

    def version(self) -> str:
        """Changes whenever an ingest commits; readers compare it to know when to reopen."""
        ...

    def open_for_query(self, embeddings: Embeddings, identity: str) -> ChunkStore:
        """Open the index for reading; refuse a missing index or one built with another embedder."""
        ...

    def writer_lock(self) -> AbstractContextManager[Any]:
        """One ingest at a time, told so instead of waiting; yields the `lock` for `open_for_writing`."""
        ...

    def open_for_writing(
        self, embeddings: Embeddings, rebuild: bool, lock: Any = None
    ) -> AbstractContextManager[ChunkStore]:
        """A store to write into, committed when the block ends without an error; `lock` is what
        `writer_lock` yielded (a server takes its lease here when none is given)."""
        ...


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One ingest at a time per index folder (a lock file); a second one is told so instead of waiting."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriterBusyError(f"Another ingest is writing to {folder}; wait for it to finish.") from None
        yield


@dataclass(frozen=True)
class Manifest:
    """What built an index; stored as the collection's metadata."""

    embedder: str
    chunking: str
    format_version: int = FORMAT_VERSION

    def as_metadata(self) -> dict[str, str | int]:
        return {
            "qa_format": self.format_version,
            "qa_embedder": self.embedder,
            "qa_chunking": self.chunking,
        }

    @classmethod
    def from_metadata(cls, metadata: dict | None) -> Manifest | None:
        if not metadata or "qa_embedder" not in metadata:
            return None
        return cls(metadata["qa_embedder"], metadata["qa_chunking"], int(metadata["qa_format"]))


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    title: str
    source: str
    version: str
    chunks: int
    ingested_at: str
    expected_chunks: int = -1

    @property
    def complete(self) -> bool:
        """All its chunks are stored under one version: a run cut short (Chroma server) is not."""
        return self.version != "mixed" and self.chunks == self.expected_chunks


@dataclass(frozen=True)
class DocumentStamp:
    """What every chunk of one document records about the write that stored it."""

    source: str
    version: str
    chunks: int
    ingested_at: str


COLLECTION_CONFIGURATION = {"hnsw": {"space": "cosine"}}


class ChunkStore:
    """One Chroma collection of chunks; writes go through LangChain's Chroma vector store.

    Reads use the collection itself, and the vector store is made on the first write: importing
    langchain_chroma (LangChain's runnables and langsmith behind it) was a quarter of a cold
    `qa ask`, which never writes.
    """

    def __init__(
        self,
        client: chromadb.ClientAPI,
        name: str,
        embeddings: Embeddings,
        keywords: KeywordSource | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self._embeddings = embeddings
        self._keywords = keywords
        self._vectorstore: Chroma | None = None
        # What langchain_chroma's Chroma(collection_name=, client=, collection_configuration=) does.
        self.collection = client.get_or_create_collection(
            name=name, embedding_function=None, configuration=COLLECTION_CONFIGURATION
        )

    @property
    def vectorstore(self) -> Chroma:
        """LangChain's Chroma vector store over this collection, made on the first write."""
        if self._vectorstore is None:
            from langchain_chroma import Chroma

            self._vectorstore = Chroma(
                collection_name=self.name,
                client=self.client,
                embedding_function=self._embeddings,
                collection_configuration=COLLECTION_CONFIGURATION,
            )
        return self._vectorstore

    @property
    def manifest(self) -> Manifest | None:
        return Manifest.from_metadata(self.collection.metadata)

    def count(self) -> int:
        return self.collection.count()

    def search_ids(
        self, vector: Sequence[float], k: int, documents: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """Nearest chunk ids with cosine similarity, without fetching their texts; with
        `documents`, only their chunks (a filter inside the vector search, not after it)."""
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        found = self.collection.query(
            query_embeddings=query, n_results=k, where=within(documents), include=["distances"]
        )
        return [
            (chunk_id, 1.0 - distance)
            for chunk_id, distance in zip(found["ids"][0], found["distances"][0], strict=True)
        ]

    def all_chunks(self) -> list[Chunk]:
        return [
            chunk_from_record(chunk_id, document, metadata)
            for chunk_id, document, metadata in self._pages(["metadatas", "documents"])
        ]

    def _pages(self, include: list[str], size: int = PAGE) -> Iterator[tuple[str, str, dict]]:
        return pages(self.collection, include, size)

    @staticmethod
    def texts_of(collection: chromadb.Collection) -> tuple[list[str], list[str]]:
        records = list(pages(collection, ["documents"]))
        return [chunk_id for chunk_id, _, _ in records], [text for _, text, _ in records]

    def documents(self) -> list[StoredDocument]:
        by_doc: dict[str, list[dict]] = {}
        for _, _, metadata in self._pages(["metadatas"]):
            by_doc.setdefault(metadata["doc_id"], []).append(metadata)
        return [
            StoredDocument(
                doc_id=doc_id,
                title=entries[0]["title"],
                source=entries[0]["source"],
                version=_single_version(entries),
                chunks=len(entries),
                ingested_at=max(entry["ingested_at"] for entry in entries),
                expected_chunks=min(int(entry.get("doc_chunks", -1)) for entry in entries),
            )
            for doc_id, entries in sorted(by_doc.items())
        ]

    def chunk_ids_of(self, doc_id: str) -> set[str]:
        return self.chunk_ids_in([doc_id])

    def chunk_ids_in(self, documents: Sequence[str]) -> set[str]:
        """The ids of every chunk of these documents."""
        return set(self.collection.get(where=within(documents), include=[])["ids"])

    def missing_documents(self, documents: Sequence[str]) -> list[str]:
        """Those of `documents` with no chunk in the collection (one id-only lookup each)."""
        return [
            doc_id
            for doc_id in documents
            if not self.collection.get(where={"doc_id": doc_id}, limit=1, include=[])["ids"]
        ]

    def metadata_texts(self) -> list[str]:
        """The search text of every metadata record (a field's labels, then its value)."""
        return list(self.collection.get(where={"kind": "metadata"}, include=["documents"])["documents"] or [])

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        """One document's chunks in reading order (paragraph number, then window)."""
        records = self.collection.get(where={"doc_id": doc_id}, include=["metadatas", "documents"])
        return sorted(chunks_from_records(records), key=lambda chunk: chunk.paragraphs)

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of one document; the caller rebuilds the keyword index after."""
        chunk_ids = sorted(self.chunk_ids_of(doc_id))
        self.delete_chunks(chunk_ids)
        return len(chunk_ids)

    def add_chunks(self, chunks: Sequence[Chunk], stamp: DocumentStamp) -> None:
        self.vectorstore.add_texts(
            texts=[chunk.search_text for chunk in chunks],
            metadatas=[_stamped(chunk, stamp) for chunk in chunks],
            ids=[chunk.chunk_id for chunk in chunks],
        )

    def restamp(self, chunks: Sequence[Chunk], stamp: DocumentStamp) -> None:
        """Kept chunks of a changed document take its new version and numbers, without re-embedding."""
        if chunks:
            self.collection.update(
                ids=[chunk.chunk_id for chunk in chunks],
                metadatas=[_stamped(chunk, stamp) for chunk in chunks],
            )

    def delete_chunks(self, chunk_ids: Sequence[str]) -> None:
        if chunk_ids:
            self.collection.delete(ids=list(chunk_ids))

    @property
    def keywords(self) -> KeywordIndex:
        """The BM25 index to answer with now (see local.SavedKeywords and server.ServerKeywords)."""
        if self._keywords is None:
            raise IndexMissingError("This index has no keyword index; run `qa ingest --rebuild`.")
        return self._keywords.current()

    def has_keywords(self) -> bool:
        """Whether the keyword index is complete, so an ingest that changes nothing may skip writing."""
        return self._keywords is not None and self._keywords.ready(self)

    def write_keywords(self) -> None:
        """Rebuild the BM25 index from the whole collection; with a server, also commit the write."""
        assert self._keywords is not None
        self._keywords.write(self)

    def texts(self) -> tuple[list[str], list[str]]:
        """Every chunk id and search text, a page at a time."""
        return self.texts_of(self.collection)

    def replaced(self) -> bool:
        """A server collection deleted and made anew (--rebuild on some host): reopen the store."""
        return self._keywords is not None and self._keywords.replaced(self)

    def metadata(self) -> dict:
        """The collection's metadata as the server has it now (the handle's copy may be old)."""
        return dict(self.client.get_collection(self.name).metadata or {})

    def update_metadata(self, changes: dict) -> None:
        """Set (or, with None, drop) keys of the collection's metadata, keeping the others."""
        metadata = {**self.metadata(), **changes}
        metadata.pop("hnsw:space", None)
        self.collection.modify(metadata={k: v for k, v in metadata.items() if v is not None})

    def write_manifest(self, manifest: Manifest) -> None:
        self.update_metadata(manifest.as_metadata())

    def close(self) -> None:
        """Release this client only; other open stores in the process keep theirs."""
        self.client.close()


def within(documents: Sequence[str]) -> dict | None:
    """The Chroma `where` filter that keeps the chunks of `documents`; None (all) when empty."""
    return {"doc_id": {"$in": list(documents)}} if documents else None


def pages(
    collection: chromadb.Collection, include: list[str], size: int = PAGE
) -> Iterator[tuple[str, str, dict]]:
    """Every record, a page at a time (one get of 100,000 ids overflows Chroma's SQL)."""
    for offset in range(0, collection.count(), size):
        records = collection.get(include=include, limit=size, offset=offset)
        documents = records.get("documents") or [""] * len(records["ids"])
        metadatas = records.get("metadatas") or [{}] * len(records["ids"])
        yield from zip(records["ids"], documents, metadatas, strict=True)


def _single_version(entries: list[dict]) -> str:
    """A document whose chunks disagree on their version was cut short; it needs redoing."""
    versions = {entry["doc_version"] for entry in entries}
    return versions.pop() if len(versions) == 1 else "mixed"


def _stamped(chunk: Chunk, stamp: DocumentStamp) -> dict:
    metadata = chunk_metadata(chunk, stamp.source, stamp.version, stamp.ingested_at)
    return {**metadata, "doc_chunks": stamp.chunks}


def chunk_metadata(chunk: Chunk, source: str, version: str, stamp: str) -> dict:
    return {
        "doc_id": chunk.doc_id,
        "title": chunk.title,
        "section": chunk.section,
        "paragraphs": list(chunk.paragraphs),
        "text": chunk.text,
        "kind": chunk.kind,
        "page": chunk.page,
        "paragraph_ids": list(chunk.paragraph_ids) or [""],
        **({"line_paragraphs": list(chunk.line_paragraphs)} if chunk.line_paragraphs else {}),
        **({"level": chunk.level} if chunk.level else {}),
        "source": source,
        "doc_version": version,
        "ingested_at": stamp,
    }


def chunks_from_records(records: dict) -> list[Chunk]:
    """The chunks of a Chroma `get` that included metadatas and documents."""
    return [
        chunk_from_record(chunk_id, document, metadata)
        for chunk_id, document, metadata in zip(
            records["ids"], records["documents"], records["metadatas"], strict=True
        )
    ]


def chunk_from_record(chunk_id: str, search_text: str, metadata: dict) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        doc_id=metadata["doc_id"],
        title=metadata["title"],
        section=metadata["section"],
        paragraphs=tuple(metadata["paragraphs"]),
        text=metadata["text"],
        search_text=search_text,
        kind=metadata["kind"],
        page=int(metadata.get("page", 0)),
        paragraph_ids=tuple(filter(None, metadata.get("paragraph_ids", ()))),
        line_paragraphs=tuple(metadata.get("line_paragraphs", ())),
        level=int(metadata.get("level", 0)),
    )


def document_version(content_hash: str, chunking: str) -> str:
    return hashlib.sha1(f"{content_hash}\x00{chunking}".encode()).hexdigest()[:16]


def open_existing(
    client: chromadb.ClientAPI, name: str, embeddings: Embeddings, keywords: KeywordSource, identity: str
) -> ChunkStore:
    """The collection `name` for reading; refuse a missing one or one built with another embedder."""
    if name not in {c.name for c in client.list_collections()}:
        raise IndexMissingError(f"The collection '{name}' does not exist; run `qa ingest` first.")
    store = ChunkStore(client, name, embeddings, keywords)
    check_embedder(store.manifest, identity)
    return store


def check_embedder(manifest: Manifest | None, identity: str) -> None:
    if manifest is None:
        raise IndexMissingError("The index has no manifest; run `qa ingest --rebuild`.")
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index has format {manifest.format_version}, this version reads "
            f"{FORMAT_VERSION}; re-ingest with `qa ingest --rebuild`."
        )
    if manifest.embedder != identity:
        raise IndexMismatchError(
            f"The index was built with the embedder {manifest.embedder}, but {identity} is "
            "configured; re-ingest with `qa ingest --rebuild` or switch the embedder back."
        )


def now_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
