"""Ingest: files -> paragraphs -> chunks -> embedded into the store, as a diff.

Every file is read and checked before the index is touched, so a bad file loses nothing.
Re-running adds nothing; a changed document's new chunks are added and its stale ones
removed; the whole write is crash-safe (see local.py and server.py in qa/index).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from qa.config import Settings
from qa.errors import IndexMismatchError, IndexMissingError, InputError
from qa.index.backend import index_backend
from qa.index.embedding_cache import CacheBackedEmbeddings, open_cache
from qa.index.embeddings import Embeddings, embed_queries, embedder_identity, make_embeddings
from qa.index.sentence_vectors import store_sentence_vectors
from qa.index.store import (
    ChunkStore,
    DocumentStamp,
    IndexBackend,
    Manifest,
    StoredDocument,
    document_version,
    now_stamp,
)
from qa.ingest.chunking import chunk_document, chunking_signature
from qa.ingest.documents import SUPPORTED_SUFFIXES, load_document
from qa.ingest.loaders import InputLimits
from qa.records import Chunk, Document


@dataclass(frozen=True)
class IngestReport:
    documents: int
    documents_changed: int
    chunks_added: int
    chunks_removed: int
    total_chunks: int
    skipped: tuple[str, ...]
    chunks_from_cache: int
    mean_chunk_chars: float
    seconds: float
    embed_seconds: float

    @property
    def up_to_date(self) -> bool:
        return self.documents_changed == 0


@dataclass(frozen=True)
class _Plan:
    """A document to (re)write: its chunks and its version (file bytes + chunking)."""

    document: Document
    chunks: list[Chunk]
    version: str


class TimedEmbeddings(Embeddings):
    """Counts the time spent inside the embedder: the floor under ingest time."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.seconds = 0.0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - started

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return embed_queries(self.inner, texts)
        finally:
            self.seconds += time.perf_counter() - started


