"""Hybrid retrieval on the real article index: ranking, languages, metadata, refusal, diversity."""

from __future__ import annotations

import pytest

from qa.chunking import Chunk
from qa.config import Settings
from qa.embeddings import embedder_identity, make_embeddings
from qa.keywords import KeywordIndex
from qa.retrieval import LangChainRetriever, Retriever, _Candidate, _spread
from qa.store import current_generation, open_for_query


@pytest.fixture(scope="module")
def retriever(article_settings: Settings) -> Retriever:
    embeddings = make_embeddings(article_settings)
    store = open_for_query(article_settings, embeddings, embedder_identity(article_settings))
    return Retriever(store, embeddings)


def _texts(retriever: Retriever, question: str, k: int = 5) -> list[str]:
    return [result.chunk.text for result in retriever.retrieve(question, k)]


def test_page_break_sentence_ranks_first(retriever: Retriever) -> None:
    assert "近160家机构成为绿色联盟合作伙伴" in _texts(retriever, "有多少家机构成为绿色联盟合作伙伴？")[0]


def test_english_question_finds_the_chinese_paragraph(retriever: Retriever) -> None:
    texts = _texts(retriever, "What declaration was adopted at the first phase of COP15?", 3)
    assert any("《昆明宣言》" in text for text in texts)


def test_traditional_question_finds_its_paragraph(retriever: Retriever) -> None:
    texts = _texts(retriever, "COP15第二階段會議通過了什麼？", 3)
    assert any("第二阶段会议通过了" in text for text in texts)


def test_author_question_reaches_the_metadata_record(retriever: Retriever) -> None:
    results = retriever.retrieve("这篇文章的作者是谁？", 3)
    assert any(r.chunk.kind == "metadata" and "周国梅" in r.chunk.text for r in results)


def test_unanswerable_question_is_flagged_and_answerable_is_not(retriever: Retriever) -> None:
    question = "这篇文章发表在哪本期刊上？"
    assert not retriever.is_answerable(question, retriever.retrieve(question, 5))
    question = "COP15第一阶段会议通过了什么文件？"
    results = retriever.retrieve(question, 5)
    assert retriever.is_answerable(question, results)
    assert 0.0 <= results[-1].score <= results[0].score <= 1.0


def test_keyword_index_is_persisted_at_ingest_and_loaded_not_rebuilt(
    article_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation = current_generation(article_settings)
    assert generation is not None and (generation / "keywords" / "keywords.json").is_file()

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("the keyword index was rebuilt at query time")

    monkeypatch.setattr(KeywordIndex, "build", no_rebuild)
    embeddings = make_embeddings(article_settings)
    store = open_for_query(article_settings, embeddings, embedder_identity(article_settings))
    assert Retriever(store, embeddings).retrieve("昆明宣言", 1)
    assert store.keywords is store.keywords  # loaded once per opened store


def test_overlap_windows_of_one_paragraph_do_not_crowd_the_top() -> None:
    def chunk(chunk_id: str, paragraph: int) -> Chunk:
        return Chunk(chunk_id, "doc", "t", "s", (paragraph,), chunk_id, chunk_id)

    chunks = {c.chunk_id: c for c in [chunk("a1", 1), chunk("a2", 1), chunk("a3", 1), chunk("b", 2)]}
    candidates = [_Candidate(chunk_id, 1.0 - i / 10, 0.9, 0.5) for i, chunk_id in enumerate(chunks)]
    assert [c.chunk_id for c in _spread(candidates, chunks)] == ["a1", "b", "a2", "a3"]


def test_top_five_hold_distinct_paragraphs(retriever: Retriever) -> None:
    results = retriever.retrieve("生物多样性公约第十五次缔约方大会", 5)
    paragraphs = [p for r in results for p in r.chunk.paragraphs]
    assert len(paragraphs) == len(set(paragraphs))


def test_langchain_adapter_returns_the_same_ranking(retriever: Retriever) -> None:
    documents = LangChainRetriever(retriever=retriever, k=3).invoke("有多少家机构成为绿色联盟合作伙伴？")
    assert [d.metadata["chunk_id"] for d in documents] == [
        r.chunk.chunk_id for r in retriever.retrieve("有多少家机构成为绿色联盟合作伙伴？", 3)
    ]
    assert set(documents[0].metadata) >= {
        "rank",
        "chunk_id",
        "doc_id",
        "section",
        "paragraphs",
        "text",
        "score",
    }


def test_question_about_the_authors_job_by_name_finds_the_position_line(retriever: Retriever) -> None:
    assert "生态环境部国际合作司司长" in _texts(retriever, "周国梅担任什么职务？", 1)[0]


def test_chunk_covering_every_concept_outranks_a_heading_sharing_one(retriever: Retriever) -> None:
    assert _texts(retriever, "第二部分的第三点是什么？", 1)[0].startswith("三是")
