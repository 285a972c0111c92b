"""Shared fixtures: one real index of the article, built once per session with the bundled embedder.

Tests that only read use it as it is (`article_settings`, `pipeline`). Tests that write get a copy
(`article_copy`, a shutil.copytree of the folder) or an empty index folder seeded with the session's
embedding cache (`fresh_settings`, `seeded_dir`): their ingests go through the whole diff, chunking and
Chroma, but the article's vectors come from the cache instead of being embedded again.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, Settings, load_settings
from qa.index.embedding_cache import CACHE_FILE
from qa.ingest.sync import ingest
from qa.query.pipeline import Pipeline

# One embedder thread, in this process and the `qa` processes the tests start (they inherit it):
# the bundled engine gives the same vectors, bit for bit, for any thread count, and with its two
# OpenMP threads on a busy machine every embedding waits for both to be scheduled (a query took
# 560 ms against 48 ms with one thread, with the two cores shared by other work).
os.environ.setdefault("OMP_NUM_THREADS", "1")

ARTICLE = PROJECT_ROOT / "data" / "article.md"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright, one per test module."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def replay() -> Iterator[str]:
    """The base URL of tests/replay_llm.py, a strong model replayed over OpenAI's protocol."""
    from tests.servers import free_port, running

    port = free_port()
    command = [sys.executable, str(PROJECT_ROOT / "tests" / "replay_llm.py"), "--port", str(port)]
    with running(command, f"http://127.0.0.1:{port}/v1/models"):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="session")
def article_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose index (in a temp folder) holds the ingested article."""
    folder = tmp_path_factory.mktemp("index")
    _seed_embedding_cache(PROJECT_ROOT / "vectorstore" / CACHE_FILE, folder / CACHE_FILE)
    settings = load_settings(vectorstore_dir=folder)
    ingest(settings, progress=False)
    return settings


def _seed_embedding_cache(source: Path, target: Path) -> None:
    """Start from the vectors `./run.sh test` just computed for the checkout's own index.

    The cache is keyed by embedder identity and text, so a vector it holds is exactly what the
    embedder would return (a changed embedder or article simply misses and embeds); the session's
    ingest still runs the whole diff, chunking and Chroma. SQLite's backup API copies a consistent
    snapshot even while another process writes the file. Saves about 10 s of the fast suite.
    """
    if not source.is_file():
        return
    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


@pytest.fixture(scope="session")
def pipeline(article_settings: Settings) -> Pipeline:
    return Pipeline(article_settings)


@pytest.fixture
def seeded_dir(article_settings: Settings, tmp_path: Path) -> Path:
    """An index folder of this test's own with no index yet, only the article's embedding cache."""
    folder = tmp_path / "index"
    folder.mkdir()
    shutil.copy(article_settings.vectorstore_dir / CACHE_FILE, folder / CACHE_FILE)
    return folder


@pytest.fixture
def fresh_settings(seeded_dir: Path) -> Settings:
    """Settings pointing at an empty index folder of this test's own (its embedding cache seeded)."""
    return load_settings(vectorstore_dir=seeded_dir)


@pytest.fixture
def article_index(tmp_path: Path, article_settings: Settings) -> Path:
    """A copy of the session's ingested index that this test may change, embedding cache
    included: re-ingesting is cheap."""
    return Path(shutil.copytree(article_settings.vectorstore_dir, tmp_path / "index-copy"))


@pytest.fixture
def article_copy(article_settings: Settings, article_index: Path) -> Settings:
    """Settings pointing at `article_index`."""
    return article_settings.model_copy(
        update={"vectorstore_dir": article_index, "feedback_file": article_index / "f.jsonl"}
    )