def collect_files(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """Files to ingest with their document ids; a folder contributes its supported files
    (hidden ones skipped), each named by its path inside the folder."""
    found: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
                raise InputError(f"{path} holds no supported files ({supported}).")
            found.extend((file, file.relative_to(path).as_posix()) for file in files)
        else:
            found.append((path, path.name))
    seen: dict[str, Path] = {}
    for path, doc_id in found:
        if doc_id in seen and seen[doc_id].resolve() != path.resolve():
            raise InputError(f"{seen[doc_id]} and {path} would share the document id '{doc_id}'.")
        seen[doc_id] = path
    return list({doc_id: (path, doc_id) for path, doc_id in found}.values())


def load_documents(
    settings: Settings, paths: Sequence[Path], progress: bool = False
) -> tuple[list[Document], list[str]]:
    """Every file parsed, before the index is touched (see `_read`)."""
    documents, problems = _read(settings, collect_files(paths), _strict(paths), progress)
    if not documents:
        raise InputError(f"No file could be read: {problems[0]}" if problems else "No files given.")
    return documents, problems


def input_limits(settings: Settings) -> InputLimits:
    """The work one file may cause, from the QA_MAX_* settings."""
    return InputLimits(
        expanded_bytes=int(settings.max_expanded_mb * 1_000_000),
        pdf_pages=settings.max_pdf_pages,
        elements=settings.max_file_elements,
        text_chars=settings.max_text_chars,
    )


def _strict(paths: Sequence[Path]) -> bool:
    """Files named one by one must all be good; inside a folder a bad file is skipped."""
    return all(not Path(path).is_dir() for path in paths)


def _read(
    settings: Settings, files: Sequence[tuple[Path, str]], strict: bool, progress: bool
) -> tuple[list[Document], list[str]]:
    """Parse files; one bad file named on its own is an error, bad files inside a folder are
    skipped, each with its one-sentence reason."""
    max_bytes = int(settings.max_file_mb * 1_000_000)
    documents, problems = [], []
    bar = tqdm(files, desc="Reading files", unit="file", disable=not progress or len(files) < 20)
    for path, doc_id in bar:
        try:
            documents.append(_with_id(load_document(path, max_bytes, input_limits(settings)), doc_id))
        except InputError as exc:
            if strict:
                raise
            problems.append(str(exc))
    return documents, problems


def file_version(path: Path, chunking: str, max_bytes: int) -> str | None:
    """The version a file would be stored under: its bytes and the chunking. None when the
    file cannot be a document (missing, a folder, too large); parsing it then says why."""
    if not path.is_file() or path.stat().st_size > max_bytes:
        return None
    with open(path, "rb") as handle:
        return document_version(hashlib.file_digest(handle, "sha256").hexdigest(), chunking)


def _with_id(document: Document, doc_id: str) -> Document:
    if document.doc_id == doc_id:
        return document
    paragraphs = tuple(replace(p, doc_id=doc_id) for p in document.paragraphs)
    return replace(document, doc_id=doc_id, paragraphs=paragraphs)


def ingest(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    rebuild: bool = False,
    progress: bool = True,
    embeddings: Embeddings | None = None,
) -> IngestReport:
    """Bring the index up to date with these files; unchanged files are not even parsed.
    `embeddings`: a running app passes the embedder it already has, instead of loading another."""
    started = time.perf_counter()
    paths = list(paths or settings.documents)
    files = collect_files(paths)
    chunking = chunking_signature(settings.chunk_max_tokens, settings.chunk_overlap_sentences)
    identity = embedder_identity(settings)
    timed = TimedEmbeddings(embeddings or make_embeddings(settings))
    max_bytes = int(settings.max_file_mb * 1_000_000)
    index = index_backend(settings)
    with index.writer_lock() as lock:
        stored, has_keywords = ({}, False) if rebuild else _stored(index, timed, identity)
        versions = {doc_id: file_version(path, chunking, max_bytes) for path, doc_id in files}
        unchanged = {
            doc_id: stored[doc_id].chunks
            for doc_id, version in versions.items()
            if doc_id in stored and stored[doc_id].complete and stored[doc_id].version == version
        }
        to_read = [(path, doc_id) for path, doc_id in files if doc_id not in unchanged]
        documents, problems = _read(settings, to_read, _strict(paths), progress)
        if not documents and not unchanged:
            raise InputError(f"No file could be read: {problems[0]}" if problems else "No files given.")
        plans = [
            _Plan(
                document,
                chunk_document(document, settings.chunk_max_tokens, settings.chunk_overlap_sentences),
                versions[document.doc_id] or document_version(document.content_hash, chunking),
            )
            for document in documents
        ]
        if not plans and has_keywords:
            counts = _counts(plans, unchanged, added=0, removed=0)
            return _report(counts, plans, started, timed, problems, cached=0)
        cache = open_cache(settings.vectorstore_dir)
        embeddings = CacheBackedEmbeddings(timed, cache, namespace=identity)
        with closing(cache), index.open_for_writing(embeddings, rebuild, lock) as store:
            if not rebuild and store.manifest and store.manifest.embedder != identity:
                raise IndexMismatchError(
                    f"The index was built with {store.manifest.embedder}, not {identity}; "
                    "run `qa ingest --rebuild` to re-embed everything."
                )
            counts = _apply(store, plans, unchanged, progress)
            changed = [chunk for plan in plans for chunk in plan.chunks]
            store_sentence_vectors(timed, cache, identity, changed, progress)
            store.write_manifest(Manifest(identity, chunking))
            store.write_keywords()
    return _report(counts, plans, started, timed, problems, cached=embeddings.hits)


def _stored(
    index: IndexBackend, embeddings: Embeddings, identity: str
) -> tuple[dict[str, StoredDocument], bool]:
    """What the index holds per document, and whether its keyword index exists; empty if no index."""
    try:
        store = index.open_for_query(embeddings, identity)
    except (IndexMissingError, IndexMismatchError):
        return {}, False
    try:
        return {doc.doc_id: doc for doc in store.documents()}, store.has_keywords()
    finally:
        store.close()


def _apply(
    store: ChunkStore, plans: list[_Plan], unchanged: dict[str, int], progress: bool
) -> dict[str, int]:
    """Write each changed document: add its new chunks, restamp the kept ones, then delete the stale."""
    stamp = now_stamp()
    work = []
    for plan in plans:
        existing = store.chunk_ids_of(plan.document.doc_id)
        new = [chunk for chunk in plan.chunks if chunk.chunk_id not in existing]
        kept = [chunk for chunk in plan.chunks if chunk.chunk_id in existing]
        stale = existing - {chunk.chunk_id for chunk in plan.chunks}
        work.append((plan, new, kept, stale))
    bar = tqdm(
        total=sum(len(new) for _, new, _, _ in work),
        desc="Embedding chunks",
        unit="chunk",
        disable=not progress,
    )
    batch_size = 32
    added = removed = 0
    with bar:
        for plan, new, kept, stale in work:
            stamp_of = DocumentStamp(plan.document.source, plan.version, len(plan.chunks), stamp)
            for start in range(0, len(new), batch_size):
                batch = new[start : start + batch_size]
                store.add_chunks(batch, stamp_of)
                bar.update(len(batch))
            store.restamp(kept, stamp_of)
            store.delete_chunks(sorted(stale))  # after the adds: never a moment with neither
            added += len(new)
            removed += len(stale)
    return _counts(plans, unchanged, added=added, removed=removed)


def _counts(plans: list[_Plan], unchanged: dict[str, int], added: int, removed: int) -> dict[str, int]:
    return {
        "documents": len(plans) + len(unchanged),
        "changed": len(plans),
        "added": added,
        "removed": removed,
        "total": sum(len(plan.chunks) for plan in plans) + sum(unchanged.values()),
    }


def _report(
    counts: dict[str, int],
    plans: list[_Plan],
    started: float,
    embeddings: TimedEmbeddings,
    problems: list[str],
    cached: int,
) -> IngestReport:
    chunks = [chunk for plan in plans for chunk in plan.chunks]
    return IngestReport(
        documents=counts["documents"],
        documents_changed=counts["changed"],
        chunks_added=counts["added"],
        chunks_removed=counts["removed"],
        total_chunks=counts["total"],
        skipped=tuple(problems),
        chunks_from_cache=cached,
        mean_chunk_chars=sum(len(c.text) for c in chunks) / max(1, len(chunks)),
        seconds=time.perf_counter() - started,
        embed_seconds=embeddings.seconds,
    )


def remove_documents(
    settings: Settings, doc_ids: Sequence[str], embeddings: Embeddings | None = None
) -> dict[str, int]:
    """Delete documents' chunks from the vectors and the keyword index, in one crash-safe write.

    An id that is not in the index is an error before anything is touched, naming the ids
    that are (so a typo loses nothing)."""
    identity = embedder_identity(settings)
    embeddings = embeddings or make_embeddings(settings)
    index = index_backend(settings)
    with index.writer_lock() as lock:
        store = index.open_for_query(embeddings, identity)
        try:
            known = [doc.doc_id for doc in store.documents()]
        finally:
            store.close()
        unknown = [doc_id for doc_id in doc_ids if doc_id not in known]
        if unknown:
            listing = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
            raise InputError(f"No document '{unknown[0]}' in the index (it holds: {listing}).")
        with index.open_for_writing(embeddings, rebuild=False, lock=lock) as store:
            removed = {doc_id: store.delete_document(doc_id) for doc_id in doc_ids}
            store.write_keywords()
    return removed
