"""Chunk vectors remembered on disk, so an interrupted ingest resumes without re-embedding.

The embedder is the slow part of ingest (seconds per hundred chunks on this CPU). An ingest
killed midway throws its unfinished index generation away (local.py), but every batch it
embedded is already in this cache: the next run pays only for what was never embedded.
It also makes `--rebuild` and a document moved between folders cheap.

The cache is a key -> bytes store over SQLite with LangChain's ByteStore methods (one file,
crash-safe commits, safe to read while it is written), keyed by the embedder's identity and
the text, so vectors from another model are never reused. It does not subclass ByteStore: that
base class imports LangChain's runnables and callbacks (a tenth of a second of a cold `qa ask`,
which reads the stored sentence vectors through this store) for async wrappers nothing calls.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from qa.index.embeddings import Embeddings

CACHE_FILE = "embedding-cache.sqlite3"


class SQLiteByteStore:
    """key -> bytes in one SQLite table; every mset is one transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB)")
        self._lock = threading.Lock()

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = list(keys[start : start + 500])
                marks = ",".join("?" * len(batch))
                rows = self._connection.execute(
                    f"SELECT key, value FROM cache WHERE key IN ({marks})", batch
                ).fetchall()
                found.update(rows)
        return [found.get(key) for key in keys]

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        with self._lock, self._connection:
            self._connection.execute("BEGIN")
            self._connection.executemany("INSERT OR REPLACE INTO cache VALUES (?, ?)", key_value_pairs)

    def mdelete(self, keys: Sequence[str]) -> None:
        with self._lock, self._connection:
            self._connection.execute("BEGIN")
            self._connection.executemany("DELETE FROM cache WHERE key = ?", [(key,) for key in keys])

    def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
        with self._lock:
            rows = self._connection.execute("SELECT key FROM cache").fetchall()
        for (key,) in rows:
            if prefix is None or key.startswith(prefix):
                yield key

    def close(self) -> None:
        self._connection.close()


class CacheBackedEmbeddings(Embeddings):
    """Documents are looked up first and only the misses are embedded (then stored at once)."""

    def __init__(self, inner: Embeddings, store: SQLiteByteStore, namespace: str) -> None:
        self.inner = inner
        self.store = store
        self.namespace = namespace
        self.hits = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [cache_key(self.namespace, text) for text in texts]
        vectors: list[list[float] | None] = [
            unpack(value) if value is not None else None for value in self.store.mget(keys)
        ]
        missing = [index for index, vector in enumerate(vectors) if vector is None]
        self.hits += len(texts) - len(missing)
        if missing:
            fresh = self.inner.embed_documents([texts[index] for index in missing])
            self.store.mset(
                [(keys[index], pack(vector)) for index, vector in zip(missing, fresh, strict=True)]
            )
            for index, vector in zip(missing, fresh, strict=True):
                vectors[index] = vector
        return [vector for vector in vectors if vector is not None]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def open_cache(directory: Path) -> SQLiteByteStore:
    return SQLiteByteStore(directory / CACHE_FILE)


def cache_key(namespace: str, text: str) -> str:
    """The key of a text's vector: the namespace names the embedder (and which side of it)."""
    return hashlib.sha256(f"{namespace}\x00{text}".encode()).hexdigest()


def pack(vector: Sequence[float]) -> bytes:
    """float32, as the embedders compute them, so a vector read back equals the one stored."""
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack(value: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(value) // 4}f", value))
