"""Shared fixtures: one real index of the article, built once per session with the bundled embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, Settings, load_settings
from qa.ingest.sync import ingest
from qa.query.pipeline import Pipeline

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
def article_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose index (in a temp folder) holds the ingested article."""
    settings = load_settings(vectorstore_dir=tmp_path_factory.mktemp("index"))
    ingest(settings, progress=False)
    return settings


@pytest.fixture(scope="session")
def pipeline(article_settings: Settings) -> Pipeline:
    return Pipeline(article_settings)


@pytest.fixture
def fresh_settings(tmp_path: Path) -> Settings:
    """Settings pointing at an empty index folder of this test's own."""
    return load_settings(vectorstore_dir=tmp_path / "index")
