"""Adding and removing documents from the web: the /api/documents routes and the page's admin
panel, on a real server with an index of its own (a copy of the session's article index), the
bundled embedder, real Chroma and Debian's Chromium.

Every bad upload must get its status and one sentence, and change nothing: the document list,
the chunk count and the upload folder are compared before and after.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer
from pydantic import SecretStr
from render import render_pdf

from qa.config import Settings
from qa.errors import InputError
from qa.index.backend import index_backend
from qa.query.pipeline import Pipeline
from qa.web.api import build_api
from qa.web.app import build_app
from qa.web.library import DocumentLibrary
from tests.conftest import ARTIFACTS

ADMIN = "admin-s3cret"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
LIMIT_MB = 0.1  # 100 kB: a small PDF fits, and "too large" is cheap to send
GARDEN = (
    "# 社区花园项目说明\n\n"
    "本社区花园项目于2024年春季启动，由志愿者团队管理。\n\n"
    "## 种植箱\n\n"
    "花园共有42个种植箱，每个家庭可以申请一个种植箱。\n\n"
    "## 浇水\n\n"
    "浇水时间为每天早上七点到九点，周末由值班志愿者负责。\n"
)
GARDEN_QUESTION = "社区花园有多少个种植箱？"
LIBRARY_TEXT = (
    "街道图书馆借阅规则\n\n"
    "每位读者一次最多可以借阅6本图书，借期为三十天。\n\n"
    "逾期归还的图书每天收取五角滞纳金。\n"
)
LIBRARY_QUESTION = "每位读者一次最多可以借阅几本图书？"


@pytest.fixture(scope="module")
def library_settings(article_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the article index of this module's own, which its tests may change."""
    root = tmp_path_factory.mktemp("library")
    shutil.copytree(article_settings.vectorstore_dir, root / "index")
    return article_settings.model_copy(
        update={
            "vectorstore_dir": root / "index",
            "admin_token": SecretStr(ADMIN),
            "max_file_mb": LIMIT_MB,
            "rate_limit_per_minute": 0,
            "stream_delay_ms": 0,
            "feedback_file": root / "feedback.jsonl",
        }
    )


@pytest.fixture(scope="module")
def library_pipeline(library_settings: Settings) -> Pipeline:
    return Pipeline(library_settings)


@pytest.fixture(scope="module")
def server(library_pipeline: Pipeline, library_settings: Settings) -> Iterator[str]:
    with LiveServer(build_app(library_pipeline, library_settings)) as live:
        yield live.url


@pytest.fixture(scope="module")
def upload_dir(library_settings: Settings) -> Path:
    return library_settings.vectorstore_dir / "uploads"


def _upload(server: str, files: list[tuple[str, bytes]], headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{server}/api/documents",
        files=[("files", (name, data)) for name, data in files],
        headers=ADMIN_AUTH if headers is None else headers,
        timeout=120,
    )


def _ask(server: str, question: str) -> dict:
    response = httpx.post(f"{server}/api/ask", json={"question": question}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _snapshot(server: str, folder: Path) -> tuple:
    """What a bad upload must leave alone: the list, the chunk count, the folder's files."""
    documents = httpx.get(f"{server}/api/documents").json()
    chunks = httpx.get(f"{server}/api/health").json()["chunks"]
    files = sorted((p.name, p.read_bytes()) for p in folder.iterdir()) if folder.exists() else []
    return documents, chunks, files


def _one_sentence(response: httpx.Response) -> str:
    message = response.json()["error"]
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message, message
    return message


# --- names, no server ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["../../evil.md", "a/b.md", "..\\evil.md", "C:\\Users\\me\\notes.md", ".env.md", "", "x.exe"]
)
def test_unsafe_or_unsupported_names_are_refused(library_pipeline: Pipeline, raw: str) -> None:
    with pytest.raises(InputError):
        DocumentLibrary(library_pipeline).safe_name(raw)


@pytest.mark.parametrize("raw", ["notes.md", "报告 2024.PDF", "a..b.txt", "page.html"])
def test_plain_names_are_kept_as_they_are(library_pipeline: Pipeline, raw: str) -> None:
    assert DocumentLibrary(library_pipeline).safe_name(raw) == raw


# --- the API ---------------------------------------------------------------------------------


