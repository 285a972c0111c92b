"""A Chroma server holding the index for several app hosts: time-limited requests, the writer lease.

The collection is shared by several app hosts, and no generation swap exists on a server: the
diff itself repairs a half-finished run, since new chunks are added before stale ones go. Each
host derives its keyword index from the collection and follows the content version kept in
the collection's metadata (ServerKeywords, see followed.py), and writers on different hosts
take turns through a lease (lease.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import chromadb
import httpx

from qa.config import Settings
from qa.errors import StoreError, TimeLimitError
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
from qa.index.store import (
    KEYWORDS_DIR,
    PAGE,
    ChunkStore,
    chroma_settings,
    folder_lock,
    open_existing,
    pages,
)

ID_PAGE = 20_000  # ids alone, a request


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
        """The collection's id is not the one followed: it was deleted and made anew (--rebuild)."""
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


class ServerIndex:
    """The collection QA_COLLECTION on the Chroma server at `host` (QA_CHROMA_HOST), QA_CHROMA_PORT."""

    # Another host may change the collection at any time: a document listing is kept 10 s.
    listing_fresh_for = 10.0

    def __init__(self, settings: Settings, host: str) -> None:
        self.settings = settings
        self.host = host

    def client(self) -> chromadb.ClientAPI:
        return make_client(self.host, self.settings.chroma_port, self.settings.chroma_timeout_s)

    def version(self) -> str:
        """Always the same: the store follows the collection's content version itself."""
        return "server"

    def open_for_query(self, embeddings: Embeddings, identity: str) -> ChunkStore:
        client = self.client()
        keywords = ServerKeywords(self.settings, client)
        return open_existing(client, self.settings.collection, embeddings, keywords, identity)

    @contextmanager
    def writer_lock(self) -> Iterator[WriterLease]:
        """One ingest at a time per index folder, and one per collection across hosts (the lease,
        yielded); a second one is told so instead of waiting."""
        settings = self.settings
        with folder_lock(settings.vectorstore_dir):
            lease = WriterLease(self.client(), settings.collection, settings.writer_lease_seconds)
            lease.acquire()
            try:
                yield lease
            finally:
                lease.release()
                lease.client.close()

    @contextmanager
    def open_for_writing(
        self, embeddings: Embeddings, rebuild: bool, lock: WriterLease | None = None
    ) -> Iterator[ChunkStore]:
        """The collection itself, under the writer lease (taken here unless given)."""
        if lock is None:
            with self.writer_lock() as held, self.open_for_writing(embeddings, rebuild, held) as it:
                yield it
            return
        settings = self.settings
        client = self.client()
        if rebuild and settings.collection in {c.name for c in client.list_collections()}:
            client.delete_collection(settings.collection)
        settings.vectorstore_dir.mkdir(parents=True, exist_ok=True)
        keywords = ServerKeywords(settings, client, lock)
        store = ChunkStore(client, settings.collection, embeddings, keywords)
        try:
            keywords.mark_writing(store)
            yield store
        finally:
            store.close()


def make_client(host: str, port: int, timeout_s: float) -> chromadb.ClientAPI:
    """A client of the Chroma server at host:port, which must answer within `timeout_s`."""
    address = f"http://{host}:{port}"
    try:
        # chromadb's client talks to the server already while it is made, without a time
        # limit: ask first, with one.
        httpx.get(f"{address}/api/v2/heartbeat", timeout=timeout_s)
        client = chromadb.HttpClient(host=host, port=port, settings=chroma_settings())
        _limit_requests(client, timeout_s, address)
        client.heartbeat()
    except Exception:  # noqa: BLE001 - chromadb raises several types for "not there"
        raise StoreError(
            f"Cannot reach the Chroma server at {address} (or it did not answer within "
            f"{timeout_s:g} s, QA_CHROMA_TIMEOUT_S); start it with "
            f"`chroma run --path DIR --port {port}` or fix QA_CHROMA_HOST."
        ) from None
    return client


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
