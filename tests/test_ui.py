"""The chat page and the widget, through gradio_client and a real headless Chromium.

Browser tests need Debian's chromium (/usr/bin/chromium) and CJK fonts for readable
screenshots (fonts-noto-cjk); Playwright drives it without downloading a browser.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import pytest
from live_server import LiveServer, free_port
from servers import InProcessServer

from qa.config import Settings
from qa.index.store import StoredDocument
from qa.query.pipeline import Pipeline
from qa.records import Answer, Unverified
from qa.web.app import build_app
from qa.web.ui import (
    document_choices,
    document_for_target,
    highlight,
    paragraph_id,
    render_answer,
    render_article,
    render_card,
    render_document_list,
)
from tests.conftest import ARTIFACTS

INJECTION = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def host_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def ui_settings(
    article_settings: Settings, tmp_path_factory: pytest.TempPathFactory, host_port: int
) -> Settings:
    return article_settings.model_copy(
        update={
            "allowed_origins": [f"http://127.0.0.1:{host_port}"],
            "stream_delay_ms": 40,
            "feedback_file": tmp_path_factory.mktemp("feedback") / "feedback.jsonl",
        }
    )


@pytest.fixture(scope="module")
def server(pipeline: Pipeline, ui_settings: Settings) -> Iterator[str]:
    with LiveServer(build_app(pipeline, ui_settings)) as live:
        yield live.url


# --- rendering, no server -------------------------------------------------------------------


def test_highlight_marks_the_quote_and_escapes_everything() -> None:
    marked = highlight("前文<b>。支持的句子。后文", "支持的句子。")
    assert marked == '前文&lt;b&gt;。<mark class="qa-quote">支持的句子。</mark>后文'


def test_rendered_answer_links_markers_to_cards_and_escapes_document_text(pipeline: Pipeline) -> None:
    answer = pipeline.ask("这篇文章的作者是谁？")
    chunk = answer.citations[0].chunk
    hostile = Answer(
        question="q",
        answer="<script>x</script> 甲 [1]",
        refused=False,
        mode="extractive",
        citations=(
            type(answer.citations[0])(
                1, type(chunk)(**{**chunk.__dict__, "text": "<script>y</script>"}), "y"
            ),
        ),
        retrieved=(),
    )
    rendered = render_answer(hostile, key="k")
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert '<a class="qa-cite" href="#qa-k-1">[1]</a>' in rendered
    assert '<details class="qa-card" id="qa-k-1">' in rendered
    assert "\n\n" not in rendered  # one HTML block, so Markdown leaves it alone


def test_an_unverified_answer_is_flagged_and_removed_sentences_are_listed_apart(pipeline: Pipeline) -> None:
    answer = pipeline.ask("COP15第一阶段会议通过了什么文件？")
    removed = (Unverified("第一阶段会议通过了<b>火星</b>宣言。", "the cited text does not say “火星”"),)
    with_removed = render_answer(replace(answer, unverified=removed), lang="en", key="k")
    assert "Sentences removed as unsupported (1)" in with_removed and "&lt;b&gt;火星" in with_removed
    assert with_removed.index("qa-answer") < with_removed.index("qa-dropped")  # apart, after the answer
    assert "qa-flag" not in with_removed
    flagged = render_answer(replace(answer, verified=False, unverified=removed), lang="zh", key="k")
    assert "qa-flag" in flagged and "没有通过" in flagged and "qa-dropped" not in flagged
    assert "qa-flag" not in render_answer(answer, key="k")


def test_citation_card_names_the_document_section_paragraph_and_page(pipeline: Pipeline) -> None:
    citation = pipeline.ask("有多少家机构成为绿色联盟合作伙伴？").citations[0]
    chunk = citation.chunk
    card = render_card(citation, "k", "zh", in_article=True)
    summary = card.split("<summary>")[1].split("</summary>")[0]
    assert f"第{chunk.paragraphs[0]}段" in summary and html.escape(chunk.section) in summary
    assert f'<span class="qa-source">{html.escape(chunk.title)}</span>' in summary
    assert "页" not in summary  # Markdown has no pages
    paged = type(citation)(citation.n, type(chunk)(**{**chunk.__dict__, "page": 3}), citation.quote)
    assert "第3页" in render_card(paged, "k", "zh", in_article=True)
    assert "p. 3" in render_card(paged, "k", "en", in_article=True)


def test_document_browser_pieces_escape_titles_and_find_the_cited_document(pipeline: Pipeline) -> None:
    hostile = StoredDocument(
        "<b>x</b>.md", "<script>t</script>", "/tmp/x", "v", 3, "2025-01-02T03:04:05+00:00"
    )
    documents = [*pipeline.store.documents(), hostile]
    table = render_document_list(documents, "en")
    assert "<script>" not in table and "&lt;script&gt;t&lt;/script&gt;" in table and "3 chunks" in table
    labels = dict((value, text) for text, value in document_choices(documents, "en"))
    assert (
        labels["<b>x</b>.md"] == "<script>t</script> (<b>x</b>.md) · 3 chunks · 2025-01-02"
    )  # Gradio shows text
    chunk = pipeline.store.document_chunks("article.md")[5]
    assert document_for_target(documents, paragraph_id(chunk)) == "article.md"
    assert document_for_target(documents, "qa-para-missing.md:3") is None
    head = render_article(pipeline.store.document_chunks("article.md"), "en", documents[0])
    assert 'class="qa-doc-title"' in head and f"article.md · {documents[0].chunks} chunks" in head


def test_article_browser_lists_every_paragraph_by_section(pipeline: Pipeline) -> None:
    chunks = pipeline.store.all_chunks()
    article = render_article(chunks, "zh")
    numbers = {n for chunk in chunks for n in chunk.paragraphs}
    assert all(f'id="qa-para-{chunk.doc_id}:{n}"' in article for chunk in chunks for n in chunk.paragraphs)
    assert article.count("<p id=") == len(numbers)
    assert all(f">{html.escape(chunk.section)}</h3>" in article for chunk in chunks if chunk.section)


# --- gradio_client ---------------------------------------------------------------------------


@pytest.mark.slow
def test_gradio_client_gets_a_cited_answer_through_the_chat_endpoint(server: str) -> None:
    from gradio_client import Client

    client = Client(f"{server}/", verbose=False)
    _, messages = client.predict("有多少家机构成为绿色联盟合作伙伴？", [], api_name="/chat")
    reply = messages[-1]
    content = reply["content"] if isinstance(reply["content"], str) else reply["content"][0]["text"]
    assert reply["role"] == "assistant"
    assert "160" in content  # in the answer or its cards
    assert 'class="qa-cite"' in content and 'class="qa-card"' in content
    assert re.search(r"第\d+段<span class=\"qa-source\">[^<]+</span></summary>", content)


# --- the browser ----------------------------------------------------------------------------


def _record_foreign_requests(page: object, allowed_hosts: set[str]) -> list[str]:
    foreign: list[str] = []

    def check(request: object) -> None:
        url = urlparse(request.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname not in allowed_hosts:
            foreign.append(request.url)

    page.on("request", check)
    return foreign


@pytest.mark.slow
def test_chat_page_streams_a_chinese_answer_with_citation_cards(browser, server: str, ui_settings) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="en-US")  # Gradio's own labels
    foreign = _record_foreign_requests(page, {"127.0.0.1"})
    page.goto(f"{server}/")
    box = page.locator("#qa-question textarea")
    box.fill("有多少家机构成为绿色联盟合作伙伴？")
    box.press("Enter")

    # While the answer streams, the bot message grows before its cards appear.
    lengths: list[int] = []
    for _ in range(400):
        if page.locator("details.qa-card").count():
            break
        bot = page.locator('[data-testid="bot"]')
        if bot.count():
            lengths.append(len(bot.last.inner_text()))
        page.wait_for_timeout(25)
    page.wait_for_selector("details.qa-card", timeout=60_000)
    assert len({n for n in lengths if n > 0}) >= 3, f"no visible streaming: {lengths}"

    answer = page.locator(".qa-answer").last
    assert answer.inner_text().strip()
    cards = page.locator("details.qa-card")
    assert cards.count() >= 1
    assert "第" in cards.first.locator("summary").inner_text()
    assert cards.first.locator("mark.qa-quote").count() >= 1
    assert "160" in page.locator('[data-testid="bot"]').last.inner_text()

    page.locator("a.qa-cite").first.click()
    page.wait_for_timeout(400)
    assert cards.first.evaluate("card => card.open") is True
    assert cards.first.locator(".qa-para").inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "chat-page.png"), full_page=True)

    # Thumbs up is appended to the feedback file.
    page.locator('[data-testid="bot"]').last.hover()
    page.locator('button[aria-label="Like"]').last.click()
    feedback = Path(ui_settings.feedback_file)
    for _ in range(100):
        if feedback.exists() and feedback.read_text(encoding="utf-8").strip():
            break
        page.wait_for_timeout(50)
    record = json.loads(feedback.read_text(encoding="utf-8").splitlines()[-1])
    assert record["liked"] is True and record["question"] == "有多少家机构成为绿色联盟合作伙伴？"

    # "View in document" switches to the document tab and shows the paragraph in context.
    cards.first.locator("a.qa-goto").click()
    target = cards.first.locator("a.qa-goto").get_attribute("href")[1:]
    paragraph = page.locator(f'[id="{target}"]')
    paragraph.wait_for(state="visible", timeout=5000)
    quote = cards.first.locator("mark.qa-quote").first.inner_text()
    assert quote in paragraph.inner_text()
    # ... with the card's quote marked in the paragraph itself, as text, and only there
    marked = paragraph.locator("mark.qa-quote")
    marked.first.wait_for(state="visible", timeout=5000)
    assert marked.first.inner_text() == quote
    assert page.locator(".qa-article mark.qa-quote").count() == marked.count()
    assert page.locator("#qa-doc-picker").is_visible()
    assert page.locator("#qa-admin, #qa-upload").count() == 0  # no admin token: no upload panel
    page.screenshot(path=str(ARTIFACTS / "article-tab.png"))
    assert foreign == [], f"the page fetched from outside the app: {foreign}"
    page.close()


@pytest.mark.slow
def test_script_in_a_question_shows_as_text_and_clear_empties_the_chat(browser, server: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="en-US")
    page.goto(f"{server}/")
    box = page.locator("#qa-question textarea")
    box.fill(INJECTION + " 有多少家机构成为绿色联盟合作伙伴？")
    box.press("Enter")
    page.wait_for_selector("details.qa-card", timeout=60_000)
    user = page.locator('[data-testid="user"]').last
    assert "<script>window.__pwned = 1</script>" in user.inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390 + 1  # no sideways scroll
    page.screenshot(path=str(ARTIFACTS / "phone-width.png"), full_page=True)

    page.get_by_role("button", name="清空对话 · Clear chat").click()
    page.wait_for_function("document.querySelectorAll('[data-testid=\"bot\"]').length === 0", timeout=10_000)
    page.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def host_page(tmp_path_factory: pytest.TempPathFactory, host_port: int, server: str) -> Iterator[str]:
    """A plain page on another origin (another port) that embeds the widget with one tag."""
    root = tmp_path_factory.mktemp("host")
    (root / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Host site</title></head><body>"
        "<h1>Some other site</h1><p>Its own content. The chat bubble is bottom right.</p>"
        f'<script src="{server}/widget.js" data-title="Ask the article" data-lang="en"></script>'
        "</body></html>",
        encoding="utf-8",
    )
    with InProcessServer(functools.partial(_QuietHandler, directory=str(root)), host_port):
        yield f"http://127.0.0.1:{host_port}/index.html"
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_widget_on_another_site_answers_an_english_question(browser, host_page: str, server: str) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1100, "height": 800})
    foreign = _record_foreign_requests(page, {"127.0.0.1"})
    page.goto(host_page)
    assert page.locator("#qa-widget-frame").count() == 0  # nothing loads until the bubble opens
    page.locator("#qa-widget-button").click()
    frame = page.frame_locator("#qa-widget-frame")
    box = frame.locator("#qa-question textarea")
    box.wait_for(timeout=30_000)
    expect(box).to_have_attribute("placeholder", "Ask a question and press Enter", timeout=15_000)
    box.fill("How many organisations joined the Belt and Road green development coalition?")
    box.press("Enter")
    frame.locator("details.qa-card").first.wait_for(timeout=60_000)
    assert frame.locator(".qa-answer a.qa-cite").count() >= 1
    frame.locator("a.qa-cite").first.click()
    page.wait_for_timeout(400)
    assert frame.locator("details.qa-card").first.evaluate("card => card.open") is True
    page.screenshot(path=str(ARTIFACTS / "widget.png"))
    assert foreign == [], f"the widget fetched from outside the app: {foreign}"
    page.close()
