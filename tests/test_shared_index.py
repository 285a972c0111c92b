"""Several app hosts on one real `chroma run` server: the keyword index follows the collection.

Each "host" is its own QA_VECTORSTORE_DIR (as on another machine) pointing at the same server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import chromadb
import pytest

from qa.config import PROJECT_ROOT, Settings, load_settings
from qa.errors import StoreError, WriterBusyError
from qa.index.backend import index_backend
from qa.index.followed import VERSION_KEY, WRITING_KEY
from qa.index.lease import SUFFIX, WriterLease
from qa.index.server import ServerKeywords
from qa.ingest.sync import ingest, remove_documents
from qa.query.pipeline import Pipeline
from tests.servers import chroma
from tests.test_ingestion import article_copies, assert_consistent, env_for

pytestmark = pytest.mark.slow

DEV_SET = PROJECT_ROOT / "eval" / "sets" / "article_dev.jsonl"
REFRESH = 0.5  # seconds between version checks in these tests (the default is 2)
NEW_FACT = (
    "# 蓝鲸观测站\n\n蓝鲸观测站位于翡翠湾，二〇二一年共记录到蓝鲸四十七头，是该海域有记录以来最多的一年。\n"
)
NEW_QUESTION = "翡翠湾的蓝鲸观测站二〇二一年记录到多少头蓝鲸？"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with chroma(str(tmp_path_factory.mktemp("chroma-data"))) as port:
        yield port


def host(folder: Path, port: int, **extra) -> Settings:
    """Settings of one app host: its own empty folder, the shared server."""
    return load_settings(
        vectorstore_dir=folder,
        chroma_host="127.0.0.1",
        chroma_port=port,
        index_refresh_seconds=REFRESH,
        collection=extra.pop("collection", "documents"),
        **extra,
    )


def collection_metadata(settings: Settings) -> dict:
    client = index_backend(settings).client()
    try:
        return dict(client.get_collection(settings.collection).metadata or {})
    finally:
        client.close()


def dev_questions(count: int) -> list[str]:
    items = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    return list(dict.fromkeys(item["question"] for item in items))[:count]


def rankings(pipeline: Pipeline, question: str) -> list[tuple[str, float]]:
    return [(r.chunk.chunk_id, r.score) for r in pipeline.retrieve(question).results]


def test_a_fresh_host_ranks_exactly_like_the_host_that_ingested(server, tmp_path, seeded_dir):
    a = host(seeded_dir, server, collection="same")  # the ingesting host: the article's vectors cached
    ingest(a, progress=False)
    b = host(tmp_path / "b", server, collection="same")
    assert not b.vectorstore_dir.exists()
    on_a, on_b = Pipeline(a), Pipeline(b)
    for question in dev_questions(30):
        assert rankings(on_b, question) == rankings(on_a, question), question
    version = collection_metadata(a)[VERSION_KEY]
    cached = b.vectorstore_dir / "keywords-same"
    assert [p.name for p in cached.iterdir()] == [f"{on_b.store.collection.id}-{version}"]
    # A host restarted later loads its cached index instead of building it again.
    assert Pipeline(b).store.keywords.chunk_ids == on_b.store.keywords.chunk_ids


def wait_until(condition, limit: float) -> float:
    """Seconds until condition() holds, polled as a user would ask; fails after `limit`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, f"not visible after {limit} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_document_ingested_or_removed_on_one_host_reaches_another(
    server, tmp_path, seeded_dir, monkeypatch
):
    a = host(seeded_dir, server, collection="follow")
    ingest(a, progress=False)
    written: list[str] = []  # the chunks whose texts A's later writes fetch (and tokenize)
    read_on_a = ServerKeywords.read_texts

    def recording(keywords: ServerKeywords, ids: list[str]) -> dict[str, str]:
        if keywords.root.parent == a.vectorstore_dir:
            written.extend(ids)
        return read_on_a(keywords, ids)

    monkeypatch.setattr(ServerKeywords, "read_texts", recording)
    b = Pipeline(host(tmp_path / "b", server, collection="follow"))
    before = b.ask(NEW_QUESTION)
    assert before.refused, before.answer
    follower = b.store._keywords.follower
    fetched: list[str] = []  # the chunks whose texts B's refreshes fetch (and tokenize)
    read_texts = follower.read_texts
    follower.read_texts = lambda ids: (fetched.extend(ids), read_texts(ids))[1]
    document = tmp_path / "docs" / "whales.md"
    document.parent.mkdir()
    document.write_text(NEW_FACT, encoding="utf-8")
    ingest(a, [PROJECT_ROOT / "data" / "article.md", document], progress=False)

    def knows() -> bool:
        """B answers from the new document and its keyword index holds it. The answer may come
        first: the dense search reads the shared collection at once, and the chunk's own
        sentences bind the question without the keyword index."""
        answer = b.ask(NEW_QUESTION)
        indexed = any(chunk_id.startswith("whales.md:") for chunk_id in b.store.keywords.chunk_ids)
        return not answer.refused and "四十七" in answer.answer and indexed

    # Documented: within QA_INDEX_REFRESH_SECONDS plus the rebuild (a second or two for the article).
    assert wait_until(knows, REFRESH + 10) < REFRESH + 10
    assert fetched and all(chunk_id.startswith("whales.md:") for chunk_id in fetched), fetched
    assert written and all(chunk_id.startswith("whales.md:") for chunk_id in written), written
    assert_same_index(b, host(tmp_path / "c", server, collection="follow"))
    assert_same_index(Pipeline(a), host(tmp_path / "c", server, collection="follow"))
    count, count_on_a = len(fetched), len(written)
    remove_documents(a, ["whales.md"])
    wait_until(lambda: not any(c.startswith("whales.md:") for c in b.store.keywords.chunk_ids), REFRESH + 10)
    assert b.ask(NEW_QUESTION).refused
    assert len(fetched) == count and len(written) == count_on_a, "a removal fetches no text"
    assert_same_index(b, host(tmp_path / "d", server, collection="follow"))


