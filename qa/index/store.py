"""Chroma, local or server, holding the chunks; the index manifest; idempotent, crash-safe ingest.

The manifest lives in the collection's metadata (format version, embedder, chunking), so it
travels with the data to a Chroma server too. Every chunk records its document's version
(content hash + chunking), which is what makes re-ingest a diff: unchanged documents are
skipped, changed ones get their new chunks added and their stale chunks removed.

Crash safety, local index: a writer never touches the index readers use. It copies the
current generation (vectorstore/gen-N) to gen-N+1, applies the diff there, closes it, and
then flips the CURRENT file with an atomic rename. A writer killed midway leaves only an
orphan folder that the next run deletes. With a Chroma server, where no such swap exists,
the diff itself repairs a half-finished run: new chunks are added before stale ones go.
One writer at a time per index folder (a lock file), as Chroma requires.

The BM25 keyword index of a local index is built by the writer from the finished collection
and saved in the same generation folder (gen-N/keywords), so it commits and rolls back with
the vectors; readers load it once per opened store (SavedKeywords). With a Chroma server the
collection is shared by several app hosts: each derives its keyword index from the collection
and follows the content version kept in the collection's metadata (ServerKeywords, see
followed.py), and writers on different hosts take turns through a lease (lease.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings

from qa.config import Settings
from qa.errors import IndexMismatchError, IndexMissingError, StoreError, TimeLimitError, WriterBusyError
from qa.index.embeddings import Embeddings
from qa.index.followed import (
    VERSION_KEY,
    WRITING_KEY,
    FollowedKeywords,
    content_key,
    index_collection,
    is_committed,
    publish,
    save,
)
from qa.index.keywords import KeywordIndex
from qa.index.lease import WriterLease
from qa.records import Chunk

if TYPE_CHECKING:
    from langchain_chroma import Chroma

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".ingest.lock"
GENERATION_PREFIX = "gen-"
KEYWORDS_DIR = "keywords"
PAGE = 5000  # records a request (one get of 100,000 ids overflows Chroma's SQL)
ID_PAGE = 20_000  # ids alone, a request


def _chroma_settings() -> ChromaSettings:
    """A new object each time: chromadb's HttpClient writes its server address into the one it gets."""
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


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
        keywords: SavedKeywords | ServerKeywords | None = None,
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
        """The BM25 index to answer with now (see SavedKeywords and ServerKeywords)."""
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
        return isinstance(self._keywords, ServerKeywords) and self._keywords.replaced(self)

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


class ServerKeywords:
    """Chroma server: the index derived from the shared collection, following its content version.

    Readers get it through FollowedKeywords (cached per version in `root`, refreshed in the
    background). A writer, holding the lease, builds it from the finished collection, caches
    it under the next version, then bumps the version: that bump is the write's commit.
    """

    def __init__(self, settings: Settings, client: chromadb.ClientAPI, lease: WriterLease | None = None):
        self.root = settings.vectorstore_dir / f"{KEYWORDS_DIR}-{settings.collection}"
        self.lease = lease
        self.client = client
        self.name = settings.collection
        refresh = settings.index_refresh_seconds
        self.follower = FollowedKeywords(self.root, self.read_key, self.read_ids, self.read_texts, refresh)

    def read_key(self) -> tuple[str, bool]:
        collection = self.client.get_collection(self.name)
        return content_key(collection.id, collection.metadata), is_committed(collection.metadata)

    def read_ids(self) -> list[str]:
        """Every chunk id, in the collection's order (the order `texts` reads), without the texts:
        at 100,000 chunks about 1 s where the texts take 6 to 8."""
        collection = self.client.get_collection(self.name)
        return [chunk_id for chunk_id, _, _ in pages(collection, [], ID_PAGE)]

    def read_texts(self, chunk_ids: list[str]) -> dict[str, str]:
        """The search texts of the chunks that still exist, by id."""
        collection = self.client.get_collection(self.name)
        texts: dict[str, str] = {}
        for start in range(0, len(chunk_ids), PAGE):
            records = collection.get(ids=chunk_ids[start : start + PAGE], include=["documents"])
            texts.update(zip(records["ids"], records["documents"], strict=True))
        return texts

    def current(self) -> KeywordIndex:
        return self.follower.current()

    def ready(self, store: ChunkStore) -> bool:
        return is_committed(store.metadata())

    def replaced(self, store: ChunkStore) -> bool:
        return bool(self.follower.key) and not self.follower.key.startswith(f"{store.collection.id}-")

    def mark_writing(self, store: ChunkStore) -> None:
        """Before the first change: a host killed from here on leaves the mark for the next ingest."""
        assert self.lease is not None
        store.update_metadata({WRITING_KEY: self.lease.holder})

    def write(self, store: ChunkStore) -> None:
        assert self.lease is not None, "writing to a server collection needs the writer lease"
        index = index_collection(self.root, str(store.collection.id), self.read_ids, self.read_texts)
        self.lease.check()
        version = int(store.metadata().get(VERSION_KEY, 0)) + 1
        key = content_key(store.collection.id, {VERSION_KEY: version})
        self.root.mkdir(parents=True, exist_ok=True)
        save(index, self.root, key)
        store.update_metadata({VERSION_KEY: version, WRITING_KEY: None})
        publish(self.root, key, index)


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