def test_uploads_are_cited_by_name_and_a_removed_one_no_longer_is(server: str, upload_dir: Path) -> None:
    response = _upload(
        server, [("garden.md", GARDEN.encode()), ("library.txt", LIBRARY_TEXT.encode("gb18030"))]
    )
    assert response.status_code == 201, response.text
    added = {doc["doc_id"]: doc for doc in response.json()["documents"]}
    assert added.keys() == {"garden.md", "library.txt"}
    assert added["garden.md"]["title"] == "社区花园项目说明" and added["garden.md"]["uploaded"]
    listed = {doc["doc_id"]: doc for doc in httpx.get(f"{server}/api/documents").json()["documents"]}
    assert {"article.md", "garden.md", "library.txt"} <= listed.keys()
    assert not listed["article.md"]["uploaded"]
    assert (upload_dir / "garden.md").read_text(encoding="utf-8") == GARDEN

    garden = _ask(server, GARDEN_QUESTION)
    assert "42" in garden["answer"] and not garden["refused"]
    cited = garden["citations"][0]
    assert cited["doc_id"] == "garden.md" and cited["title"] == "社区花园项目说明"
    books = _ask(server, LIBRARY_QUESTION)
    assert "6" in books["answer"] and books["citations"][0]["doc_id"] == "library.txt"

    removed = httpx.delete(f"{server}/api/documents/garden.md", headers=ADMIN_AUTH)
    assert removed.status_code == 200
    assert removed.json() == {
        "doc_id": "garden.md",
        "chunks_removed": listed["garden.md"]["chunks"],
        "file_removed": True,
    }
    assert not (upload_dir / "garden.md").exists()
    after = _ask(server, GARDEN_QUESTION)
    assert all(c["doc_id"] != "garden.md" for c in after["citations"] + after["retrieved"])
    ids = [doc["doc_id"] for doc in httpx.get(f"{server}/api/documents").json()["documents"]]
    assert "garden.md" not in ids and "library.txt" in ids

    assert httpx.delete(f"{server}/api/documents/library.txt", headers=ADMIN_AUTH).status_code == 200
    assert httpx.delete(f"{server}/api/documents/library.txt", headers=ADMIN_AUTH).status_code == 404


