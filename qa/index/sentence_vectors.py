"""Sentence vectors, embedded once when their chunk is ingested, so a question never embeds them.

Sentence choice compares a question whose words cannot match the text (an English question about
Chinese text) with the sentences of the top retrieved chunks by embedding similarity, E5's
`query:` side on both sides. Each sentence embedded at question time cost about as much as the
whole retrieval, so ingest embeds a chunk's sentences in batches after adding the chunk, into the
embedding cache under a namespace of their own, and the pipeline reads them there. What is stored
only decides speed: a text not found (an index ingested before this existed, another host's
ingest on a shared server, a sentence rule that changed) is embedded at question time as before,
to the same vector.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from qa.index.embedding_cache import CACHE_FILE, SQLiteByteStore, cache_key, pack, unpack
from qa.index.embeddings import Embeddings, embed_queries
from qa.records import Chunk
from qa.text.sentences import chunk_sentences

BATCH = 64  # texts looked up, embedded and stored at a time


def namespace(identity: str) -> str:
    """Sentence vectors are the query side of the embedder that built the index."""
    return f"{identity}\x00sentence"


def sentence_texts(chunk: Chunk) -> list[str]:
    """The texts of a chunk that sentence choice compares with a question by meaning: its
    sentences, stripped; for a metadata field its label and value, since the value means little
    alone. The verifier's comparisons (rare: the extractive answer's claims are the chunk's own
    words) are embedded when asked for, and then remembered by the pipeline."""
    if chunk.kind == "metadata":
        return [chunk.evidence]
    pieces = (piece.strip() for piece in chunk_sentences(chunk))
    return [text for text in dict.fromkeys(pieces) if text]


def store_sentence_vectors(
    embeddings: Embeddings,
    cache: SQLiteByteStore,
    identity: str,
    chunks: Sequence[Chunk],
    progress: bool = False,
) -> int:
    """Embed and store the sentence texts of `chunks` that the cache lacks; returns how many."""
    from tqdm import tqdm  # only ingest shows progress; a question need not import it

    texts = list(dict.fromkeys(text for chunk in chunks for text in sentence_texts(chunk)))
    space = namespace(identity)
    missing: list[str] = []
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        found = cache.mget([cache_key(space, text) for text in batch])
        missing.extend(text for text, value in zip(batch, found, strict=True) if value is None)
    with tqdm(total=len(missing), desc="Embedding sentences", unit="sentence", disable=not progress) as bar:
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            vectors = embed_queries(embeddings, batch)
            cache.mset([(cache_key(space, t), pack(v)) for t, v in zip(batch, vectors, strict=True)])
            bar.update(len(batch))
    return len(missing)


class SentenceVectors:
    """The stored sentence vectors of an index folder, read-only; the cache file is opened on the
    first lookup after an ingest has made it."""

    def __init__(self, directory: Path, identity: str) -> None:
        self._path = directory / CACHE_FILE
        self._namespace = namespace(identity)
        self._store: SQLiteByteStore | None = None
        self._unreadable = False
        self._lock = threading.Lock()

    def get(self, texts: Sequence[str]) -> list[list[float] | None]:
        """Each text's stored vector, or None."""
        store = self._open()
        if store is None or not texts:
            return [None] * len(texts)
        values = store.mget([cache_key(self._namespace, text) for text in texts])
        return [unpack(value) if value is not None else None for value in values]

    def _open(self) -> SQLiteByteStore | None:
        with self._lock:
            if self._store is None and not self._unreadable and self._path.is_file():
                try:
                    self._store = SQLiteByteStore(self._path)
                except sqlite3.Error:  # a read-only folder, say: embed at question time instead
                    self._unreadable = True
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