# --- opening an index ----------------------------------------------------------------------


def make_client(settings: Settings, directory: Path | None = None) -> chromadb.ClientAPI:
    """A Chroma server when QA_CHROMA_HOST is set, else the local folder given."""
    if settings.chroma_host:
        address = f"http://{settings.chroma_host}:{settings.chroma_port}"
        try:
            # chromadb's client talks to the server already while it is made, without a time
            # limit: ask first, with one.
            httpx.get(f"{address}/api/v2/heartbeat", timeout=settings.chroma_timeout_s)
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=_chroma_settings()
            )
            _limit_requests(client, settings.chroma_timeout_s, address)
            client.heartbeat()
        except Exception:  # noqa: BLE001 - chromadb raises several types for "not there"
            raise StoreError(
                f"Cannot reach the Chroma server at {address} (or it did not answer within "
                f"{settings.chroma_timeout_s:g} s, QA_CHROMA_TIMEOUT_S); start it with "
                f"`chroma run --path DIR --port {settings.chroma_port}` or fix QA_CHROMA_HOST."
            ) from None
        return client
    assert directory is not None
    return chromadb.PersistentClient(path=str(directory), settings=_chroma_settings())


def _limit_requests(client: chromadb.ClientAPI, timeout_s: float, address: str) -> None:
    """chromadb's HTTP client waits for ever (timeout=None): a server that accepts a connection
    and never answers would hang every caller. Its httpx session gets a time limit instead, and a
    transport that says in one sentence when a request runs past it or the server goes away."""
    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is not None:
        session.timeout = httpx.Timeout(timeout_s)
        session._transport = _ChromaTransport(session._transport, timeout_s, address)


class _ChromaTransport(httpx.BaseTransport):
    """The session's own transport, its failures mid-request turned into our errors: a server
    that answered the heartbeat and then hangs is a TimeLimitError, one that goes away a
    StoreError, instead of an httpx traceback from deep inside chromadb."""

    def __init__(self, inner: httpx.BaseTransport, timeout_s: float, address: str) -> None:
        self.inner = inner
        self.timeout_s = timeout_s
        self.address = address

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.inner.handle_request(request)
        except httpx.TimeoutException:
            raise TimeLimitError(
                f"The Chroma server at {self.address} did not answer within {self.timeout_s:g} s "
                "(QA_CHROMA_TIMEOUT_S); check that it is running and not overloaded."
            ) from None
        except httpx.TransportError as exc:
            raise StoreError(
                f"The Chroma server at {self.address} stopped answering ({type(exc).__name__}); "
                "check that it is running."
            ) from None

    def close(self) -> None:
        self.inner.close()


def current_generation(settings: Settings) -> Path | None:
    marker = settings.vectorstore_dir / CURRENT_FILE
    if not marker.is_file():
        return None
    directory = settings.vectorstore_dir / marker.read_text().strip()
    return directory if directory.is_dir() else None


def index_version(settings: Settings) -> str:
    """Changes whenever an ingest commits; readers compare it to know when to reopen."""
    if settings.chroma_host:
        return "server"
    current = current_generation(settings)
    return current.name if current else ""