BAD_UPLOADS = {
    "empty": ([("empty.md", b"")], ADMIN_AUTH, 400, "empty"),
    "binary renamed .txt": ([("photo.txt", bytes(range(256)) * 8)], ADMIN_AUTH, 400, "binary"),
    "unsupported type": ([("notes.rtf", b"{\\rtf1 hello}")], ADMIN_AUTH, 400, "unsupported"),
    "over the size limit": ([("big.md", "长".encode() * 40_000)], ADMIN_AUTH, 413, "limit"),
    "path traversal": ([("../../evil.md", GARDEN.encode())], ADMIN_AUTH, 400, "folders"),
    "hidden name": ([(".evil.md", GARDEN.encode())], ADMIN_AUTH, 400, "hidden"),
    "one bad file among good": (
        [("fine.md", GARDEN.encode()), ("empty.txt", b"")],
        ADMIN_AUTH,
        400,
        "empty",
    ),
    "wrong token": ([("fine.md", GARDEN.encode())], {"Authorization": "Bearer wrong"}, 401, "token"),
    "no token": ([("fine.md", GARDEN.encode())], {}, 401, "token"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_a_bad_upload_gets_its_status_and_one_sentence_and_changes_nothing(
    server: str, upload_dir: Path, case: tuple
) -> None:
    files, headers, status, phrase = case
    before = _snapshot(server, upload_dir)
    response = _upload(server, files, headers)
    assert response.status_code == status, response.text
    assert phrase in _one_sentence(response)
    assert str(upload_dir) not in response.text  # names the file, not its place on the server
    assert _snapshot(server, upload_dir) == before
    assert not (upload_dir.parent.parent / "evil.md").exists()


def test_a_bad_file_under_the_name_of_an_earlier_upload_leaves_the_earlier_one(
    server: str, upload_dir: Path
) -> None:
    assert _upload(server, [("notes.md", GARDEN.encode())]).status_code == 201
    try:
        before = _snapshot(server, upload_dir)
        response = _upload(server, [("notes.md", b"\x00\xff" * 100)])
        assert response.status_code == 400 and "binary" in _one_sentence(response)
        assert _snapshot(server, upload_dir) == before
        assert (upload_dir / "notes.md").read_text(encoding="utf-8") == GARDEN
        assert _ask(server, GARDEN_QUESTION)["citations"][0]["doc_id"] == "notes.md"
    finally:
        httpx.delete(f"{server}/api/documents/notes.md", headers=ADMIN_AUTH)


def test_an_upload_while_another_ingest_writes_gets_409(
    server: str, upload_dir: Path, library_settings: Settings
) -> None:
    before = _snapshot(server, upload_dir)
    with index_backend(library_settings).writer_lock():
        response = _upload(server, [("fine.md", GARDEN.encode())])
        removal = httpx.delete(f"{server}/api/documents/article.md", headers=ADMIN_AUTH)
    assert response.status_code == 409 and "Another ingest" in _one_sentence(response)
    assert removal.status_code == 409
    assert _snapshot(server, upload_dir) == before


def test_removing_an_unknown_document_gets_404(server: str) -> None:
    response = httpx.delete(f"{server}/api/documents/no/such.md", headers=ADMIN_AUTH)
    assert response.status_code == 404 and "no/such.md" in _one_sentence(response)


def test_without_an_admin_token_changes_get_403_and_the_list_still_works(
    library_pipeline: Pipeline, library_settings: Settings
) -> None:
    settings = library_settings.model_copy(update={"admin_token": SecretStr("")})
    with LiveServer(build_api(library_pipeline, settings)) as live:
        upload = _upload(live.url, [("fine.md", GARDEN.encode())], {"Authorization": "Bearer anything"})
        removal = httpx.delete(f"{live.url}/api/documents/article.md", headers=ADMIN_AUTH)
        listed = httpx.get(f"{live.url}/api/documents")
    assert upload.status_code == 403 and "QA_ADMIN_TOKEN" in _one_sentence(upload)
    assert removal.status_code == 403
    assert "article.md" in [doc["doc_id"] for doc in listed.json()["documents"]]


def test_openapi_documents_the_document_routes(server: str) -> None:
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"get", "post"} <= paths["/api/documents"].keys()
    assert "delete" in paths["/api/documents/{doc_id}"]
    body = paths["/api/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["files"]["items"]["format"] == "binary"
    assert {"400", "401", "403", "409", "413"} <= paths["/api/documents"]["post"]["responses"].keys()


# --- the page --------------------------------------------------------------------------------


@pytest.mark.slow
def test_admin_panel_uploads_a_file_that_is_listed_cited_and_shown_in_the_browser(
    browser, server: str, upload_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    garden = render_pdf(GARDEN, tmp_path / "garden.pdf")  # a real paged file: citations show the page
    page = browser.new_page(viewport={"width": 1280, "height": 960}, locale="en-US")
    page.goto(f"{server}/")
    page.get_by_role("tab", name="文档 · Documents").click()
    panel = page.locator("#qa-admin")
    expect(panel).to_be_visible(timeout=15_000)
    expect(page.locator("#qa-doc-table")).to_contain_text("article.md")

    # A wrong token: one sentence, nothing uploaded.
    page.locator("#qa-upload input[type=file]").set_input_files(str(garden))
    expect(page.locator("#qa-upload table")).to_contain_text("garden", timeout=15_000)
    page.locator("#qa-admin-token input").fill("not-the-token")
    page.locator("#qa-add").click()
    expect(page.locator("#qa-admin-status .qa-error")).to_contain_text("wrong", timeout=30_000)
    assert not (upload_dir / "garden.pdf").exists()

    page.locator("#qa-admin-token input").fill(ADMIN)
    page.locator("#qa-add").click()
    expect(page.locator("#qa-admin-status .qa-ok")).to_contain_text("garden.pdf", timeout=60_000)
    expect(page.locator("#qa-doc-table")).to_contain_text("社区花园项目说明")
    expect(page.locator("#qa-article .qa-doc-title")).to_have_text("社区花园项目说明")
    assert (upload_dir / "garden.pdf").exists()

    # The chat answers from it at once, and its card names the document.
    page.get_by_role("tab", name="问答 · Chat").click()
    box = page.locator("#qa-question textarea")
    box.fill(GARDEN_QUESTION)
    box.press("Enter")
    card = page.locator("details.qa-card").first
    card.wait_for(timeout=60_000)
    assert "社区花园项目说明" in card.locator(".qa-source").inner_text()
    assert "第1页" in card.locator("summary").inner_text()  # the page of the PDF
    assert "42" in page.locator(".qa-answer").last.inner_text()

    # "View in document" on an article citation switches the browser to the article.
    box.fill("有多少家机构成为绿色联盟合作伙伴？")
    box.press("Enter")
    page.wait_for_function("document.querySelectorAll('.qa-cards').length === 2", timeout=60_000)
    article_card = page.locator(".qa-cards").last.locator("details.qa-card").first
    article_card.evaluate("card => { card.open = true; }")
    target = article_card.locator("a.qa-goto").get_attribute("href")[1:]
    article_card.locator("a.qa-goto").click()
    paragraph = page.locator(f'[id="{target}"]')
    paragraph.wait_for(state="visible", timeout=15_000)
    assert "160" in paragraph.inner_text()
    expect(page.locator("#qa-article .qa-doc-title")).to_contain_text("深化生态环境领域国际合作")
    expect(paragraph).to_have_class(re.compile(r"\bqa-cited\b"))
    # let the flash fade before the picture: until the paragraph's animations have finished
    paragraph.evaluate("p => Promise.all(p.getAnimations().map(a => a.finished)).then(() => true)")
    page.screenshot(path=str(ARTIFACTS / "documents.png"))  # docs/documents.png is a copy of one

    # Removing it from the page takes it out of the list and the folder.
    page.locator("#qa-doc-picker input").click()
    page.get_by_role("option", name="社区花园项目说明").first.click()
    expect(page.locator("#qa-article .qa-doc-title")).to_have_text("社区花园项目说明", timeout=15_000)
    page.locator("#qa-remove").click()
    expect(page.locator("#qa-admin-status .qa-ok")).to_contain_text("garden.pdf", timeout=60_000)
    expect(page.locator("#qa-doc-table")).not_to_contain_text("社区花园项目说明")
    assert not (upload_dir / "garden.pdf").exists()
    page.close()