def assert_same_index(refreshed: Pipeline, fresh: Settings) -> None:
    """A refresh, which tokenizes only the chunks it has not seen, gives the index a host with
    an empty folder builds from the whole collection: the same chunks in the same order, the
    same BM25 scores."""
    built = Pipeline(fresh).store.keywords
    index = refreshed.store.keywords
    assert index.chunk_ids == built.chunk_ids and index.vocab == built.vocab
    for question in [NEW_QUESTION, *dev_questions(10)]:
        ours, theirs = index.search(question), built.search(question)
        assert ours.positions.tolist() == theirs.positions.tolist(), question
        assert ours.scores.tolist() == theirs.scores.tolist(), question


def start_ingest(settings: Settings, paths: list[Path]) -> subprocess.Popen:
    env = env_for(
        settings.vectorstore_dir,
        QA_CHROMA_HOST="127.0.0.1",
        QA_CHROMA_PORT=str(settings.chroma_port),
        QA_COLLECTION=settings.collection,
    )
    command = [sys.executable, "-m", "qa", "ingest", "--json", *map(str, paths)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_hosts_ingesting_at_once_leave_one_consistent_collection(server, tmp_path):
    a = host(tmp_path / "a", server, collection="together")
    b = host(tmp_path / "b", server, collection="together")
    first = article_copies(tmp_path / "first", 3)
    second = [
        p.rename(p.with_name(f"other{i}.md")) for i, p in enumerate(article_copies(tmp_path / "second", 3))
    ]
    runs = [start_ingest(a, first), start_ingest(b, second)]
    outcomes = [(run.wait(timeout=900), run.stdout.read(), run.stderr.read()) for run in runs]
    succeeded = [paths for (code, _, _), paths in zip(outcomes, (first, second), strict=True) if code == 0]
    for code, _, stderr in outcomes:
        if code:  # the loser is told who writes, in one sentence, and nothing of it is stored
            assert "is writing to the collection" in stderr or "took the writer lease" in stderr, stderr
            assert "Traceback" not in stderr
    assert succeeded, outcomes
    stored = {c.doc_id for c in Pipeline(a).store.all_chunks()}
    assert stored == {p.name for paths in succeeded for p in paths}
    metadata = collection_metadata(a)
    assert metadata[VERSION_KEY] == len(succeeded) and WRITING_KEY not in metadata
    everything = first + second
    if len(succeeded) == 1:  # the refused host runs again and is let in now
        ingest(b, everything, progress=False)
    assert_consistent(a, everything)
    assert collection_metadata(a)[VERSION_KEY] == 2
    client = index_backend(a).client()
    assert not [c for c in client.list_collections() if SUFFIX in c.name], "a lease was left behind"
    client.close()
    for settings in (a, b):  # both hosts rank alike on the final collection
        assert set(Pipeline(settings).store.keywords.chunk_ids) == {
            c.chunk_id for c in Pipeline(a).store.all_chunks()
        }


def test_a_lapsed_lease_is_taken_over_and_its_old_holder_cannot_commit(server):
    client = chromadb.HttpClient(host="127.0.0.1", port=server)
    frozen = WriterLease(client, "leased", seconds=3)
    frozen.acquire()
    frozen._stop.set()  # a host that stopped renewing: killed, or frozen
    frozen._renewer.join()
    with pytest.raises(WriterBusyError, match="is writing to the collection 'leased'"):
        WriterLease(client, "leased", seconds=3).acquire()
    time.sleep(3.2)
    successor = WriterLease(client, "leased", seconds=3)
    successor.acquire()
    with pytest.raises(StoreError, match="stopped holding the writer lease"):
        frozen.check()
    successor.check()
    successor.release()
    assert not [c for c in client.list_collections() if c.name.startswith("leased")]