def open_for_query(settings: Settings, embeddings: Embeddings, identity: str) -> ChunkStore:
    """Open the index for reading; refuse a missing index or one built with another embedder."""
    directory = None
    if settings.chroma_host:
        client = make_client(settings)
    else:
        directory = current_generation(settings)
        if directory is None:
            raise IndexMissingError(f"No index in {settings.vectorstore_dir}; run `qa ingest` first.")
        client = make_client(settings, directory)
    if settings.collection not in {c.name for c in client.list_collections()}:
        raise IndexMissingError(
            f"The collection '{settings.collection}' does not exist; run `qa ingest` first."
        )
    store = ChunkStore(client, settings.collection, embeddings, keyword_source(settings, client, directory))
    check_embedder(store.manifest, identity)
    return store


def keyword_source(
    settings: Settings, client: chromadb.ClientAPI, generation: Path | None, lease: WriterLease | None = None
) -> SavedKeywords | ServerKeywords:
    """Local index: saved inside the generation. Chroma server: derived from the collection."""
    if settings.chroma_host:
        return ServerKeywords(settings, client, lease)
    assert generation is not None
    return SavedKeywords(generation / KEYWORDS_DIR)


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


@contextmanager
def writer_lock(settings: Settings) -> Iterator[WriterLease | None]:
    """One ingest at a time per index folder, and with a server one per collection across hosts
    (the lease, yielded); a second one is told so instead of waiting."""
    settings.vectorstore_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.vectorstore_dir / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriterBusyError(
                f"Another ingest is writing to {settings.vectorstore_dir}; wait for it to finish."
            ) from None
        if not settings.chroma_host:
            yield None
            return
        lease = WriterLease(make_client(settings), settings.collection, settings.writer_lease_seconds)
        lease.acquire()
        try:
            yield lease
        finally:
            lease.release()
            lease.client.close()


@contextmanager
def open_for_writing(
    settings: Settings, embeddings: Embeddings, rebuild: bool, lease: WriterLease | None = None
) -> Iterator[ChunkStore]:
    """A store to write into; for a local index, a new generation made current on success; for
    a server, the collection itself, under the writer lease (taken here unless given)."""
    if settings.chroma_host:
        if lease is None:
            with writer_lock(settings) as held, open_for_writing(settings, embeddings, rebuild, held) as it:
                yield it
            return
        client = make_client(settings)
        if rebuild and settings.collection in {c.name for c in client.list_collections()}:
            client.delete_collection(settings.collection)
        settings.vectorstore_dir.mkdir(parents=True, exist_ok=True)
        keywords = ServerKeywords(settings, client, lease)
        store = ChunkStore(client, settings.collection, embeddings, keywords)
        try:
            keywords.mark_writing(store)
            yield store
        finally:
            store.close()
        return
    _remove_orphans(settings)
    current = current_generation(settings)
    staging = settings.vectorstore_dir / f"{GENERATION_PREFIX}{_next_number(settings):06d}"
    if current is not None and not rebuild:
        shutil.copytree(current, staging)
    client = make_client(settings, staging)
    store = ChunkStore(client, settings.collection, embeddings, keyword_source(settings, client, staging))
    try:
        yield store
    except BaseException:
        store.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    store.close()
    _commit(settings, staging, previous=current)


def _next_number(settings: Settings) -> int:
    numbers = [
        int(path.name.removeprefix(GENERATION_PREFIX))
        for path in settings.vectorstore_dir.glob(f"{GENERATION_PREFIX}*")
        if path.name.removeprefix(GENERATION_PREFIX).isdigit()
    ]
    return max(numbers, default=0) + 1


def _commit(settings: Settings, staging: Path, previous: Path | None) -> None:
    """Atomically point CURRENT at the new generation; keep the previous one for open readers."""
    marker = settings.vectorstore_dir / CURRENT_FILE
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(staging.name)
    with open(temporary) as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, marker)
    keep = {staging.name, previous.name if previous else ""}
    for path in settings.vectorstore_dir.glob(f"{GENERATION_PREFIX}*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _remove_orphans(settings: Settings) -> None:
    """Generations newer than CURRENT are left by a writer that was killed; drop them."""
    current = current_generation(settings)
    current_number = int(current.name.removeprefix(GENERATION_PREFIX)) if current else 0
    for path in settings.vectorstore_dir.glob(f"{GENERATION_PREFIX}*"):
        suffix = path.name.removeprefix(GENERATION_PREFIX)
        if suffix.isdigit() and int(suffix) > current_number:
            shutil.rmtree(path, ignore_errors=True)


def now_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
