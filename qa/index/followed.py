"""A host's BM25 index of a Chroma server collection: derived from the collection, following it.

With a server, the collection is the one source of truth, shared by every app host. Its
metadata carries a content version (`qa_version`), which every ingest and removal bumps when
it commits. Each host builds its keyword index from the collection itself (paged reads of
the search texts) and caches it on its own disk under the content key (the collection's id,
which a --rebuild changes, and the version), so a host never needs to have ingested, and a
restart costs a load, not a build.

A refresh reads the collection's chunk ids and fetches and tokenizes only the chunks it has
not seen (tokenizing is the slow part of a build, reading every text the next: at 100,000
chunks 59 s and 6 s of a 72 s build), so a small change reaches a large collection quickly. A
chunk id names one search text (ids hash it), so a known id's tokens still hold. Readers never
wait for a refresh: at most every `refresh_seconds` a reader asks the server
for the key (one small request); when it changed, a background thread builds (or loads) the
new index while readers keep the previous one, which is then swapped in. Only a host with no
index at all builds in the foreground. A write made in this process hands its freshly built
index over directly, so this host's next answer already reflects its own change, and
that write, like a refresh, tokenizes only the chunks the host has not indexed before.

A writer marks the collection (`qa_writing`) before it changes anything and clears the mark
when it bumps the version; a host killed midway leaves the mark, which tells the next ingest
to commit even if it finds nothing else to do, and tells readers not to cache what they read
meanwhile.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from qa.index.keywords import META_FILE, KeywordIndex
from qa.text.terms import tokenize

VERSION_KEY = "qa_version"
WRITING_KEY = "qa_writing"
KEEP = 2  # cached versions kept on disk: the current one and the one before

log = logging.getLogger(__name__)

# Indexes built by writers in this process, by cache folder: (content key, index).
_published: dict[Path, tuple[str, KeywordIndex]] = {}
_published_lock = threading.Lock()
# Tokens of the chunks last indexed in this process, by cache folder: (collection id, tokens by
# chunk id). A host's refreshes and its own writes (an upload) share them.
_tokens: dict[Path, tuple[str, dict[str, list[str]]]] = {}


def content_key(collection_id: object, metadata: dict | None) -> str:
    return f"{collection_id}-{int((metadata or {}).get(VERSION_KEY, 0))}"


def is_committed(metadata: dict | None) -> bool:
    """A version exists and no writer is (or was killed) midway."""
    metadata = metadata or {}
    return VERSION_KEY in metadata and not metadata.get(WRITING_KEY)


def save(index: KeywordIndex, root: Path, key: str) -> None:
    """Write the index to root/key by a rename, and drop all but the newest cached versions."""
    target = root / key
    staging = root / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    index.save(staging)
    try:
        os.replace(staging, target)
    except OSError:  # another process on this host saved the same version first
        shutil.rmtree(staging, ignore_errors=True)
    cached = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_mtime)
    for old in cached[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def index_collection(
    root: Path,
    collection: str,
    read_ids: Callable[[], list[str]],
    read_texts: Callable[[list[str]], dict[str, str]],
) -> KeywordIndex:
    """The index of the collection as it is now, fetching and tokenizing only the chunks whose
    tokens this process does not hold yet (a chunk id names one search text: ids hash it)."""
    with _published_lock:
        held_of, held = _tokens.get(root, ("", {}))
    known = held if held_of == collection else {}  # a --rebuild makes a new collection, may reuse ids
    chunk_ids = read_ids()
    texts = read_texts([chunk_id for chunk_id in chunk_ids if chunk_id not in known])
    by_text: dict[str, list[str]] = {}  # a text several chunks share is tokenized once
    tokens = {}
    for chunk_id in chunk_ids:
        if chunk_id in known:
            tokens[chunk_id] = known[chunk_id]
        elif chunk_id in texts:  # else removed since the ids were read: the key moved on too
            text = texts[chunk_id]
            if text not in by_text:
                by_text[text] = tokenize(text)
            tokens[chunk_id] = by_text[text]
    index = KeywordIndex.from_tokens(list(tokens), list(tokens.values()))
    with _published_lock:
        _tokens[root] = (collection, tokens)
    return index


def publish(root: Path, key: str, index: KeywordIndex) -> None:
    with _published_lock:
        _published[root] = (key, index)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class FollowedKeywords:
    """The keyword index one host serves for a server collection, kept up to date in the background.

    `read_key` returns the collection's (content key, committed?) in one request; `read_ids`
    every chunk id of the collection, in its order; `read_texts` the search texts of the given
    ids (an id removed meanwhile is left out).
    """

    def __init__(
        self,
        root: Path,
        read_key: Callable[[], tuple[str, bool]],
        read_ids: Callable[[], list[str]],
        read_texts: Callable[[list[str]], dict[str, str]],
        refresh_seconds: float,
    ) -> None:
        self.root = root
        self.read_key = read_key
        self.read_ids = read_ids
        self.read_texts = read_texts
        self.refresh_seconds = refresh_seconds
        self.key = ""
        self.index: KeywordIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()  # guards key/index and starting a refresh
        self._first = threading.Lock()  # one foreground build when there is no index yet
        self._refreshing: threading.Thread | None = None

    def current(self) -> KeywordIndex:
        """The index to answer with now; never waits for a refresh, only for a first build."""
        self._adopt_published()
        if self.index is None:
            with self._first:
                if self.index is None:
                    key, committed = self.read_key()
                    self._install(key, self._obtain(key, committed))
                    self._checked = time.monotonic()
            assert self.index is not None
            return self.index
        if time.monotonic() - self._checked >= self.refresh_seconds:
            self._checked = time.monotonic()
            self._check()
        return self.index

    def refresh_now(self) -> None:
        """Check the version at once and wait for the new index (tests and benchmarks)."""
        self._checked = 0.0
        self.current()
        thread = self._refreshing
        if thread is not None:
            thread.join()

    def _adopt_published(self) -> None:
        with _published_lock:
            published = _published.get(self.root)
        if published and published[0] != self.key:
            self._install(*published)

    def _check(self) -> None:
        try:
            key, committed = self.read_key()
        except Exception as exc:  # noqa: BLE001 - the server is down: keep answering with what we have
            log.warning("Could not check the collection's version: %s", exc)
            return
        with self._lock:
            busy = self._refreshing is not None and self._refreshing.is_alive()
            if key == self.key or busy:
                return
            self._refreshing = threading.Thread(
                target=self._refresh, args=(key, committed), name="keywords-refresh", daemon=True
            )
            self._refreshing.start()

    def _refresh(self, key: str, committed: bool) -> None:
        try:
            self._install(key, self._obtain(key, committed))
        except Exception:  # noqa: BLE001 - keep the previous index; the next check tries again
            log.exception("Refreshing the keyword index failed; still answering with the previous one")
            self._checked = 0.0

    def _install(self, key: str, index: KeywordIndex) -> None:
        with self._lock:
            self.key, self.index = key, index

    def _obtain(self, key: str, committed: bool) -> KeywordIndex:
        """The cached index for `key`, else one built from the collection, cached only if no
        writer was at work while it was read (else it serves until the writer's commit)."""
        if (self.root / key / META_FILE).is_file():
            try:
                return KeywordIndex.load(self.root / key)
            except Exception:  # noqa: BLE001 - a damaged cache is rebuilt
                shutil.rmtree(self.root / key, ignore_errors=True)
        index = index_collection(self.root, key.rsplit("-", 1)[0], self.read_ids, self.read_texts)
        if committed and self.read_key() == (key, True):
            self.root.mkdir(parents=True, exist_ok=True)
            save(index, self.root, key)
        return index
